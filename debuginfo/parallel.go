package debuginfo

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// workers is how many goroutines parallel runs for n jobs.
func workers(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n)) }

// parallel calls do(worker, i) for every i in [0, n), on workers(n)
// goroutines; worker, below workers(n), names the goroutine, for the
// buffers it may reuse. Each job writes only its own results, so what
// comes out does not depend on the number of cores.
func parallel(n int, do func(worker, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers(n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				do(w, i)
			}
		}()
	}
	wg.Wait()
}

// NewMap makes the map of n functions, function k by fn(k), on as many
// cores as there are; the error is that of the first function that
// fails.
func NewMap(n int, fn func(k int) (Func, error)) (*Map, error) {
	m := &Map{Funcs: make([]Func, n)}
	errs := make([]error, n)
	parallel(n, func(_, k int) { m.Funcs[k], errs[k] = fn(k) })
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}
