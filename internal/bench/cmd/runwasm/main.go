// Command runwasm runs a WASI command module on wazero's optimizing compiler
// with a persistent compilation cache, for timing modules against each other
// (scripts/bench-instrument.sh):
//
//	runwasm [-cachedir DIR] [-mount HOST[:GUEST][:ro]]... [-times FILE] MODULE.wasm [ARG...]
//
// Its exit status is the module's. Instrumented modules run as plain
// commands: nothing asks them to pause. -times writes "WALL USER SYS" in
// seconds (microsecond resolution) for the whole process: CPU time is what
// to compare on a machine that other jobs keep busy, since it hardly
// counts the time they take.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wasmsr/wasmsr/internal/bench"
)

// mounts collects repeated -mount flags.
type mounts []bench.Mount

func (m *mounts) String() string { return fmt.Sprint(*m) }

func (m *mounts) Set(s string) error {
	mt, err := bench.ParseMount(s)
	if err != nil {
		return err
	}
	*m = append(*m, mt)
	return nil
}

func main() {
	start := time.Now()
	var ms mounts
	cacheDir := flag.String("cachedir", "", "keep compiled code in `DIR` across runs")
	timesFile := flag.String("times", "", "write the run's wall, user and system seconds to `FILE`")
	flag.Var(&ms, "mount", "make host directory HOST visible at GUEST (`HOST[:GUEST][:ro]`); repeatable")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: runwasm [-cachedir DIR] [-mount HOST[:GUEST][:ro]]... [-times FILE] MODULE.wasm [ARG...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	path := flag.Arg(0)
	wasm, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runwasm:", err)
		os.Exit(1)
	}
	argv0 := strings.TrimSuffix(filepath.Base(path), ".wasm")
	exit, err := bench.Run(context.Background(), bench.Command{
		Wasm:     wasm,
		Args:     append([]string{argv0}, flag.Args()[1:]...),
		Mounts:   ms,
		CacheDir: *cacheDir,
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "runwasm: %s: %v\n", path, err)
		os.Exit(1)
	}
	if *timesFile != "" {
		if err := writeTimes(*timesFile, time.Since(start)); err != nil {
			fmt.Fprintln(os.Stderr, "runwasm:", err)
			os.Exit(1)
		}
	}
	os.Exit(int(exit))
}

func writeTimes(path string, wall time.Duration) error {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return err
	}
	seconds := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	return os.WriteFile(path, fmt.Appendf(nil, "%.6f %.6f %.6f\n", wall.Seconds(), seconds(ru.Utime), seconds(ru.Stime)), 0o644)
}
