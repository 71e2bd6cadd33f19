package instrument

import (
	"fmt"
	"iter"
	"slices"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// The rewrite thinks of a body as nested levels: the function body, and
// each arm of every structured instruction (the body of a block or loop,
// each arm of an if, the body and each catch of a try). A level's items are
// what it holds that may unwind, in order: unwindable calls made at that
// level, and structures that contain unwind points somewhere inside.
//
// Each item gets a landing: the place, just before the item, where a
// rewind arrives. At a landing the level's operand stack is empty, so the
// rewrite spills the level's values into locals just before the landing
// (in normal execution) and reloads them right after it; the unwind then
// only has to save locals. Values pushed by pure instructions (local.get,
// constants) immediately before the item are not spilled: the landing goes
// before them, and rewinding simply pushes them again.

// site is an unwind point; its index in plan.sites is the call index saved
// in the frame.
type site struct {
	kind   abi.SiteKind
	instr  int    // index in the prepared body (for a safepoint, of the level's opener, -1 at entry)
	target uint32 // callee, or type index for indirect calls
}

// item is a level's unwind point or unwinding structure.
type item struct {
	start int // the call, or the structure's opening instruction
	end   int // the structure's end (or delegate); start for a call
	// landing is where a rewind arrives: start minus the pure pushes before it.
	landing int
	// atStart is set for a first item whose landing is the level's start:
	// a rewind just falls into it, with the level's values already on the
	// stack, so it needs no landing block and no spill.
	atStart bool
	// spill are the types on the level's stack at the landing, bottom first.
	spill []wasm.ValType
	// dummyLo and dummyHi delimit the spilled values that are arguments
	// of a call to a defined function: a rewind needs none of them (the
	// callee restores its own locals), so they are not part of the frame.
	dummyLo, dummyHi int
	// lo and hi are the range of site indices inside the item.
	lo, hi int
}

// level is one level that has items or a safepoint.
type level struct {
	opener int            // index of the instruction that opens it; -1 for the function body
	depth  int            // nesting depth in the original body; 0 for the function body
	params []wasm.ValType // its operand stack when it starts
	items  []item
	sp     int  // site index of its safepoint, or -1
	loop   bool // the level is a loop's body
	lo, hi int  // range of site indices inside the level
	// link is set when the level's first item is a block, loop or try that
	// opens the level right away, with nothing to spill: the level then
	// needs no prologue of its own, the prologue of the innermost level of
	// such a chain dispatches for all of them. (Go's code nests hundreds of
	// blocks this way.)
	link bool
}

// plan is the analysis of one prepared body: everything the emitter
// needs to know about it, and nothing the emitter decides.
type plan struct {
	fn     uint32
	body   []wasm.Instr
	sites  []site
	levels map[int]*level // by opener
	// shaped are the loops shaped like Go's dispatch loops, by opener
	// (see dispatch.go); folds are those whose br_table dispatches rewinds
	// too.
	shaped, folds map[int]*dispatchLoop
	// locals are the types of the function's parameters and locals;
	// results, of its results.
	locals, results []wasm.ValType
}

// buildPlan walks a prepared body (of code, expanded, with origin mapping
// it there) with the type tracker and finds its levels, items and sites.
func (r *rewriter) buildPlan(fn uint32, code *wasm.Code, body []wasm.Instr, origin []int) (*plan, error) {
	p := &plan{fn: fn, body: body, levels: map[int]*level{}, shaped: dispatchShaped(body)}
	a := r.a

	// open is one structure being walked.
	type open struct {
		opener    int
		arm       int // opener of the current arm
		armDepth  int
		armParams []wasm.ValType
		boundary  int // first instruction after the current arm's last item
		unwinds   bool
		inCatch   bool // the current arm is a catch, or lies inside one
		landing   int
		spill     []wasm.ValType // level values at the landing
		firstSite int
		// parentInCatch is set when the structure lies inside a catch.
		parentInCatch bool
	}
	tr := r.tracker
	if err := tr.Start(fn); err != nil {
		return nil, err
	}
	p.locals, p.results = slices.Clone(tr.Locals()), slices.Clone(tr.Results())
	stack := []*open{{opener: -1, arm: -1, boundary: 0, firstSite: 0}}
	levelOf := func(o *open) *level {
		l := p.levels[o.arm]
		if l == nil {
			l = &level{opener: o.arm, depth: o.armDepth, params: o.armParams, sp: -1, loop: o.arm >= 0 && body[o.arm].Op == wasm.OpLoop}
			p.levels[o.arm] = l
		}
		return l
	}
	addSite := func(s site) int {
		p.sites = append(p.sites, s)
		return len(p.sites) - 1
	}
	// landingOf finds the pure pushes just before instruction from at the
	// current level, where from is instruction i less the code that
	// computes its top pushed operands (see recomputedArgs), and returns
	// where the landing goes, how many values a rewind pushes again and
	// what is left to spill. A local pushed before a structure is pushed
	// again by a rewind with the value it has when the unwind happens
	// inside: it can only be pushed again if the structure never writes it.
	writes := localWrites(body)
	landingOf := func(i, from, pushed int, o *open, levelStack []wasm.ValType) (int, int, []wasm.ValType) {
		j := from
		for j > o.boundary && isPurePush(&body[j-1]) && pushed < len(levelStack) &&
			(body[j-1].Op != wasm.OpLocalGet || !writes.within(body[j-1].X, i)) {
			j--
			pushed++
		}
		return j, pushed, append([]wasm.ValType(nil), levelStack[:len(levelStack)-pushed]...)
	}
	fail := func(i int, format string, args ...any) error {
		return r.errAt(fn, code, origin[i], format, args...)
	}

	if a.entrySafepoint[fn] {
		l := levelOf(stack[0])
		l.sp = addSite(site{kind: abi.SiteSafepoint, instr: -1})
		stack[0].unwinds = true
	}
	for i := range body {
		in := &body[i]
		frames := tr.Frames()
		top := &frames[len(frames)-1]
		levelStack := tr.Stack()[top.Height:]
		cur := stack[len(stack)-1]
		for _, t := range levelStack {
			if t == wasm.ValUnknown {
				return nil, fail(i, "internal error: unknown operand type in reachable code")
			}
		}
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
			landing, _, spill := landingOf(i, i, 0, cur, levelStack)
			o := &open{opener: i, arm: i, armDepth: len(frames), boundary: i + 1, landing: landing, spill: spill,
				firstSite: len(p.sites), parentInCatch: cur.inCatch}
			o.inCatch = o.parentInCatch
			stack = append(stack, o)
		case wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll:
			cur.arm, cur.boundary = i, i+1
			cur.inCatch = cur.parentInCatch || in.Op != wasm.OpElse
		case wasm.OpEnd, wasm.OpDelegate:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
				parent := stack[len(stack)-1]
				if cur.unwinds {
					l := levelOf(parent)
					l.items = append(l.items, item{start: cur.opener, end: i, landing: cur.landing, spill: cur.spill, lo: cur.firstSite, hi: len(p.sites) - 1})
					parent.boundary = i + 1
					parent.unwinds = true
				}
			}
		case wasm.OpCall, wasm.OpCallIndirect, wasm.OpCallRef:
			if !r.callMayUnwind(in) {
				break
			}
			if cur.inCatch {
				return nil, fail(i, "a call that may unwind inside a catch: a rewind cannot re-enter a catch")
			}
			kind, target := abi.SiteCall, in.X
			if in.Op != wasm.OpCall {
				kind = abi.SiteIndirect
			}
			s := addSite(site{kind: kind, instr: i, target: target})
			from, recomputed := i, 0
			if args := r.ignoredArgs(in); args > 0 {
				from, recomputed = recomputedArgs(body, cur.boundary, i, min(args, len(levelStack)))
			}
			landing, pushed, spill := landingOf(i, from, recomputed, cur, levelStack)
			lo, hi := r.dummyArgs(in, len(spill), pushed)
			l := levelOf(cur)
			l.items = append(l.items, item{start: i, end: i, landing: landing, spill: spill, dummyLo: lo, dummyHi: hi, lo: s, hi: s})
			cur.boundary = i + 1
			cur.unwinds = true
		}
		if err := tr.Step(i, in); err != nil {
			return nil, fmt.Errorf("function %s: %w", a.describe(int(fn)), err)
		}
		// A new arm starts after its opening instruction: give a loop its
		// safepoint now, so site indices follow the instruction order.
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable, wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll:
			o := stack[len(stack)-1]
			frames := tr.Frames()
			o.armParams = append([]wasm.ValType(nil), frames[len(frames)-1].Params...)
			// A loop inside a catch gets no safepoint: a rewind could not
			// re-enter it. Nor does a loop whose every iteration starts by
			// calling a function with a safepoint at its entry (a recursion
			// turned into a loop around its other call, typically).
			if in.Op == wasm.OpLoop && a.loopSafepoints[fn] && !o.inCatch && !r.callsSafepointFirst(body[i+1:]) {
				l := levelOf(o)
				l.sp = addSite(site{kind: abi.SiteSafepoint, instr: i})
				o.unwinds = true
			}
		}
	}
	for _, l := range p.levels {
		// A rewind re-enters a loop with the parameters of its first
		// iteration: its first item cannot take them as they are.
		loopParams := l.opener >= 0 && body[l.opener].Op == wasm.OpLoop && len(l.params) > 0
		if len(l.items) > 0 && l.items[0].landing == l.opener+1 && !loopParams {
			first := &l.items[0]
			first.atStart = true
			// A loop is never linked: its prologue runs at every
			// iteration, and what a chain's prologue sets while rewinding
			// (the frame restore of the function's) would meet the
			// normal path's values at every iteration. A level with a
			// safepoint is not either, but for a dispatch loop's, whose
			// safepoint its chain's prologue handles (dispatch.go).
			switch body[first.start].Op {
			case wasm.OpBlock, wasm.OpTry, wasm.OpTryTable:
				l.link = (l.sp < 0 || p.shaped[l.opener] != nil) && first.landing == first.start
			}
		}
		l.lo, l.hi = l.sp, l.sp
		if len(l.items) > 0 {
			l.hi = l.items[len(l.items)-1].hi
			if l.sp < 0 {
				l.lo = l.items[0].lo
			}
		}
	}
	p.folds = p.dispatchLoops()
	return p, nil
}

// ignoredArgs returns how many arguments of a call a rewind may replace
// with anything: all of a direct call to a function this module defines
// (it restores its own locals when rewound), none of another call (an
// import is called again for real at the end of a rewind; an indirect
// call's operand chooses the callee).
func (r *rewriter) ignoredArgs(in *wasm.Instr) int {
	if in.Op != wasm.OpCall || int(in.X) < r.a.numImports {
		return 0
	}
	t, ok := r.m.FuncTypeIndex(in.X)
	if !ok || int(t) >= len(r.m.Types) {
		return 0
	}
	return len(r.m.Types[t].Params)
}

// recomputedArgs returns where the landing of the call at i goes when a
// rewind may pass it anything as its top args operands: before the code
// that computes some of them (pushed, the topmost), as far back as that
// code has no effect and cannot trap, and starts no earlier than
// boundary. A rewind runs that code again on whatever the locals hold,
// instead of the level spilling and reloading those values. The locals it
// reads still count as read there: a site before the landing needs them
// for real.
func recomputedArgs(body []wasm.Instr, boundary, i, args int) (landing, pushed int) {
	landing = i
	need, produced := 0, 0 // operands still to find, whole values found
	for j := i - 1; j >= boundary; j-- {
		pops, ok := recomputable(&body[j])
		if !ok {
			break
		}
		if need > 0 {
			need--
		} else if produced++; produced > args {
			break
		}
		need += pops
		if need == 0 {
			landing, pushed = j, produced
		}
	}
	return landing, pushed
}

// recomputable reports whether in pushes one value and, run again
// anywhere on any operands, has no effect and cannot trap (loads,
// divisions and float-to-integer truncations can); pops is how many
// operands it takes.
func recomputable(in *wasm.Instr) (pops int, ok bool) {
	switch op := in.Op; {
	case isPurePush(in), op == wasm.OpGlobalGet:
		return 0, true
	case op == wasm.OpSelect:
		return 3, true
	case op >= wasm.OpI32DivS && op <= wasm.OpI32RemU, op >= wasm.OpI64DivS && op <= wasm.OpI64RemU,
		op >= wasm.OpI32TruncF32S && op <= wasm.OpI32TruncF64U, op >= wasm.OpI64TruncF32S && op <= wasm.OpI64TruncF64U:
		return 0, false
	case op >= wasm.OpI32Eqz && op <= wasm.OpI64Extend32S, op >= wasm.OpI32TruncSatF32S && op <= wasm.OpI64TruncSatF64U:
		params, results, ok := op.Signature()
		return len(params), ok && len(results) == 1
	}
	return 0, false
}

// dummyArgs returns the range of a call's spilled values (spilled values,
// then pushed pure values, are on the stack at the call) that a rewind
// may replace with anything: the arguments of a call to a function this
// module defines, which restores its own locals when rewound. An import
// is called again for real at the end of a rewind, and so may be an
// indirect call when a table holds an import: their arguments are kept.
// The table index of call_indirect and the reference of call_ref choose
// the callee, and are kept too.
func (r *rewriter) dummyArgs(in *wasm.Instr, spilled, pushed int) (lo, hi int) {
	var args int
	switch in.Op {
	case wasm.OpCall:
		if args = r.ignoredArgs(in); args == 0 {
			return 0, 0
		}
	case wasm.OpCallIndirect, wasm.OpCallRef:
		if r.a.importTaken || int(in.X) >= len(r.m.Types) {
			return 0, 0
		}
		args = len(r.m.Types[in.X].Params)
		// The callee operand is on top: pushed again, or the last spilled.
		if pushed == 0 {
			spilled--
		} else {
			pushed--
		}
	default:
		return 0, 0
	}
	n := max(0, min(args-pushed, spilled))
	return spilled - n, spilled
}

// callsSafepointFirst reports whether code, before any branch or
// structure, calls a function with a safepoint at its entry.
func (r *rewriter) callsSafepointFirst(code []wasm.Instr) bool {
	for i := range code {
		in := &code[i]
		if !straight(in) {
			return false
		}
		if in.Op == wasm.OpCall && int(in.X) < len(r.a.entrySafepoint) && r.a.entrySafepoint[in.X] {
			return true
		}
	}
	return false
}

// straight reports whether an instruction neither branches nor opens or
// closes a structure.
func straight(in *wasm.Instr) bool {
	switch in.Op {
	case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpElse, wasm.OpEnd, wasm.OpTry, wasm.OpTryTable,
		wasm.OpCatch, wasm.OpCatchAll, wasm.OpDelegate, wasm.OpBr, wasm.OpBrIf, wasm.OpBrTable,
		wasm.OpBrOnNull, wasm.OpBrOnNonNull, wasm.OpReturn, wasm.OpReturnCall, wasm.OpReturnCallIndirect,
		wasm.OpReturnCallRef, wasm.OpUnreachable, wasm.OpThrow, wasm.OpThrowRef, wasm.OpRethrow:
		return false
	}
	return true
}

// relabel rewrites the labels of a branching instruction (and of a
// try_table's catches, and a delegate's) with f; in.Ext is copied first.
// Other instructions are left alone.
func relabel(in *wasm.Instr, f func(uint32) uint32) {
	switch in.Op {
	case wasm.OpBrTable:
		in.Ext = &wasm.Extra{Labels: slices.Clone(in.Ext.Labels)}
	case wasm.OpTryTable:
		in.Ext = &wasm.Extra{Catches: slices.Clone(in.Ext.Catches)}
	}
	for l := range labels(in) {
		*l = f(*l)
	}
}

// frameCounts is a stack of counts, one per enclosing frame (innermost
// last), that sums the innermost ones in constant time, so that moving a
// label costs the same at any depth: rewrites shift each label by what
// they add or remove between the branch and its target.
type frameCounts struct {
	sums []int // sums[k] is the sum of the counts of frames 0..k
}

func (c *frameCounts) push(n int) {
	if len(c.sums) > 0 {
		n += c.sums[len(c.sums)-1]
	}
	c.sums = append(c.sums, n)
}

func (c *frameCounts) pop() { c.sums = c.sums[:len(c.sums)-1] }

// depth returns the number of frames.
func (c *frameCounts) depth() int { return len(c.sums) }

// addTop adds n to the innermost frame's count.
func (c *frameCounts) addTop(n int) { c.sums[len(c.sums)-1] += n }

// setTop sets the innermost frame's count to n.
func (c *frameCounts) setTop(n int) { c.addTop(n - c.innermost(1)) }

// innermost returns the sum of the counts of the n innermost frames (all
// of them when there are fewer).
func (c *frameCounts) innermost(n int) int {
	k := len(c.sums)
	if k == 0 {
		return 0
	}
	if n >= k {
		return c.sums[k-1]
	}
	return c.sums[k-1] - c.sums[k-1-n]
}

// labels yields the labels of a branching instruction, of a try_table's
// catches and of a delegate, in place.
func labels(in *wasm.Instr) iter.Seq[*uint32] {
	return func(yield func(*uint32) bool) {
		switch in.Op {
		case wasm.OpBr, wasm.OpBrIf, wasm.OpBrOnNull, wasm.OpBrOnNonNull, wasm.OpRethrow, wasm.OpDelegate:
			yield(&in.X)
		case wasm.OpBrTable:
			for k := range in.Ext.Labels {
				if !yield(&in.Ext.Labels[k]) {
					return
				}
			}
			yield(&in.X)
		case wasm.OpTryTable:
			for k := range in.Ext.Catches {
				if !yield(&in.Ext.Catches[k].Label) {
					return
				}
			}
		}
	}
}

// structure matches a body's structured instructions, by index: end
// holds each opener's end (or delegate), elseOf each if's else, opener
// each else's and end's opener; -1 where there is none.
type structure struct {
	end, elseOf, opener []int
}

func matchStructure(body []wasm.Instr) structure {
	n := len(body)
	s := structure{end: make([]int, n), elseOf: make([]int, n), opener: make([]int, n)}
	var open []int
	for i := range body {
		s.end[i], s.elseOf[i], s.opener[i] = -1, -1, -1
		switch body[i].Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
			open = append(open, i)
		case wasm.OpElse:
			if len(open) > 0 {
				o := open[len(open)-1]
				s.elseOf[o], s.opener[i] = i, o
			}
		case wasm.OpEnd, wasm.OpDelegate:
			if len(open) > 0 {
				o := open[len(open)-1]
				open = open[:len(open)-1]
				s.end[o], s.opener[i] = i, o
			}
		}
	}
	return s
}

// structureWrites tells which locals each structure of a body writes.
type structureWrites struct {
	end []int            // opener -> its end, or -1
	at  map[uint32][]int // local -> where it is written, in order
}

func localWrites(body []wasm.Instr) structureWrites {
	w := structureWrites{end: matchStructure(body).end, at: map[uint32][]int{}}
	for i := range body {
		if op := body[i].Op; op == wasm.OpLocalSet || op == wasm.OpLocalTee {
			w.at[body[i].X] = append(w.at[body[i].X], i)
		}
	}
	return w
}

// within reports whether local x is written inside the structure that
// instruction i opens (false when i is a call).
func (w structureWrites) within(x uint32, i int) bool {
	end := w.end[i]
	if end < 0 {
		return false
	}
	at := w.at[x]
	k, _ := slices.BinarySearch(at, i)
	return k < len(at) && at[k] <= end
}

// isPurePush reports whether an instruction only pushes one value that is
// the same when executed again after a rewind: locals are restored, and
// constants are constant. (global.get is not: a callee may have changed the
// global before unwinding.)
func isPurePush(in *wasm.Instr) bool {
	switch in.Op {
	case wasm.OpLocalGet, wasm.OpI32Const, wasm.OpI64Const, wasm.OpF32Const, wasm.OpF64Const,
		wasm.OpV128Const, wasm.OpRefNull, wasm.OpRefFunc:
		return true
	}
	return false
}

// errAt is an error about instruction i of function fn's original body
// code, expanded (-1: the function's entry): it names the function, the
// instruction and the instruction's byte offset in the input module.
func (r *rewriter) errAt(fn uint32, code *wasm.Code, i int, format string, args ...any) error {
	what, at := "entry", 0
	if i >= 0 {
		what = code.Body[i].Op.String()
		at = i
	}
	where := fmt.Sprintf("instruction %d", at)
	if offsets, err := code.InstrOffsets(); err == nil {
		where = fmt.Sprintf("offset 0x%x", offsets[at])
	}
	return fmt.Errorf("function %s, %s at %s: %s", r.a.describe(int(fn)), what, where, fmt.Sprintf(format, args...))
}
