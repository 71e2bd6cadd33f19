package hostrt

import (
	"testing"

	"github.com/wasmsr/wasmsr/wasm"
)

// TestMemoryLimit checks the limit MemoryLimit reads without decoding the
// code, against modules with defined, imported, bounded and unbounded
// memories, and with code and other sections around them.
func TestMemoryLimit(t *testing.T) {
	fn := wasm.FuncType{Params: []wasm.ValType{wasm.I32}}
	body := []wasm.Instr{wasm.Plain(wasm.OpEnd)}
	tests := []struct {
		name string
		m    wasm.Module
		want uint64
	}{
		{"no memory", wasm.Module{}, 1 << 32},
		{"defined, no maximum", wasm.Module{Memories: []wasm.Limits{{Min: 1}}}, 1 << 32},
		{"defined, maximum", wasm.Module{
			Types:    []wasm.FuncType{fn},
			Funcs:    []uint32{0},
			Memories: []wasm.Limits{{Min: 1, Max: 3, HasMax: true}},
			Code:     []wasm.Code{{Body: body}},
			Customs:  []wasm.CustomSection{{Name: "x", Data: []byte("y"), After: wasm.SectionMemory}},
		}, 3 * 65536},
		{"imported after a function", wasm.Module{
			Types: []wasm.FuncType{fn},
			Imports: []wasm.Import{
				{Module: "env", Name: "f", Kind: wasm.KindFunc, TypeIndex: 0},
				{Module: "env", Name: "memory", Kind: wasm.KindMemory, Memory: wasm.Limits{Min: 2, Max: 10, HasMax: true}},
			},
		}, 10 * 65536},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module, err := wasm.Encode(&tc.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := MemoryLimit(module)
			if err != nil || got != tc.want {
				t.Errorf("MemoryLimit = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	// A malformed module still gets the decoder's error.
	if _, err := MemoryLimit([]byte("\\x00asm\\x01\\x00\\x00\\x00\\x05\\x09")); err == nil {
		t.Error("MemoryLimit of a truncated module: no error")
	}
}
