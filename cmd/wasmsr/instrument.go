package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/instrument"
)

func instrumentCommand() *cli.Command {
	return &cli.Command{
		Name:      "instrument",
		Usage:     "rewrite a module so that it can unwind and rewind its call stack",
		ArgsUsage: "IN.wasm",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the instrumented module to `FILE` (default: IN.sr.wasm)"},
			&cli.StringFlag{Name: "imports", Usage: "imports that may unwind, as comma-separated `module.name` patterns with * wildcards (default: all)"},
			&cli.BoolFlag{Name: "ignore-imports", Usage: "assume no import unwinds"},
			&cli.BoolFlag{Name: "ignore-indirect", Usage: "assume indirect calls never unwind"},
			&cli.StringFlag{Name: "safepoints", Value: "loops", Usage: "where the host can ask for a pause: loops (loop headers and recursive functions), calls, none"},
			&cli.StringFlag{Name: "only", Usage: "instrument only these functions (comma-separated name patterns)"},
			&cli.StringFlag{Name: "remove", Usage: "never instrument these functions"},
			&cli.StringFlag{Name: "add", Usage: "always instrument these functions"},
			&cli.BoolFlag{Name: "force", Usage: "pass an already instrumented module through unchanged instead of refusing it"},
			&cli.BoolFlag{Name: "strip-debug", Usage: "drop the module's DWARF (.debug_* sections) instead of mapping it to the rewritten code"},
			&cli.BoolFlag{Name: "site-details", Usage: "describe each unwind point (a call's target, the instruction, the locals its frame saves) in a wasmsr.sites section, for wasmsr inspect (default when the module keeps DWARF); no host needs it"},
			&cli.BoolFlag{Name: "wasm1", Usage: "keep a module that uses only WebAssembly 1.0 within 1.0 (no multi-value: restoring a frame takes more code)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say why each function is instrumented"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("instrument: expected one IN.wasm argument, got %d", c.NArg())
			}
			in := c.Args().First()
			opts, err := instrumentOptions(c)
			if err != nil {
				return err
			}
			data, err := readFile(in)
			if err != nil {
				return err
			}
			tuneCollector(len(data))
			out, report, err := instrument.Instrument(data, opts)
			if errors.Is(err, instrument.ErrInstrumented) {
				return fmt.Errorf("%s: %w (use --force to instrument it again)", in, err)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			for _, w := range report.Warnings {
				fmt.Fprintf(c.App.ErrWriter, "wasmsr: warning: %s\n", w)
			}
			if c.Bool("verbose") {
				for _, f := range report.Functions {
					fmt.Fprintf(c.App.Writer, "%s [%d]: %s (%d unwind points)\n", f.Name, f.Index, f.Why, f.Sites)
				}
				for _, f := range report.TrapFunctions {
					fmt.Fprintf(c.App.Writer, "%s [%d]: %s: not instrumented, declines pauses while it runs\n", f.Name, f.Index, f.Why)
				}
			}
			path := c.String("output")
			if path == "" {
				path = strings.TrimSuffix(in, ".wasm") + ".sr.wasm"
			}
			if err := os.WriteFile(path, out, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "wasmsr: %s: %d of %d functions instrumented, %d -> %d bytes\n",
				path, len(report.Functions), report.DefinedFuncs, len(data), len(out))
			return nil
		},
	}
}

// tuneCollector sets Go's collector for a run of instrument on input
// bytes, unless GOGC or GOMEMLIMIT set it: the rewrite allocates far more
// than it keeps (clang's 75 MB: 1.06 GB live at the peak), and at the
// default GOGC=100 the collector took a sixth of the CPU and let the heap
// reach twice the live one. It collects at three times the live heap
// instead, under a soft limit of 24 times the input (at least 1 GiB),
// which the live heap stays well below. Interleaved runs on clang: 27.4
// and 27.7 s wall, 42 s CPU, peak RSS 1.79 and 1.86 GB, against 30.2 and
// 30.6 s, 48 s and 2.16 and 2.18 GB; on gofmt, 1.10 s against 1.26 s wall,
// and 140 MB against 108 MB.
func tuneCollector(input int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(max(1<<30, 24*int64(input)))
	}
}

func instrumentOptions(c *cli.Context) (instrument.Options, error) {
	list := func(name string) []string {
		if !c.IsSet(name) {
			return nil
		}
		var out []string
		for _, s := range strings.Split(c.String(name), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	sp, err := instrument.ParseSafepoints(c.String("safepoints"))
	if err != nil {
		return instrument.Options{}, errors.New("instrument: " + err.Error())
	}
	return instrument.Options{
		Imports:        list("imports"),
		IgnoreImports:  c.Bool("ignore-imports"),
		IgnoreIndirect: c.Bool("ignore-indirect"),
		Safepoints:     sp,
		Only:           list("only"),
		Remove:         list("remove"),
		Add:            list("add"),
		Force:          c.Bool("force"),
		StripDebug:     c.Bool("strip-debug"),
		Wasm1:          c.Bool("wasm1"),
		SiteDetails:    c.Bool("site-details"),
	}, nil
}
