package hostrt

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Go's garbage collector stops every goroutine to finish a cycle, and the
// code wazero compiles has no point where the Go scheduler can stop it: a
// cycle that begins while a guest computes waits until the guest calls the
// host, and every other goroutine (the snapshot timer, a signal handler,
// a server) stands still meanwhile. So while jobs run the collector is
// off; it runs when a job pauses, and from a WASI call once the heap has
// grown (the guest is in Go code then). See RATIONALE.md.

var gc struct {
	mu      sync.Mutex
	jobs    int // running jobs
	percent int // the setting to restore when the last one ends
	// live is the heap after the last collection.
	live uint64
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// gcHold turns the collector off while a job runs.
func gcHold() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.jobs == 0 {
		gc.percent = debug.SetGCPercent(-1)
		// SetGCPercent waits for a cycle in progress to finish marking,
		// but the cycle's end then still waits for every P to flush its
		// caches, holding the world semaphore: if the guest started now,
		// that wait — and with it every goroutine that needs the P the
		// collector holds — would last until the guest calls the host.
		// A stop-the-world (ReadMemStats) takes the semaphore, so it
		// returns only once the cycle is over.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
	}
	gc.jobs++
}

// gcRelease gives the collector back when the last job ends.
func gcRelease() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.jobs--
	if gc.jobs == 0 {
		debug.SetGCPercent(gc.percent)
	}
}

// collect runs a collection now, on a goroutine whose guest is not running.
func collect() {
	runtime.GC()
	metrics.Read(heapSample)
	gc.mu.Lock()
	gc.live = heapSample[0].Value.Uint64()
	gc.mu.Unlock()
}

// collectIfGrown collects when the heap has doubled (and grown by 16 MiB)
// since the last collection, as GOGC=100 would.
func collectIfGrown() {
	metrics.Read(heapSample)
	gc.mu.Lock()
	grown := heapSample[0].Value.Uint64() > 2*gc.live+16<<20
	gc.mu.Unlock()
	if grown {
		collect()
	}
}
