package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/internal/atomicfile"
	"github.com/wasmsr/wasmsr/wasm"
)

// errNoModule is returned by modules.get for a module the host lacks.
var errNoModule = errors.New("module unknown")

// module is an instrumented module a host can run jobs of.
type module struct {
	sum  [32]byte
	data []byte
	path string
	// facts are read once, for every job and snapshot of the module.
	facts *hostrt.ModuleFacts
	// rt holds the module compiled in the host's compilation cache: a job
	// restored from it finds the code in memory.
	rt wazero.Runtime

	ready chan struct{}
	err   error

	// spare is the module compiled ahead in a runtime of its own, for the
	// next job that arrives (hostrt.Prepared), or being made (preparing,
	// closed when done); under modules.mu.
	spare     *hostrt.Prepared
	preparing chan struct{}
}

// modules keeps a host's modules, by SHA-256, in a directory (or only in
// memory when dir is empty), each compiled once.
type modules struct {
	host  string // the host's name
	dir   string
	cache wazero.CompilationCache

	mu     sync.Mutex
	byHash map[[32]byte]*module
}

func newModules(host, dir string, cache wazero.CompilationCache) (*modules, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return &modules{host: host, dir: dir, cache: cache, byHash: map[[32]byte]*module{}}, nil
}

func (s *modules) file(sum [32]byte) string {
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".wasm")
}

// get returns the module with this hash, loading it from the directory
// and compiling it if needed; errNoModule if the host does not have it.
func (s *modules) get(ctx context.Context, sum [32]byte) (*module, error) {
	return s.load(ctx, sum, nil)
}

// put adds a module (checked against its hash) and compiles it. It
// reports whether the module is new here.
func (s *modules) put(ctx context.Context, sum [32]byte, data []byte) (*module, bool, error) {
	if sha256.Sum256(data) != sum {
		return nil, false, fmt.Errorf("the module's SHA-256 is %x, not %x", sha256.Sum256(data), sum)
	}
	s.mu.Lock()
	_, had := s.byHash[sum]
	s.mu.Unlock()
	m, err := s.load(ctx, sum, data)
	return m, !had && err == nil, err
}

// load finds a module in memory, or makes it from data (when not nil) or
// from the directory. Concurrent loads of one module share the work.
func (s *modules) load(ctx context.Context, sum [32]byte, data []byte) (*module, error) {
	s.mu.Lock()
	m, ok := s.byHash[sum]
	if !ok {
		if data == nil {
			if s.dir == "" {
				s.mu.Unlock()
				return nil, errNoModule
			}
			if _, err := os.Stat(s.file(sum)); errors.Is(err, fs.ErrNotExist) {
				s.mu.Unlock()
				return nil, errNoModule
			}
		}
		m = &module{sum: sum, ready: make(chan struct{})}
		s.byHash[sum] = m
	}
	s.mu.Unlock()
	if ok {
		select {
		case <-m.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if m.err != nil {
			return nil, m.err
		}
		return m, nil
	}
	// A panic must not leave the module unready: later requests for it
	// would wait for it forever.
	m.err = protect(func() error {
		injectFault(s.host, "prepare")
		return s.prepare(ctx, m, data)
	})
	if m.err != nil {
		s.mu.Lock()
		delete(s.byHash, sum)
		s.mu.Unlock()
	}
	close(m.ready)
	if m.err != nil {
		return nil, m.err
	}
	return m, nil
}

// prepare checks the module, writes it to the directory and compiles it.
func (s *modules) prepare(ctx context.Context, m *module, data []byte) error {
	fromDisk := data == nil
	if fromDisk {
		var err error
		if data, err = os.ReadFile(s.file(m.sum)); err != nil {
			return err
		}
		if sha256.Sum256(data) != m.sum {
			return fmt.Errorf("%s does not have its SHA-256", s.file(m.sum))
		}
	}
	// A module from a peer is outside input: checked whole once, when it
	// arrives or is loaded.
	d := wasm.Decoder{KeepSource: true}
	w, err := d.Decode(data)
	if err == nil {
		err = wasm.Validate(w)
	}
	if err != nil {
		return err
	}
	if _, err := abi.ReadInfo(w); err != nil {
		return err
	}
	if m.facts, err = hostrt.ReadModuleFacts(data); err != nil {
		return err
	}
	m.data = data
	if s.dir != "" {
		m.path = s.file(m.sum)
		if !fromDisk {
			if err := atomicfile.Write(m.path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
				return err
			}
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(s.cache))
	if _, err := rt.CompileModule(ctx, data); err != nil {
		rt.Close(ctx)
		return err
	}
	m.rt = rt
	return nil
}

// prepareSpare starts compiling a spare of m for the next job that
// arrives, unless one is ready or on its way: a sender asks for the module
// before it pauses its job, so that the job's restore here need not wait
// for wazero to decode and validate the module.
func (s *modules) prepareSpare(m *module) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.spare != nil || m.preparing != nil {
		return
	}
	done := make(chan struct{})
	m.preparing = done
	go func() {
		defer close(done)
		var p *hostrt.Prepared
		err := protect(func() error {
			var err error
			p, err = hostrt.Prepare(context.Background(), m.data, s.cache)
			return err
		})
		s.mu.Lock()
		defer s.mu.Unlock()
		m.preparing = nil
		if err == nil {
			m.spare = p
		}
	}()
}

// takeSpare returns m's spare (waiting for one being made), or nil.
func (s *modules) takeSpare(m *module) *hostrt.Prepared {
	s.mu.Lock()
	wait := m.preparing
	s.mu.Unlock()
	if wait != nil {
		<-wait
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := m.spare
	m.spare = nil
	return p
}

// close releases the compiled modules.
func (s *modules) close(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.byHash {
		select {
		case <-m.ready:
			if m.rt != nil {
				m.rt.Close(ctx)
			}
			if m.spare != nil {
				m.spare.Close(ctx)
			}
		default:
		}
	}
}
