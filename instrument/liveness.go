package instrument

import (
	"math/bits"
	"slices"

	"github.com/wasmsr/wasmsr/wasm"
)

// liveSets are the locals live before each instruction of a body: those
// that may be read before being written on some path from there.
type liveSets struct {
	words  int
	liveIn []uint64
}

// at returns the bitset of the locals live before instruction i.
func (lv *liveSets) at(i int) []uint64 { return lv.liveIn[i*lv.words : (i+1)*lv.words] }

// atResume returns the locals a rewind needs at resume point p: those
// live there, but the one the rewind sets itself on its way (p.skip).
func (lv *liveSets) atResume(p resumePoint) []uint64 {
	live := slices.Clone(lv.at(p.pos))
	if p.skip >= 0 {
		live[p.skip/64] &^= 1 << (p.skip % 64)
	}
	return live
}

// union returns the locals a rewind needs at any of the given points.
func (lv *liveSets) union(points []resumePoint, numLocals int) []bool {
	live := make([]bool, numLocals)
	for _, p := range points {
		for w, v := range lv.atResume(p) {
			for v != 0 {
				b := bits.TrailingZeros64(v)
				live[w*64+b] = true
				v &^= 1 << b
			}
		}
	}
	return live
}

// siteLive holds, for each site, the locals that some resume point on the
// way to it reads. Resume points cover ranges of sites, and in nested code
// the ranges nest as deep as the code: adding each point's set to every
// site it covers, or scanning every point for each query, would cost the
// square of the nesting depth. So the sets live in a segment tree over
// the sites (node k's children are 2k and 2k+1, the sites are the leaves
// n..2n-1): each point's set goes to the O(log n) nodes that cover its
// range, then down to the leaves, and each inner node is finally the
// union of its leaves, which answers a query for a range of sites in
// O(log n) nodes too.
type siteLive struct {
	n, words int
	nodes    []uint64 // node k's set is nodes[k*words : (k+1)*words]
}

func (t *siteLive) node(k int) []uint64 { return t.nodes[k*t.words : (k+1)*t.words] }

func (t *siteLive) or(k int, set []uint64) {
	for w, v := range set {
		t.nodes[k*t.words+w] |= v
	}
}

// newSiteLive gathers the sets of the resume points, over numSites sites.
func newSiteLive(lv *liveSets, resume []resumePoint, numSites int) *siteLive {
	n := numSites
	t := &siteLive{n: n, words: lv.words, nodes: make([]uint64, 2*n*lv.words)}
	for _, p := range resume {
		set := lv.atResume(p)
		for lo, hi := max(p.lo, 0)+n, min(p.hi+1, n)+n; lo < hi; lo, hi = lo>>1, hi>>1 {
			if lo&1 == 1 {
				t.or(lo, set)
				lo++
			}
			if hi&1 == 1 {
				hi--
				t.or(hi, set)
			}
		}
	}
	for k := 1; k < n; k++ { // parents before children
		t.or(2*k, t.node(k))
		t.or(2*k+1, t.node(k))
	}
	for k := n - 1; k >= 1; k-- { // children before parents
		copy(t.node(k), t.node(2*k))
		t.or(k, t.node(2*k+1))
	}
	return t
}

// has reports whether local l is read on the way to site s.
func (t *siteLive) has(s int, l uint32) bool {
	return t.nodes[(t.n+s)*t.words+int(l/64)]&(1<<(l%64)) != 0
}

// union returns the locals read on the way to any of the sites lo..hi.
func (t *siteLive) union(lo, hi int) []uint64 {
	set := make([]uint64, t.words)
	for lo, hi := max(lo, 0)+t.n, min(hi+1, t.n)+t.n; lo < hi; lo, hi = lo>>1, hi>>1 {
		if lo&1 == 1 {
			for w, v := range t.node(lo) {
				set[w] |= v
			}
			lo++
		}
		if hi&1 == 1 {
			hi--
			for w, v := range t.node(hi) {
				set[w] |= v
			}
		}
	}
	return set
}

// Liveness only makes frames smaller, so it gives up on bodies where it
// would cost too much: a set per instruction of a million instructions
// by 50,000 locals is gigabytes, and loops nested so that each pass
// carries facts one level further would take as many passes as levels.
// The largest functions of gofmt and FFmpeg need below 100,000 words and at
// most 5 passes.
const (
	maxLivenessWords  = 1 << 22 // 32 MiB of sets
	maxLivenessPasses = 16
)

// liveness computes the live locals of body by a backward dataflow
// analysis over instructions. The branches in rewindOnly are taken only
// while rewinding, right after the frame is restored: their edges are left
// out, so that what is live is what the original program needs. The reads
// in dummyReads count for nothing: what they read matters only in the
// normal course, where it was written just before. ok is
// false for bodies with exception handling, whose hidden edges into
// catches it does not model, and past the bounds above (the caller then
// keeps every local).
func liveness(body []wasm.Instr, numLocals int, rewindOnly, dummyReads map[int]bool) (lv *liveSets, ok bool) {
	n := len(body)
	words := (numLocals + 63) / 64
	if n*words > maxLivenessWords {
		return nil, false
	}
	// Successors of each instruction, from the structure. exit means the
	// function returns.
	const exit = -1
	for i := range body {
		switch body[i].Op {
		case wasm.OpTry, wasm.OpTryTable, wasm.OpCatch, wasm.OpCatchAll, wasm.OpDelegate, wasm.OpThrow,
			wasm.OpRethrow, wasm.OpThrowRef:
			return nil, false
		}
	}
	st := matchStructure(body)
	match, elseOf, opener := st.end, st.elseOf, st.opener
	var stack []int
	// labelTarget finds where a branch of the given depth at instruction
	// i goes; it needs the enclosing openers, recomputed in a second pass.
	succ := make([][2]int, n)
	var extra [][]int // br_table targets, by instruction
	extraAt := map[int]int{}
	target := func(depth uint32) int {
		if int(depth) >= len(stack) {
			return exit
		}
		o := stack[len(stack)-1-int(depth)]
		if body[o].Op == wasm.OpLoop {
			return o + 1
		}
		return match[o]
	}
	for i := range body {
		in := &body[i]
		next := i + 1
		if next >= n {
			next = exit
		}
		s := [2]int{next, -2} // -2: no second successor
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop:
			stack = append(stack, i)
		case wasm.OpIf:
			stack = append(stack, i)
			if e := elseOf[i]; e >= 0 {
				s[1] = e + 1
			} else {
				s[1] = match[i]
			}
		case wasm.OpElse:
			s[0] = match[opener[i]]
		case wasm.OpEnd:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case wasm.OpBr:
			s[0] = target(in.X)
			if rewindOnly[i] {
				s[0] = -2
			}
		case wasm.OpBrIf, wasm.OpBrOnNull, wasm.OpBrOnNonNull:
			if !rewindOnly[i] {
				s[1] = target(in.X)
			}
		case wasm.OpBrTable:
			if rewindOnly[i] {
				s[0] = -2
				break
			}
			ts := []int{target(in.X)}
			for _, l := range in.Ext.Labels {
				ts = append(ts, target(l))
			}
			extraAt[i] = len(extra)
			extra = append(extra, ts)
			s[0] = -2
		case wasm.OpReturn, wasm.OpUnreachable, wasm.OpReturnCall, wasm.OpReturnCallIndirect, wasm.OpReturnCallRef:
			s[0] = exit
		}
		succ[i] = s
	}

	liveIn := make([]uint64, n*words)
	in := func(i int) []uint64 { return liveIn[i*words : (i+1)*words] }
	out := make([]uint64, words)
	// Iterate backwards to a fixpoint; loops need more than one pass.
	for pass, changed := 0, true; changed; pass++ {
		if pass == maxLivenessPasses {
			return nil, false
		}
		changed = false
		for i := n - 1; i >= 0; i-- {
			clear(out)
			add := func(j int) {
				if j >= 0 {
					for w, v := range in(j) {
						out[w] |= v
					}
				}
			}
			if k, ok := extraAt[i]; ok {
				for _, j := range extra[k] {
					add(j)
				}
			} else {
				add(succ[i][0])
				add(succ[i][1])
			}
			switch body[i].Op {
			case wasm.OpLocalSet, wasm.OpLocalTee:
				x := body[i].X
				out[x/64] &^= 1 << (x % 64)
			case wasm.OpLocalGet:
				if !dummyReads[i] {
					x := body[i].X
					out[x/64] |= 1 << (x % 64)
				}
			}
			cur := in(i)
			for w := range cur {
				if cur[w] != out[w] {
					cur[w] = out[w]
					changed = true
				}
			}
		}
	}
	return &liveSets{words: words, liveIn: liveIn}, true
}
