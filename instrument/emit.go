package instrument

import (
	"fmt"

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
// (and, for the function level, first restores the frame).
type emitter struct {
	r   *rewriter
	p   *plan
	out []wasm.Instr

	frames  int   // open output frames
	origPos []int // output frame of each open original frame
	levels  []*levelState

	nextSite int         // next call site to meet, in plan.sites order
	siteAt   map[int]int // call instruction -> site
	ci, ptr  uint32      // the call-index and frame-pointer locals
	// spills holds the spill locals of each level item, allocated up front
	// so the frame layout is known before the body is written.
	spills  map[*item][]uint32
	spSpill map[*level][]uint32
	layout  frameLayout
}

// levelState tracks a level while its arm is being written.
type levelState struct {
	l       *level // nil when the arm has no items
	next    int    // next item to land
	landing []int  // output frame of each item's landing block
}

// frameLayout is where a function's locals go in its saved frame; the
// function index and the call index follow them.
type frameLayout struct {
	locals  []uint32
	offsets []uint32
	types   []wasm.ValType
	size    uint32 // including the function and call indices
}

func (e *emitter) emit(in wasm.Instr) { e.out = append(e.out, in) }
func (e *emitter) op(op wasm.Opcode)  { e.emit(wasm.Plain(op)) }
func (e *emitter) i32(v int32)        { e.emit(wasm.I32Const(v)) }
func (e *emitter) get(l uint32)       { e.emit(wasm.Indexed(wasm.OpLocalGet, l)) }
func (e *emitter) set(l uint32)       { e.emit(wasm.Indexed(wasm.OpLocalSet, l)) }
func (e *emitter) gget(g uint32)      { e.emit(wasm.Indexed(wasm.OpGlobalGet, g)) }
func (e *emitter) gset(g uint32)      { e.emit(wasm.Indexed(wasm.OpGlobalSet, g)) }
func (e *emitter) call(f uint32)      { e.emit(wasm.Indexed(wasm.OpCall, f)) }

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

// br branches to the output frame at position pos.
func (e *emitter) br(pos int) { e.emit(wasm.Indexed(wasm.OpBr, uint32(e.frames-1-pos))) }

// remap turns a label of the original body into the output's.
func (e *emitter) remap(depth uint32) uint32 {
	pos := e.origPos[len(e.origPos)-1-int(depth)]
	return uint32(e.frames - 1 - pos)
}

func (e *emitter) load(t wasm.ValType, offset uint32) {
	e.emit(wasm.Mem(loadOps[t], 2, uint64(offset)))
}

func (e *emitter) store(t wasm.ValType, offset uint32) {
	e.emit(wasm.Mem(storeOps[t], 2, uint64(offset)))
}

// Frames are stored with 4-byte alignment hints, valid for every type.
var (
	loadOps  = map[wasm.ValType]wasm.Opcode{wasm.I32: wasm.OpI32Load, wasm.I64: wasm.OpI64Load, wasm.F32: wasm.OpF32Load, wasm.F64: wasm.OpF64Load, wasm.V128: wasm.OpV128Load}
	storeOps = map[wasm.ValType]wasm.Opcode{wasm.I32: wasm.OpI32Store, wasm.I64: wasm.OpI64Store, wasm.F32: wasm.OpF32Store, wasm.F64: wasm.OpF64Store, wasm.V128: wasm.OpV128Store}
)

// rewrite writes the instrumented body.
func (e *emitter) rewrite() ([]wasm.Instr, error) {
	body := e.p.body
	e.siteAt = map[int]int{}
	for s, st := range e.p.sites {
		if st.kind != siteSafepoint {
			e.siteAt[st.instr] = s
		}
	}
	results := e.r.tracker.Results()

	e.block(wasm.BlockEmpty) // $unwind
	e.emit(wasm.Block(wasm.OpBlock, e.r.blockType(nil, results)))
	e.open(true) // $body stands for the function frame
	e.enterLevel(-1)
	for i := range body {
		in := body[i]
		if ls := e.levels[len(e.levels)-1]; ls.l != nil && ls.next < len(ls.l.items) && ls.l.items[ls.next].landing == i {
			e.land(ls)
		}
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry:
			e.emit(in)
			e.open(true)
			e.enterLevel(i)
		case wasm.OpTryTable:
			in.Ext = &wasm.Extra{Catches: append([]wasm.Catch(nil), in.Ext.Catches...)}
			for k := range in.Ext.Catches {
				in.Ext.Catches[k].Label = e.remap(in.Ext.Catches[k].Label)
			}
			e.emit(in)
			e.open(true)
			e.enterLevel(i)
		case wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll:
			if err := e.leaveLevel(i); err != nil {
				return nil, err
			}
			e.emit(in)
			e.enterLevel(i)
		case wasm.OpEnd:
			if err := e.leaveLevel(i); err != nil {
				return nil, err
			}
			e.emit(in)
			e.close(true)
			if i == len(body)-1 {
				e.op(wasm.OpReturn)
				e.end() // $unwind
				if err := e.epilogue(results); err != nil {
					return nil, err
				}
				e.op(wasm.OpEnd)
			}
		case wasm.OpDelegate:
			if err := e.leaveLevel(i); err != nil {
				return nil, err
			}
			e.close(true)
			in.X = e.remap(in.X)
			e.emit(in)
		case wasm.OpBr, wasm.OpBrIf, wasm.OpBrOnNull, wasm.OpBrOnNonNull, wasm.OpRethrow:
			in.X = e.remap(in.X)
			e.emit(in)
		case wasm.OpBrTable:
			labels := make([]uint32, len(in.Ext.Labels))
			for k, l := range in.Ext.Labels {
				labels[k] = e.remap(l)
			}
			in.Ext = &wasm.Extra{Labels: labels}
			in.X = e.remap(in.X)
			e.emit(in)
		default:
			e.emit(in)
			if s, ok := e.siteAt[i]; ok {
				// After a call that may unwind: if it is unwinding, save this frame.
				e.gget(e.r.g.State)
				e.ifEmpty()
				e.i32(int32(s))
				e.set(e.ci)
				e.br(0)
				e.end()
			}
		}
	}
	if e.frames != 0 || len(e.levels) != 0 {
		return nil, fmt.Errorf("internal error: %d frames and %d levels left open", e.frames, len(e.levels))
	}
	return e.out, nil
}

// enterLevel starts the arm opened by instruction opener (-1: the function body).
func (e *emitter) enterLevel(opener int) {
	ls := &levelState{l: e.p.levels[opener]}
	e.levels = append(e.levels, ls)
	l := ls.l
	if l == nil {
		return
	}
	n := len(l.items)
	ls.landing = make([]int, n)
	bt := e.r.blockType(l.params, nil)
	for k := n - 1; k >= 0; k-- {
		e.block(bt)
		ls.landing[k] = e.frames - 1
	}
	isFunc := opener < 0
	if l.sp < 0 {
		e.gget(e.r.g.State)
		e.ifEmpty()
		if isFunc {
			e.restore()
		}
		e.arrive(ls)
		e.end()
		return
	}
	// A safepoint: the level's values go to locals while it may unwind.
	spill := e.spSpill[l]
	for j := len(spill) - 1; j >= 0; j-- {
		e.set(spill[j])
	}
	e.p.sites[l.sp].stack = append(e.p.sites[l.sp].stack, spill...)
	e.gget(e.r.g.Request)
	e.gget(e.r.g.State)
	e.op(wasm.OpI32Or)
	e.ifEmpty()
	e.gget(e.r.g.State)
	e.ifEmpty()
	if isFunc {
		e.restore()
	}
	e.arrive(ls)
	e.op(wasm.OpElse)
	e.call(e.r.pauseFunc)
	e.ifEmpty()
	e.i32(int32(l.sp))
	e.set(e.ci)
	e.br(0)
	e.end()
	e.end()
	e.end()
	for _, s := range spill {
		e.get(s)
	}
}

// arrive is what a rewind does at the start of a level: stop at the
// level's own safepoint when that is the target, or go to the landing of
// the item holding the target.
func (e *emitter) arrive(ls *levelState) {
	l := ls.l
	switch {
	case l.sp >= 0 && len(l.items) == 0:
		e.stopRewind()
	case l.sp >= 0:
		e.get(e.ci)
		e.i32(int32(l.sp))
		e.op(wasm.OpI32Eq)
		e.ifEmpty()
		e.stopRewind()
		e.op(wasm.OpElse)
		e.dispatch(ls)
		e.end()
	default:
		e.dispatch(ls)
	}
}

// stopRewind ends a rewind that reached its safepoint: the program goes on
// normally from here.
func (e *emitter) stopRewind() { e.call(e.r.rewoundFunc) }

// dispatch branches to the landing of the item holding the saved call index.
func (e *emitter) dispatch(ls *levelState) {
	items := ls.l.items
	if len(items) == 1 {
		e.br(ls.landing[0])
		return
	}
	e.block(wasm.BlockEmpty)
	bad := e.frames - 1
	lo, hi := ls.l.lo, ls.l.hi
	e.get(e.ci)
	if lo != 0 {
		e.i32(int32(lo))
		e.op(wasm.OpI32Sub)
	}
	labels := make([]uint32, 0, hi-lo+1)
	k := 0
	for s := lo; s <= hi; s++ {
		for k < len(items) && items[k].hi < s {
			k++
		}
		target := bad
		if k < len(items) && items[k].lo <= s {
			target = ls.landing[k]
		}
		labels = append(labels, uint32(e.frames-1-target))
	}
	e.emit(wasm.Instr{Op: wasm.OpBrTable, X: uint32(e.frames - 1 - bad), Ext: &wasm.Extra{Labels: labels}})
	e.end()
	e.op(wasm.OpUnreachable)
}

// land closes the landing block of the level's next item: spill the
// level's values, end the block, reload them.
func (e *emitter) land(ls *levelState) {
	it := &ls.l.items[ls.next]
	spill := e.spills[it]
	for j := len(spill) - 1; j >= 0; j-- {
		e.set(spill[j])
	}
	e.end()
	for _, s := range spill {
		e.get(s)
	}
	for s := it.lo; s <= it.hi; s++ {
		e.p.sites[s].stack = append(e.p.sites[s].stack, spill...)
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

// restore pops this function's frame from the unwind buffer into the locals.
func (e *emitter) restore() {
	g, lay := e.r.g, &e.layout
	e.gget(g.Data)
	e.load(wasm.I32, 0)
	e.i32(int32(lay.size))
	e.op(wasm.OpI32Sub)
	e.set(e.ptr)
	e.gget(g.Data)
	e.get(e.ptr)
	e.store(wasm.I32, 0)
	e.get(e.ptr)
	e.load(wasm.I32, lay.size-4)
	e.set(e.ci)
	for k, l := range lay.locals {
		e.get(e.ptr)
		e.load(lay.types[k], lay.offsets[k])
		e.set(l)
	}
}

// epilogue saves the frame when unwinding and returns placeholder results.
func (e *emitter) epilogue(results []wasm.ValType) error {
	g, lay := e.r.g, &e.layout
	e.gget(g.Data)
	e.load(wasm.I32, 0)
	e.set(e.ptr)
	// The frame must fit before the buffer's end; the helper grows the
	// buffer or traps.
	e.get(e.ptr)
	e.i32(int32(lay.size))
	e.op(wasm.OpI32Add)
	e.gget(g.Data)
	e.load(wasm.I32, 4)
	e.op(wasm.OpI32GtU)
	e.ifEmpty()
	e.get(e.ptr)
	e.i32(int32(lay.size))
	e.op(wasm.OpI32Add)
	e.gget(g.Data)
	e.load(wasm.I32, 4)
	e.op(wasm.OpI32Sub)
	e.call(e.r.growFunc)
	e.end()
	for k, l := range lay.locals {
		e.get(e.ptr)
		e.get(l)
		e.store(lay.types[k], lay.offsets[k])
	}
	e.get(e.ptr)
	e.i32(int32(e.p.fn))
	e.store(wasm.I32, lay.size-8)
	e.get(e.ptr)
	e.get(e.ci)
	e.store(wasm.I32, lay.size-4)
	e.gget(g.Data)
	e.get(e.ptr)
	e.i32(int32(lay.size))
	e.op(wasm.OpI32Add)
	e.store(wasm.I32, 0)
	for _, t := range results {
		in, err := zeroValue(t)
		if err != nil {
			return err
		}
		e.emit(in)
	}
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
