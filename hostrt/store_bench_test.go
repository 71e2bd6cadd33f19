package hostrt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/internal/s3test"
	"github.com/wasmsr/wasmsr/unwind"
)

// Benchmarks of the snapshot store (scripts/bench-store.sh runs them):
// what a periodic snapshot of a job that changes 1 % of its pages writes,
// and what a restore from a directory and from S3 costs, beside a plain
// copy of the memory.

// benchMemory is the job's memory in the store benchmarks: 1 GiB of
// half-compressible bytes (as hostrt's pause benchmark's memhog writes).
func benchMemory(size int) []byte {
	mem := make([]byte, size)
	s := uint64(0x9e3779b97f4a7c15)
	for i := 0; i+8 <= len(mem); i += 8 {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		v := s & 0x0f0f0f0f0f0f0f0f
		for k := range 8 {
			mem[i+k] = byte(v >> (8 * k))
		}
	}
	return mem
}

// benchStores are the stores the benchmarks run on: a directory, and a
// bucket of the test S3 server when it is there.
func benchStores(b *testing.B) map[string]func(*testing.B) string {
	return map[string]func(*testing.B) string{
		"dir": func(b *testing.B) string { return b.TempDir() },
		"s3":  func(b *testing.B) string { return s3test.Start(b) },
	}
}

// BenchmarkStoreIncremental writes a first snapshot of 1 GiB, then, per
// iteration, changes 1 % of the pages at random and writes the next one:
//
//   - full-MiB: what the first snapshot wrote (chunks and manifest);
//   - incremental-MiB and incremental-%: what each later one wrote, and
//     its share of a full one (target: <= 3 %);
//   - write-ms: the time to write one (after the job runs again).
func BenchmarkStoreIncremental(b *testing.B) {
	const size = 1 << 30
	mem := benchMemory(size)
	for _, name := range []string{"dir", "s3"} {
		b.Run(name, func(b *testing.B) {
			location := benchStores(b)[name](b)
			store, err := OpenStore(location, 2)
			if err != nil {
				b.Fatal(err)
			}
			snap := &snapshot.Snapshot{Instance: &unwind.InstanceState{Memory: mem, Export: "_start"}}
			written := func(seq uint64) int64 {
				snap.Meta.Seq = seq
				where, err := store.Write(snap)
				if err != nil {
					b.Fatal(err)
				}
				name := where[len(where)-len("snapshot-000001.wsm"):]
				info, err := store.Blobs.Stat(context.Background(), name)
				if err != nil {
					b.Fatal(err)
				}
				return store.Stats.WrittenBytes + info.Size
			}
			full := written(1)
			rng := rand.New(rand.NewPCG(1, 2))
			pages := size / snapshot.PageSize
			var total int64
			var took time.Duration
			b.ResetTimer()
			for i := range b.N {
				for range pages / 100 {
					mem[rng.IntN(pages)*snapshot.PageSize+rng.IntN(snapshot.PageSize)] ^= 0x40
				}
				t := time.Now()
				total += written(uint64(i + 2))
				took += time.Since(t)
			}
			mib := func(n int64) float64 { return float64(n) / (1 << 20) }
			b.ReportMetric(mib(full), "full-MiB")
			b.ReportMetric(mib(total)/float64(b.N), "incremental-MiB")
			b.ReportMetric(100*float64(total)/float64(b.N)/float64(full), "incremental-%")
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "write-ms")
		})
	}
}

// BenchmarkStoreRestore reads a snapshot of 256 MiB back into fresh memory
// from a directory and from S3, as a resume does, beside a copy() of the
// memory into fresh memory (restore-ms against copy-ms).
func BenchmarkStoreRestore(b *testing.B) {
	const size = 256 << 20
	mem := benchMemory(size)
	for _, name := range []string{"dir", "s3"} {
		b.Run(name, func(b *testing.B) {
			location := benchStores(b)[name](b)
			store, err := OpenStore(location, 0)
			if err != nil {
				b.Fatal(err)
			}
			where, err := store.Write(&snapshot.Snapshot{Instance: &unwind.InstanceState{Memory: mem, Export: "_start"}})
			if err != nil {
				b.Fatal(err)
			}
			var restore, copying time.Duration
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				got, err := readStoredAt(store, where[len(where)-len("snapshot-000001.wsm"):])
				if err != nil {
					b.Fatal(err)
				}
				restore += time.Since(t)
				t = time.Now()
				fresh := make([]byte, size)
				copy(fresh, mem)
				copying += time.Since(t)
				if got[size/2] != mem[size/2] {
					b.Fatal("restored memory differs")
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(restore.Milliseconds())/n, "restore-ms")
			b.ReportMetric(float64(copying.Milliseconds())/n, "copy-ms")
		})
	}
}

// readStoredAt reads the memory of the snapshot name of store into fresh
// memory.
func readStoredAt(store *Store, name string) ([]byte, error) {
	data, err := store.Blobs.Get(context.Background(), name)
	if err != nil {
		return nil, err
	}
	rd, err := snapshot.Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, err
	}
	rd.Chunks = storeChunks{store}
	s, err := rd.Snapshot(snapshot.Limits{MaxMemory: 1 << 32})
	if err != nil {
		return nil, err
	}
	mem := make([]byte, s.MemorySize())
	if err := s.Memory().CopyTo(mem); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return mem, nil
}

// BenchmarkFork restores many jobs from one snapshot of memhog with 64 MiB
// of live memory, read once (Snapshot.Load fetches and decompresses each
// chunk once): restore-ms is one job's Restore (a runtime, the module from
// the compilation cache, the memory, the WASI state), against copy-ms, a
// copy() of the memory into fresh memory.
func BenchmarkFork(b *testing.B) {
	ctx := context.Background()
	wasm, err := os.ReadFile(corpus.Built(b, "bench/memhog.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	module, _, err := instrument.Instrument(wasm, instrument.Options{})
	if err != nil {
		b.Fatal(err)
	}
	stdout := newFirstLine()
	j, err := Start(ctx, Config{Module: module, Args: []string{"memhog", "64"}, Stdout: stdout, Cache: testCache})
	if err != nil {
		b.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() {
		_, err := j.Run(ctx)
		ran <- err
	}()
	<-stdout.line
	snap, err := j.Snapshot(ctx, SnapshotOptions{Stop: true})
	if err != nil {
		b.Fatal(err)
	}
	<-ran
	j.Close(ctx)
	store, err := OpenStore(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	where, err := store.Write(snap)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.SaveModule(module); err != nil {
		b.Fatal(err)
	}
	loaded, err := Load(where, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer loaded.Close()
	if err := loaded.Snapshot.Load(); err != nil {
		b.Fatal(err)
	}
	size := loaded.Snapshot.MemorySize()
	var restore, copying time.Duration
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		fork, err := Restore(ctx, Config{Module: module, Stdout: io.Discard, Cache: testCache}, loaded.Snapshot)
		if err != nil {
			b.Fatal(err)
		}
		restore += time.Since(t)
		fork.Close(ctx)
		t = time.Now()
		fresh := make([]byte, size)
		copy(fresh, loaded.Snapshot.Instance.Memory)
		copying += time.Since(t)
	}
	n := float64(b.N)
	b.ReportMetric(float64(restore.Microseconds())/n/1e3, "restore-ms")
	b.ReportMetric(float64(copying.Microseconds())/n/1e3, "copy-ms")
	b.ReportMetric(float64(size)/(1<<20), "memory-MiB")
}
