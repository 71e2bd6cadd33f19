package wasip1

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// TestConformance runs wazero's WASI test programs under wazero's WASI and
// under this one and requires byte-identical stdout and stderr and the same
// exit code.
func TestConformance(t *testing.T) {
	wasiDir := corpus.WASIDir(t)
	fixtures := corpus.WASIFixtures(t)
	for _, tc := range corpus.WASICases() {
		t.Run(tc.Name, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(wasiDir, filepath.FromSlash(tc.Wasm)))
			if err != nil {
				t.Fatal(err)
			}
			mounts := func() []Mount {
				var ms []Mount
				for _, m := range tc.Mounts {
					dir := fixtures[m.Fixture]
					if m.Fixture == "scratch" {
						dir = t.TempDir()
					}
					ms = append(ms, Mount{HostDir: dir, GuestPath: m.Guest, ReadOnly: m.ReadOnly})
				}
				return ms
			}
			want := runWazero(t, wasm, tc.Args, tc.Stdin, mounts())
			cfg := Config{Args: tc.Args, Mounts: mounts()}
			if tc.Stdin != "" {
				cfg.Stdin = strings.NewReader(tc.Stdin)
			}
			got := runOurs(t, wasm, cfg)
			if got != want {
				t.Errorf("differs from wazero\nwazero: %+v\nours:   %+v", want, got)
			}
			if want.failed {
				t.Errorf("the case fails under wazero: %s", want.stderr)
			}
		})
	}
}

// runWazero runs wasm's _start under wazero's own WASI, with its
// deterministic clocks and random source.
func runWazero(t *testing.T, wasm []byte, args []string, stdin string, mounts []Mount) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := newRuntime(ctx, true)
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	fsCfg := wazero.NewFSConfig()
	for _, m := range mounts {
		if m.ReadOnly {
			fsCfg = fsCfg.WithReadOnlyDirMount(m.HostDir, m.GuestPath)
		} else {
			fsCfg = fsCfg.WithDirMount(m.HostDir, m.GuestPath)
		}
	}
	cfg := wazero.NewModuleConfig().WithArgs(args...).WithStdout(&stdout).WithStderr(&stderr).WithFSConfig(fsCfg)
	if stdin != "" {
		cfg = cfg.WithStdin(strings.NewReader(stdin))
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.InstantiateModule(ctx, compiled, cfg)
	return outcome(err, &stdout, &stderr)
}

// TestCorpus runs this repository's C and Go test programs and checks
// their golden output.
func TestCorpus(t *testing.T) {
	for _, p := range corpus.Programs(t) {
		t.Run(p.Name, func(t *testing.T) {
			cfg := Config{Args: append([]string{path.Base(p.Name)}, p.Args...)}
			if p.Stdin != nil {
				cfg.Stdin = bytes.NewReader(p.Stdin)
			}
			if p.NeedsDir {
				cfg.Mounts = []Mount{{HostDir: t.TempDir(), GuestPath: corpus.DirMount}}
			}
			r := runOurs(t, p.Wasm(t), cfg)
			if r.failed {
				t.Fatalf("%s: %s", p.Name, r.stderr)
			}
			p.Verify(t, []byte(r.stdout), r.exit)
		})
	}
}

// TestGofmt formats a Go file through gofmt's stdin under both WASIs: a
// real Go program reading all of a large stdin.
func TestGofmt(t *testing.T) {
	wasm, err := os.ReadFile(corpus.Gofmt(t))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("fs.go")
	if err != nil {
		t.Fatal(err)
	}
	want := runWazero(t, wasm, []string{"gofmt"}, string(src), nil)
	got := runOurs(t, wasm, Config{Args: []string{"gofmt"}, Stdin: bytes.NewReader(src)})
	if got != want || got.stdout != string(src) {
		t.Errorf("gofmt differs from wazero's run or from its (formatted) input\nwazero: exit %d, %d bytes out, stderr %q\nours: exit %d, %d bytes out, stderr %q",
			want.exit, len(want.stdout), want.stderr, got.exit, len(got.stdout), got.stderr)
	}
}
