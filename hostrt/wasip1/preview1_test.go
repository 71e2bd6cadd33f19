package wasip1

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
)

// TestPreview1 runs testdata/e2e/preview1.c, which calls WASI directly
// where implementations disagree, and preview1.rs, which makes such calls
// through Rust's standard library, and requires their golden output: what
// wasmtime answers, but where RATIONALE.md says otherwise. cmd/wasmsr's
// TestPreview1Snapshots runs them again with snapshots between their steps.
func TestPreview1(t *testing.T) {
	for _, name := range []string{"preview1", "preview1-rs"} {
		t.Run(name, func(t *testing.T) {
			wasm, err := os.ReadFile(corpus.Built(t, "e2e/"+name+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(corpus.Root(t), "testdata", "e2e", name+".stdout"))
			if err != nil {
				t.Fatal(err)
			}
			r := runOurs(t, wasm, Config{Args: []string{name}, Mounts: []Mount{{HostDir: t.TempDir(), GuestPath: "/work"}}})
			if r.failed || r.exit != 0 {
				t.Fatalf("exit %d: %s", r.exit, r.stderr)
			}
			if r.stdout != string(want) {
				t.Errorf("stdout differs from testdata/e2e/%s.stdout:\n%s", name, lineDiff(r.stdout, string(want)))
			}
		})
	}
}

// lineDiff lists the lines where got and want differ.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d: got %q, want %q\n", i+1, gl, wl)
		}
	}
	return b.String()
}
