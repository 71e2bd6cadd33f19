package instrument

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/wasmsr/wasmsr/wasm"
)

// A frame is the function's saved locals, grouped by type, then its
// function index and call index (see abi.FuncLayout). The exits store locals
// one by one (seven bytes of code each), as a call there would make the
// locals to store live across it (see exits.go); the restore, at function
// entry, and the reloads inside loops hand each run of locals of one
// number type to a shared helper that reads them at an offset of the frame
// on top of the unwind buffer and returns them all, which costs two bytes
// a local (a local.set) plus the call.

// frameLayout is where a function's saved locals go in its frame.
type frameLayout struct {
	locals  []uint32
	offsets []uint32
	types   []wasm.ValType
	size    uint32 // including the function and call indices
}

// typeRank orders the types in a frame: one run per type, larger first.
func typeRank(t wasm.ValType) int {
	switch t {
	case wasm.V128:
		return 0
	case wasm.I64:
		return 1
	case wasm.F64:
		return 2
	case wasm.I32:
		return 3
	case wasm.F32:
		return 4
	}
	return 5 // references, saved one by one
}

// newFrameLayout lays out the given locals (with types) grouped by type.
func newFrameLayout(locals []uint32, types []wasm.ValType) frameLayout {
	order := make([]int, len(locals))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(typeRank(types[a]), typeRank(types[b])) })
	var lay frameLayout
	for _, k := range order {
		lay.locals = append(lay.locals, locals[k])
		lay.types = append(lay.types, types[k])
		lay.offsets = append(lay.offsets, lay.size)
		lay.size += uint32(types[k].Size())
	}
	lay.size += 8
	return lay
}

// maxRun is the most slots one helper call moves.
const maxRun = 32

// maxSkip is the most slots between two wanted ones that a reload loads
// and drops rather than make another call: a call and its offset take
// about five bytes, a drop one.
const maxSkip = 4

// runs splits the layout into runs of number locals of one type (at most
// maxRun slots long) and single reference locals, as [start, end) pairs of
// layout entries. A run's entries sit at consecutive offsets, but for up to
// skip slots between two of them.
func (lay *frameLayout) runs(skip int) [][2]int {
	var runs [][2]int
	for k := 0; k < len(lay.locals); {
		end := k + 1
		if t := lay.types[k]; !t.IsRef() {
			size := uint32(t.Size())
			for end < len(lay.locals) && lay.types[end] == t &&
				lay.offsets[end]-lay.offsets[end-1] <= uint32(skip+1)*size &&
				lay.offsets[end]-lay.offsets[k] < maxRun*size {
				end++
			}
		}
		runs = append(runs, [2]int{k, end})
		k = end
	}
	return runs
}

type helperKey struct {
	t wasm.ValType
	n int
}

// reloadHelper returns the helper that loads n values of type t from
// consecutive offsets, starting at the one it is given, of the frame at
// the unwind buffer's position: the frame being rewound, once popped. A
// reload inside a loop then needs no address of its own.
func (r *rewriter) reloadHelper(t wasm.ValType, n int) uint32 {
	if r.wants != nil {
		return r.wants.ask(want{kind: wantReload, t: t, n: n})
	}
	key := helperKey{t, n}
	if fn, ok := r.frameHelpers[key]; ok {
		return fn
	}
	body := []wasm.Instr{wasm.Indexed(wasm.OpGlobalGet, r.g.Data), memOp(wasm.OpI32Load, 0), wasm.Indexed(wasm.OpLocalGet, 0),
		wasm.Plain(wasm.OpI32Add), wasm.Indexed(wasm.OpLocalSet, 0)}
	load, _ := loadStore(t)
	size := uint32(t.Size())
	for i := range n {
		body = append(body, wasm.Indexed(wasm.OpLocalGet, 0), memOp(load, uint32(i)*size))
	}
	ft := wasm.FuncType{Params: []wasm.ValType{wasm.I32}, Results: slices.Repeat([]wasm.ValType{t}, n)}
	fn := r.addFunc(fmt.Sprintf("wasmsr_reload_%s_%d", t, n), ft, nil, body...)
	r.frameHelpers[key] = fn
	return fn
}

// reloadFrame returns the code that loads the locals of lay (numbers
// only) from the frame at the unwind buffer's position. lay is a part of
// the function's layout: within a type the slots between its entries are
// of that type, so one call loads across a few of them and drops them.
func (r *rewriter) reloadFrame(lay *frameLayout) []wasm.Instr {
	if !r.multiValue {
		var code []wasm.Instr
		for j, l := range lay.locals {
			code = append(code, wasm.I32Const(int32(lay.offsets[j])), wasm.Indexed(wasm.OpCall, r.reloadHelper(lay.types[j], 1)),
				wasm.Indexed(wasm.OpLocalSet, l))
		}
		return code
	}
	var code []wasm.Instr
	for _, run := range lay.runs(maxSkip) {
		k, j := run[0], run[1]-1
		t := lay.types[k]
		size := uint32(t.Size())
		n := int((lay.offsets[j]-lay.offsets[k])/size) + 1
		code = append(code, wasm.I32Const(int32(lay.offsets[k])), wasm.Indexed(wasm.OpCall, r.reloadHelper(t, n)))
		// The helper returns the slots in order: the last is on top.
		for slot := n - 1; slot >= 0; slot-- {
			if lay.offsets[j] == lay.offsets[k]+uint32(slot)*size {
				code = append(code, wasm.Indexed(wasm.OpLocalSet, lay.locals[j]))
				j--
			} else {
				code = append(code, wasm.Plain(wasm.OpDrop))
			}
		}
	}
	return code
}

// restoreFrame returns code that loads the layout's locals from the frame
// just popped, whose address is in local ptr: a run of numbers of one type
// through a helper, the others one by one.
func (r *rewriter) restoreFrame(lay *frameLayout, ptr uint32) []wasm.Instr {
	var code []wasm.Instr
	for _, run := range lay.runs(0) {
		k, n := run[0], run[1]-run[0]
		if n == 1 || !r.multiValue {
			for j := run[0]; j < run[1]; j++ {
				code = append(code, r.restoreLocal(ptr, lay.locals[j], lay.types[j], lay.offsets[j])...)
			}
			continue
		}
		code = append(code, wasm.I32Const(int32(lay.offsets[k])), wasm.Indexed(wasm.OpCall, r.reloadHelper(lay.types[k], n)))
		for j := run[1] - 1; j >= run[0]; j-- {
			code = append(code, wasm.Indexed(wasm.OpLocalSet, lay.locals[j]))
		}
	}
	return code
}

// filter is the layout less the locals keep refuses, at the same offsets.
func (lay *frameLayout) filter(keep func(uint32, wasm.ValType) bool) frameLayout {
	var out frameLayout
	for k, t := range lay.types {
		if keep(lay.locals[k], t) {
			out.locals = append(out.locals, lay.locals[k])
			out.types = append(out.types, t)
			out.offsets = append(out.offsets, lay.offsets[k])
		}
	}
	out.size = lay.size
	return out
}
