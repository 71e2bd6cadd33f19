package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// wasmsr runs the command line in-process.
func wasmsr(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"wasmsr"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/wasmsr -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestInspectModule(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"sample.inspect.txt", []string{"inspect", "testdata/sample.wasm"}},
		{"sample.inspect.json", []string{"inspect", "--json", "testdata/sample.wasm"}},
		// Flags may follow the file.
		{"sample.inspect.top1.txt", []string{"inspect", "testdata/sample.wasm", "--top", "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			stdout, stderr, code := wasmsr(tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			golden(t, tc.golden, stdout)
		})
	}
}

// TestInstrumentSample instruments the sample module: the output must be
// byte-identical to the golden module, and inspect must describe the frames.
func TestInstrumentSample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sample.sr.wasm")
	stdout, stderr, code := wasmsr("instrument", "testdata/sample.wasm", "-o", out, "--verbose", "--site-details")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	golden(t, "sample.instrument.txt", stdout+strings.ReplaceAll(stderr, out, "OUT"))
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sample.sr.wasm", string(got))
	stdout, stderr, code = wasmsr("inspect", "--frames", "-1", out)
	if code != 0 || stderr != "" {
		t.Fatalf("inspect: exit %d, stderr %q", code, stderr)
	}
	golden(t, "sample.sr.inspect.txt", strings.ReplaceAll(stdout, out, "OUT"))

	// Without --site-details, the same module but for the sites section.
	plain := filepath.Join(t.TempDir(), "plain.sr.wasm")
	if _, stderr, code := wasmsr("instrument", "testdata/sample.wasm", "-o", plain); code != 0 {
		t.Fatalf("without --site-details: exit %d, stderr %q", code, stderr)
	}
	detailed, err := wasm.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	detailed.Customs = slices.DeleteFunc(detailed.Customs, func(c wasm.CustomSection) bool { return c.Name == abi.SitesSectionName })
	want, err := wasm.Encode(detailed)
	if err != nil {
		t.Fatal(err)
	}
	if plainBytes, err := os.ReadFile(plain); err != nil || !bytes.Equal(plainBytes, want) {
		t.Errorf("without --site-details: not the detailed module without its %s section (%v)", abi.SitesSectionName, err)
	}
	stdout, _, _ = wasmsr("inspect", "--frames", "-1", plain)
	if !strings.Contains(stdout, "2 unwind points\nwhere each unwind point is: not recorded (instrument with --site-details)\n") || !strings.Contains(stdout, "\n  0: safepoint\n") {
		t.Errorf("inspect without the sites' details:\n%s", stdout)
	}

	// An instrumented module is refused unless forced.
	_, stderr, code = wasmsr("instrument", out, "-o", out+"2")
	if want := "wasmsr: " + out + ": module is already instrumented by wasmsr (use --force to instrument it again)\n"; code != 1 || stderr != want {
		t.Errorf("instrumenting twice: exit %d, stderr %q, want %q", code, stderr, want)
	}
	if _, stderr, code = wasmsr("instrument", "--force", out, "-o", out+"2"); code != 0 {
		t.Errorf("--force: exit %d, stderr %q", code, stderr)
	}
	// A name list that matches nothing is a warning.
	_, stderr, code = wasmsr("instrument", "--only", "sum,nothing*", "testdata/sample.wasm", "-o", out+"3")
	if want := "wasmsr: warning: --only \"nothing*\" matches no function\n"; code != 0 || !strings.HasPrefix(stderr, want) {
		t.Errorf("--only: exit %d, stderr %q, want it to start with %q", code, stderr, want)
	}
}

// Bad input gives one line naming the file and what is wrong, and exit 1.
func TestBadInput(t *testing.T) {
	sample, err := os.ReadFile("testdata/sample.wasm")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.wasm", sample[:0xa0])
	text := write("text.wasm", []byte("(module)\n"))
	// Issue 12: a call to a function the module does not have.
	badCall := write("badcall.wasm", []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x06\x01\x04\x00\x10\x63\x0b"))
	missing := filepath.Join(dir, "missing.wasm")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"inspect", truncated}, "wasmsr: " + truncated + ": truncated code section at offset 0xa0\n"},
		{[]string{"inspect", text}, "wasmsr: " + text + ": module header at offset 0x0: magic header not detected\n"},
		{[]string{"inspect", missing}, "wasmsr: " + missing + ": no such file or directory\n"},
		{[]string{"inspect"}, "wasmsr: inspect: expected one FILE.wasm, SNAPSHOT or STORE argument, got 0\n"},
		{[]string{"instrument", truncated}, "wasmsr: " + truncated + ": truncated code section at offset 0xa0\n"},
		{[]string{"instrument", badCall}, "wasmsr: " + badCall + ": function 0 at offset 0x17: call to function 99, the module has 1\n"},
		{[]string{"instrument", "--safepoints", "sometimes", "testdata/sample.wasm"}, "wasmsr: instrument: unknown safepoint mode \"sometimes\" (want loops, calls or none)\n"},
		// exec runs only instrumented modules, unless told to instrument.
		{[]string{"exec", "testdata/sample.wasm"}, "wasmsr: testdata/sample.wasm: the module is not instrumented: run `wasmsr instrument testdata/sample.wasm` first, or pass --instrument\n"},
		{[]string{"exec", "--snapshot-on", "SIGUSR1, first-input", "testdata/sample.sr.wasm"}, "wasmsr: --snapshot-on \"first-input\": unknown event (want SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT or first-stdin)\n"},
		{[]string{"exec", "--snapshot-on", "sigkill", "testdata/sample.sr.wasm"}, "wasmsr: --snapshot-on \"sigkill\": unknown event (want SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT or first-stdin)\n"},
		{[]string{"exec", "--env", "NOVALUE", "testdata/sample.sr.wasm"}, "wasmsr: exec: --env \"NOVALUE\": want NAME=VALUE\n"},
		{[]string{"exec", "--listen", "nonsense", "testdata/sample.sr.wasm"}, "wasmsr: --listen nonsense: listen tcp: address nonsense: missing port in address\n"},
		{[]string{"exec", "--listen", "127.0.0.1:0", "--migrate-to", "http://127.0.0.1:1", "testdata/sample.sr.wasm"}, "wasmsr: --listen does not go with --migrate-to: a listener stays on its host\n"},
	}
	for _, tc := range tests {
		stdout, stderr, code := wasmsr(tc.args...)
		if code != 1 || stderr != tc.want || stdout != "" {
			t.Errorf("wasmsr %q: exit %d, stdout %q, stderr %q; want exit 1 and stderr %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
