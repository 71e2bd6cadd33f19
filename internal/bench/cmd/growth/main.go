// Command growth explains where the bytes of a wasmsr-instrumented module
// come from: section by section, how the growth is spread over functions,
// the functions that grew most and the instructions added.
//
//	growth [-top N] IN.wasm OUT.wasm
//
// OUT.wasm must be IN.wasm instrumented by wasmsr.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/wasmsr/wasmsr/internal/bench"
)

func main() {
	top := flag.Int("top", 10, "list the `N` functions that grew most and the N most added opcodes (0: summary only)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: growth [-top N] IN.wasm OUT.wasm")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *top); err != nil {
		fmt.Fprintln(os.Stderr, "growth:", err)
		os.Exit(1)
	}
}

func run(in, out string, top int) error {
	before, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	after, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	g, err := bench.MeasureGrowth(before, after)
	if err != nil {
		return fmt.Errorf("%s -> %s: %w", in, out, err)
	}
	return g.WriteMarkdown(os.Stdout, top)
}
