package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/wasm"
)

// TestPadKeepsBehaviour pads a function that sums 0..10 in a loop and
// checks that the padded module is valid, has the branches at its entry,
// and returns the same sum.
func TestPadKeepsBehaviour(t *testing.T) {
	i32 := wasm.I32
	body := []wasm.Instr{
		wasm.Block(wasm.OpLoop, wasm.BlockEmpty),
		wasm.Indexed(wasm.OpLocalGet, 1), wasm.Indexed(wasm.OpLocalGet, 0), wasm.Plain(wasm.OpI32Add), wasm.Indexed(wasm.OpLocalSet, 1),
		wasm.Indexed(wasm.OpLocalGet, 0), wasm.I32Const(1), wasm.Plain(wasm.OpI32Add), wasm.Indexed(wasm.OpLocalTee, 0),
		wasm.I32Const(11), wasm.Plain(wasm.OpI32LtU), wasm.Indexed(wasm.OpBrIf, 0),
		wasm.Plain(wasm.OpEnd),
		wasm.Indexed(wasm.OpLocalGet, 1), wasm.Plain(wasm.OpEnd),
	}
	m := &wasm.Module{
		Types:   []wasm.FuncType{{Results: []wasm.ValType{i32}}},
		Funcs:   []uint32{0},
		Code:    []wasm.Code{{Locals: []wasm.LocalGroup{{Count: 2, Type: i32}}, Body: body}},
		Exports: []wasm.Export{{Name: "sum", Kind: wasm.KindFunc, Index: 0}},
	}
	data, err := wasm.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wasm"), filepath.Join(dir, "out.wasm")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 3} {
		if err := pad(in, out, n); err != nil {
			t.Fatal(err)
		}
		padded, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		pm, err := wasm.Decode(padded)
		if err != nil {
			t.Fatal(err)
		}
		if err := wasm.Validate(pm); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if got, want := len(pm.Code[0].Body), len(body)+4*n; got != want {
			t.Errorf("n=%d: body of %d instructions, want %d", n, got, want)
		}
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		mod, err := rt.Instantiate(ctx, padded)
		if err != nil {
			t.Fatal(err)
		}
		res, err := mod.ExportedFunction("sum").Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != 55 {
			t.Errorf("n=%d: sum %d, want 55", n, res[0])
		}
		rt.Close(ctx)
	}
}
