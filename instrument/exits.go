package instrument

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/wasmsr/wasmsr/wasm"
)

// Every unwind point branches to the frame save at the end of the
// function, which reads every local of the frame. To an optimizing
// compiler that makes each of those locals live from its definition to
// every unwind point, across code that in the original had long
// forgotten it: registers fill up, values spill to the stack, and hot
// loops slow down. So an unwind point does not branch to the frame save
// directly but to an exit that first sets to zero the frame's locals its
// own resume cannot read, ending their lives where the original did.
// Unwind points that need the same locals share an exit:
//
//	block $unwind
//	  block $exit1
//	    block $exit0
//	      block $body ... br_if $exit0 ... br_if $exit1 ... br_if $unwind ... end
//	      return
//	    end
//	    (zero the locals exit 0 does not need)  br $unwind
//	  end
//	  (zero the locals exit 1 does not need)
//	end
//	(save the frame)

type unwindBranch struct {
	at   int // index in the output of the br or br_if
	site int
}

// resumePoint is where a rewind arrives, on its way to the sites lo..hi.
type resumePoint struct {
	pos, lo, hi int
}

func (e *emitter) addResume(lo, hi int) {
	e.resume = append(e.resume, resumePoint{pos: len(e.out), lo: lo, hi: hi})
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

// exitList are the exits: for each, the locals it zeroes.
type exitList [][]zeroLocal

type zeroLocal struct {
	local uint32
	t     wasm.ValType
}

// exits chooses the exits (the sets of locals to zero) and points every
// branch to the frame save at the exit that zeroes most of what its site
// does not need (dead holds that, by site), and returns the exits in order
// (exit 0 innermost). Each exit is code of its own, and in a large C
// function (hundreds of locals, hundreds of unwind points) every unwind
// point has a different set: the sets most sites have, weighted by their
// size, become exits while their code stays within budget (in locals
// zeroed); a site uses the largest chosen set within its own, or none.
func (e *emitter) exits(lay *frameLayout, dead [][]uint32, budget int) (exitList, error) {
	types := map[uint32]wasm.ValType{}
	for k, l := range lay.locals {
		types[l] = lay.types[k]
	}
	type candidate struct {
		zero  []zeroLocal
		bits  []uint64
		sites int
	}
	index := map[string]*candidate{}
	var candidates []*candidate
	siteBits := make([][]uint64, len(dead))
	for s, locals := range dead {
		var zero []zeroLocal
		var key strings.Builder
		for _, l := range locals {
			t := types[l]
			if t.IsRef() && !t.Nullable() {
				continue // no value to put there; the local stays live
			}
			zero = append(zero, zeroLocal{l, t})
			fmt.Fprintf(&key, "%d,", l)
		}
		if len(zero) == 0 {
			continue
		}
		c := index[key.String()]
		if c == nil {
			c = &candidate{zero: zero, bits: localBits(zero)}
			index[key.String()] = c
			candidates = append(candidates, c)
		}
		c.sites++
		siteBits[s] = c.bits
	}
	slices.SortStableFunc(candidates, func(a, b *candidate) int {
		return cmp.Compare(b.sites*len(b.zero), a.sites*len(a.zero))
	})
	var chosen []*candidate
	var list exitList
	for _, c := range candidates {
		if len(c.zero) > budget {
			continue
		}
		budget -= len(c.zero)
		chosen = append(chosen, c)
		list = append(list, c.zero)
	}
	exitOf := make([]int, len(dead)) // -1: straight to the frame save
	for s := range exitOf {
		exitOf[s] = -1
		best := 0
		for k, c := range chosen {
			if len(c.zero) > best && subset(c.bits, siteBits[s]) {
				exitOf[s], best = k, len(c.zero)
			}
		}
	}
	for _, b := range e.unwindBranches {
		in := &e.out[b.at]
		if k := exitOf[b.site]; k >= 0 {
			in.X += uint32(k)
		} else {
			in.X += uint32(len(list))
		}
	}
	return list, nil
}

func localBits(zero []zeroLocal) []uint64 {
	var bits []uint64
	for _, z := range zero {
		for int(z.local/64) >= len(bits) {
			bits = append(bits, 0)
		}
		bits[z.local/64] |= 1 << (z.local % 64)
	}
	return bits
}

// subset reports whether a is a subset of b.
func subset(a, b []uint64) bool {
	for w, v := range a {
		if v != 0 && (w >= len(b) || v&^b[w] != 0) {
			return false
		}
	}
	return true
}

// code is the exits' code, to follow the body's return.
func (x exitList) code(n int) []wasm.Instr {
	var code []wasm.Instr
	for k, zero := range x {
		code = append(code, wasm.Plain(wasm.OpEnd))
		for _, z := range zero {
			v, _ := zeroValue(z.t) // only types with a zero value get here
			code = append(code, v, wasm.Indexed(wasm.OpLocalSet, z.local))
		}
		if k < n-1 {
			code = append(code, wasm.Indexed(wasm.OpBr, uint32(n-1-k)))
		}
	}
	return code
}

// deadAtSites returns, for each site, the frame's locals that no resume
// point on the way to it reads.
func deadAtSites(lv *liveSets, lay *frameLayout, resume []resumePoint, sites int) [][]uint32 {
	live := make([][]uint64, sites)
	for _, p := range resume {
		in := lv.at(p.pos)
		for s := max(p.lo, 0); s <= p.hi && s < sites; s++ {
			if live[s] == nil {
				live[s] = slices.Clone(in)
				continue
			}
			for w, v := range in {
				live[s][w] |= v
			}
		}
	}
	dead := make([][]uint32, sites)
	for s := range dead {
		for _, l := range lay.locals {
			if live[s] == nil || live[s][l/64]&(1<<(l%64)) == 0 {
				dead[s] = append(dead[s], l)
			}
		}
	}
	return dead
}
