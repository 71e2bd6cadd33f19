// Command runwasm runs a WASI command module on wazero's optimizing compiler
// with a persistent compilation cache, for timing modules against each other
// (scripts/bench-instrument.sh):
//
//	runwasm [-cachedir DIR] [-mount HOST[:GUEST][:ro]]... MODULE.wasm [ARG...]
//
// Its exit status is the module's. Instrumented modules run as plain
// commands: nothing asks them to pause.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	var ms mounts
	cacheDir := flag.String("cachedir", "", "keep compiled code in `DIR` across runs")
	flag.Var(&ms, "mount", "make host directory HOST visible at GUEST (`HOST[:GUEST][:ro]`); repeatable")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: runwasm [-cachedir DIR] [-mount HOST[:GUEST][:ro]]... MODULE.wasm [ARG...]")
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
	os.Exit(int(exit))
}
