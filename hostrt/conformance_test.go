package hostrt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/unwind"
)

// outcome is what a run of a WASI command did.
type outcome struct {
	stdout, stderr string
	exit           uint32
	// err is set when the run ended other than by returning or exiting.
	err string
}

// TestConformance runs the WASI test programs shipped with wazero (the
// cases of corpus.WASICases, which hostrt/wasip1's conformance test runs
// on that package alone) instrumented, as hostrt jobs, and requires
// byte-identical stdout and stderr and the same exit code as the original
// module under wazero's own WASI. Each case is also paused at its first
// WASI calls (and a few later ones), moved through the snapshot file
// format into a new job and run to the end there, with the same result.
func TestConformance(t *testing.T) {
	// Cases that cannot be paused at a WASI call, and why.
	noPause := map[string]error{
		// Its only call is proc_exit, which is no pause point.
		"wat/exit_on_start": nil,
		// Its memory is one page at most: there is no room for the unwind
		// buffer. The pause is declined and the program runs on.
		"wat/print_prestat_dirname": unwind.ErrNoRoom,
	}
	wasiDir := corpus.WASIDir(t)
	fixtures := corpus.WASIFixtures(t)
	modules := map[string][]byte{} // instrumented, by case Wasm
	for _, tc := range corpus.WASICases() {
		t.Run(tc.Name, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(wasiDir, filepath.FromSlash(tc.Wasm)))
			if err != nil {
				t.Fatal(err)
			}
			module, ok := modules[tc.Wasm]
			if !ok {
				if module, _, err = instrument.Instrument(wasm, instrument.Options{}); err != nil {
					t.Fatal(err)
				}
				modules[tc.Wasm] = module
			}
			mounts := func() []wasip1.Mount {
				var ms []wasip1.Mount
				for _, m := range tc.Mounts {
					dir := fixtures[m.Fixture]
					if m.Fixture == "scratch" {
						dir = t.TempDir()
					}
					ms = append(ms, wasip1.Mount{HostDir: dir, GuestPath: m.Guest, ReadOnly: m.ReadOnly})
				}
				return ms
			}
			want := runWazeroWASI(t, wasm, tc.Args, tc.Stdin, mounts())
			if want.err != "" {
				t.Fatalf("the case fails under wazero: %s", want.err)
			}
			if got, _ := runJob(t, module, tc.Args, tc.Stdin, mounts(), 0); got != want {
				t.Errorf("differs from wazero\nwazero:   %+v\ninstrumented job: %+v", want, got)
			}
			if wantErr, ok := noPause[tc.Name]; ok {
				got, paused, err := runJobPaused(t, module, tc.Args, tc.Stdin, mounts(), 1)
				if paused || !errors.Is(err, wantErr) {
					t.Errorf("pausing at the first WASI call: paused %v, error %v; want no pause and error %v", paused, err, wantErr)
				}
				if wantErr != nil && got != want {
					t.Errorf("after a declined pause: %+v, want %+v", got, want)
				}
				return
			}
			paused := 0
			for _, k := range []int{1, 2, 3, 5, 10, 100} {
				got, ok := runJob(t, module, tc.Args, tc.Stdin, mounts(), k)
				if !ok {
					break // the program made fewer than k calls
				}
				paused++
				if got != want {
					t.Errorf("paused at WASI call %d and restored in a new job: differs from wazero\nwazero: %+v\nresumed: %+v", k, want, got)
				}
			}
			if paused == 0 {
				t.Errorf("never paused")
			}
		})
	}
}

// runWazeroWASI runs wasm's _start under wazero's own WASI, with its
// deterministic clocks and random source.
func runWazeroWASI(t *testing.T, wasm []byte, args []string, stdin string, mounts []wasip1.Mount) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(testCache).WithCloseOnContextDone(true))
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
	o := outcome{stdout: stdout.String(), stderr: stderr.String()}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit):
		o.exit = exit.ExitCode()
	case err != nil:
		o.err = err.Error()
	}
	return o
}

// runJob runs an instrumented module as a job. With pauseAt > 0 it stops
// the job at that WASI call, encodes and decodes the snapshot, and runs it
// to the end in a new job on the same directories; ok is false if the
// program ended first.
func runJob(t *testing.T, module []byte, args []string, stdin string, mounts []wasip1.Mount, pauseAt int) (o outcome, ok bool) {
	t.Helper()
	o, ok, err := runJobPaused(t, module, args, stdin, mounts, pauseAt)
	if err != nil {
		t.Fatalf("pausing at call %d: %v", pauseAt, err)
	}
	return o, ok
}

// runJobPaused is runJob, returning an error of the first job's run.
func runJobPaused(t *testing.T, module []byte, args []string, stdin string, mounts []wasip1.Mount, pauseAt int) (o outcome, ok bool, runErr error) {
	t.Helper()
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	clock := newVirtualClock()
	cfg := Config{Module: module, Args: args, Mounts: mounts, Stdout: &stdout, Stderr: &stderr, Cache: testCache, Clock: clock}
	input := newInput(stdin)
	if input != nil {
		cfg.Stdin = input
	}
	j, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A poll with a zero timeout must find the input, as with wazero's
	// synchronous stdin.
	input.wait()
	var r *request
	if pauseAt > 0 {
		r = &request{reason: "test", stop: true, reply: make(chan reply, 1)}
		j.requests = append(j.requests, r)
		j.callCountdown = pauseAt
	}
	exit, err := j.Run(ctx)
	j.Close(ctx)
	switch {
	case pauseAt > 0 && err == nil:
		// The program ended first, or its pause was declined: then it ran
		// on to its end, and the request says why.
		if rep := <-r.reply; !errors.Is(rep.err, ErrNotRunning) {
			return finished(stdout, stderr, exit, nil), false, rep.err
		}
		return outcome{}, false, nil
	case pauseAt > 0 && !errors.Is(err, ErrStopped):
		return outcome{}, false, err
	case pauseAt == 0:
		return finished(stdout, stderr, exit, err), true, nil
	}
	rep := <-r.reply
	if rep.err != nil {
		t.Fatalf("snapshot at call %d: %v", pauseAt, rep.err)
	}
	var file bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&file, rep.snap); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Decode(file.Bytes(), snapshot.Limits{MaxMemory: 1 << 32})
	if err != nil {
		t.Fatal(err)
	}
	var ws wasip1.State
	if err := ws.UnmarshalBinary(snap.WASI); err != nil {
		t.Fatal(err)
	}
	cfg.Stdin, input = nil, newInput(stdin[ws.StdinOffset:])
	if input != nil {
		cfg.Stdin = input
	}
	j2, err := Restore(ctx, cfg, snap)
	if err != nil {
		t.Fatalf("restore at call %d: %v", pauseAt, err)
	}
	defer j2.Close(ctx)
	input.wait()
	exit, err = j2.Run(ctx)
	return finished(stdout, stderr, exit, err), true, nil
}

func finished(stdout, stderr bytes.Buffer, exit uint32, err error) outcome {
	o := outcome{stdout: stdout.String(), stderr: stderr.String(), exit: exit}
	if err != nil {
		o.err = err.Error()
	}
	return o
}

// input is a stdin that tells when the job's stdin buffer holds all of it:
// the buffer reads again only after it has stored what it read.
type input struct {
	r       *strings.Reader
	once    sync.Once
	drained chan struct{}
}

func newInput(s string) *input {
	if s == "" {
		return nil
	}
	return &input{r: strings.NewReader(s), drained: make(chan struct{})}
}

func (in *input) Read(p []byte) (int, error) {
	if in.r.Len() == 0 {
		in.once.Do(func() { close(in.drained) })
		return 0, io.EOF
	}
	return in.r.Read(p)
}

func (in *input) wait() {
	if in != nil {
		<-in.drained
	}
}

// virtualClock is a fake clock on which waiting takes no time: After moves
// the clock forward by d. It starts where wazero's fake clocks start.
type virtualClock struct {
	mu         sync.Mutex
	wall, mono int64
}

func newVirtualClock() *virtualClock {
	return &virtualClock{wall: 1640995200 * int64(time.Second), mono: int64(time.Second)}
}

func (c *virtualClock) Walltime() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *virtualClock) Nanotime() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.wall += int64(d)
	c.mono += int64(d)
	now := time.Unix(0, c.wall)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}
