package instrument

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// emitter writes the instrumented body of one function from its plan.
//
// The output wraps the original body:
//
//	block $unwind
//	  block $body (result R)    ;; the original function frame
//	    ...levels, with landings and unwind checks...
//	  end
//	  return
//	end
//	...save the frame, return placeholder results...
//
// Every level with items starts with one block per item, innermost first,
// whose ends are the landings, and a prologue that, when rewinding,
// branches to the landing of the item that holds the saved call index
// (and, for the function level, first restores the frame). A chain of
// levels that open each other right away shares one prologue.
type emitter struct {
	r *rewriter
	p *plan
	// reentered is a local set when this call takes back the frame of a
	// declined pause (see epilogue), -1 without safepoints.
	reentered int
	out       []wasm.Instr
	// origin holds, for each instruction of out, the instruction of the
	// plan's body it comes from, or -1 for code the rewrite added; src is
	// what emit records (see funcOrigins).
	origin []int32
	src    int32

	// siteStack lists, by site, the spill locals holding the operand-stack
	// values at the site, outermost level first; siteSaved, the positions
	// in the frame layout of the locals its exit stores.
	siteStack [][]uint32
	siteSaved [][]int

	frames  int   // open output frames
	origPos []int // output frame of each open original frame
	levels  []*levelState

	siteAt  map[int]int // call instruction -> site
	ci, ptr uint32      // the call-index and frame-pointer locals
	// spills holds the spill locals of each level item, allocated up front.
	spills  map[*item][]uint32
	spSpill map[*level][]uint32

	// restoreAt is where the frame restore goes once the saved locals are
	// known; resume are where rewinds arrive.
	restoreAt int
	resume    []resumePoint
	// unwindBranches are the branches to the frame save, which finish
	// points at the exit that suits their site (see exits.go).
	unwindBranches []unwindBranch
	// rewindOnly are the branches only a rewind takes (see liveness).
	rewindOnly map[int]bool
	// dummyReads are the reads of spilled arguments that a rewind may
	// pass with any value (see item.dummyLo): liveness ignores them.
	dummyReads map[int]bool
	// reloads are the places, in the rewind path of prologues inside
	// loops, where the frame is read again (see reloadAt).
	reloads []reloadPoint
	// live is the liveness of the body, once it is written; siteLive
	// gathers it by site, once the exits are known.
	live     *liveSets
	siteLive *siteLive
	// tailDispatch, when not 0, is the dispatcher to tail-call when a
	// rewind finds another function's frame on top (see tail.go).
	tailDispatch uint32
	// pending is the prologue waiting for the br_table of a dispatch
	// loop that dispatches rewinds too (see plan.folds).
	pending *pendingFold
	// backEdges are the branches back to a dispatch loop with a
	// safepoint that check for a pause, with the safepoint's site.
	backEdges map[int]int
}

// levelState tracks a level while its arm is being written.
type levelState struct {
	l       *level // nil when the arm has no items
	frame   int    // the output frame of its structure
	next    int    // next item to land
	landing []int  // output frame of each item's landing block (-1: none)
	// inLoop is set when the arm lies inside a loop (its own level
	// included): its prologue then runs at every iteration. Kept per level
	// so that asking costs nothing at any nesting depth.
	inLoop bool
}

// emitted is what the emitter makes of one function.
type emitted struct {
	code   wasm.Code
	layout frameLayout
	// origin says, for each instruction of code, the instruction of the
	// original body it comes from, or -1 (see funcOrigins).
	origin []int32
	// siteStack and siteSaved are the emitter's, by site.
	siteStack [][]uint32
	siteSaved [][]int
}

// emitFunc writes the instrumented code of the function p plans, whose
// original code is code (origin maps p's body to it); nil when it has no
// unwind point.
func (r *rewriter) emitFunc(p *plan, code wasm.Code, origin []int) (*emitted, error) {
	fn := p.fn
	tails := r.tailCallsMayUnwind(p.body)
	if len(p.sites) == 0 {
		if !tails {
			return nil, nil
		}
		// No frame of its own: a rewind that enters it is for a function it
		// tail-called.
		entry := []wasm.Instr{wasm.Indexed(wasm.OpGlobalGet, r.g.State), wasm.Block(wasm.OpIf, wasm.BlockEmpty),
			wasm.Indexed(wasm.OpReturnCall, r.tailDispatcher(p.results)), wasm.Plain(wasm.OpEnd)}
		origin := make([]int32, len(entry)+len(code.Body))
		for k := range origin {
			origin[k] = int32(k - len(entry)) // the entry's are negative
		}
		for k := range entry {
			origin[k] = -1
		}
		return &emitted{code: wasm.Code{Locals: code.Locals, Body: append(entry, code.Body...)}, origin: origin}, nil
	}
	// A function that unwinds returns placeholder results.
	for _, t := range p.results {
		if _, err := zeroValue(t); err != nil {
			at := -1
			if s := p.sites[0]; s.instr >= 0 {
				at = origin[s.instr]
			}
			return nil, r.errAt(fn, &code, at, "%v", err)
		}
	}
	all := slices.Clone(p.locals) // parameters and locals
	newLocal := func(t wasm.ValType) uint32 {
		all = append(all, t)
		return uint32(len(all) - 1)
	}
	e := &emitter{r: r, p: p, out: make([]wasm.Instr, 0, 2*len(p.body)), origin: make([]int32, 0, 2*len(p.body)), src: -1, spills: map[*item][]uint32{}, spSpill: map[*level][]uint32{}, rewindOnly: map[int]bool{}, dummyReads: map[int]bool{},
		siteStack: make([][]uint32, len(p.sites))}
	if tails {
		e.tailDispatch = r.tailDispatcher(p.results)
	}
	e.ci = newLocal(wasm.I32)
	e.ptr = newLocal(wasm.I32)
	e.reentered = -1
	if e.hasSafepoints() {
		e.reentered = int(newLocal(wasm.I32))
	}
	// Spill locals: levels at the same depth never hold values at the same
	// time, so they share locals of each type.
	type poolKey struct {
		depth int
		t     wasm.ValType
	}
	pools := map[poolKey][]uint32{}
	alloc := func(depth int, types []wasm.ValType) []uint32 {
		seen := map[wasm.ValType]int{}
		ls := make([]uint32, len(types))
		for j, t := range types {
			key := poolKey{depth, t}
			k := seen[t]
			seen[t]++
			for len(pools[key]) <= k {
				pools[key] = append(pools[key], newLocal(t))
			}
			ls[j] = pools[key][k]
		}
		return ls
	}
	for _, o := range slices.Sorted(maps.Keys(p.levels)) {
		l := p.levels[o]
		if l.sp >= 0 {
			e.spSpill[l] = alloc(l.depth, l.params)
		}
		for k := range l.items {
			e.spills[&l.items[k]] = alloc(l.depth, l.items[k].spill)
		}
	}
	locals := append([]wasm.LocalGroup(nil), code.Locals...)
	for _, t := range all[len(p.locals):] {
		if n := len(locals); n > len(code.Locals) && locals[n-1].Type == t {
			locals[n-1].Count++
		} else {
			locals = append(locals, wasm.LocalGroup{Count: 1, Type: t})
		}
	}
	if err := e.rewrite(); err != nil {
		return nil, fmt.Errorf("function %s: %w", r.a.describe(int(fn)), err)
	}
	// The frame keeps the locals a resumed execution may read.
	lv, ok := liveness(e.out, len(all), e.rewindOnly, e.dummyReads)
	if ok {
		e.live = lv
	}
	var live []bool
	if ok {
		live = lv.union(e.resume, len(all))
	}
	var saved []uint32
	var savedTypes []wasm.ValType
	for l, t := range all {
		if uint32(l) == e.ci || uint32(l) == e.ptr || l == e.reentered || ok && !live[l] {
			continue
		}
		saved = append(saved, uint32(l))
		savedTypes = append(savedTypes, t)
	}
	layout := newFrameLayout(saved, savedTypes)
	if err := e.finish(&layout); err != nil {
		return nil, fmt.Errorf("function %s: %w", r.a.describe(int(fn)), err)
	}
	body, bodyOrigin := mergeBlocks(e.out, e.origin)
	for k, o := range bodyOrigin {
		if o >= 0 {
			bodyOrigin[k] = int32(origin[o])
		}
	}
	return &emitted{code: wasm.Code{Locals: locals, Body: body}, origin: bodyOrigin, layout: layout, siteStack: e.siteStack, siteSaved: e.siteSaved}, nil
}

// emit appends an instruction the rewrite adds, which belongs to the
// plan's instruction src when that is not -1.
func (e *emitter) emit(in wasm.Instr) {
	e.out = append(e.out, in)
	e.origin = append(e.origin, e.src)
}

// keep appends instruction i of the plan's body, in may be changed.
func (e *emitter) keep(in wasm.Instr, i int) {
	e.out = append(e.out, in)
	e.origin = append(e.origin, int32(i))
}

// on runs write with the code it emits belonging to instruction i of the
// plan's body: it then has i's source line (funcOrigins).
func (e *emitter) on(i int, write func()) {
	e.src = int32(i)
	write()
	e.src = -1
}

func (e *emitter) op(op wasm.Opcode) { e.emit(wasm.Plain(op)) }
func (e *emitter) i32(v int32)       { e.emit(wasm.I32Const(v)) }
func (e *emitter) get(l uint32)      { e.emit(wasm.Indexed(wasm.OpLocalGet, l)) }
func (e *emitter) set(l uint32)      { e.emit(wasm.Indexed(wasm.OpLocalSet, l)) }
func (e *emitter) gget(g uint32)     { e.emit(wasm.Indexed(wasm.OpGlobalGet, g)) }
func (e *emitter) call(f uint32)     { e.emit(wasm.Indexed(wasm.OpCall, f)) }

func (e *emitter) open(orig bool) {
	e.frames++
	if orig {
		e.origPos = append(e.origPos, e.frames-1)
	}
}

func (e *emitter) close(orig bool) {
	e.frames--
	if orig {
		e.origPos = e.origPos[:len(e.origPos)-1]
	}
}

func (e *emitter) block(bt wasm.BlockType) { e.emit(wasm.Block(wasm.OpBlock, bt)); e.open(false) }
func (e *emitter) ifEmpty()                { e.emit(wasm.Block(wasm.OpIf, wasm.BlockEmpty)); e.open(false) }
func (e *emitter) end()                    { e.op(wasm.OpEnd); e.close(false) }

// depth is the label depth of the output frame at position pos.
func (e *emitter) depth(pos int) uint32 { return uint32(e.frames - 1 - pos) }

// br branches to the output frame at position pos.
func (e *emitter) br(pos int) { e.emit(wasm.Indexed(wasm.OpBr, e.depth(pos))) }

// remap turns a label of the original body into the output's.
func (e *emitter) remap(depth uint32) uint32 {
	return e.depth(e.origPos[len(e.origPos)-1-int(depth)])
}

// rewrite writes the instrumented body, without the frame restore and save
// (see finish).
func (e *emitter) rewrite() error {
	body := e.p.body
	e.backEdges = map[int]int{}
	for opener, d := range e.p.folds {
		if sp := e.p.levels[opener].sp; sp >= 0 {
			for b := range d.backward {
				e.backEdges[b] = sp
			}
		}
	}
	e.siteAt = map[int]int{}
	for s, st := range e.p.sites {
		if st.kind != abi.SiteSafepoint {
			e.siteAt[st.instr] = s
		}
	}
	e.block(wasm.BlockEmpty) // $unwind
	e.emit(wasm.Block(wasm.OpBlock, e.r.blockType(nil, e.p.results)))
	e.open(true) // $body stands for the function frame
	e.enterLevel(-1)
	for i := 0; i < len(body); i++ {
		in := body[i]
		if e.pending != nil && i == e.pending.loop.table-1 {
			e.dispatchThroughTable(i+1, e.pending)
			e.pending = nil
			i++ // the br_table is written
			continue
		}
		if ls := e.levels[len(e.levels)-1]; ls.l != nil && ls.next < len(ls.l.items) && ls.l.items[ls.next].landing == i {
			e.land(ls)
		}
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry:
			if d := e.p.folds[i]; d != nil {
				e.enterDispatchLoop(d, e.p.levels[i])
			}
			e.keep(in, i)
			e.open(true)
			if in.Op == wasm.OpLoop {
				e.on(i, func() { e.enterLevel(i) }) // its safepoint
			} else {
				e.enterLevel(i)
			}
		case wasm.OpTryTable:
			relabel(&in, e.remap)
			e.keep(in, i)
			e.open(true)
			e.enterLevel(i)
		case wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll:
			if err := e.leaveLevel(i); err != nil {
				return err
			}
			e.keep(in, i)
			e.enterLevel(i)
		case wasm.OpEnd:
			if err := e.leaveLevel(i); err != nil {
				return err
			}
			e.keep(in, i)
			e.close(true)
			if i == len(body)-1 {
				e.op(wasm.OpReturn)
				e.end() // $unwind
			}
		case wasm.OpDelegate:
			if err := e.leaveLevel(i); err != nil {
				return err
			}
			e.close(true)
			relabel(&in, e.remap)
			e.keep(in, i)
		case wasm.OpBr, wasm.OpBrIf, wasm.OpBrOnNull, wasm.OpBrOnNonNull, wasm.OpRethrow, wasm.OpBrTable:
			if sp, ok := e.backEdges[i]; ok {
				e.on(i, func() { e.backEdgeSafepoint(sp) })
			}
			relabel(&in, e.remap)
			e.keep(in, i)
		default:
			e.keep(in, i)
			if s, site := e.siteAt[i]; site {
				e.src = int32(i) // the call's check has the call's line
				// The call index goes to the frame save with the branch: a
				// local set before the call would be live across the call,
				// and carried around every loop the call is in.
				e.i32(int32(s))
				e.gget(e.r.g.State)
				e.emit(wasm.Indexed(wasm.OpBrIf, e.depth(0)))
				e.unwindBranches = append(e.unwindBranches, unwindBranch{at: len(e.out) - 1, site: s})
				e.op(wasm.OpDrop)
				e.src = -1
			}
		}
	}
	if e.frames != 0 || len(e.levels) != 0 {
		return fmt.Errorf("internal error: %d frames and %d levels left open", e.frames, len(e.levels))
	}
	if e.restoreAt == 0 {
		return fmt.Errorf("internal error: no place for the frame restore")
	}
	return nil
}

// enterLevel starts the arm opened by instruction opener (-1: the function body).
func (e *emitter) enterLevel(opener int) {
	ls := &levelState{l: e.p.levels[opener], frame: e.frames - 1}
	ls.inLoop = ls.l != nil && ls.l.loop || len(e.levels) > 0 && e.levels[len(e.levels)-1].inLoop
	e.levels = append(e.levels, ls)
	l := ls.l
	if l == nil {
		return
	}
	n := len(l.items)
	ls.landing = make([]int, n)
	bt := e.r.blockType(l.params, nil)
	for k := n - 1; k >= 0; k-- {
		if k == 0 && l.items[0].atStart {
			ls.landing[k] = -1 // a rewind falls into it
			continue
		}
		e.block(bt)
		ls.landing[k] = e.frames - 1
	}
	if l.link {
		return
	}
	header := len(e.out) // where the prologue starts
	// The chain of levels whose prologue this is: this one and the links
	// above it whose first item opened it.
	first := len(e.levels) - 1
	for first > 0 {
		parent := e.levels[first-1].l
		if parent == nil || !parent.link || parent.items[0].start != e.levels[first].l.opener {
			break
		}
		first--
	}
	chain := e.levels[first:]
	isFunc := chain[0].l.opener < 0
	// Inside a loop, a rewind reloads the locals its landing needs that
	// the loop's header does not carry (see reloadAt).
	reload := !isFunc && ls.inLoop
	if d := e.p.folds[chain[0].l.opener]; d != nil {
		e.pending = &pendingFold{loop: d, chain: slices.Clone(chain), header: header, reload: reload}
		if sp := chain[0].l.sp; sp >= 0 {
			e.addResume(sp, sp)
		}
		return
	}
	if l.sp < 0 {
		if segs := segments(chain); !isFunc && len(segs) == 1 {
			// One place to go: a conditional branch, or nothing at all
			// when a rewind just falls into it.
			switch {
			case segs[0].target == fallThrough:
			case reload:
				e.gget(e.r.g.State)
				e.ifEmpty()
				e.reloads = append(e.reloads, reloadPoint{at: len(e.out), header: header, lo: segs[0].lo, hi: segs[0].hi, clobbered: -1})
				e.rewindBranch(wasm.Indexed(wasm.OpBr, e.depth(segs[0].target)))
				e.end()
			default:
				e.gget(e.r.g.State)
				e.rewindBranch(wasm.Indexed(wasm.OpBrIf, e.depth(segs[0].target)))
			}
			e.addFallResume(chain)
			return
		}
		e.gget(e.r.g.State)
		e.ifEmpty()
		fall := e.frames - 1
		if isFunc {
			e.restoreAt = len(e.out)
		}
		e.dispatch(chain, fall, header, reload, -1)
		e.end()
		e.addFallResume(chain)
		return
	}
	// A safepoint: the level's values go to locals while it may unwind.
	// Only a loop's level has values here, its parameters; a rewind
	// re-enters the loop with those of its first iteration, so then the
	// restored locals win over the values on the stack.
	spill := e.spSpill[l]
	for j := len(spill) - 1; j >= 0; j-- {
		e.get(spill[j])
		e.gget(e.r.g.State)
		e.op(wasm.OpI32Eqz)
		if t := l.params[j]; t.IsRef() {
			e.emit(wasm.Instr{Op: wasm.OpSelectT, Ext: &wasm.Extra{Types: []wasm.ValType{t}}})
		} else {
			e.op(wasm.OpSelect)
		}
		e.set(spill[j])
	}
	e.siteStack[l.sp] = append(e.siteStack[l.sp], spill...)
	// Two loads when nobody asks (the state lets a rewind in), and no
	// call on any path that goes on in the loop: a pause leaves for the
	// exit, which stores the frame and only then decides (see
	// wasmsr_decide, and memory.go for the buffer it stores into).
	e.gget(e.r.g.Request)
	e.gget(e.r.g.State)
	e.op(wasm.OpI32Or)
	e.ifEmpty()
	if !isFunc && len(segments(chain)) == 0 {
		// A rewind that comes here ends here.
		e.i32(int32(l.sp))
		e.gget(e.r.g.State)
		e.op(wasm.OpI32Eqz)
		e.exitBranch(wasm.OpBrIf, l.sp)
		e.op(wasm.OpDrop)
		e.endRewind()
	} else {
		fall := e.frames - 1
		e.gget(e.r.g.State)
		e.ifEmpty()
		if isFunc {
			e.restoreAt = len(e.out)
		}
		if len(segments(chain)) == 0 {
			e.endRewind() // the safepoint is the only place to resume
		} else {
			// Stop here if the safepoint is the target, else go to the target's landing.
			e.get(e.ci)
			e.i32(int32(l.sp))
			e.op(wasm.OpI32Eq)
			e.ifEmpty()
			e.endRewind()
			e.op(wasm.OpElse)
			e.dispatch(chain, fall, header, reload, -1)
			e.end()
		}
		e.op(wasm.OpElse)
		e.pauseBranch(l.sp)
		e.end()
	}
	e.end()
	e.addResume(l.sp, l.sp)
	e.addFallResume(chain)
	for _, s := range spill {
		e.get(s)
	}
}

// pauseBranch leaves for the frame save of safepoint sp, whose exit
// decides whether to pause.
func (e *emitter) pauseBranch(sp int) {
	e.i32(int32(sp))
	e.exitBranch(wasm.OpBr, sp)
}

// exitBranch leaves, with br or br_if, for the frame save of safepoint
// sp, its call index on the stack.
func (e *emitter) exitBranch(op wasm.Opcode, sp int) {
	e.emit(wasm.Indexed(op, e.depth(0)))
	e.unwindBranches = append(e.unwindBranches, unwindBranch{at: len(e.out) - 1, site: sp})
}

// endRewind ends a rewind at the safepoint it was going to: no call, as
// the loop goes on after it.
func (e *emitter) endRewind() {
	e.i32(stateNormal)
	e.emit(wasm.Indexed(wasm.OpGlobalSet, e.r.g.State))
}

// segment maps a range of call indices to a landing.
type segment struct {
	lo, hi int // the range of call indices
	target int // output frame of the landing; fallThrough for the first item at the start
}

const fallThrough = -1

// segments lists, in call-index order, the landings a chain of levels
// (outermost first) can rewind to: each call index belongs to the
// innermost chain level's item that holds it.
func segments(chain []*levelState) []segment {
	var segs []segment
	var walk func(k int)
	walk = func(k int) {
		ls := chain[k]
		for j, it := range ls.l.items {
			switch {
			case ls.landing[j] >= 0:
				segs = append(segs, segment{lo: it.lo, hi: it.hi, target: ls.landing[j]})
			case k+1 < len(chain):
				walk(k + 1)
			default:
				segs = append(segs, segment{lo: it.lo, hi: it.hi, target: fallThrough})
			}
		}
	}
	walk(0)
	return segs
}

// dispatch branches to the landing that holds the saved call index, for a
// chain of levels whose landing blocks are all open; falling through means
// leaving the prologue at frame fall. With reload, the branches to
// landings first read the frame again (see reloadAt, for the prologue
// starting at header); falling through must not: the values read would
// meet the normal path's where the prologue ends, and the compiler would
// keep those alive up to there, around the loop. So a rewind into the
// first item, when it falls through, leaves before the reload. clobbered
// is a local to reload even if live at the header (-1: none).
func (e *emitter) dispatch(chain []*levelState, fall, header int, reload bool, clobbered int) {
	segs := segments(chain)
	lo := chain[0].l.lo
	if chain[0].l.sp >= 0 || chain[len(chain)-1].l.sp >= 0 {
		lo++ // the safepoint was handled before
	}
	if reload && (segs[0].target != fallThrough || len(segs) > 1) {
		if segs[0].target == fallThrough {
			e.get(e.ci)
			e.i32(int32(segs[0].hi))
			e.op(wasm.OpI32GtU)
			e.ifEmpty()
			lo, segs = segs[0].hi+1, segs[1:]
			defer e.end()
		}
		e.reloads = append(e.reloads, reloadPoint{at: len(e.out), header: header, lo: segs[0].lo, hi: segs[len(segs)-1].hi, clobbered: clobbered})
	}
	for k := range segs {
		if segs[k].target == fallThrough {
			segs[k].target = fall
		}
	}
	if len(segs) == 1 {
		e.rewindBranch(wasm.Indexed(wasm.OpBr, e.depth(segs[0].target)))
		return
	}
	// A br_table costs about a byte per call index, comparisons about
	// eight bytes per range boundary: take the smaller. Either way the
	// last range takes every index above it: unwind.Restore refuses a
	// frame whose call index is not one of its function's.
	last := segs[len(segs)-1]
	if span := last.lo - lo; span <= 8*(len(segs)-1) {
		e.get(e.ci)
		if lo != 0 {
			e.i32(int32(lo))
			e.op(wasm.OpI32Sub)
		}
		labels := make([]uint32, 0, span)
		k := 0
		for s := lo; s < lo+span; s++ {
			for segs[k].hi < s {
				k++
			}
			labels = append(labels, e.depth(segs[k].target))
		}
		e.rewindBranch(wasm.Instr{Op: wasm.OpBrTable, X: e.depth(last.target), Ext: &wasm.Extra{Labels: labels}})
		return
	}
	for _, s := range segs[:len(segs)-1] {
		e.get(e.ci)
		e.i32(int32(s.hi))
		e.op(wasm.OpI32LeU)
		e.rewindBranch(wasm.Indexed(wasm.OpBrIf, e.depth(s.target)))
	}
	e.rewindBranch(wasm.Indexed(wasm.OpBr, e.depth(segs[len(segs)-1].target)))
}

// rewindBranch emits a branch that only a rewind takes.
func (e *emitter) rewindBranch(in wasm.Instr) {
	e.rewindOnly[len(e.out)] = true
	e.emit(in)
}

// land closes the landing block of the level's next item: spill the
// level's values, end the block, reload them.
func (e *emitter) land(ls *levelState) {
	it := &ls.l.items[ls.next]
	if ls.landing[ls.next] >= 0 {
		spill := e.spills[it]
		for j := len(spill) - 1; j >= 0; j-- {
			e.set(spill[j])
		}
		e.end()
		e.addResume(it.lo, it.hi)
		for j, s := range spill {
			if j >= it.dummyLo && j < it.dummyHi {
				e.dummyReads[len(e.out)] = true
			}
			e.get(s)
		}
		// Without values to record, the sites inside need no visit: in
		// nested code, visiting them at every level cost the square of
		// the depth.
		for s := it.lo; len(spill) > 0 && s <= it.hi; s++ {
			e.siteStack[s] = append(e.siteStack[s], spill...)
		}
	}
	ls.next++
}

func (e *emitter) leaveLevel(i int) error {
	ls := e.levels[len(e.levels)-1]
	e.levels = e.levels[:len(e.levels)-1]
	if ls.l != nil && ls.next != len(ls.l.items) {
		return fmt.Errorf("internal error: level ending at %d left %d items without a landing", i, len(ls.l.items)-ls.next)
	}
	return nil
}

// finish inserts the frame restore in the function's prologue and appends
// the exits and the frame's finish, for the given layout.
func (e *emitter) finish(lay *frameLayout) error {
	exits := e.exits(lay)
	exitCode := e.exitCode(lay, exits)
	// The exits' blocks open just inside $unwind; their code goes between
	// the body's return and the end of $unwind.
	opens := make([]wasm.Instr, len(exits))
	for k := range opens {
		opens[k] = wasm.Block(wasm.OpBlock, wasm.BlockResult(wasm.I32)) // the call index
	}
	e.insertRestores(lay, opens, exitCode)
	return e.epilogue(lay)
}

// hasSafepoints reports whether the function has a safepoint, whose exit
// decides after storing the frame.
func (e *emitter) hasSafepoints() bool {
	return slices.ContainsFunc(e.p.sites, func(s site) bool { return s.kind == abi.SiteSafepoint })
}

func loadStore(t wasm.ValType) (load, store wasm.Opcode) {
	switch t {
	case wasm.I64:
		return wasm.OpI64Load, wasm.OpI64Store
	case wasm.F32:
		return wasm.OpF32Load, wasm.OpF32Store
	case wasm.F64:
		return wasm.OpF64Load, wasm.OpF64Store
	case wasm.V128:
		return wasm.OpV128Load, wasm.OpV128Store
	}
	return wasm.OpI32Load, wasm.OpI32Store
}

// Frames are accessed with 4-byte alignment hints, valid for every type.
func memOp(op wasm.Opcode, offset uint32) wasm.Instr { return wasm.Mem(op, 2, uint64(offset)) }

// insertRestores copies the body once, with the exits' block openers
// after its first instruction, the frame restore in the function's
// prologue, the frame reloads in the prologues inside loops and the exits'
// code before its last instruction (the end of $unwind), leaving room for
// the epilogue.
func (e *emitter) insertRestores(lay *frameLayout, opens, exitCode []wasm.Instr) {
	type insertion struct {
		at   int
		code []wasm.Instr
	}
	ins := []insertion{{e.restoreAt, e.restore(lay)}}
	for _, p := range e.reloads {
		ins = append(ins, insertion{p.at, e.reloadAt(lay, p)})
	}
	slices.SortFunc(ins, func(a, b insertion) int { return cmp.Compare(a.at, b.at) })
	size := len(e.out) + len(opens) + len(exitCode) + 8 + len(e.p.results)
	for _, in := range ins {
		size += len(in.code)
	}
	out := make([]wasm.Instr, 0, size)
	origin := make([]int32, 0, size)
	added := func(code []wasm.Instr) {
		out = append(out, code...)
		for range code {
			origin = append(origin, -1)
		}
	}
	copied := func(from, to int) {
		out = append(out, e.out[from:to]...)
		origin = append(origin, e.origin[from:to]...)
	}
	copied(0, 1)
	added(opens)
	prev := 1 // every insertion lies inside $body
	for _, in := range ins {
		copied(prev, in.at)
		added(in.code)
		prev = in.at
	}
	end := len(e.out) - 1
	copied(prev, end)
	added(exitCode)
	copied(end, end+1)
	e.out, e.origin = out, origin
}

// reloadPoint is a frame reload in the prologue of a level inside a loop,
// before it branches to the landings of sites lo..hi; header is where the
// prologue starts.
type reloadPoint struct {
	at, header int
	lo, hi     int
	// clobbered is a local the way from the header changed (a dispatch
	// loop's index), reloaded even though live at the header; -1 for none.
	clobbered int
}

// reloadAt returns the code that reads again, on a rewind's way from a
// prologue inside a loop to the landings of sites p.lo..p.hi, the frame's
// locals those landings (and the resume points past them) read that are
// dead where the prologue starts. Otherwise the rewind would carry there
// the values such locals had when the loop last went round, and an
// optimizing compiler would keep them alive around the whole loop. (The
// locals live at the prologue carry the restored values in already.) The
// frame was popped at function entry, so the buffer's position is its
// address. Reference locals keep their restored values (their slots are
// given back).
func (e *emitter) reloadAt(lay *frameLayout, p reloadPoint) []wasm.Instr {
	// The call index is the one restored at entry: a local only the
	// restore sets is not carried around the loop.
	if e.live == nil {
		// References keep their restored values: their slots are given back.
		all := lay.filter(func(_ uint32, t wasm.ValType) bool { return !t.IsRef() })
		return e.r.reloadFrame(&all)
	}
	atHeader := e.live.at(p.header)
	wanted := e.siteLive.union(p.lo, p.hi)
	reload := lay.filter(func(l uint32, t wasm.ValType) bool {
		bit := uint64(1) << (l % 64)
		return !t.IsRef() && wanted[l/64]&bit != 0 && (atHeader[l/64]&bit == 0 || int(l) == p.clobbered)
	})
	return e.r.reloadFrame(&reload)
}

// restore returns the code that pops this function's frame from the
// unwind buffer into the locals.
func (e *emitter) restore(lay *frameLayout) []wasm.Instr {
	set := func(x uint32) wasm.Instr { return wasm.Indexed(wasm.OpLocalSet, x) }
	var code []wasm.Instr
	if e.tailDispatch != 0 {
		code = append(e.r.topFrameFunc(), wasm.I32Const(int32(e.p.fn)), wasm.Plain(wasm.OpI32Ne),
			wasm.Block(wasm.OpIf, wasm.BlockEmpty), wasm.Indexed(wasm.OpReturnCall, e.tailDispatch), wasm.Plain(wasm.OpEnd))
	}
	code = append(code,
		wasm.I32Const(int32(lay.size)), wasm.Indexed(wasm.OpCall, e.r.popFunc), wasm.Indexed(wasm.OpLocalTee, e.ptr),
		memOp(wasm.OpI32Load, lay.size-4), set(e.ci))
	code = append(code, e.r.restoreFrame(lay, e.ptr)...)
	if e.reentered >= 0 {
		code = append(code, wasm.Indexed(wasm.OpGlobalGet, e.r.reentry), set(uint32(e.reentered)),
			wasm.I32Const(0), wasm.Indexed(wasm.OpGlobalSet, e.r.reentry))
	}
	return code
}

// epilogue appends the code that finishes the frame an exit stored (its
// function and call index, the buffer's new position) and returns
// placeholder results.
func (e *emitter) epilogue(lay *frameLayout) error {
	e.get(e.ptr)
	e.i32(int32(lay.size))
	e.i32(int32(e.p.fn))
	e.get(e.ci)
	if e.reentered < 0 {
		e.call(e.r.pushedFunc)
	} else {
		// At a safepoint's exit the state is still normal: pause, or take
		// the frame back at once in a call of this function, whose results
		// are this one's (its prologue restores every local it reads).
		// That call, when it declines in turn, returns at once for this
		// one to call again: calls do not nest with the declines of a
		// countdown. (A loop around the whole body would need no call,
		// but wazero then carries the parameters as that loop's values.)
		e.call(e.r.decideFunc)
		e.op(wasm.OpI32Eqz)
		e.emit(wasm.Block(wasm.OpIf, wasm.BlockEmpty))
		e.get(uint32(e.reentered))
		e.op(wasm.OpI32Eqz)
		e.emit(wasm.Block(wasm.OpIf, wasm.BlockEmpty))
		e.emit(wasm.Block(wasm.OpBlock, e.r.blockType(nil, e.p.results))) // $done
		e.emit(wasm.Block(wasm.OpLoop, wasm.BlockEmpty))
		t, _ := e.r.m.FuncTypeIndex(e.p.fn)
		for k := range e.r.m.Types[t].Params {
			e.get(uint32(k))
		}
		e.call(e.p.fn)
		e.gget(e.r.g.State)
		e.i32(stateRewinding)
		e.op(wasm.OpI32Ne)
		e.emit(wasm.Indexed(wasm.OpBrIf, 1)) // its results are this one's
		for range e.p.results {
			e.op(wasm.OpDrop)
		}
		e.emit(wasm.Indexed(wasm.OpBr, 0))
		e.op(wasm.OpEnd)
		e.op(wasm.OpUnreachable)
		e.op(wasm.OpEnd)
		e.op(wasm.OpReturn)
		e.op(wasm.OpEnd)
		e.op(wasm.OpEnd)
	}
	for _, t := range e.p.results {
		in, err := zeroValue(t)
		if err != nil {
			return err
		}
		e.emit(in)
	}
	e.op(wasm.OpEnd)
	return nil
}

// zeroValue is a placeholder result of type t for a function that unwinds.
func zeroValue(t wasm.ValType) (wasm.Instr, error) {
	switch t {
	case wasm.I32:
		return wasm.I32Const(0), nil
	case wasm.I64:
		return wasm.I64Const(0), nil
	case wasm.F32:
		return wasm.F32Const(0), nil
	case wasm.F64:
		return wasm.F64Const(0), nil
	case wasm.V128:
		return wasm.V128Const([16]byte{}), nil
	}
	if t.Nullable() {
		return wasm.RefNull(t.Heap()), nil
	}
	return wasm.Instr{}, fmt.Errorf("a function that may unwind cannot return the non-nullable %s", t)
}
