package hostrt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// Benchmarks of pauses and restores (scripts/bench-hostrt.sh runs them):
//
//	go test ./hostrt -run '^$' -bench 'Pause|Restore' -benchtime 5x
//
// Their numbers are reported as metrics (ms, MiB); ns/op includes work
// done outside what they measure. They never touch the benchmark timer
// while a guest runs: the timer reads the memory statistics, which stops
// the world, and a guest computing without WASI calls cannot be stopped,
// so the whole process would wait for it.

// firstLine is a writer that hands over the first line written to it.
type firstLine struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	line chan string
}

func newFirstLine() *firstLine { return &firstLine{line: make(chan string, 1)} }

func (w *firstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := bytes.IndexByte(w.buf.Bytes(), '\n') >= 0
	w.buf.Write(p)
	if i := bytes.IndexByte(w.buf.Bytes(), '\n'); !had && i >= 0 {
		w.line <- string(w.buf.Bytes()[:i])
	}
	return len(p), nil
}

// BenchmarkPause pauses testdata/bench/memhog.c, a program with 16, 64, 256 or
// 1024 MiB of live (non-zero, half-compressible) memory that increments a
// counter in a loop, and measures:
//
//   - first-pause-ms: the job's first pause, which also grows memory by a
//     page for the unwind buffer (wazero copies a memory to grow it);
//   - pause-ms: the later pauses, from the snapshot request to the
//     program running again
//     (it unwound, memory, globals and WASI state were captured, the
//     collector ran, it rewound, and the counter moved on);
//   - capture-ms: from the request to the snapshot in hand;
//   - copy-ms and fresh-copy-ms: a plain copy() of the same memory into a
//     buffer used before, and into a new one (which is what a capture does);
//   - snapshot-MiB and encode-ms: the encoded snapshot, and the time to
//     encode it (done after the program runs again).
func BenchmarkPause(b *testing.B) {
	wasm, err := os.ReadFile(corpus.Built(b, "bench/memhog.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	module, _, err := instrument.Instrument(wasm, instrument.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, mib := range []int{16, 64, 256, 1024} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			benchmarkPause(b, module, mib)
		})
	}
}

func benchmarkPause(b *testing.B, module []byte, mib int) {
	ctx := context.Background()
	stdout := newFirstLine()
	j, err := Start(ctx, Config{Module: module, Args: []string{"memhog", strconv.Itoa(mib)}, Stdout: stdout, Cache: testCache})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close(ctx)
	ran := make(chan error, 1)
	go func() {
		_, err := j.Run(ctx)
		ran <- err
	}()
	var line string
	select {
	case line = <-stdout.line:
	case err := <-ran:
		b.Fatalf("memhog ended: %v", err)
	}
	var addr, filled uint32
	if _, err := fmt.Sscan(line, &addr, &filled); err != nil {
		b.Fatalf("memhog printed %q: %v", line, err)
	}
	// The counter, read while the program writes it. The memory may move
	// when it grows (at the first pause, for the unwind buffer): look it
	// up again after each pause.
	counter := func() uint32 {
		mem, _ := j.mod.Memory().Read(0, j.mod.Memory().Size())
		return atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[addr])))
	}
	waitRunning := func(from uint32) {
		for counter() == from {
		}
	}
	pauseOnce := func() (snap *snapshot.Snapshot, pause, capture time.Duration) {
		waitRunning(counter())
		t0 := time.Now()
		snap, err := j.Snapshot(ctx, SnapshotOptions{Reason: "benchmark"})
		captured := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		mem := snap.Instance.Memory
		waitRunning(*(*uint32)(unsafe.Pointer(&mem[addr])))
		return snap, time.Since(t0), captured.Sub(t0)
	}
	// The first pause grows memory by a page for the unwind buffer, and
	// wazero grows a memory by copying it: it is reported apart.
	_, first, _ := pauseOnce()
	enc := snapshot.NewEncoder()
	warm := make([]byte, j.mod.Memory().Size())
	var pause, capture, copyWarm, copyFresh, encode time.Duration
	var size int64
	for range b.N {
		snap, p, c := pauseOnce()
		pause += p
		capture += c
		mem := snap.Instance.Memory

		live, _ := j.mod.Memory().Read(0, uint32(len(mem)))
		if len(warm) < len(live) {
			warm = make([]byte, len(live))
		}
		t := time.Now()
		copy(warm, live)
		copyWarm += time.Since(t)
		t = time.Now()
		fresh := make([]byte, len(live))
		copy(fresh, live)
		copyFresh += time.Since(t)
		fresh = nil

		var file countingWriter
		t = time.Now()
		if err := enc.Encode(&file, snap); err != nil {
			b.Fatal(err)
		}
		encode += time.Since(t)
		size = file.n
		j.Recycle(snap)
	}
	if _, err := j.Snapshot(ctx, SnapshotOptions{Stop: true}); err != nil {
		b.Fatal(err)
	}
	<-ran
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / n / 1e6 }
	b.ReportMetric(float64(first)/1e6, "first-pause-ms")
	b.ReportMetric(ms(pause), "pause-ms")
	b.ReportMetric(ms(capture), "capture-ms")
	b.ReportMetric(ms(copyWarm), "copy-ms")
	b.ReportMetric(ms(copyFresh), "fresh-copy-ms")
	b.ReportMetric(ms(encode), "encode-ms")
	b.ReportMetric(float64(size)/(1<<20), "snapshot-MiB")
	b.ReportMetric(float64(j.mod.Memory().Size())/(1<<20), "memory-MiB")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// firstWrite is a writer that tells when it is first written to.
type firstWrite struct {
	once    sync.Once
	written chan struct{}
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.written) })
	return len(p), nil
}

// BenchmarkRestoreGofmt restores gofmt (instrumented), paused while it
// waits for its stdin, from a snapshot file, with a warm compilation
// cache, and measures until it runs again: until it has formatted a
// one-line input and written it out.
//
//   - disk-cache: a new compilation cache over the same directory each
//     time, as a new `wasmsr resume` process has;
//   - process-cache: one cache shared by all restores, as in a server.
//
// Metrics: load-ms reads and checks the snapshot and its module
// (hostrt.Load), restore-ms makes the job (hostrt.Restore: decode, compile
// from the cache, instantiate, restore the instance), to-running-ms is
// from the start to gofmt's first output.
func BenchmarkRestoreGofmt(b *testing.B) {
	ctx := context.Background()
	wasm, err := os.ReadFile(corpus.Gofmt(b))
	if err != nil {
		b.Fatal(err)
	}
	module, _, err := instrument.Instrument(wasm, instrument.Options{})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	store, err := OpenStore(filepath.Join(dir, "snapshots"), 0)
	if err != nil {
		b.Fatal(err)
	}
	modulePath, err := store.SaveModule(module)
	if err != nil {
		b.Fatal(err)
	}
	// Compile into the cache and take the snapshot.
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		b.Fatal(err)
	}
	stdin, noInput := io.Pipe()
	defer noInput.Close()
	j, err := Start(ctx, Config{Module: module, ModulePath: modulePath, Args: []string{"gofmt"}, Stdin: stdin, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() {
		_, err := j.Run(ctx)
		ran <- err
	}()
	time.Sleep(time.Second) // until gofmt has started and waits for stdin
	snap, err := j.Snapshot(ctx, SnapshotOptions{Stop: true})
	if err != nil {
		b.Fatal(err)
	}
	<-ran
	j.Close(ctx)
	cache.Close(ctx)
	path, err := store.Write(snap)
	if err != nil {
		b.Fatal(err)
	}
	const src = "package main\n"

	for _, shared := range []bool{false, true} {
		name := "disk-cache"
		if shared {
			name = "process-cache"
		}
		b.Run(name, func(b *testing.B) {
			var sharedCache wazero.CompilationCache
			if shared {
				if sharedCache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
					b.Fatal(err)
				}
				defer sharedCache.Close(ctx)
			}
			restore := func() (load, restore, running time.Duration) {
				t0 := time.Now()
				cache := sharedCache
				if cache == nil {
					var err error
					if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
						b.Fatal(err)
					}
					defer cache.Close(ctx)
				}
				loaded, err := Load(path, LoadOptions{})
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				stdout := &firstWrite{written: make(chan struct{})}
				j, err := Restore(ctx, Config{
					Module: loaded.Module, ModulePath: loaded.ModulePath, Cache: cache,
					Stdin: strings.NewReader(src), Stdout: stdout,
				}, loaded.Snapshot)
				if err != nil {
					b.Fatal(err)
				}
				defer j.Close(ctx)
				t2 := time.Now()
				ran := make(chan error, 1)
				go func() {
					exit, err := j.Run(ctx)
					if err == nil && exit != 0 {
						err = fmt.Errorf("exit %d", exit)
					}
					ran <- err
				}()
				select {
				case <-stdout.written:
				case err := <-ran:
					b.Fatalf("gofmt ended without output: %v", err)
				}
				t3 := time.Now()
				if err := <-ran; err != nil {
					b.Fatal(err)
				}
				return t1.Sub(t0), t2.Sub(t1), t3.Sub(t0)
			}
			restore() // the first restore in this process warms what it can
			var load, rest, running time.Duration
			b.ResetTimer()
			for range b.N {
				l, r, g := restore()
				load += l
				rest += r
				running += g
			}
			n := float64(b.N)
			b.ReportMetric(float64(load)/n/1e6, "load-ms")
			b.ReportMetric(float64(rest)/n/1e6, "restore-ms")
			b.ReportMetric(float64(running)/n/1e6, "to-running-ms")
		})
	}
}
