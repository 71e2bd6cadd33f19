package wasm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/internal/spectest"
	"github.com/wasmsr/wasmsr/wasm"
)

// malformedAccepted lists the assert_malformed modules of the spec suite
// that the decoder accepts on purpose, by suite and expected message.
var malformedAccepted = map[[2]string]string{
	{"v1", "zero flag expected"}:    "since reference types and multi-memory, the byte after call_indirect's type is a table index and the one after memory.size/grow a memory index",
	{"v2", "zero byte expected"}:    "with multi-memory, memory.size and memory.grow take a memory index where 2.0 has a reserved zero byte",
	{"v2", "malformed memop flags"}: "with multi-memory, bit 6 of a memarg's alignment announces a memory index",
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// roundTrip decodes, encodes and decodes again, and checks that the two
// decoded modules are equal and that canonical input comes back byte for byte.
func roundTrip(t *testing.T, name string, in []byte) (*wasm.Module, []byte) {
	t.Helper()
	var d wasm.Decoder
	m, err := d.Decode(in)
	if err != nil {
		t.Errorf("%s: decode: %v", name, err)
		return nil, nil
	}
	out, err := wasm.Encode(m)
	if err != nil {
		t.Errorf("%s: encode: %v", name, err)
		return nil, nil
	}
	m2, err := wasm.Decode(out)
	if err != nil {
		t.Errorf("%s: decoding the re-encoded module: %v", name, err)
		return nil, nil
	}
	if !reflect.DeepEqual(m, m2) {
		t.Errorf("%s: module changed in the round trip", name)
	}
	if !d.NonCanonical && !bytes.Equal(in, out) {
		t.Errorf("%s: canonical input re-encoded differently (%d bytes in, %d out, first difference at 0x%x)",
			name, len(in), len(out), firstDifference(in, out))
	}
	return m, out
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestSpecSuiteRoundTrip(t *testing.T) {
	suites, err := spectest.Suites()
	if err != nil {
		t.Fatal(err)
	}
	used := map[[2]string]bool{}
	for _, s := range suites {
		valid, malformed, _ := s.Modules()
		t.Run(s.Name, func(t *testing.T) {
			ctx := context.Background()
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(s.Features))
			defer rt.Close(ctx)
			for _, ref := range valid {
				name := s.Name + "/" + filepath.Base(ref.Path)
				in := readFile(t, ref.Path)
				_, out := roundTrip(t, name, in)
				if out == nil || bytes.Equal(in, out) {
					continue
				}
				if _, err := rt.CompileModule(ctx, in); err != nil {
					continue // wazero rejects the original too
				}
				if _, err := rt.CompileModule(ctx, out); err != nil {
					t.Errorf("%s: wazero compiles the original but not the re-encoded module: %v", name, err)
				}
			}
			for _, ref := range malformed {
				name := s.Name + "/" + filepath.Base(ref.Path)
				if _, err := wasm.Decode(readFile(t, ref.Path)); err == nil {
					key := [2]string{s.Name, ref.Command.Text}
					if _, ok := malformedAccepted[key]; !ok {
						t.Errorf("%s: decoded a module the suite calls malformed (%q)", name, ref.Command.Text)
					}
					used[key] = true
				}
			}
		})
	}
	for key := range malformedAccepted {
		if !used[key] {
			t.Errorf("exception %v no longer needed: remove it", key)
		}
	}
}
