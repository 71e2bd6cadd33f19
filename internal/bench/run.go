// Package bench holds what the instrumenter's benchmarks share: running a
// WASI command on wazero's optimizing compiler the way the performance
// anchors were measured (a persistent compilation cache, real clocks,
// directories mounted from the host), and breaking down how much an
// instrumented module grew, function by function. scripts/bench-instrument.sh
// drives it through cmd/runwasm and cmd/growth.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Mount is a host directory made visible to the guest.
type Mount struct {
	Host, Guest string
	ReadOnly    bool
}

// ParseMount parses HOST[:GUEST][:ro], the syntax of the wazero CLI's
// -mount flag, so that commands can be moved between the two unchanged.
// GUEST defaults to HOST.
func ParseMount(s string) (Mount, error) {
	var m Mount
	if rest, ok := strings.CutSuffix(s, ":ro"); ok {
		s, m.ReadOnly = rest, true
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		m.Host, m.Guest = s[:i], s[i+1:]
	} else {
		m.Host, m.Guest = s, s
	}
	if m.Host == "" || m.Guest == "" {
		return Mount{}, fmt.Errorf("mount %q: want HOST[:GUEST][:ro]", s)
	}
	st, err := os.Stat(m.Host)
	if err != nil {
		return Mount{}, fmt.Errorf("mount %q: %w", s, err)
	}
	if !st.IsDir() {
		return Mount{}, fmt.Errorf("mount %q: %s is not a directory", s, m.Host)
	}
	return m, nil
}

// Command is one run of a WASI command module.
type Command struct {
	Wasm []byte
	// Args are argv, argv[0] included.
	Args   []string
	Mounts []Mount
	// CacheDir, if set, keeps compiled code across processes, so that a
	// timed run measures execution rather than compilation.
	CacheDir       string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// guestRunHeapLimit is the Go heap at which the collector runs anyway
// while a guest runs: several times what wazero's own garbage reaches on
// the corpus (memory grown by copying), far below this machine's memory.
const guestRunHeapLimit = 4 << 30

// Run compiles and runs c to the end and returns its exit code: 0 when
// _start returned, otherwise the code it passed to proc_exit. Modules made
// by an Asyncify-style instrumenter run unchanged: nobody starts an unwind,
// so they only pay for their checks.
func Run(ctx context.Context, c Command) (uint32, error) {
	rt, closeAll, err := NewRuntime(ctx, c.CacheDir)
	if err != nil {
		return 0, err
	}
	defer closeAll()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return 0, err
	}
	compiled, err := rt.CompileModule(ctx, c.Wasm)
	if err != nil {
		return 0, err
	}
	fs := wazero.NewFSConfig()
	for _, m := range c.Mounts {
		if m.ReadOnly {
			fs = fs.WithReadOnlyDirMount(m.Host, m.Guest)
		} else {
			fs = fs.WithDirMount(m.Host, m.Guest)
		}
	}
	// Real clocks and randomness, as the wazero CLI gives: the Go runtime's
	// scheduler and timers then behave as they would in production.
	cfg := wazero.NewModuleConfig().
		WithArgs(c.Args...).
		WithFSConfig(fs).
		WithRandSource(rand.Reader).
		WithSysNanosleep().
		WithSysNanotime().
		WithSysWalltime()
	if c.Stdin != nil {
		cfg = cfg.WithStdin(c.Stdin)
	}
	if c.Stdout != nil {
		cfg = cfg.WithStdout(c.Stdout)
	}
	if c.Stderr != nil {
		cfg = cfg.WithStderr(c.Stderr)
	}
	// Go's collector cannot stop code that wazero compiled: a cycle that
	// begins while the guest computes spins on the other core, signalling
	// the guest's thread, until the guest next calls the host (seconds of
	// CPU, at random, in any variant). wasmsr's host keeps the collector
	// off while guests run (hostrt/gc.go); so does this runner, with a
	// limit that brings it back rather than let garbage grow without bound.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(guestRunHeapLimit))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	var exit *sys.ExitError
	switch {
	case err == nil:
		return 0, mod.Close(ctx)
	case errors.As(err, &exit):
		return exit.ExitCode(), nil
	}
	return 0, err
}

// NewRuntime returns a runtime on wazero's optimizing compiler with one
// compilation worker, as wasmsr runs modules; with a compilation cache in
// cacheDir unless it is empty. closeAll closes the runtime, then the cache
// (closing the runtime leaves a cache's compiled code in memory).
func NewRuntime(ctx context.Context, cacheDir string) (rt wazero.Runtime, closeAll func(), err error) {
	rc := wazero.NewRuntimeConfigCompiler()
	var cache wazero.CompilationCache
	if cacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
			return nil, nil, err
		}
		rc = rc.WithCompilationCache(cache)
	}
	rt = wazero.NewRuntimeWithConfig(ctx, rc)
	return rt, func() {
		rt.Close(ctx)
		if cache != nil {
			cache.Close(ctx)
		}
	}, nil
}
