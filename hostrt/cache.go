package hostrt

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
)

// DefaultCacheDir is where compiled code is kept between processes, so that
// resuming a job or receiving a migrated one does not compile the module
// again: $WASMSR_CACHE/wazero, or wasmsr/wazero in the user's cache directory.
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv("WASMSR_CACHE"); dir != "" {
		return filepath.Join(dir, "wazero"), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "wasmsr", "wazero"), nil
}

var defaultCache struct {
	once  sync.Once
	cache wazero.CompilationCache
	err   error
}

// DefaultCache returns the process's compilation cache in DefaultCacheDir,
// shared by every job that does not bring its own.
func DefaultCache() (wazero.CompilationCache, error) {
	defaultCache.once.Do(func() {
		dir, err := DefaultCacheDir()
		if err == nil {
			defaultCache.cache, err = wazero.NewCompilationCacheWithDir(dir)
		}
		defaultCache.err = err
	})
	return defaultCache.cache, defaultCache.err
}
