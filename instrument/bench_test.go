package instrument_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// BenchmarkInstrumentGofmt instruments gofmt (4.9 MB, about 3,000
// functions) with the default options, reporting the output's growth. The
// targets are 2 s and +20 %; wasm-opt -O2 --asyncify takes 45 s and adds
// 38 % on this machine type.
func BenchmarkInstrumentGofmt(b *testing.B) {
	benchmarkInstrument(b, instrument.Options{})
}

func BenchmarkInstrumentGofmtCalls(b *testing.B) {
	benchmarkInstrument(b, instrument.Options{Safepoints: instrument.SafepointsCalls})
}

// BenchmarkInstrumentDWARF instruments the C program built with -O2 -g,
// mapping its DWARF and stripping it: the difference is what mapping
// costs. (Go's compiler writes no DWARF for wasm, so gofmt has none.)
func BenchmarkInstrumentDWARF(b *testing.B) {
	for _, strip := range []bool{false, true} {
		name := "map"
		if strip {
			name = "strip"
		}
		b.Run(name, func(b *testing.B) {
			benchmarkInstrumentFile(b, corpus.Built(b, "debug/lines-O2.wasm"), instrument.Options{StripDebug: strip})
		})
	}
}

func benchmarkInstrument(b *testing.B, opts instrument.Options) {
	benchmarkInstrumentFile(b, corpus.Gofmt(b), opts)
}

func benchmarkInstrumentFile(b *testing.B, path string, opts instrument.Options) {
	in, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		if out, _, err = instrument.Instrument(in, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*float64(len(out)-len(in))/float64(len(in)), "growth-%")
}

// BenchmarkSafepointLatency measures how long a program that never calls
// out takes to unwind once the host asks it to pause from another
// goroutine: from RequestPause to the export returning paused (ns/op is the
// mean; p50-ns, p99-ns and max-ns the distribution). The target is 10 ms.
// Each iteration resumes the program and lets it run for a while first, so
// the request lands in its steady state rather than in the rewind. The
// go-spin case is the floor of this measurement on the machine: a Go
// goroutine spinning on an atomic flag, stopped the same way.
func BenchmarkSafepointLatency(b *testing.B) {
	for _, bc := range []struct {
		name, wasm, arg string
	}{
		// A call-free loop (xorshift), effectively endless: only the
		// loop-header safepoint can stop it.
		{"tightloop", "c/tightloop.wasm", "4000000000000000000"},
		// Recursion that never finishes in time: the safepoint at the
		// entry of recursive functions stops it, with up to 90 frames to
		// unwind.
		{"fib", "c/fib.wasm", "90"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchmarkGuestLatency(b, corpus.Built(b, bc.wasm), bc.arg)
		})
	}
	b.Run("go-spin", func(b *testing.B) {
		var stop atomic.Bool
		sampleLatency(b, func() <-chan stopped {
			stop.Store(false)
			ch := make(chan stopped, 1)
			go func() {
				for !stop.Load() {
				}
				ch <- stopped{at: time.Now(), paused: true}
			}()
			return ch
		}, func() { stop.Store(true) })
	})
}

func benchmarkGuestLatency(b *testing.B, path, arg string) {
	in, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	g := newPausable(b, in, wazero.NewModuleConfig().WithArgs("bench", arg))
	resume := false
	sampleLatency(b, func() <-chan stopped {
		done := g.run(resume)
		resume = true
		return done
	}, func() {
		if err := g.u.RequestPause(); err != nil {
			b.Error(err)
		}
	})
	if frames, err := g.u.Frames(); err != nil || len(frames) == 0 {
		b.Fatalf("paused with unreadable frames: %v (%d frames)", err, len(frames))
	}
}

// sampleLatency times, once per iteration, how long a run started by start
// takes to stop after request, and reports the distribution.
func sampleLatency(b *testing.B, start func() <-chan stopped, request func()) {
	// wazero's compiled code cannot be preempted, so a stop-the-world
	// phase while the guest runs would wait for the guest, which waits for
	// our request, which waits for the world: no collections while a run
	// is in flight, only between runs. For the same reason the timer is
	// never stopped (that stops the world too); the latencies are timed by
	// hand and replace ns/op.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// Long enough for a rewind to be over and the guest to be deep in its
	// loop, short enough for many samples per second.
	const runFor = 2 * time.Millisecond
	var latencies []time.Duration
	for b.Loop() {
		done := start()
		time.Sleep(runFor)
		t0 := time.Now()
		request()
		switch r := <-done; {
		case r.err != nil:
			b.Fatalf("run %d did not pause: %v", len(latencies)+1, r.err)
		case !r.paused:
			b.Fatalf("run %d ended without pausing: give it a larger argument", len(latencies)+1)
		default:
			latencies = append(latencies, r.at.Sub(t0))
		}
		// Collect now and then, while nothing runs: a heap that only grows
		// hands out fresh pages, and their page faults would be counted as
		// latency.
		if len(latencies)%64 == 0 {
			runtime.GC()
		}
	}
	reportLatencies(b, latencies)
}

// reportLatencies reports a distribution of pause latencies: ns/op is the
// mean; p50-ns, p99-ns and max-ns; and how many there were.
func reportLatencies(b *testing.B, latencies []time.Duration) {
	n := len(latencies)
	if n == 0 {
		b.Fatal("no pause")
	}
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(latencies[(n-1)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(latencies[(n-1)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(latencies[n-1].Nanoseconds()), "max-ns")
	b.ReportMetric(float64(n), "pauses")
}

// BenchmarkPauseLatencyNextpnr pauses nextpnr-ice40 (C++, instrumented
// with the defaults) every 100 ms of its whole run on the corpus netlist,
// packing, placing and routing, and resumes it each time: the same
// request-to-unwound times as BenchmarkSafepointLatency, over a real
// program's hot loops (p99 target 10 ms). One iteration is one whole run:
// use -benchtime 1x. It needs scripts/fetch-corpus.sh's build/corpus/nextpnr
// (make corpus-nextpnr) and skips without it.
func BenchmarkPauseLatencyNextpnr(b *testing.B) {
	dir := filepath.Join(corpus.Root(b), "build", "corpus", "nextpnr")
	in, err := os.ReadFile(filepath.Join(dir, "nextpnr-ice40.core.wasm"))
	if err != nil {
		b.Skipf("nextpnr is not fetched (make corpus-nextpnr): %v", err)
	}
	for b.Loop() {
		out := b.TempDir()
		fs := wazero.NewFSConfig().WithReadOnlyDirMount(filepath.Join(dir, "share"), "/share").
			WithReadOnlyDirMount(filepath.Join(dir, "in"), "/in").WithDirMount(out, "/out")
		g := newPausable(b, in, wazero.NewModuleConfig().WithFSConfig(fs).
			WithArgs("nextpnr-ice40", "--hx8k", "--package", "ct256", "--json", "/in/top.json", "--asc", "/out/top.asc", "--seed", "7", "--freq", "3", "-q"))
		b.StopTimer() // the metrics are the pauses, timed by hand
		sampleWholeRun(b, g, 100*time.Millisecond)
		b.StartTimer()
	}
}

// sampleWholeRun runs the program to its end, asking it to pause after
// every runFor of running, and reports the pauses' latency distribution.
func sampleWholeRun(b *testing.B, g *pausable, runFor time.Duration) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // see sampleLatency
	var latencies []time.Duration
	for resume := false; ; resume = true {
		done := g.run(resume)
		select {
		case r := <-done:
			if r.err != nil && !exitedZero(r.err) {
				b.Fatalf("the program failed after %d pauses: %v", len(latencies), r.err)
			}
			reportLatencies(b, latencies)
			return
		case <-time.After(runFor):
		}
		t0 := time.Now()
		if err := g.u.RequestPause(); err != nil {
			b.Fatal(err)
		}
		r := <-done
		switch {
		case r.err != nil && !exitedZero(r.err):
			b.Fatalf("the program failed after %d pauses: %v", len(latencies), r.err)
		case r.paused:
			latencies = append(latencies, r.at.Sub(t0))
			runtime.GC()
		default: // it ended just before the request
			reportLatencies(b, latencies)
			return
		}
	}
}

// exitedZero reports whether a run's error is the program's exit with code 0.
func exitedZero(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 0
}
