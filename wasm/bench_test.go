package wasm_test

import (
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// BenchmarkDecodeEncodeGofmt decodes and re-encodes gofmt built for wasip1
// (about 5 MB, 1.5 million instructions). README.md reports its MB/s.
func BenchmarkDecodeEncodeGofmt(b *testing.B) {
	in := readFile(b, corpus.Gofmt(b))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := wasm.Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := wasm.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGofmt(b *testing.B) {
	in := readFile(b, corpus.Gofmt(b))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wasm.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTypeTrackerGofmt(b *testing.B) {
	m, err := wasm.Decode(readFile(b, corpus.Gofmt(b)))
	if err != nil {
		b.Fatal(err)
	}
	tr := wasm.NewTypeTracker(m)
	base := uint32(m.NumImported(wasm.KindFunc))
	b.ReportAllocs()
	for b.Loop() {
		for k := range m.Code {
			if err := tr.Walk(base+uint32(k), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
