package instrument_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/unwind"
	"github.com/wasmsr/wasmsr/wasm"
)

// pausable is a WASI program instrumented with the default options and
// instantiated on wazero, that one goroutine runs while another asks it
// to pause (BenchmarkSafepointLatency, TestPauseTightLoopFromAnotherGoroutine).
type pausable struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	info     *abi.Info
	cfg      wazero.ModuleConfig
	mod      api.Module
	u        *unwind.Module
}

func newPausable(tb testing.TB, original []byte, cfg wazero.ModuleConfig) *pausable {
	tb.Helper()
	out, report, err := instrument.Instrument(original, instrument.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	g := &pausable{rt: wazero.NewRuntime(ctx), info: report.Info, cfg: cfg.WithStartFunctions().WithName("")}
	tb.Cleanup(func() { g.rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, g.rt)
	if g.compiled, err = g.rt.CompileModule(ctx, out); err != nil {
		tb.Fatal(err)
	}
	if g.mod, err = g.rt.InstantiateModule(ctx, g.compiled, g.cfg); err != nil {
		tb.Fatal(err)
	}
	if g.u, err = unwind.New(g.mod, g.info); err != nil {
		tb.Fatal(err)
	}
	return g
}

// stopped is how a run ended: when, taken on the running goroutine so
// that waking the waiting goroutine up is not counted, whether it
// paused, and its error (a WASI exit included).
type stopped struct {
	at     time.Time
	paused bool
	err    error
}

// run calls _start, or resumes the paused program, on a new goroutine.
func (g *pausable) run(resume bool) <-chan stopped {
	u := g.u
	done := make(chan stopped, 1)
	go func() {
		var r stopped
		if resume {
			_, r.paused, r.err = u.Resume(context.Background())
		} else {
			_, r.paused, r.err = u.Call(context.Background(), "_start")
		}
		r.at = time.Now()
		done <- r
	}()
	return done
}

// moveToFresh moves the paused program to a fresh instance.
func (g *pausable) moveToFresh(tb testing.TB) {
	tb.Helper()
	g.mod, g.u = moveToFresh(tb, g.rt, g.compiled, g.cfg, g.info, g.u)
}

// topSite returns the function and the unwind point where the paused
// program stopped.
func (g *pausable) topSite(tb testing.TB) (fn uint32, site abi.Site) {
	tb.Helper()
	frames, err := g.u.Frames()
	if err != nil || len(frames) == 0 {
		tb.Fatalf("reading the frames: %v (%d frames)", err, len(frames))
	}
	top := frames[len(frames)-1]
	return top.Func, top.At
}

// tightLoopIterations keeps c/tightloop, instrumented, in its loop for
// about 35 ms on this machine type, ages for a goroutine that only waits
// for the rewind to end.
const tightLoopIterations = "20000000"

// tightLoopSafepoint is a safepoint count that c/tightloop reaches inside
// its main loop: its startup passes fewer.
const tightLoopSafepoint = 1000

// TestPauseTightLoopFromAnotherGoroutine: c/tightloop computes in a loop
// without calls, so only the safepoint at the loop's header can stop it.
// The program is first paused there deterministically (RequestPauseAfter)
// and its state captured. In a fresh instance that gets the state, it is
// resumed on one goroutine, and this goroutine, once the rewind is over,
// asks it to pause (RequestPause, the asynchronous request): it must stop
// at the same safepoint, and, moved to another fresh instance, finish
// with exactly the output and exit code of the uninstrumented program.
// How soon it stops is BenchmarkSafepointLatency's subject.
func TestPauseTightLoopFromAnotherGoroutine(t *testing.T) {
	p := cProgram(t, "c/tightloop")
	p.Args = []string{tightLoopIterations}
	original := p.Wasm(t)
	wantStdout, wantExit := p.Run(t, original)
	m, err := wasm.Decode(original)
	if err != nil {
		t.Fatal(err)
	}
	cfg, out := p.ModuleConfig(t)
	g := newPausable(t, original, cfg)
	// wazero's compiled code cannot be preempted: a collection stopping
	// the world while the guest runs would stop this goroutine until the
	// guest returns (see sampleLatency).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	if err := g.u.RequestPauseAfter(tightLoopSafepoint); err != nil {
		t.Fatal(err)
	}
	if r := <-g.run(false); r.err != nil || !r.paused {
		t.Fatalf("pausing at safepoint %d: paused %v, err %v", tightLoopSafepoint, r.paused, r.err)
	}
	fn, site := g.topSite(t)
	if name := m.FuncName(fn); name != "main" || site.Kind != abi.SiteSafepoint ||
		m.Code[int(fn)-m.NumImported(wasm.KindFunc)].Body[site.Instr].Op != wasm.OpLoop {
		t.Fatalf("paused in %s [%d] at %s, instruction %d; want a loop's safepoint in main", name, fn, site.Kind, site.Instr)
	}
	st, err := g.u.Capture(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.mod.Close(context.Background())
	written := out.Stdout.Len()

	// This goroutine may lose the processor for longer than the loop
	// takes: when the program ended before the request was made, or left
	// the loop and paused later in another one, it starts again from the
	// captured state, its later output undone.
	const attempts = 10
	for attempt := 1; ; attempt++ {
		out.Stdout.Truncate(written)
		g.mod, g.u = restoreFresh(t, g.rt, g.compiled, g.cfg, g.info, st)
		asked, r := pauseWhenRewound(t, g)
		ended := !r.paused && r.err == nil && r.at.Before(asked)
		var elsewhere string
		if r.paused && r.err == nil {
			if fn2, site2 := g.topSite(t); fn2 != fn || site2.Kind != site.Kind || site2.Instr != site.Instr {
				elsewhere = fmt.Sprintf("function %d at %s, instruction %d", fn2, site2.Kind, site2.Instr)
			}
		}
		if (ended || elsewhere != "") && attempt < attempts {
			t.Logf("attempt %d: the loop ended before the request (paused in %q)", attempt, elsewhere)
			g.mod.Close(context.Background())
			continue
		}
		if r.err != nil || !r.paused {
			t.Fatalf("the request from another goroutine did not pause the loop (attempt %d): paused %v, err %v", attempt, r.paused, r.err)
		}
		if elsewhere != "" {
			t.Fatalf("paused in %s; want function %d at %s, instruction %d", elsewhere, fn, site.Kind, site.Instr)
		}
		if attempt > 1 {
			t.Logf("paused at attempt %d", attempt)
		}
		break
	}

	g.moveToFresh(t)
	r := <-g.run(true)
	if r.paused {
		t.Fatal("paused again without a request")
	}
	if exit := exitCode(t, r.err); exit != wantExit || !bytes.Equal(out.Stdout.Bytes(), wantStdout) {
		t.Fatalf("exit %d, stdout %q; want exit %d, stdout %q", exit, out.Stdout.Bytes(), wantExit, wantStdout)
	}
	g.mod.Close(context.Background())
}

// pauseWhenRewound resumes the paused program on another goroutine and
// asks it to pause once its rewind is over, which it sees from the state
// global. (A request made earlier would wait for the rewind's end: a
// rewind leaves the request alone.) It returns when the request was made
// and how the run stopped.
func pauseWhenRewound(t *testing.T, g *pausable) (asked time.Time, r stopped) {
	t.Helper()
	// The state global, read while the program runs: 0 once the rewind
	// is over.
	state := g.mod.(experimental.InternalModule).Global(int(g.info.Globals.State))
	done := g.run(true)
	for {
		if state.Get() == 0 {
			break
		}
		select {
		case r := <-done:
			return time.Now(), r // stopped before this goroutine saw the rewind end
		default:
			runtime.Gosched()
		}
	}
	asked = time.Now()
	if err := g.u.RequestPause(); err != nil {
		t.Fatal(err)
	}
	return asked, <-done
}

// cProgram returns the C program of the corpus with the given name.
func cProgram(t *testing.T, name string) corpus.Program {
	t.Helper()
	for _, p := range corpus.CPrograms(t) {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no C program %s in the corpus", name)
	return corpus.Program{}
}
