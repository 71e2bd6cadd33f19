package instrument

import (
	"fmt"
	"strings"

	"github.com/wasmsr/wasmsr/wasm"
)

// An unwind point does not branch to one frame save shared by the whole
// function: to an optimizing compiler that would make every local of the
// frame live from its definition to every unwind point, across code that
// in the original had long forgotten it, so that registers fill up,
// values spill, and hot loops slow down. Each unwind point branches
// instead to an exit that stores just the locals its resume reads (sites
// that need the same locals share one), with no call before they are all
// in memory: a value live across a call is spilled, and the compiler then
// stores a loop's values to the stack at every iteration, not only on the
// way out. The other slots of the frame are left as they are: the restore
// loads them into locals that are dead at that resume point.
//
//	block $unwind
//	  block $exit1 (result i32)
//	    block $exit0 (result i32)
//	      block $body
//	        ... call; i32.const <call index>; global.get $state; br_if $exit0; drop ...
//	      end
//	      return
//	    end
//	    (set the call index, reserve the frame, store the locals exit 0 saves)  br $unwind
//	  end
//	  (set the call index, reserve the frame, store the locals exit 1 saves)
//	end
//	(finish the frame: function and call index; return placeholders)

type unwindBranch struct {
	at   int // index in the output of the br or br_if
	site int
}

// resumePoint is where a rewind arrives, on its way to the sites lo..hi;
// skip is a local live there that the rewind sets itself before reading
// it (-1: none).
type resumePoint struct {
	pos, lo, hi int
	skip        int
}

func (e *emitter) addResume(lo, hi int) {
	e.resume = append(e.resume, resumePoint{pos: len(e.out), lo: lo, hi: hi, skip: -1})
}

// addFallResume records the end of a prologue as the resume point of the
// sites a rewind reaches by falling through it (the first item of the
// chain's innermost level, when it needs no landing); the prologue sends
// the others straight to their landings.
func (e *emitter) addFallResume(chain []*levelState) {
	for _, s := range segments(chain) {
		if s.target == fallThrough {
			e.addResume(s.lo, s.hi)
		}
	}
}

// exits groups the sites by the locals their exits store (those some
// resume point on the way to the site reads; references always, as the
// restore takes back a spill slot for each; all of them without
// liveness), points every branch to the frame save at its site's exit,
// and returns the exits, each as the indices in the layout it stores, in
// order (exit 0 innermost).
func (e *emitter) exits(lay *frameLayout) [][]int {
	if e.live != nil {
		e.siteLive = newSiteLive(e.live, e.resume, len(e.p.sites))
	}
	index := map[string]int{}
	var list [][]int
	exitOf := make([]int, len(e.p.sites))
	var key strings.Builder
	for s := range exitOf {
		var store []int
		key.Reset()
		for k, l := range lay.locals {
			if lay.types[k].IsRef() || e.live == nil || e.siteLive.has(s, l) {
				store = append(store, k)
				fmt.Fprintf(&key, "%d,", k)
			}
		}
		x, ok := index[key.String()]
		if !ok {
			x = len(list)
			index[key.String()] = x
			list = append(list, store)
		}
		exitOf[s] = x
	}
	for _, b := range e.unwindBranches {
		e.out[b.at].X += uint32(exitOf[b.site])
	}
	for s, x := range exitOf {
		e.p.sites[s].saved = list[x]
	}
	return list
}

// exitCode is the code of the exits, to follow the body's return: each
// reserves the frame in the buffer, stores its locals, and leaves for the
// frame's finish at the end of $unwind.
func (e *emitter) exitCode(lay *frameLayout, exits [][]int) []wasm.Instr {
	var code []wasm.Instr
	for x, store := range exits {
		code = append(code, wasm.Plain(wasm.OpEnd), wasm.Indexed(wasm.OpLocalSet, e.ci))
		code = append(code, e.r.reserveFrame(e.ptr)...)
		for _, k := range store {
			code = append(code, e.r.saveLocal(e.ptr, lay.locals[k], lay.types[k], lay.offsets[k])...)
		}
		if x < len(exits)-1 {
			code = append(code, wasm.Indexed(wasm.OpBr, uint32(len(exits)-1-x)))
		}
	}
	return code
}
