package hostrt

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"

	"github.com/tetratelabs/wazero"
)

// Prepared is a module compiled ahead of a job, in a runtime of its own:
// a job started or restored with it (Config.Prepared) skips wazero's
// decoding and validation of the module, which a compilation cache does
// not spare (hundreds of milliseconds for FFmpeg). A host that expects a
// job (a migration's receiver, while the job still runs on its sender)
// prepares one so that the job's restore does not wait for it. It serves
// one job: that job owns, and closes, its runtime.
type Prepared struct {
	sum      [32]byte
	mu       sync.Mutex
	rt       wazero.Runtime
	compiled wazero.CompiledModule
}

// Prepare compiles module in a new runtime with the compilation cache
// cache (nil: DefaultCache).
func Prepare(ctx context.Context, module []byte, cache wazero.CompilationCache) (*Prepared, error) {
	if cache == nil {
		var err error
		if cache, err = DefaultCache(); err != nil {
			return nil, err
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	compiled, err := compile(ctx, rt, module)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Prepared{sum: sha256.Sum256(module), rt: rt, compiled: compiled}, nil
}

// take hands the runtime and the compiled module to a job of the module
// with hash sum, once.
func (p *Prepared) take(sum [32]byte) (wazero.Runtime, wazero.CompiledModule, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.rt == nil:
		return nil, nil, errors.New("hostrt: a Prepared module serves one job")
	case p.sum != sum:
		return nil, nil, errors.New("hostrt: the job's module is not the one prepared")
	}
	rt, compiled := p.rt, p.compiled
	p.rt, p.compiled = nil, nil
	return rt, compiled, nil
}

// Close releases a Prepared no job took.
func (p *Prepared) Close(ctx context.Context) {
	p.mu.Lock()
	rt := p.rt
	p.rt, p.compiled = nil, nil
	p.mu.Unlock()
	if rt != nil {
		rt.Close(ctx)
	}
}
