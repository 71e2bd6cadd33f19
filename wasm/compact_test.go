package wasm_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestCompactExpand: a body compacted and expanded again has the
// instructions it was decoded with, and a module of compacted bodies
// encodes to the bytes of the one they came from: for bodies decoded with
// their source (kept verbatim) and for bodies built or changed in memory
// (encoded by Compact).
func TestCompactExpand(t *testing.T) {
	in := readFile(t, corpus.Gofmt(t))
	for _, keepSource := range []bool{true, false} {
		d := wasm.Decoder{KeepSource: keepSource}
		m, err := d.Decode(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := wasm.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		bodies := make([][]wasm.Instr, len(m.Code))
		for k := range m.Code {
			bodies[k] = m.Code[k].Body
			if err := m.Code[k].Compact(); err != nil {
				t.Fatalf("function %d: %v", k, err)
			}
			if m.Code[k].Body != nil || m.Code[k].Source == nil {
				t.Fatalf("function %d: compacted, has %d instructions and %d bytes", k, len(m.Code[k].Body), len(m.Code[k].Source))
			}
		}
		got, err := wasm.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("KeepSource %v: the compacted module encodes differently", keepSource)
		}
		for k := range m.Code {
			if err := m.Code[k].Expand(); err != nil {
				t.Fatalf("function %d: %v", k, err)
			}
			if !reflect.DeepEqual(m.Code[k].Body, bodies[k]) {
				t.Fatalf("KeepSource %v: function %d expands to other instructions", keepSource, k)
			}
		}
	}
}
