// Command compilewasm measures how long wazero's optimizing compiler takes
// to compile a module: without a cache, what a job resumed or migrated to a
// fresh host waits for before it runs again (scripts/bench-corpus.sh):
//
//	compilewasm [-cachedir DIR] [-times FILE] MODULE.wasm
//
// It compiles as `wasmsr exec` does (one compilation worker, the default)
// and writes "WALL USER SYS" in seconds for the compilation alone (decoding
// and validation included) to FILE, or prints them. With -cachedir the
// compiled code is kept in DIR, or loaded from it when it is there already:
// a later `runwasm -cachedir DIR` then runs without compiling.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/wasmsr/wasmsr/internal/bench"
)

func main() {
	cacheDir := flag.String("cachedir", "", "keep compiled code in `DIR`, or load it from there")
	timesFile := flag.String("times", "", "write the compilation's wall, user and system seconds to `FILE` instead of stdout")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: compilewasm [-cachedir DIR] [-times FILE] MODULE.wasm")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *cacheDir, *timesFile); err != nil {
		fmt.Fprintln(os.Stderr, "compilewasm:", err)
		os.Exit(1)
	}
}

func run(path, cacheDir, timesFile string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rt, closeAll, err := bench.NewRuntime(ctx, cacheDir)
	if err != nil {
		return err
	}
	defer closeAll()
	before, err := cpuTimes()
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := rt.CompileModule(ctx, wasm); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	wall := time.Since(start)
	after, err := cpuTimes()
	if err != nil {
		return err
	}
	line := fmt.Appendf(nil, "%.6f %.6f %.6f\n", wall.Seconds(), after[0]-before[0], after[1]-before[1])
	if timesFile == "" {
		_, err = os.Stdout.Write(line)
		return err
	}
	return os.WriteFile(timesFile, line, 0o644)
}

// cpuTimes returns the process's user and system seconds so far.
func cpuTimes() ([2]float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return [2]float64{}, err
	}
	seconds := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	return [2]float64{seconds(ru.Utime), seconds(ru.Stime)}, nil
}
