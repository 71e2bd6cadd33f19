package instrument

import (
	"cmp"
	"encoding/binary"
	"slices"

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

// exit is the code a group of unwind points branches to.
type exit struct {
	// store are the positions in the layout of the locals it saves.
	store []int
	// parent is the exit with the largest proper subset of those locals,
	// which this one branches to once it has stored the others; -1 for
	// none.
	parent int
}

// exits groups the sites by the locals their exits store (those some
// resume point on the way to the site reads; references always, as the
// restore takes back a spill slot for each; all of them without
// liveness), points every branch to the frame save at its site's exit,
// and returns the exits in order (exit 0 innermost), the larger sets
// first: an exit stores what its parent does not and then goes on to
// it. The sets nest (what a resume point deeper in a function reads,
// an outer one reads too, mostly), so this stores each local a few times
// at most instead of once per exit (nextpnr: 237,000 stores become
// 44,000). Liveness is unchanged: a site's exit chain reads only the
// locals of its own set.
func (e *emitter) exits(lay *frameLayout) []exit {
	if e.live != nil {
		e.siteLive = newSiteLive(e.live, e.resume, len(e.p.sites))
	}
	index := map[string]int{}
	var sets []localSet
	exitOf := make([]int, len(e.p.sites))
	e.siteSaved = make([][]int, len(e.p.sites))
	for s := range exitOf {
		set := localSet{bits: make([]uint64, (len(lay.locals)+63)/64)}
		for k, l := range lay.locals {
			if lay.types[k].IsRef() || e.live == nil || e.siteLive.has(s, l) {
				set.add(k)
			}
		}
		key := set.key()
		x, ok := index[key]
		if !ok {
			x = len(sets)
			index[key] = x
			sets = append(sets, set)
		}
		exitOf[s] = x
	}
	// Larger sets first, so that a parent (a subset) comes after its
	// children: an exit's code can then branch forward to its parent's.
	order := make([]int, len(sets))
	for x := range order {
		order[x] = x
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sets[b].n, sets[a].n) })
	rank := make([]int, len(sets))
	for r, x := range order {
		rank[x] = r
	}
	list := make([]exit, len(sets))
	for r, x := range order {
		list[r] = exit{store: sets[x].members(), parent: -1}
		best := -1
		for q := r + 1; q < len(order); q++ {
			y := order[q]
			if sets[y].n < sets[x].n && sets[y].subsetOf(&sets[x]) && (best < 0 || sets[y].n > sets[order[best]].n) {
				best = q
			}
		}
		list[r].parent = best
	}
	for _, b := range e.unwindBranches {
		e.out[b.at].X += uint32(rank[exitOf[b.site]])
	}
	for s, x := range exitOf {
		e.siteSaved[s] = list[rank[x]].store
	}
	return list
}

// localSet is a set of positions in a frame layout.
type localSet struct {
	bits []uint64
	n    int
}

func (s *localSet) add(k int) {
	s.bits[k/64] |= 1 << (k % 64)
	s.n++
}

// key identifies the set's members, for maps.
func (s *localSet) key() string {
	b := make([]byte, 0, 8*len(s.bits))
	for _, w := range s.bits {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return string(b)
}

func (s *localSet) has(k int) bool { return s.bits[k/64]&(1<<(k%64)) != 0 }

func (s *localSet) subsetOf(t *localSet) bool {
	for w, b := range s.bits {
		if b&^t.bits[w] != 0 {
			return false
		}
	}
	return true
}

func (s *localSet) members() []int {
	out := make([]int, 0, s.n)
	for k := range len(s.bits) * 64 {
		if s.has(k) {
			out = append(out, k)
		}
	}
	return out
}

// exitCode is the code of the exits, to follow the body's return: each
// reserves the frame in the buffer, stores the locals its parent does not,
// and goes on to its parent with the call index, or, with none, leaves for
// the frame's finish at the end of $unwind.
func (e *emitter) exitCode(lay *frameLayout, exits []exit) []wasm.Instr {
	var code []wasm.Instr
	for x, ex := range exits {
		code = append(code, wasm.Plain(wasm.OpEnd), wasm.Indexed(wasm.OpLocalSet, e.ci))
		code = append(code, e.r.reserveFrame(e.ptr)...)
		var inParent map[int]bool
		if ex.parent >= 0 {
			inParent = make(map[int]bool, len(exits[ex.parent].store))
			for _, k := range exits[ex.parent].store {
				inParent[k] = true
			}
		}
		for _, k := range ex.store {
			if !inParent[k] {
				code = append(code, e.r.saveLocal(e.ptr, lay.locals[k], lay.types[k], lay.offsets[k])...)
			}
		}
		switch {
		case ex.parent == x+1:
			// Its parent's code is next: fall into it.
			code = append(code, wasm.Indexed(wasm.OpLocalGet, e.ci))
		case ex.parent >= 0:
			code = append(code, wasm.Indexed(wasm.OpLocalGet, e.ci), wasm.Indexed(wasm.OpBr, uint32(ex.parent-x-1)))
		case x < len(exits)-1:
			code = append(code, wasm.Indexed(wasm.OpBr, uint32(len(exits)-1-x)))
		}
	}
	return code
}
