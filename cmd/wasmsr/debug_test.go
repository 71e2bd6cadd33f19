package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestInspectDWARF: the paused stack of a program built with -g shows
// where each frame resumes in the source and its locals by their DWARF
// names; without a name section, the functions are named from DWARF
// (issue 17). The program pauses at its first read of stdin, in work.
func TestInspectDWARF(t *testing.T) {
	input, err := os.ReadFile(corpus.Built(t, "debug/lines-g.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	unnamed := corpus.BuiltWithoutNames(t, "debug/lines-g.wasm")
	for _, tc := range []struct {
		name   string
		module []byte
	}{{"names", input}, {"no-names", unnamed}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "lines.wasm"), filepath.Join(dir, "lines.sr.wasm")
			if err := os.WriteFile(in, tc.module, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, stderr, code := wasmsr("instrument", "--safepoints", "calls", "-o", out, in); code != 0 {
				t.Fatalf("instrument: exit %d: %s", code, stderr)
			}
			snaps := filepath.Join(dir, "snaps")
			if _, stderr, code := wasmsr("exec", "-q", "--snapshot-on", "first-stdin", "--stop-after-snapshot", "--snapshot-dir", snaps, out, "read", "100"); code != 75 && code != 0 {
				t.Fatalf("exec: exit %d: %s", code, stderr)
			}
			stdout, stderr, code := wasmsr("inspect", filepath.Join(snaps, "snapshot-000001.wsm"))
			if code != 0 {
				t.Fatalf("inspect: exit %d: %s", code, stderr)
			}
			stack := stdout[strings.Index(stdout, "STACK"):]
			for _, want := range []string{
				`(?m)^  #\d+ lines\.c:28 in main\(\) \[\d+\]: call work, instruction \d+$`,
				`(?m)^  #\d+ lines\.c:18 in work\(\) \[\d+\]: call getchar, instruction \d+$`,
				// wasi-libc's, built -O2 -g: parameters in wasm locals.
				`(?m)^  #\d+ __wasilibc_real\.c:\d+ in __wasi_fd_read\(\) \[\d+\]: call (__imported_wasi_snapshot_preview1_fd_read|wasi_snapshot_preview1\.fd_read), instruction \d+\n       fd i32 = 0$`,
			} {
				if !regexp.MustCompile(want).MatchString(stack) {
					t.Errorf("no match for %s in:\n%s", want, stack)
				}
			}
		})
	}
}

// TestTrapLine: a program built with -g that traps is reported in one
// line naming the function and the source line of the trap.
func TestTrapLine(t *testing.T) {
	in := corpus.Built(t, "debug/lines-g.wasm")
	out := filepath.Join(t.TempDir(), "lines.sr.wasm")
	if _, stderr, code := wasmsr("instrument", "-o", out, in); code != 0 {
		t.Fatalf("instrument: exit %d: %s", code, stderr)
	}
	_, stderr, code := wasmsr("exec", "-q", out, "trap", "10")
	want := regexp.MustCompile(`^wasmsr: .*integer divide by zero \(in work at lines\.c:20 < main < .*\)\n$`)
	if code != 1 || !want.MatchString(stderr) {
		t.Errorf("exit %d, stderr %q; want exit 1 and the trap in work at lines.c:20", code, stderr)
	}
}

// TestDebugViewNames: inspect shows C++ and Rust names demangled, others
// as they are, and func[N] for a function without a name.
func TestDebugViewNames(t *testing.T) {
	m := &wasm.Module{Names: &wasm.NameSection{Functions: wasm.NameMap{
		{Index: 0, Name: "_ZN4main3run17h183e6ec280388372E"},
		{Index: 1, Name: "_ZNSt3__16vectorIiNS_9allocatorIiEEE9push_backERKi"},
		{Index: 2, Name: "main"},
	}}}
	v := newDebugView(m)
	for fn, want := range []string{"main::run", "std::__1::vector<int, std::__1::allocator<int> >::push_back", "main", "func[3]"} {
		if got := v.label(uint32(fn)); got != want {
			t.Errorf("function %d: %q, want %q", fn, got, want)
		}
	}
}
