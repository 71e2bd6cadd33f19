package hostrt

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// testCache is shared by the tests' jobs, so each module compiles once.
var testCache = wazero.NewCompilationCache()

// guest is an instrumented corpus program and how to run it as a job.
type guest struct {
	p      corpus.Program
	module []byte
	dir    string
}

func newGuest(t *testing.T, p corpus.Program) *guest {
	return newGuestWith(t, p, instrument.Options{})
}

func newGuestWith(t *testing.T, p corpus.Program, opts instrument.Options) *guest {
	out, _, err := instrument.Instrument(p.Wasm(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{p: p, module: out}
	if p.NeedsDir {
		g.dir = t.TempDir()
	}
	return g
}

func (g *guest) config(stdout *bytes.Buffer) Config {
	cfg := Config{
		Module: g.module, Args: append([]string{g.p.Name}, g.p.Args...),
		Stdin: bytes.NewReader(g.p.Stdin), Stdout: stdout, Cache: testCache,
	}
	if g.dir != "" {
		cfg.Mounts = []wasip1.Mount{{HostDir: g.dir, GuestPath: corpus.DirMount}}
	}
	return cfg
}

// pauseKind says how a test pauses a job deterministically.
type pauseKind int

const (
	atCall      pauseKind = iota // the k-th WASI call
	atSafepoint                  // the k-th safepoint
)

// runPausedAt runs the guest, stops it at the k-th pause point of the
// given kind, moves it through the snapshot file format into a new job and
// runs that to the end. It returns the whole stdout, the exit code and
// whether the pause happened.
func (g *guest) runPausedAt(t *testing.T, kind pauseKind, k int) ([]byte, uint32, bool) {
	ctx := context.Background()
	var stdout bytes.Buffer
	j, err := Start(ctx, g.config(&stdout))
	if err != nil {
		t.Fatal(err)
	}
	r := &request{reason: "test", stop: true, reply: make(chan reply, 1)}
	j.requests = append(j.requests, r)
	if kind == atCall {
		j.callCountdown = k
	} else if err := j.u.RequestPauseAfter(k); err != nil {
		t.Fatal(err)
	}
	exit, err := j.Run(ctx)
	j.Close(ctx)
	if !errors.Is(err, ErrStopped) {
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		return stdout.Bytes(), exit, false
	}
	rep := <-r.reply
	if rep.err != nil {
		t.Fatalf("k=%d: snapshot: %v", k, rep.err)
	}
	var file bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&file, rep.snap); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Decode(file.Bytes(), snapshot.Limits{MaxMemory: 1 << 32})
	if err != nil {
		t.Fatalf("k=%d: %v", k, err)
	}
	cfg := g.config(&stdout)
	// The new job reads stdin from where the first one stopped taking it.
	var ws wasip1.State
	if err := ws.UnmarshalBinary(snap.WASI); err != nil {
		t.Fatal(err)
	}
	cfg.Stdin = bytes.NewReader(g.p.Stdin[ws.StdinOffset:])
	j2, err := Restore(ctx, cfg, snap)
	if err != nil {
		t.Fatalf("k=%d: restore: %v", k, err)
	}
	defer j2.Close(ctx)
	exit, err = j2.Run(ctx)
	if err != nil {
		t.Fatalf("k=%d: resumed run: %v", k, err)
	}
	return stdout.Bytes(), exit, true
}

func TestRunPrograms(t *testing.T) {
	for _, p := range corpus.Programs(t) {
		t.Run(p.Name, func(t *testing.T) {
			g := newGuest(t, p)
			var stdout bytes.Buffer
			j, err := Start(context.Background(), g.config(&stdout))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close(context.Background())
			exit, err := j.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			p.Verify(t, stdout.Bytes(), exit)
		})
	}
}

// TestPauseEverywhere pauses each program at every WASI call (a spread of
// them for long runs) and at a spread of safepoints, and resumes it from
// the snapshot in a new job: output and exit code must be the original's.
// The program is instrumented with the default options and with
// --safepoints=calls, which makes different code (dispatch.go).
func TestPauseEverywhere(t *testing.T) {
	for _, p := range corpus.Programs(t) {
		t.Run(p.Name, func(t *testing.T) {
			g := newGuest(t, p)
			g.pauseEverywhere(t, atCall, atSafepoint)
		})
		t.Run(p.Name+"/calls", func(t *testing.T) {
			g := newGuestWith(t, p, instrument.Options{Safepoints: instrument.SafepointsCalls})
			g.pauseEverywhere(t, atCall)
		})
	}
}

func (g *guest) pauseEverywhere(t *testing.T, kinds ...pauseKind) {
	p := g.p
	for _, kind := range kinds {
		n := 0
		for k := 1; ; k = nextK(k) {
			stdout, exit, paused := g.runPausedAt(t, kind, k)
			if !paused {
				break
			}
			n++
			if exit != p.WantExit || !bytes.Equal(stdout, p.WantStdout) {
				t.Fatalf("%s k=%d: exit %d, stdout:\n%s\nwant exit %d, stdout:\n%s", kindName(kind), k, exit, stdout, p.WantExit, p.WantStdout)
			}
		}
		t.Logf("%s: paused and resumed at %d points", kindName(kind), n)
	}
}

// nextK visits every point up to 12, then ever sparser ones (the
// instrument package's tests pause at every safepoint already).
func nextK(k int) int {
	if k < 12 {
		return k + 1
	}
	return k + k/2
}

func kindName(k pauseKind) string {
	return [...]string{"WASI call", "safepoint"}[k]
}

// TestOneLine: a trap's error is one line naming the innermost frames,
// demangled, and where the innermost one is when DWARF says.
func TestOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"wasm error: unreachable\nwasm stack trace:\n\t.main(i32,i32) i32", "wasm error: unreachable (in main)"},
		{"wasm error: integer divide by zero\nwasm stack trace:\n\t.work(i32) i32\n\t\t0x1f3: /src/lines.c:20:11\n\t.main(i32,i32) i32\n\t\t0x2a0: /src/lines.c:31:3",
			"wasm error: integer divide by zero (in work at lines.c:20 < main)"},
		{"wasm error: unreachable\nwasm stack trace:\n\t._ZN4main3run17h183e6ec280388372E(i32,i32,i32,i32)\n\t._ZN4main4main17h33da4f3b554aea07E()\n\t.__original_main() i32",
			"wasm error: unreachable (in main::run < main::main < __original_main)"},
		{"wasm error: unreachable\nwasm stack trace:\n\t.a()\n\t.b()\n\t.c()\n\t.d()\n\t.e()", "wasm error: unreachable (in a < b < c < d < ...)"},
		{"two\nlines", "two"},
		{"one line", "one line"},
	} {
		if got := oneLine(errors.New(c.in)).Error(); got != c.want {
			t.Errorf("oneLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
