package wasm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
)

// TestProgramsRoundTrip round-trips compiler output: the TinyGo, Rust and Zig
// binaries shipped with wazero, the C and Go programs the Makefile builds,
// and gofmt. wasm-validate must accept every re-encoded module, and the
// programs must print the same output before and after.
func TestProgramsRoundTrip(t *testing.T) {
	validate, _ := exec.LookPath("wasm-validate")
	if validate == "" && os.Getenv("WASMSR_REQUIRE_CORPUS") == "1" {
		t.Fatal("wasm-validate not found: run make deps")
	}
	check := func(t *testing.T, name string, in []byte) []byte {
		m, out := roundTrip(t, name, in)
		if m == nil {
			return nil
		}
		if err := checkBranchTypes(m); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if validate != "" && validates(t, validate, in) && !validates(t, validate, out) {
			t.Errorf("%s: wasm-validate accepts the original but rejects the re-encoded module", name)
		}
		return out
	}
	t.Run("wazero", func(t *testing.T) {
		for _, path := range corpus.WazeroPrograms(t) {
			check(t, filepath.Base(filepath.Dir(filepath.Dir(path)))+"/"+filepath.Base(path), readFile(t, path))
		}
	})
	programs := append(corpus.CPrograms(t), corpus.GoPrograms(t)...)
	for _, p := range programs {
		t.Run(p.Name, func(t *testing.T) {
			in := readFile(t, p.Path)
			out := check(t, p.Name, in)
			if out == nil {
				return
			}
			p.Check(t, out)
		})
	}
	t.Run("gofmt", func(t *testing.T) {
		gofmt := corpus.Program{
			Name:       "go/gofmt",
			Path:       corpus.Gofmt(t),
			Stdin:      []byte("package main\nfunc  main ( ) { println( 1+2 ) }\n"),
			WantStdout: []byte("package main\n\nfunc main() { println(1 + 2) }\n"),
		}
		if out := check(t, "gofmt", readFile(t, gofmt.Path)); out != nil {
			gofmt.Check(t, out)
		}
	})
}

// validates runs wasm-validate with every feature it knows on module bytes.
func validates(t *testing.T, validate string, module []byte) bool {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(f, module, 0o644); err != nil {
		t.Fatal(err)
	}
	return exec.Command(validate, "--enable-all", f).Run() == nil
}
