package instrument

import (
	"github.com/wasmsr/wasmsr/wasm"
)

// A safepoint stores its frame before anything decides whether to pause
// (see RATIONALE, "Safepoints that need no import"): so the buffer must
// exist before the first store, and making one grows memory, a call. The
// module therefore keeps its buffer from before the program starts (the
// host calls wasmsr_prepare) as the last pages of memory, hidden from the
// program: memory.size answers without them, and memory.grow hands their
// first pages to the program, zeroed, and moves the buffer up. Go's
// runtime takes the pages past its own end whatever memory.grow returns,
// and wasi-libc's sbrk starts at what it returns: both see one
// contiguous memory, as before.

// Owned says that the buffer exists, at OwnBuffer (which is 0 in a module
// that had no memory).

// preparePages is the index, in wasmsr_prepare's body, of the constant
// that says how many pages the buffer takes (see setMaxFrame).
const preparePages = 3

// addBufferHelpers adds wasmsr_prepare, wasmsr_zero and the stand-ins for
// the program's memory.grow and memory.size.
func (r *rewriter) addBufferHelpers() {
	g := r.g
	get, set, lget, lset, ltee := getGlobal, setGlobal, getLocal, setLocal, teeLocal
	op, i32 := wasm.Plain, wasm.I32Const
	ifThen := wasm.Block(wasm.OpIf, wasm.BlockEmpty)
	end := op(wasm.OpEnd)
	i32Type := wasm.FuncType{Results: []wasm.ValType{wasm.I32}}
	locals := func(n uint32) []wasm.LocalGroup { return []wasm.LocalGroup{{Count: n, Type: wasm.I32}} }
	pages := func(x wasm.Instr) []wasm.Instr { return []wasm.Instr{x, i32(16), op(wasm.OpI32ShrU)} }
	bytes := func(x wasm.Instr) []wasm.Instr { return []wasm.Instr{x, i32(16), op(wasm.OpI32Shl)} }
	// The buffer, empty, at OwnBuffer up to the end of memory; Data is it.
	reset := concat(
		[]wasm.Instr{get(g.OwnBuffer), set(g.Data),
			get(g.Data), get(g.Data), i32(8), op(wasm.OpI32Add), wasm.Mem(wasm.OpI32Store, 2, 0),
			get(g.Data)}, bytes(wasm.Indexed(wasm.OpMemorySize, 0)), []wasm.Instr{wasm.Mem(wasm.OpI32Store, 2, 4)})

	// wasmsr_prepare() -> i32: make the module's buffer at the end of
	// memory (room for the largest frame) unless it has one, and empty
	// it; 0 when memory cannot grow.
	r.prepareFunc = r.addFunc("wasmsr_prepare", i32Type, locals(1), concat(
		[]wasm.Instr{get(g.Owned), op(wasm.OpI32Eqz), ifThen,
			i32(1), // preparePages: set by setMaxFrame
			wasm.Indexed(wasm.OpMemoryGrow, 0), ltee(0), i32(-1), op(wasm.OpI32Eq), ifThen, i32(0), op(wasm.OpReturn), end},
		bytes(lget(0)), []wasm.Instr{set(g.OwnBuffer), i32(1), set(g.Owned), end},
		reset, []wasm.Instr{i32(1)})...)

	// wasmsr_zero(from, to): zero [from, to), both multiples of 8.
	zero := r.addFunc("wasmsr_zero", wasm.FuncType{Params: []wasm.ValType{wasm.I32, wasm.I32}}, nil,
		wasm.Block(wasm.OpBlock, wasm.BlockEmpty), wasm.Block(wasm.OpLoop, wasm.BlockEmpty),
		lget(0), lget(1), op(wasm.OpI32GeU), wasm.Indexed(wasm.OpBrIf, 1),
		lget(0), wasm.I64Const(0), wasm.Mem(wasm.OpI64Store, 3, 0),
		lget(0), i32(8), op(wasm.OpI32Add), lset(0),
		wasm.Indexed(wasm.OpBr, 0),
		end, end)

	// wasmsr_memory_size() -> i32: the program's memory.size.
	r.memorySizeFunc = r.addFunc("wasmsr_memory_size", i32Type, nil, concat(
		[]wasm.Instr{get(g.Owned), wasm.Block(wasm.OpIf, wasm.BlockResult(wasm.I32))}, pages(get(g.OwnBuffer)),
		[]wasm.Instr{op(wasm.OpElse), wasm.Indexed(wasm.OpMemorySize, 0), end})...)

	// wasmsr_memory_grow(n) -> i32: the program's memory.grow. The
	// program gets the buffer's first n pages (zeroed) and memory's new
	// ones; the buffer moves up to the end.
	const n, old, own, give, top = 0, 1, 2, 3, 4 // param, locals
	r.memoryGrowFunc = r.addFunc("wasmsr_memory_grow", wasm.FuncType{Params: []wasm.ValType{wasm.I32}, Results: []wasm.ValType{wasm.I32}}, locals(4), concat(
		[]wasm.Instr{get(g.Owned), op(wasm.OpI32Eqz), ifThen, lget(n), wasm.Indexed(wasm.OpMemoryGrow, 0), op(wasm.OpReturn), end,
			get(g.OwnBuffer), lset(own),
			lget(n), op(wasm.OpI32Eqz), ifThen}, pages(lget(own)), []wasm.Instr{op(wasm.OpReturn), end,
			lget(n), wasm.Indexed(wasm.OpMemoryGrow, 0), ltee(old), i32(-1), op(wasm.OpI32Eq), ifThen, i32(-1), op(wasm.OpReturn), end,
			lget(own)}, bytes(lget(n)), []wasm.Instr{op(wasm.OpI32Add), lset(give)},
		bytes(lget(old)), []wasm.Instr{lset(top),
			// Zero what the program gets of the buffer: [own, min(give, top)).
			lget(own), lget(give), lget(top), lget(give), lget(top), op(wasm.OpI32LtU), op(wasm.OpSelect), wasm.Indexed(wasm.OpCall, zero),
			lget(give), set(g.OwnBuffer)},
		reset, pages(lget(own)))...)
}

// virtualizeMemory makes the program's memory.size and memory.grow (of
// memory 0) calls to their stand-ins, in the first defined functions of
// the module (the program's, before the rewrite added its own).
func (r *rewriter) virtualizeMemory(defined int) {
	for k := range defined {
		c := &r.m.Code[k]
		changed := false
		for i, in := range c.Body {
			switch {
			case in.Op == wasm.OpMemorySize && in.X == 0:
				c.Body[i] = wasm.Indexed(wasm.OpCall, r.memorySizeFunc)
			case in.Op == wasm.OpMemoryGrow && in.X == 0:
				c.Body[i] = wasm.Indexed(wasm.OpCall, r.memoryGrowFunc)
			default:
				continue
			}
			changed = true
		}
		if !changed {
			continue
		}
		c.Source = nil
		if r.dbg != nil {
			fn := uint32(r.a.numImports + k)
			r.dbg.origins[fn] = r.dbg.originsOf(fn, len(c.Body))
		}
	}
}
