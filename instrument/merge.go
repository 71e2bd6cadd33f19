package instrument

import "github.com/wasmsr/wasmsr/wasm"

// mergeBlocks removes every block without parameters or results that ends
// where the block around it, also without them, ends: a branch to either
// goes to the same place. The rewrite nests landing blocks, split ifs and
// the original blocks this way all the time; each removed pair is three
// bytes. Branches inside a removed block that go past it lose a level.
// The result reuses body's memory; origin, one entry per instruction
// (see emitter.origin), loses the removed ones alike.
func mergeBlocks(body []wasm.Instr, origin []int32) ([]wasm.Instr, []int32) {
	n := len(body)
	opener := matchStructure(body).opener
	empty := func(i int) bool { return body[i].Op == wasm.OpBlock && body[i].BlockType() == wasm.BlockEmpty }
	removed := make([]bool, n)
	merged := false
	for i := 0; i+1 < n; i++ {
		if body[i].Op != wasm.OpEnd || body[i+1].Op != wasm.OpEnd {
			continue
		}
		inner, outer := opener[i], opener[i+1]
		if inner >= 0 && outer >= 0 && empty(inner) && empty(outer) {
			removed[inner], removed[i], merged = true, true, true
		}
	}
	if !merged {
		return body, origin
	}
	// gone counts, per enclosing frame of the instruction being copied,
	// whether it was removed.
	var gone frameCounts
	shift := func(d uint32) uint32 { return d - uint32(gone.innermost(int(d))) }
	out := body[:0] // it never gets ahead of the instruction being read
	outOrigin := origin[:0]
	for i, in := range body {
		// As in splitIfs: catches and delegates count from outside.
		switch in.Op {
		case wasm.OpEnd, wasm.OpDelegate:
			if gone.depth() > 0 {
				gone.pop()
			}
		}
		relabel(&in, shift)
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
			if removed[i] {
				gone.push(1)
			} else {
				gone.push(0)
			}
		}
		if !removed[i] {
			out = append(out, in)
			if origin != nil {
				outOrigin = append(outOrigin, origin[i])
			}
		}
	}
	return out, outOrigin
}
