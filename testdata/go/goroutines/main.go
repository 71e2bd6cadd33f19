//go:build wasip1

// Command goroutines exercises the Go runtime's scheduler and memory
// management inside one wasm module: goroutines, unbuffered and buffered
// channels, select, sync.WaitGroup and sync.Mutex, maps, runtime.GC with heavy
// allocation, recovered panics and deferred calls. Goroutine switches unwind
// and rewind the Go wasm stack, so pausing anywhere stresses all of it. The
// output is deterministic whatever the scheduling order.
package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// pipeline passes values through a chain of goroutines connected by
// unbuffered channels.
func pipeline(stages, n int) int {
	src := make(chan int)
	in := src
	for s := 0; s < stages; s++ {
		out := make(chan int)
		go func(s int, in <-chan int, out chan<- int) {
			defer close(out)
			for v := range in {
				out <- v*3 + s
			}
		}(s, in, out)
		in = out
	}
	go func() {
		defer close(src)
		for i := 0; i < n; i++ {
			src <- i
		}
	}()
	sum := 0
	for v := range in {
		sum = (sum*31 + v) % 1000000007
	}
	return sum
}

// workers fan out jobs over a buffered channel and collect results under a
// mutex.
func workers(nworkers, njobs int) (int, []int) {
	jobs := make(chan int, 16)
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := make(map[int]int)
	perWorker := make([]int, nworkers)
	for w := 0; w < nworkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := range jobs {
				r := collatz(j)
				if j%7 == 0 {
					runtime.Gosched()
				}
				mu.Lock()
				results[j] = r
				perWorker[w]++
				mu.Unlock()
			}
		}(w)
	}
	for j := 1; j <= njobs; j++ {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	total := 0
	for _, w := range perWorker {
		total += w
	}
	keys := make([]int, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	longest := []int{}
	best := -1
	for _, k := range keys {
		if results[k] > best {
			best = results[k]
			longest = append(longest, k)
		}
	}
	return total, longest
}

func collatz(n int) int {
	steps := 0
	for n != 1 {
		if n%2 == 0 {
			n /= 2
		} else {
			n = 3*n + 1
		}
		steps++
	}
	return steps
}

// selects multiplexes several producers with select, including a default
// case, a nil channel and a quit channel.
func selects() string {
	a := make(chan int)
	b := make(chan string, 4)
	quit := make(chan struct{})
	var nilch chan int
	go func() {
		for i := 0; i < 50; i++ {
			a <- i
		}
	}()
	go func() {
		for i := 0; i < 30; i++ {
			b <- fmt.Sprint("s", i)
		}
	}()
	sumA, nB, lenB, defaults := 0, 0, 0, 0
	for got := 0; got < 80; {
		select {
		case v := <-a:
			sumA += v
			got++
		case s := <-b:
			nB++
			lenB += len(s)
			got++
		case <-nilch:
			panic("nil channel ready")
		default:
			defaults++
			runtime.Gosched()
		}
	}
	go func() { close(quit) }()
	timeoutLike := make(chan bool, 1)
	timeoutLike <- true
	select {
	case <-quit:
	case <-timeoutLike:
		<-quit
	}
	_ = defaults // depends on scheduling; not printed
	return fmt.Sprintf("sumA=%d nB=%d lenB=%d", sumA, nB, lenB)
}

type node struct {
	left, right *node
	val         int
	payload     []byte
}

func build(depth, v int) *node {
	if depth == 0 {
		return &node{val: v, payload: make([]byte, 64+v%64)}
	}
	return &node{left: build(depth-1, 2*v), right: build(depth-1, 2*v+1), val: v}
}

func (n *node) sum() int {
	if n == nil {
		return 0
	}
	return n.val + len(n.payload) + n.left.sum() + n.right.sum()
}

// garbage allocates many short-lived trees and strings, running the garbage
// collector explicitly in between, and keeps a few survivors.
func garbage() (int, int) {
	var keep []*node
	total := 0
	for round := 0; round < 24; round++ {
		t := build(9, round)
		total += t.sum()
		if round%6 == 0 {
			keep = append(keep, t)
		}
		var sb strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&sb, "%d,", i*round)
		}
		total += len(sb.String())
		if round%5 == 4 {
			runtime.GC()
		}
	}
	runtime.GC()
	survivors := 0
	for _, t := range keep {
		survivors += t.sum()
	}
	return total, survivors
}

var errBoom = errors.New("boom")

// panics exercises panic/recover through several frames and deferred calls
// that run in LIFO order and modify named results.
func panics() []string {
	var log []string
	try := func(i int) (res string) {
		defer func() {
			if r := recover(); r != nil {
				res = fmt.Sprintf("recovered(%v)", r)
			}
		}()
		defer func() { log = append(log, fmt.Sprintf("defer-%d", i)) }()
		switch i % 4 {
		case 0:
			var m map[string]int
			m["x"] = 1 // panics: assignment to nil map
		case 1:
			a := []int{1, 2, 3}
			idx := i + 5
			_ = a[idx]
		case 2:
			panic(fmt.Errorf("wrapped: %w", errBoom))
		}
		return "ok"
	}
	for i := 0; i < 8; i++ {
		log = append(log, try(i))
	}
	// Nested: a panic inside a deferred function replaces the first.
	func() {
		defer func() { log = append(log, fmt.Sprint("outer recovered: ", recover())) }()
		defer func() { panic("second") }()
		panic("first")
	}()
	// Deep recursion then panic unwinds through all frames.
	var rec func(int) int
	rec = func(n int) int {
		if n == 0 {
			panic(n)
		}
		defer func() {}()
		return rec(n-1) + 1
	}
	func() {
		defer func() { log = append(log, fmt.Sprint("deep recovered: ", recover())) }()
		rec(2000)
	}()
	return log
}

// maps inserts, deletes and iterates (in sorted key order) a map.
func maps() string {
	m := make(map[string]int)
	for i := 0; i < 5000; i++ {
		m[fmt.Sprintf("k%05d", (i*7919)%10007)] = i
	}
	for k, v := range m {
		if v%3 == 0 {
			delete(m, k)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := fnv.New32a()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%d;", k, m[k])
	}
	return fmt.Sprintf("len=%d first=%s last=%s hash=%08x", len(m), keys[0], keys[len(keys)-1], h.Sum32())
}

func main() {
	fmt.Println("pipeline:", pipeline(8, 2000))
	total, longest := workers(6, 3000)
	fmt.Println("workers: jobs", total, "record holders", longest)
	fmt.Println("select:", selects())
	t, s := garbage()
	fmt.Println("garbage:", t, s)
	for _, l := range panics() {
		fmt.Println("panics:", l)
	}
	fmt.Println("maps:", maps())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println("gc ran:", ms.NumGC > 0)
	defer fmt.Println("deferred in main")
}
