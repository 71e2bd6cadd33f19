package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
)

// toolchainsBesidesGo are the programs a machine with only Go installed
// lacks and that the rest of the project uses. The demo must not need any.
var toolchainsBesidesGo = []string{
	"clang", "clang-14", "wasm-ld", "wasm-ld-14", "llvm-ar", "wasm-opt", "wat2wasm", "wasm-validate", "wasm2wat", "wast2json",
}

// TestDemo runs `make demo`'s script itself, as on a machine where Go is
// the only toolchain: every other toolchain on PATH is shadowed by a stub
// that records being called. The demo must pass, and no stub be called.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 15 s")
	}
	root, err := extest.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wasmsr, err := extest.BuildWasmsr(dir)
	if err != nil {
		t.Fatal(err)
	}
	stubs, called := filepath.Join(dir, "stubs"), filepath.Join(dir, "called")
	if err := os.Mkdir(stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range toolchainsBesidesGo {
		stub := fmt.Sprintf("#!/bin/sh\necho %s >> %s\nexit 127\n", name, called)
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "demo")
	cmd := exec.Command("bash", filepath.Join(root, "scripts/demo.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PATH="+stubs+string(os.PathListSeparator)+os.Getenv("PATH"),
		"WASMSR="+wasmsr, "WAZERO="+filepath.Join(dir, "wazero"), "DEMO_OUT="+out)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/demo.sh: %v\n%s", err, output.String())
	}
	if b, err := os.ReadFile(called); err == nil {
		t.Errorf("the demo called toolchains other than Go: %s", strings.Fields(string(b)))
	}
	const pass = "PASS: the picture rendered across a kill -9 and a resume is byte-identical to the uninterrupted run"
	if !strings.Contains(output.String(), pass) {
		t.Errorf("no %q in the demo's output:\n%s", pass, output.String())
	}
	want, err := os.ReadFile(filepath.Join(out, "reference/mandelbrot.png"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "run/mandelbrot.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("the resumed picture (%d bytes) differs from the reference (%d bytes)", len(got), len(want))
	}
}
