package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
	"github.com/wasmsr/wasmsr/hostrt"
)

// A smaller picture than the demo's: a second or two of work.
var renderArgs = []string{"-o", "/out/mandelbrot.png", "-width", "800", "-height", "600", "-iterations", "1000"}

// The demo in small, as a test: render.wasm stopped by its first snapshot
// part way through the picture, resumed in a new process, writes the same
// PNG as the uninstrumented module on plain wazero.
func TestStopAndResume(t *testing.T) {
	dir := t.TempDir()
	wasmsr, err := extest.BuildWasmsr(dir)
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "render.wasm")
	if err := extest.GoBuild(plain, "./examples/render", true); err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(dir, "render.sr.wasm")
	if b, err := exec.Command(wasmsr, "instrument", plain, "-o", module).CombinedOutput(); err != nil {
		t.Fatalf("wasmsr instrument: %v\n%s", err, b)
	}
	want := reference(t, plain)

	out, snaps := filepath.Join(dir, "run"), filepath.Join(dir, "snapshots")
	os.Mkdir(out, 0o755)
	exec1 := exec.Command(wasmsr, append([]string{"exec", module, "--snapshot-every", "100ms", "--stop-after-snapshot",
		"--snapshot-dir", snaps, "--mount", out + ":/out", "--"}, renderArgs...)...)
	var stdout1, stderr bytes.Buffer
	exec1.Stdout, exec1.Stderr = &stdout1, &stderr
	if err := exec1.Run(); err != nil {
		t.Fatalf("wasmsr exec: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "mandelbrot.png")); err == nil {
		t.Fatalf("the picture was finished before the snapshot:\n%s", stdout1.String())
	}
	resume := exec.Command(wasmsr, "resume", snaps, "--mount", out+":/out")
	var stdout2 bytes.Buffer
	resume.Stdout, resume.Stderr = &stdout2, &stderr
	if err := resume.Run(); err != nil {
		t.Fatalf("wasmsr resume: %v\n%s", err, stderr.String())
	}
	// Progress lines up to the snapshot, then the rest, the last one
	// before the snapshot possibly twice (a resume goes on from the
	// snapshot, not from where a pipe's reader had got).
	if !strings.HasSuffix(stdout2.String(), "rendered 100% (600/600 rows)\nwrote /out/mandelbrot.png (800x600)\n") {
		t.Errorf("resumed stdout:\n%s", stdout2.String())
	}
	t.Logf("stopped after %d progress lines", strings.Count(stdout1.String(), "rendered"))
	got, err := os.ReadFile(filepath.Join(out, "mandelbrot.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the resumed picture (%d bytes) differs from the reference (%d bytes)", len(got), len(want))
	}
}

// reference renders with the uninstrumented module on plain wazero and its
// own WASI.
func reference(t *testing.T, plain string) []byte {
	ctx := context.Background()
	module, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := hostrt.DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	out := t.TempDir()
	var output bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithArgs(append([]string{"render"}, renderArgs...)...).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(out, "/out")).
		WithStdout(&output).WithStderr(&output).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader)
	_, err = rt.InstantiateWithConfig(ctx, module, cfg)
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		t.Fatal(fmt.Errorf("reference run: %v\n%s", err, output.String()))
	}
	b, err := os.ReadFile(filepath.Join(out, "mandelbrot.png"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
