package fib_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
)

// Built once by TestMain; module is empty when there is no clang.
var wasmsr, module, noClang string

func TestMain(m *testing.M) { extest.Main(m, "fib", build) }

func build(dir string) error {
	var err error
	if wasmsr, err = extest.BuildWasmsr(dir); err != nil {
		return err
	}
	clang, err := extest.Clang()
	if err != nil {
		noClang = err.Error()
		return nil
	}
	plain := filepath.Join(dir, "fib.wasm")
	// The flags of examples.mk.
	if err := extest.CompileC(clang, plain, filepath.Join("guest", "fib.c"), "-O1", "-Wall"); err != nil {
		return err
	}
	module = filepath.Join(dir, "fib.sr.wasm")
	if b, err := exec.Command(wasmsr, "instrument", "--site-details", plain, "-o", module).CombinedOutput(); err != nil {
		return fmt.Errorf("wasmsr instrument: %v\n%s", err, b)
	}
	return nil
}

func needModule(t *testing.T) {
	if module != "" {
		return
	}
	// make test installs clang; fail there rather than skip.
	if os.Getenv("WASMSR_REQUIRE_CORPUS") == "1" {
		t.Fatal(noClang)
	}
	t.Skip("the fib example needs clang: " + noClang)
}

func run(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(wasmsr, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("wasmsr %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

func TestFib9(t *testing.T) {
	needModule(t)
	if stdout, _ := run(t, "exec", module, "--", "9"); stdout != "fib(9) = 34\n" {
		t.Errorf("stdout %q", stdout)
	}
}

// The part of `wasmsr inspect --json` this test reads.
type report struct {
	Paused string `json:"paused_in"`
	Stack  []struct {
		Name   string `json:"name"`
		At     string `json:"at"`
		Locals []struct {
			Local uint32 `json:"local"`
			Value string `json:"value"`
		} `json:"locals"`
	} `json:"stack"`
}

// A snapshot taken mid-recursion shows main, then a chain of fib frames
// whose n (local 0) starts at the argument and goes down by one at fib's
// first call site and by two at its second, to the innermost frame; and the
// program resumed from it prints the right number.
func TestSnapshotMidRecursion(t *testing.T) {
	needModule(t)
	const n = 42 // about a second: the snapshot at 100 ms is mid-recursion
	dir := t.TempDir()
	run(t, "exec", module, "--snapshot-every", "100ms", "--stop-after-snapshot", "--snapshot-dir", dir, "--", strconv.Itoa(n))
	snap := filepath.Join(dir, "snapshot-000001.wsm")
	stdout, _ := run(t, "inspect", "--json", snap)
	var r report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.Stack {
		names = append(names, f.Name)
	}
	i := slices.Index(names, "main")
	if r.Paused != "_start" || i < 0 || i+1 >= len(names) || names[0] != "_start.command_export" {
		t.Fatalf("paused in %q, frames %q: want _start.command_export ... main fib...", r.Paused, names)
	}
	chain := r.Stack[i+1:]
	if len(chain) < 5 {
		t.Fatalf("only %d fib frames: %q", len(chain), names)
	}
	local := func(k int, idx uint32) int {
		for _, l := range chain[k].Locals {
			if l.Local == idx {
				v, err := strconv.Atoi(l.Value)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		t.Fatalf("frame %d (%s) has no local %d", i+1+k, chain[k].At, idx)
		return 0
	}
	// fib's two call sites, in the order of their instruction indices.
	var sites []string
	for _, f := range chain[:len(chain)-1] {
		if !slices.Contains(sites, f.At) {
			sites = append(sites, f.At)
		}
	}
	slices.SortFunc(sites, func(a, b string) int { return callIndex(t, a) - callIndex(t, b) })
	if len(sites) > 2 {
		t.Fatalf("fib frames paused at %d call sites, want at most 2: %q", len(sites), sites)
	}
	var ns []int
	for k, f := range chain {
		if f.Name != "fib" {
			t.Fatalf("frame %d is %q, want fib", i+1+k, f.Name)
		}
		ns = append(ns, local(k, 0))
	}
	if ns[0] != n {
		t.Errorf("the outermost fib frame has n = %d, want %d", ns[0], n)
	}
	for k := 0; k+1 < len(chain); k++ {
		step := 1 + slices.Index(sites, chain[k].At)
		if ns[k+1] != ns[k]-step {
			t.Errorf("frame %d: n = %d, paused at %q (fib(n-%d)), but the next frame has n = %d", i+1+k, ns[k], chain[k].At, step, ns[k+1])
		}
	}
	t.Logf("n along the stack: %v", ns)

	// The text form says the same.
	text, _ := run(t, "inspect", snap)
	if !strings.Contains(text, ": call fib, instruction ") || !strings.Contains(text, fmt.Sprintf("       local 0 i32 = %d\n", n)) {
		t.Errorf("inspect's text lacks the fib frames:\n%s", text)
	}

	stdout, _ = run(t, "resume", dir)
	if want := fmt.Sprintf("fib(%d) = 267914296\n", n); stdout != want {
		t.Errorf("resumed: stdout %q, want %q", stdout, want)
	}
}

// callIndex is the instruction index in "call fib, instruction 8".
func callIndex(t *testing.T, at string) int {
	i := strings.LastIndex(at, "instruction ")
	if !strings.HasPrefix(at, "call fib,") || i < 0 {
		t.Fatalf("a fib frame paused at %q, want a call of fib", at)
	}
	v, err := strconv.Atoi(at[i+len("instruction "):])
	if err != nil {
		t.Fatal(err)
	}
	return v
}
