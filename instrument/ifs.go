package instrument

import "github.com/wasmsr/wasmsr/wasm"

// An if whose arms may unwind is an item of its level, and a rewind has to
// pass through it to reach its arm: its condition would be spilled into a
// local before the landing and read back after it. wazero's compiler then
// computes the comparison into a register, merges it with the rewind's
// value at the landing, often stores it to the stack, and tests it, where
// the original compared and branched in one go; Go's code has such an if
// for every bounds check, nil check and stack check that calls the
// runtime. So such an if, when the code computing its condition is
// straight-line, becomes blocks that a rewind enters from inside, with the
// condition computed and branched on in them:
//
//	C; if (result R) A else B end
//
//	block $end (result R)
//	  block $then
//	    C; br_if $then
//	    B; br $end
//	  end
//	  A
//	end
//
// A rewind into A or B passes $end's level, whose prologue sends it past
// C and the br_if straight to its landing: the condition is never saved.

// splitIfs rewrites body (with origin, the original index of each
// instruction) as above, for every if without parameters whose arms may
// unwind and whose condition comes from straight-line code of its own
// level that calls nothing that may unwind.
func (r *rewriter) splitIfs(fn uint32, body []wasm.Instr, origin []int) ([]wasm.Instr, []int, error) {
	n := len(body)
	// unwinds[i] counts the instructions before i that may unwind.
	unwinds := make([]int, n+1)
	loops := r.a.loopSafepoints[fn]
	for i := range body {
		u := r.callMayUnwind(&body[i]) || loops && body[i].Op == wasm.OpLoop
		unwinds[i+1] = unwinds[i]
		if u {
			unwinds[i+1]++
		}
	}
	st := matchStructure(body)
	end, elseOf := st.end, st.elseOf
	// An if is a candidate when some instruction inside it may unwind;
	// without one, the type tracker's pass below is not needed.
	candidate := func(i int) bool { return body[i].Op == wasm.OpIf && unwinds[end[i]] > unwinds[i+1] }
	some := false
	for i := 0; i < n && !some; i++ {
		some = candidate(i)
	}
	if !some {
		return body, origin, nil
	}
	// condStart[j] is the if whose condition code starts at j, or -1.
	condStart := make([]int, n)
	for i := range condStart {
		condStart[i] = -1
	}
	found := false
	tr := r.tracker
	if err := tr.Start(fn); err != nil {
		return nil, nil, err
	}
	height := make([]int, n) // the level's stack height before each instruction
	depth := make([]int, n)
	for i := range body {
		frames := tr.Frames()
		height[i] = len(tr.Stack()) - frames[len(frames)-1].Height
		depth[i] = len(frames)
		if err := tr.Step(i, &body[i]); err != nil {
			return nil, nil, err
		}
		if !candidate(i) {
			continue
		}
		if frames := tr.Frames(); len(frames[len(frames)-1].Params) > 0 {
			continue
		}
		// Walk back over the code that pushed the condition.
		for j := i - 1; j >= 0 && depth[j] == depth[i] && straight(&body[j]) && unwinds[j+1] == unwinds[j]; j-- {
			if height[j] < height[i]-1 {
				break
			}
			if height[j] == height[i]-1 {
				condStart[j], found = i, true
				break
			}
		}
	}
	if !found {
		return body, origin, nil
	}

	out := make([]wasm.Instr, 0, n+n/8)
	outOrigin := make([]int, 0, n+n/8)
	emit := func(in wasm.Instr, from int) {
		out = append(out, in)
		outOrigin = append(outOrigin, origin[from])
	}
	// extra[k] counts the output frames inside original frame k that
	// enclose the code being written: the $then block while writing an
	// else arm moved into it.
	var extra []int
	shift := func(d uint32) uint32 {
		out := d
		for k := len(extra) - 1; k >= 0 && k >= len(extra)-1-int(d); k-- {
			out += uint32(extra[k])
		}
		return out
	}
	var copyRange func(lo, hi int)
	copyRange = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			in := body[i]
			if c := condStart[i]; c >= 0 {
				// C; if ... end, rewritten; then on after its end.
				f := c
				emit(wasm.Block(wasm.OpBlock, body[f].BlockType()), f)
				emit(wasm.Block(wasm.OpBlock, wasm.BlockEmpty), f)
				extra = append(extra, 1)
				for k := i; k < f; k++ {
					emit(body[k], k)
				}
				emit(wasm.Indexed(wasm.OpBrIf, 0), f)
				if x := elseOf[f]; x >= 0 {
					copyRange(x+1, end[f])
				}
				emit(wasm.Indexed(wasm.OpBr, 1), end[f])
				emit(wasm.Plain(wasm.OpEnd), f)
				extra[len(extra)-1] = 0
				thenEnd := end[f]
				if x := elseOf[f]; x >= 0 {
					thenEnd = x
				}
				copyRange(f+1, thenEnd)
				extra = extra[:len(extra)-1]
				emit(wasm.Plain(wasm.OpEnd), end[f])
				i = end[f]
				continue
			}
			// A try_table's catches count from outside it, a delegate's
			// label from outside its try.
			switch in.Op {
			case wasm.OpEnd, wasm.OpDelegate:
				if len(extra) > 0 {
					extra = extra[:len(extra)-1]
				}
			}
			relabel(&in, shift)
			emit(in, i)
			switch in.Op {
			case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
				extra = append(extra, 0)
			}
		}
	}
	copyRange(0, n)
	return out, outOrigin, nil
}
