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
// An if without else needs only $end:
//
//	block $end
//	  C; i32.eqz; br_if $end
//	  A
//	end
//
// and $end then opens where the arm holding the if starts, when nothing is
// on the arm's stack there or before C: the code before the if moves into
// $end unchanged. A rewind still passes $end's level, but at the top of the
// arm, where Go's code (every bounds, nil and stack check is such an if in
// a case of the dispatch loop, dispatch.go) links it into the chain of
// levels whose prologue the dispatch loop's br_table is: the check that
// $end's prologue made at every pass is gone.

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
	// hoistAt[a] counts the ifs whose $end opens at a, the start of their
	// arm; hoisted holds those ifs.
	hoistAt := map[int]int{}
	hoisted := map[int]bool{}
	tr := r.tracker
	if err := tr.Start(fn); err != nil {
		return nil, nil, err
	}
	height := make([]int, n) // the level's stack height before each instruction
	depth := make([]int, n)
	// armStart[i] is where the arm holding instruction i starts, -1 when
	// $end blocks cannot open there (an arm with parameters, or of a try).
	armStart := make([]int, n)
	arms := []int{0}
	for i := range body {
		frames := tr.Frames()
		height[i] = len(tr.Stack()) - frames[len(frames)-1].Height
		depth[i] = len(frames)
		armStart[i] = arms[len(arms)-1]
		if len(frames[len(frames)-1].Params) > 0 {
			armStart[i] = -1
		}
		switch body[i].Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf:
			arms = append(arms, i+1)
		case wasm.OpTry, wasm.OpTryTable:
			arms = append(arms, -1)
		case wasm.OpElse:
			arms[len(arms)-1] = i + 1
		case wasm.OpCatch, wasm.OpCatchAll:
			arms[len(arms)-1] = -1
		case wasm.OpEnd, wasm.OpDelegate:
			if len(arms) > 1 {
				arms = arms[:len(arms)-1]
			}
		}
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
				if a := armStart[j]; a >= 0 && height[j] == 0 && elseOf[i] < 0 {
					hoistAt[a]++
					hoisted[i] = true
				}
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
	// extra counts, per original frame, the output frames inside it that
	// enclose the code being written: the $then block while writing an
	// else arm moved into it.
	var extra frameCounts
	extra.push(0) // the function's frame
	shift := func(d uint32) uint32 { return d + uint32(extra.innermost(int(d)+1)) }
	var copyRange func(lo, hi int)
	copyRange = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			in := body[i]
			if h := hoistAt[i]; h > 0 { // the start of an arm (each is copied once)
				for range h {
					emit(wasm.Block(wasm.OpBlock, wasm.BlockEmpty), i)
				}
				extra.addTop(h)
			}
			if c := condStart[i]; c >= 0 && elseOf[c] < 0 {
				// C; if A end, rewritten; then on after its end.
				f := c
				if hoisted[f] {
					extra.addTop(-1) // this if's $end, opened at the arm's start
				} else {
					emit(wasm.Block(wasm.OpBlock, wasm.BlockEmpty), f)
				}
				extra.push(0)
				for k := i; k < f; k++ {
					emit(body[k], k)
				}
				emit(wasm.Plain(wasm.OpI32Eqz), f)
				emit(wasm.Indexed(wasm.OpBrIf, 0), f)
				copyRange(f+1, end[f])
				extra.pop()
				emit(wasm.Plain(wasm.OpEnd), end[f])
				i = end[f]
				continue
			}
			if c := condStart[i]; c >= 0 {
				// C; if ... else ... end, rewritten; then on after its end.
				f := c
				emit(wasm.Block(wasm.OpBlock, body[f].BlockType()), f)
				emit(wasm.Block(wasm.OpBlock, wasm.BlockEmpty), f)
				extra.push(1)
				for k := i; k < f; k++ {
					emit(body[k], k)
				}
				emit(wasm.Indexed(wasm.OpBrIf, 0), f)
				if x := elseOf[f]; x >= 0 {
					copyRange(x+1, end[f])
				}
				emit(wasm.Indexed(wasm.OpBr, 1), end[f])
				emit(wasm.Plain(wasm.OpEnd), f)
				extra.setTop(0)
				thenEnd := end[f]
				if x := elseOf[f]; x >= 0 {
					thenEnd = x
				}
				copyRange(f+1, thenEnd)
				extra.pop()
				emit(wasm.Plain(wasm.OpEnd), end[f])
				i = end[f]
				continue
			}
			// A try_table's catches count from outside it, a delegate's
			// label from outside its try.
			switch in.Op {
			case wasm.OpEnd, wasm.OpDelegate:
				if extra.depth() > 0 {
					extra.pop()
				}
			}
			relabel(&in, shift)
			emit(in, i)
			switch in.Op {
			case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
				extra.push(0)
			}
		}
	}
	copyRange(0, n)
	return out, outOrigin, nil
}
