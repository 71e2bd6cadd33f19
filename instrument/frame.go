package instrument

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/wasmsr/wasmsr/wasm"
)

// A frame is the function's saved locals, grouped by type, then its
// function index and call index (see FuncLayout). Saving a local one by
// one costs seven bytes of code each way; a run of locals of one number
// type is instead handed to a shared helper, which costs two bytes a local
// (a local.get or local.set) plus the call. Go functions save six locals
// on average, so this keeps several percent off the output.

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

// maxRun is the most locals one helper call moves.
const maxRun = 32

// runs splits the layout into runs of number locals of one type at
// consecutive offsets (at most maxRun long) and single reference locals,
// as [start, end) pairs.
func (lay *frameLayout) runs() [][2]int {
	var runs [][2]int
	for k := 0; k < len(lay.locals); {
		end := k + 1
		if t := lay.types[k]; !t.IsRef() {
			for end < len(lay.locals) && end-k < maxRun && lay.types[end] == t &&
				lay.offsets[end] == lay.offsets[end-1]+uint32(t.Size()) {
				end++
			}
		}
		runs = append(runs, [2]int{k, end})
		k = end
	}
	return runs
}

// frameHelper returns the helper that stores n values of type t at
// consecutive addresses (save) or loads them (restore).
func (r *rewriter) frameHelper(save bool, t wasm.ValType, n int) uint32 {
	key := helperKey{save, t, n}
	if fn, ok := r.frameHelpers[key]; ok {
		return fn
	}
	load, store := loadStore(t)
	size := uint32(t.Size())
	values := slices.Repeat([]wasm.ValType{t}, n)
	var body []wasm.Instr
	var ft wasm.FuncType
	name := fmt.Sprintf("wasmsr_load_%s_%d", t, n)
	if save {
		name = fmt.Sprintf("wasmsr_save_%s_%d", t, n)
		ft = wasm.FuncType{Params: append([]wasm.ValType{wasm.I32}, values...)}
		for i := range n {
			body = append(body, wasm.Indexed(wasm.OpLocalGet, 0), wasm.Indexed(wasm.OpLocalGet, uint32(i+1)), memOp(store, uint32(i)*size))
		}
	} else {
		ft = wasm.FuncType{Params: []wasm.ValType{wasm.I32}, Results: values}
		for i := range n {
			body = append(body, wasm.Indexed(wasm.OpLocalGet, 0), memOp(load, uint32(i)*size))
		}
	}
	fn := r.addFunc(name, ft, nil, body...)
	r.frameHelpers[key] = fn
	return fn
}

type helperKey struct {
	save bool
	t    wasm.ValType
	n    int
}

// runAddress is code pushing the address of offset off in the frame at ptr.
func runAddress(ptr, off uint32) []wasm.Instr {
	code := []wasm.Instr{wasm.Indexed(wasm.OpLocalGet, ptr)}
	if off != 0 {
		code = append(code, wasm.I32Const(int32(off)), wasm.Plain(wasm.OpI32Add))
	}
	return code
}

// saveFrame returns code that stores the layout's locals in the frame
// whose address is in local ptr.
func (r *rewriter) saveFrame(lay *frameLayout, ptr uint32) []wasm.Instr {
	var code []wasm.Instr
	for _, run := range lay.runs() {
		k, n := run[0], run[1]-run[0]
		if n == 1 {
			code = append(code, r.saveLocal(ptr, lay.locals[k], lay.types[k], lay.offsets[k])...)
			continue
		}
		code = append(code, runAddress(ptr, lay.offsets[k])...)
		for _, l := range lay.locals[run[0]:run[1]] {
			code = append(code, wasm.Indexed(wasm.OpLocalGet, l))
		}
		code = append(code, wasm.Indexed(wasm.OpCall, r.frameHelper(true, lay.types[k], n)))
	}
	return code
}

// restoreFrame returns code that loads the layout's locals from the frame
// whose address is in local ptr.
func (r *rewriter) restoreFrame(lay *frameLayout, ptr uint32) []wasm.Instr {
	var code []wasm.Instr
	for _, run := range lay.runs() {
		k, n := run[0], run[1]-run[0]
		if n == 1 || !r.multiValue {
			for j := run[0]; j < run[1]; j++ {
				code = append(code, r.restoreLocal(ptr, lay.locals[j], lay.types[j], lay.offsets[j])...)
			}
			continue
		}
		code = append(code, runAddress(ptr, lay.offsets[k])...)
		code = append(code, wasm.Indexed(wasm.OpCall, r.frameHelper(false, lay.types[k], n)))
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
