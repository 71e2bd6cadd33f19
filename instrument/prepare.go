package instrument

import "github.com/wasmsr/wasmsr/wasm"

// prepare turns a body into the form the rewrite works on: the tail calls
// mustUntail selects become a call and a return, and unreachable code is
// removed, so that every remaining instruction has a fully known operand
// stack. origin maps each instruction of the result to its index in the
// original body.
func prepare(body []wasm.Instr, mustUntail func(*wasm.Instr) bool) (out []wasm.Instr, origin []int) {
	out = make([]wasm.Instr, 0, len(body))
	origin = make([]int, 0, len(body))
	skipping, nested := false, 0
	for i := range body {
		in := body[i]
		if skipping {
			switch in.Op {
			case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
				nested++
				continue
			case wasm.OpEnd, wasm.OpDelegate:
				if nested > 0 {
					nested--
					continue
				}
			case wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll:
				if nested > 0 {
					continue
				}
			default:
				continue
			}
			skipping = false
		}
		if tail, ok := untail[in.Op]; ok && mustUntail(&in) {
			in.Op = tail
			out = append(out, in, wasm.Plain(wasm.OpReturn))
			origin = append(origin, i, i)
			skipping = true
			continue
		}
		out = append(out, in)
		origin = append(origin, i)
		switch in.Op {
		case wasm.OpUnreachable, wasm.OpBr, wasm.OpBrTable, wasm.OpReturn, wasm.OpReturnCall,
			wasm.OpReturnCallIndirect, wasm.OpReturnCallRef, wasm.OpThrow, wasm.OpRethrow, wasm.OpThrowRef:
			skipping = true
		}
	}
	return out, origin
}

// untail maps each tail call to the call it becomes when its callee may unwind.
var untail = map[wasm.Opcode]wasm.Opcode{
	wasm.OpReturnCall:         wasm.OpCall,
	wasm.OpReturnCallIndirect: wasm.OpCallIndirect,
	wasm.OpReturnCallRef:      wasm.OpCallRef,
}
