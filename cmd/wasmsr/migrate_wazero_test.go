package main

import (
	"context"
	"errors"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/hostrt"
)

// runWazero runs an uninstrumented WASI program under wazero and its own
// WASI, with dir mounted at /out: the reference the migrated runs are
// compared with.
func runWazero(ctx context.Context, wasmPath string, args []string, dir string) error {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	cache, err := hostrt.DefaultCache()
	if err != nil {
		return err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	cfg := wazero.NewModuleConfig().WithArgs(args...).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/out")).
		WithSysWalltime().WithSysNanotime()
	_, err = rt.InstantiateWithConfig(ctx, wasm, cfg)
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		return nil
	}
	return err
}
