package corpus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// RunTimeout bounds a single run started by Exec, Run or Check; the module
// is closed when it expires (so a transform that makes a program loop
// forever fails instead of hanging the tests).
var RunTimeout = 2 * time.Minute

// Output collects what a run writes.
type Output struct {
	Stdout, Stderr bytes.Buffer
}

// Result is the outcome of a run.
type Result struct {
	Stdout, Stderr []byte
	// Exit is the exit code: 0 when _start returned or called
	// proc_exit(0), otherwise the code passed to proc_exit.
	Exit uint32
	// Err is set when the run failed other than by exiting: a compile or
	// instantiation error, a trap, or a timeout.
	Err error
}

// Wasm returns the contents of the program's .wasm file.
func (p Program) Wasm(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(p.Path)
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	return data
}

// ModuleConfig returns a wazero module configuration that runs the program
// as described by p: argv, stdin, stdout and stderr collected into the
// returned Output and, for NeedsDir, a fresh temporary directory (from
// tb.TempDir) mounted at DirMount. Clocks and randomness are wazero's
// deterministic defaults. Use it to run the program on a custom runtime;
// Exec, Run and Check use it too.
func (p Program) ModuleConfig(tb testing.TB) (wazero.ModuleConfig, *Output) {
	tb.Helper()
	out := &Output{}
	cfg := wazero.NewModuleConfig().
		WithName(path.Base(p.Name)).
		WithArgs(append([]string{path.Base(p.Name)}, p.Args...)...).
		WithStdin(bytes.NewReader(p.Stdin)).
		WithStdout(&out.Stdout).
		WithStderr(&out.Stderr)
	if p.NeedsDir {
		cfg = cfg.WithFSConfig(wazero.NewFSConfig().WithDirMount(tb.TempDir(), DirMount))
	}
	return cfg, out
}

// Exec runs wasm (the program's module or a transformed version of it) with
// wazero and WASI as described by p, and returns what happened. It only
// fails the test if the scratch directory cannot be made.
func (p Program) Exec(tb testing.TB, wasm []byte) Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return Result{Err: err}
	}
	cfg, out := p.ModuleConfig(tb)
	mod, err := rt.InstantiateWithConfig(ctx, wasm, cfg)
	var exit uint32
	var exitErr *sys.ExitError
	switch {
	case err == nil:
		mod.Close(ctx)
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		exit, err = exitErr.ExitCode(), nil
	case ctx.Err() != nil:
		err = fmt.Errorf("timed out after %v: %w", RunTimeout, err)
	}
	return Result{Stdout: out.Stdout.Bytes(), Stderr: out.Stderr.Bytes(), Exit: exit, Err: err}
}

// Run runs wasm like Exec and returns its stdout and exit code, failing the
// test if the run fails other than by exiting (a trap, for instance).
func (p Program) Run(tb testing.TB, wasm []byte) (stdout []byte, exit uint32) {
	tb.Helper()
	r := p.Exec(tb, wasm)
	if r.Err != nil {
		tb.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.Name, r.Err, tail(r.Stdout), tail(r.Stderr))
	}
	return r.Stdout, r.Exit
}

// Check runs wasm like Run and verifies its stdout and exit code against
// the expected ones (see Verify).
func (p Program) Check(tb testing.TB, wasm []byte) {
	tb.Helper()
	stdout, exit := p.Run(tb, wasm)
	p.Verify(tb, stdout, exit)
}

// Verify reports an error unless stdout and exit are the expected ones.
// It fails the test if the program has no golden stdout file.
func (p Program) Verify(tb testing.TB, stdout []byte, exit uint32) {
	tb.Helper()
	if p.WantStdout == nil {
		tb.Fatalf("%s: no golden stdout %s; create it with `go test ./internal/corpus -run TestPrograms -update` and check it", p.Name, p.Golden)
	}
	if exit != p.WantExit {
		tb.Errorf("%s: exit code %d, want %d", p.Name, exit, p.WantExit)
	}
	if !bytes.Equal(stdout, p.WantStdout) {
		tb.Errorf("%s: stdout differs from %s:\n%s", p.Name, p.Golden, diff(p.WantStdout, stdout))
	}
}

// tail returns at most the last 4 KiB of b.
func tail(b []byte) []byte {
	const max = 4 << 10
	if len(b) > max {
		return append([]byte("..."), b[len(b)-max:]...)
	}
	return b
}

// diff describes the first difference between want and got, by line.
func diff(want, got []byte) string {
	wl := bytes.SplitAfter(want, []byte("\n"))
	gl := bytes.SplitAfter(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("first difference at line %d (want %d bytes in %d lines, got %d bytes in %d lines):\nwant: %q\ngot:  %q",
				i+1, len(want), len(wl), len(got), len(gl), w, g)
		}
	}
	return "(no line differs)"
}
