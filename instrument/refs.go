package instrument

import "github.com/wasmsr/wasmsr/wasm"

// Reference-typed values cannot be stored in linear memory, so a frame
// keeps, in place of a funcref or externref local, the index of a slot in a
// table the instrumenter adds, one per reference type. Slots are taken like
// a stack while unwinding and given back while rewinding; a slot that is
// not the top one (two coroutines paused at once, say) stays taken until
// the slots above it are given back, which only costs table space.

// refSpill is the table holding one reference type's saved values.
type refSpill struct {
	table uint32
	// top is the global counting the slots in use.
	top uint32
	// push(ref) -> slot stores a reference; pop(slot) -> ref takes it back.
	push, pop uint32
}

// spillTableType is the element type of the table for values of type t:
// tables hold nullable references, so (ref $t) goes through (ref null $t).
func spillTableType(t wasm.ValType) wasm.ValType {
	if t.Nullable() {
		return t
	}
	return wasm.RefType(true, t.Heap())
}

// refSpillFor returns the spill table for values of type t, adding it and
// its helpers on first use.
func (r *rewriter) refSpillFor(t wasm.ValType) *refSpill {
	if r.wants != nil {
		return &refSpill{push: r.wants.ask(want{kind: wantRefPush, t: t}), pop: r.wants.ask(want{kind: wantRefPop, t: t})}
	}
	elem := spillTableType(t)
	if s, ok := r.refSpills[elem]; ok {
		return s
	}
	m := r.m
	s := &refSpill{table: uint32(m.NumImported(wasm.KindTable) + len(m.Tables))}
	m.Tables = append(m.Tables, wasm.TableType{Elem: elem})
	m.Globals = append(m.Globals, wasm.Global{
		Type: wasm.GlobalType{Type: wasm.I32, Mutable: true},
		Init: []wasm.Instr{wasm.I32Const(0), wasm.Plain(wasm.OpEnd)},
	})
	s.top = uint32(m.NumImported(wasm.KindGlobal) + len(m.Globals) - 1)

	null := wasm.RefNull(elem.Heap())
	lget := getLocal
	op := wasm.Plain
	const slot = 1 // push's local
	s.push = r.addFunc("wasmsr_ref_push", wasm.FuncType{Params: []wasm.ValType{elem}, Results: []wasm.ValType{wasm.I32}},
		[]wasm.LocalGroup{{Count: 1, Type: wasm.I32}},
		wasm.Indexed(wasm.OpGlobalGet, s.top), wasm.Indexed(wasm.OpLocalTee, slot),
		wasm.Indexed(wasm.OpTableSize, s.table), op(wasm.OpI32GeU), wasm.Block(wasm.OpIf, wasm.BlockEmpty),
		null, wasm.I32Const(16), wasm.Indexed(wasm.OpTableGrow, s.table), wasm.I32Const(-1), op(wasm.OpI32Eq),
		wasm.Block(wasm.OpIf, wasm.BlockEmpty), wasm.I32Const(1), wasm.Indexed(wasm.OpGlobalSet, r.g.Overflow), op(wasm.OpUnreachable), op(wasm.OpEnd),
		op(wasm.OpEnd),
		lget(slot), lget(0), wasm.Indexed(wasm.OpTableSet, s.table),
		lget(slot), wasm.I32Const(1), op(wasm.OpI32Add), wasm.Indexed(wasm.OpGlobalSet, s.top),
		lget(slot))
	s.pop = r.addFunc("wasmsr_ref_pop", wasm.FuncType{Params: []wasm.ValType{wasm.I32}, Results: []wasm.ValType{elem}}, nil,
		lget(0), wasm.Indexed(wasm.OpTableGet, s.table),
		lget(0), null, wasm.Indexed(wasm.OpTableSet, s.table),
		lget(0), wasm.I32Const(1), op(wasm.OpI32Add), wasm.Indexed(wasm.OpGlobalGet, s.top), op(wasm.OpI32Eq),
		wasm.Block(wasm.OpIf, wasm.BlockEmpty), lget(0), wasm.Indexed(wasm.OpGlobalSet, s.top), op(wasm.OpEnd))
	r.refSpills[elem] = s
	return s
}

// saveLocal returns code that stores local l of type t at offset off of
// the frame whose address is in local ptr.
func (r *rewriter) saveLocal(ptr, l uint32, t wasm.ValType, off uint32) []wasm.Instr {
	code := []wasm.Instr{wasm.Indexed(wasm.OpLocalGet, ptr), wasm.Indexed(wasm.OpLocalGet, l)}
	if t.IsRef() {
		return append(code, wasm.Indexed(wasm.OpCall, r.refSpillFor(t).push), memOp(wasm.OpI32Store, off))
	}
	_, store := loadStore(t)
	return append(code, memOp(store, off))
}

// restoreLocal returns code that loads local l of type t from offset off
// of the frame whose address is in local ptr.
func (r *rewriter) restoreLocal(ptr, l uint32, t wasm.ValType, off uint32) []wasm.Instr {
	code := []wasm.Instr{wasm.Indexed(wasm.OpLocalGet, ptr)}
	if t.IsRef() {
		code = append(code, memOp(wasm.OpI32Load, off), wasm.Indexed(wasm.OpCall, r.refSpillFor(t).pop))
		if !t.Nullable() {
			code = append(code, wasm.Plain(wasm.OpRefAsNonNull))
		}
	} else {
		load, _ := loadStore(t)
		code = append(code, memOp(load, off))
	}
	return append(code, wasm.Indexed(wasm.OpLocalSet, l))
}
