package instrument

import (
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/wasm"
)

func TestMergeBlocks(t *testing.T) {
	block := wasm.Block(wasm.OpBlock, wasm.BlockEmpty)
	loop := wasm.Block(wasm.OpLoop, wasm.BlockEmpty)
	blockI32 := wasm.Block(wasm.OpBlock, wasm.BlockResult(wasm.I32))
	end := wasm.Plain(wasm.OpEnd)
	br := func(d uint32) wasm.Instr { return wasm.Indexed(wasm.OpBr, d) }
	brIf := func(d uint32) wasm.Instr { return wasm.Indexed(wasm.OpBrIf, d) }
	table := func(def uint32, labels ...uint32) wasm.Instr {
		return wasm.Instr{Op: wasm.OpBrTable, X: def, Ext: &wasm.Extra{Labels: labels}}
	}
	c := wasm.I32Const
	for _, tc := range []struct {
		name     string
		in, want []wasm.Instr
	}{
		{"two ends together: the inner block goes, branches past it lose a level",
			[]wasm.Instr{block, c(1), block, c(2), brIf(0), c(3), brIf(1), c(4), table(2, 0, 1, 2), end, end},
			[]wasm.Instr{block, c(1), c(2), brIf(0), c(3), brIf(0), c(4), table(1, 0, 0, 1), end}},
		{"a chain of three",
			[]wasm.Instr{block, block, block, br(2), end, end, end},
			[]wasm.Instr{block, br(0), end}},
		{"frames inside the removed block keep their labels",
			[]wasm.Instr{block, block, loop, br(0), br(1), br(2), end, end, end},
			[]wasm.Instr{block, loop, br(0), br(1), br(1), end, end}},
		{"code between the ends: nothing to merge",
			[]wasm.Instr{block, block, br(1), end, c(0), wasm.Plain(wasm.OpDrop), end},
			nil},
		{"a loop is never merged",
			[]wasm.Instr{block, loop, br(1), end, end},
			nil},
		{"blocks with results are never merged",
			[]wasm.Instr{blockI32, block, br(1), end, c(5), end},
			nil},
		{"nor blocks inside one with results",
			[]wasm.Instr{block, blockI32, c(1), end, wasm.Plain(wasm.OpDrop), end},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if got, w := render(first(mergeBlocks(tc.in, nil))), render(want); got != w {
				t.Errorf("got  %s\nwant %s", got, w)
			}
		})
	}
}

func render(body []wasm.Instr) string {
	var parts []string
	for i := range body {
		parts = append(parts, body[i].String())
	}
	return strings.Join(parts, "; ")
}

// first returns the first of two results.
func first[A, B any](a A, _ B) A { return a }
