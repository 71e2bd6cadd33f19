package wasm_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wasmsr/wasmsr/internal/spectest"
	"github.com/wasmsr/wasmsr/wasm"
)

// invalidAccepted lists the assert_invalid modules of the spec suites
// that Validate accepts on purpose, by suite and module, with the reason:
// it checks the union of the features wazero offers, where these modules
// are invalid only without some of them.
var invalidAccepted = map[string]string{
	"v1/func.20":              "several results: multi-value",
	"v1/func.21":              "several results: multi-value",
	"v1/type.3":               "several results: multi-value",
	"v1/type.4":               "several results: multi-value",
	"v1/imports.47":           "several tables: reference types",
	"v1/imports.48":           "several tables: reference types",
	"v1/imports.49":           "several tables: reference types",
	"v1/unreached-invalid.87": "br_table to labels of different types in unreachable code: WebAssembly 2.0 types the polymorphic stack per label",
	"v2/data.9":               "an offset reading a global the module defines: extended-const",
	"v2/data.10":              "an offset reading a global the module defines: extended-const",
	"v2/elem.10":              "an offset reading a global the module defines: extended-const",
	"v2/elem.11":              "an offset reading a global the module defines: extended-const",
	"v2/global.18":            "an initialiser reading an earlier global the module defines: extended-const",
	"v2/global.19":            "an initialiser reading an earlier global the module defines: extended-const",
}

// TestValidateSpecSuites: Validate accepts every valid module of the spec
// suites wazero ships (v1, v2, tail calls, extended-const, exception
// handling, threads, typed function references) and refuses every
// invalid one that decodes, but those listed above.
func TestValidateSpecSuites(t *testing.T) {
	suites, err := spectest.Suites()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, s := range suites {
		valid, _, invalid := s.Modules()
		name := func(ref spectest.ModuleRef) string {
			return s.Name + "/" + filepath.Base(ref.Path[:len(ref.Path)-len(".wasm")])
		}
		for _, ref := range valid {
			m, err := wasm.Decode(readFile(t, ref.Path))
			if err != nil {
				continue // TestSpecSuiteRoundTrip reports it
			}
			if err := wasm.Validate(m); err != nil {
				t.Errorf("%s: refused a valid module: %v", name(ref), err)
			}
		}
		for _, ref := range invalid {
			m, err := wasm.Decode(readFile(t, ref.Path))
			if err != nil {
				continue // refused already
			}
			if err := wasm.Validate(m); err == nil {
				if _, ok := invalidAccepted[name(ref)]; !ok {
					t.Errorf("%s: accepted a module the suite calls invalid (%q)", name(ref), ref.Command.Text)
				}
				used[name(ref)] = true
			}
		}
	}
	for name := range invalidAccepted {
		if !used[name] {
			t.Errorf("exception %s no longer needed: remove it", name)
		}
	}
}

// TestValidationErrorWithoutSource: a module that was not decoded with
// KeepSource (or was built in memory) has no offsets: the error names the
// instruction by its index instead.
func TestValidationErrorWithoutSource(t *testing.T) {
	for _, c := range []struct {
		name string
		m    *wasm.Module
		want string
	}{
		{"call", &wasm.Module{
			Types: []wasm.FuncType{{}},
			Funcs: []uint32{0},
			Code:  []wasm.Code{{Body: []wasm.Instr{wasm.Indexed(wasm.OpCall, 99), wasm.Plain(wasm.OpEnd)}}},
		}, "function 0, instruction 0 (call): call to function 99, the module has 1"},
		{"memory", &wasm.Module{Memories: []wasm.Limits{{Min: 1<<32 - 1}}},
			"memory 0: minimum of 4294967295 pages, more than 4 GiB (65536 pages)"},
		// The table section comes before the globals: a table's
		// initialiser may read imported globals only.
		{"table initialiser", &wasm.Module{
			Tables: []wasm.TableType{{Elem: wasm.FuncRef, Init: []wasm.Instr{wasm.Indexed(wasm.OpGlobalGet, 0), wasm.Plain(wasm.OpEnd)}}},
			Globals: []wasm.Global{{Type: wasm.GlobalType{Type: wasm.FuncRef},
				Init: []wasm.Instr{wasm.RefNull(wasm.HeapFunc), wasm.Plain(wasm.OpEnd)}}},
		}, "table 0: global.get 0: a constant expression reads only the imported globals and those defined before it (0 here)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := wasm.Validate(c.m)
			if err == nil || err.Error() != c.want {
				t.Errorf("error %v\nwant  %s", err, c.want)
			}
			// Decoded without KeepSource, it has no offsets either.
			b, encErr := wasm.Encode(c.m)
			if encErr != nil {
				t.Fatal(encErr)
			}
			m, decErr := wasm.Decode(b)
			if decErr != nil {
				t.Fatal(decErr)
			}
			if err := wasm.Validate(m); err == nil || err.Error() != c.want {
				t.Errorf("decoded: error %v\nwant  %s", err, c.want)
			}
		})
	}
}

// TestFirstInvalidBody: of many bodies (checked, and decoded, on every
// core), the error is the first invalid one's in the section's order.
func TestFirstInvalidBody(t *testing.T) {
	const n = 2000
	m := &wasm.Module{Types: []wasm.FuncType{{}}, Funcs: make([]uint32, n), Code: make([]wasm.Code, n)}
	for k := range m.Code {
		m.Code[k].Body = []wasm.Instr{wasm.Plain(wasm.OpEnd)}
	}
	for _, bad := range []int{n - 1, n / 2, 7} {
		m.Code[bad].Body = []wasm.Instr{wasm.Indexed(wasm.OpCall, 99999), wasm.Plain(wasm.OpEnd)}
		want := fmt.Sprintf("function %d, instruction 0 (call): call to function 99999, the module has %d", bad, n)
		if err := wasm.Validate(m); err == nil || err.Error() != want {
			t.Errorf("validate: %v\nwant %s", err, want)
		}
		b, err := wasm.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		// Encoded and decoded with its source, it fails at the call's offset.
		d := wasm.Decoder{KeepSource: true}
		decoded, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		verr := wasm.Validate(decoded)
		var ve *wasm.ValidationError
		if !errors.As(verr, &ve) || ve.Func != int64(bad) {
			t.Errorf("decoded: %v, want function %d's error", verr, bad)
		}
	}
}
