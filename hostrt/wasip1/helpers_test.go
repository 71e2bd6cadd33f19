package wasip1

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// cache shares compiled modules between the runtimes of all tests.
var cache = wazero.NewCompilationCache()

// newRuntime returns a runtime that shares the compilation cache. Runs of
// whole programs close the module when ctx ends, so that a program that
// waits forever fails its test instead of hanging it; that costs
// allocations on each call into the guest, which the proxy avoids.
func newRuntime(ctx context.Context, closeOnDone bool) wazero.Runtime {
	return wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).WithCloseOnContextDone(closeOnDone))
}

// result is what a run of a command did.
type result struct {
	stdout, stderr string
	exit           uint32
	// failed is set when the run ended other than by returning or
	// exiting, e.g. with a trap.
	failed bool
}

// outcome turns the error of a run of _start into a result.
func outcome(err error, stdout, stderr *bytes.Buffer) result {
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *sys.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.exit = exitErr.ExitCode()
	case err != nil:
		r.failed = true
		r.stderr += "\n[run error: " + err.Error() + "]"
	}
	return r
}

// runOurs runs wasm's _start on this package's WASI made from cfg, with
// stdout and stderr collected. Clock and Rand default to deterministic ones.
func runOurs(t testing.TB, wasm []byte, cfg Config) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	if cfg.Clock == nil {
		cfg.Clock = newVirtualClock()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewSource(42))
	}
	w, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The readers given here never block: wait until the stdin goroutine
	// has read, so that a poll with a zero timeout (zig-cc's "poll") finds
	// the input as it would with wazero's synchronous stdin.
	for avail, err := w.stdin.status(); avail == 0 && err == nil; avail, err = w.stdin.status() {
		time.Sleep(100 * time.Microsecond)
	}
	rt := newRuntime(ctx, true)
	defer rt.Close(ctx)
	if _, err := w.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig())
	return outcome(err, &stdout, &stderr)
}

// virtualClock is a fake clock on which waiting takes no time: After moves
// the clock forward by d. It starts where wazero's fake clocks start.
type virtualClock struct {
	mu   sync.Mutex
	wall int64
	mono int64
}

func newVirtualClock() *virtualClock {
	return &virtualClock{wall: 1640995200 * int64(time.Second), mono: int64(time.Second)}
}

func (c *virtualClock) Walltime() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *virtualClock) Nanotime() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time {
	c.advance(d)
	ch := make(chan time.Time, 1)
	ch <- time.Unix(0, c.Walltime())
	return ch
}

func (c *virtualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall += int64(d)
	c.mono += int64(d)
}

// proxy is a guest whose exports call the WASI functions with their own
// arguments: "w.fd_read" calls fd_read. Tests call WASI functions through
// it, with a real guest as the caller, and use its memory.
type proxy struct {
	t   testing.TB
	ctx context.Context
	rt  wazero.Runtime
	mod api.Module
	w   *WASI
}

// newProxy instantiates w in a new runtime and the proxy guest over it.
func newProxy(t testing.TB, w *WASI) *proxy {
	t.Helper()
	ctx := context.Background()
	rt := newRuntime(ctx, false)
	t.Cleanup(func() { rt.Close(ctx) })
	host, err := w.Instantiate(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, proxyModule(t, host))
	if err != nil {
		t.Fatal(err)
	}
	return &proxy{t: t, ctx: ctx, rt: rt, mod: mod, w: w}
}

// call calls the WASI function name and returns its errno.
func (p *proxy) call(name string, args ...uint64) errno {
	p.t.Helper()
	res, err := p.mod.ExportedFunction("w."+name).Call(p.ctx, args...)
	if err != nil {
		p.t.Fatalf("%s: %v", name, err)
	}
	return errno(res[0])
}

// Scratch memory layout of the proxy guest: fixed places for arguments
// and results, so that tests read like the calls they make.
const (
	memResult = 0x100   // results: fds, counts, offsets
	memIovec  = 0x200   // iovec arrays
	memPath   = 0x400   // paths
	memBuf    = 0x1000  // data buffers
	memBufLen = 0x10000 // their size
)

func (p *proxy) write(ptr uint32, b []byte) {
	p.t.Helper()
	if !p.mod.Memory().Write(ptr, b) {
		p.t.Fatalf("write at %#x out of range", ptr)
	}
}

func (p *proxy) read(ptr, n uint32) []byte {
	p.t.Helper()
	b, ok := p.mod.Memory().Read(ptr, n)
	if !ok {
		p.t.Fatalf("read at %#x out of range", ptr)
	}
	return append([]byte(nil), b...)
}

func (p *proxy) u32(ptr uint32) uint32 { return le.Uint32(p.read(ptr, 4)) }
func (p *proxy) u64(ptr uint32) uint64 { return le.Uint64(p.read(ptr, 8)) }

// path puts a path in memory and returns the arguments that pass it.
func (p *proxy) path(s string) (uint64, uint64) {
	p.write(memPath, []byte(s))
	return memPath, uint64(len(s))
}

// open calls path_open relative to dir and returns the new fd.
func (p *proxy) open(dir uint32, name string, oflags, fdflags uint16, rights uint64) (uint32, errno) {
	p.t.Helper()
	ptr, n := p.path(name)
	e := p.call("path_open", uint64(dir), uint64(lookupSymlinkFollow), ptr, n, uint64(oflags), rights, 0, uint64(fdflags), memResult)
	return p.u32(memResult), e
}

// readFD calls fd_read with one iovec of n bytes and returns what it read.
func (p *proxy) readFD(fd, n uint32) ([]byte, errno) {
	p.t.Helper()
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), n))
	e := p.call("fd_read", uint64(fd), memIovec, 1, memResult)
	if e != errnoSuccess {
		return nil, e
	}
	return p.read(memBuf, p.u32(memResult)), e
}

// writeFD calls fd_write with data in one iovec.
func (p *proxy) writeFD(fd uint32, data []byte) errno {
	p.t.Helper()
	p.write(memBuf, data)
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), uint32(len(data))))
	return p.call("fd_write", uint64(fd), memIovec, 1, memResult)
}

// seek calls fd_seek and returns the new offset.
func (p *proxy) seek(fd uint32, off int64, whence uint32) (uint64, errno) {
	p.t.Helper()
	e := p.call("fd_seek", uint64(fd), uint64(off), uint64(whence), memResult)
	return p.u64(memResult), e
}

// readdir calls fd_readdir with a buffer of size bytes and returns the
// names and next cookies of the whole entries it got.
func (p *proxy) readdir(fd uint32, cookie uint64, size uint32) (names []string, cookies []uint64, e errno) {
	p.t.Helper()
	e = p.call("fd_readdir", uint64(fd), memBuf, uint64(size), cookie, memResult)
	if e != errnoSuccess {
		return nil, nil, e
	}
	b := p.read(memBuf, p.u32(memResult))
	for len(b) >= sizeDirent {
		n := int(le.Uint32(b[16:]))
		if len(b) < sizeDirent+n {
			break
		}
		names = append(names, string(b[sizeDirent:sizeDirent+n]))
		cookies = append(cookies, le.Uint64(b))
		b = b[sizeDirent+n:]
	}
	return names, cookies, e
}

// proxyModule builds the proxy guest for the functions host exports.
func proxyModule(t testing.TB, host api.Module) []byte {
	t.Helper()
	var types, imports, funcs, exports, code []byte
	var n uint32
	for name, def := range host.ExportedFunctionDefinitions() {
		sig := append(appendValTypes(nil, def.ParamTypes()), appendValTypes(nil, def.ResultTypes())...)
		types = append(types, 0x60)
		types = append(types, sig...)
		imports = appendName(imports, ModuleName)
		imports = appendName(imports, name)
		imports = append(imports, 0x00) // func
		imports = appendU32(imports, n)
		funcs = appendU32(funcs, n)
		exports = appendName(exports, "w."+name)
		exports = append(exports, 0x00)
		exports = appendU32(exports, uint32(len(host.ExportedFunctionDefinitions()))+n)
		var body []byte
		body = append(body, 0) // no locals
		for i := range def.ParamTypes() {
			body = append(body, 0x20) // local.get
			body = appendU32(body, uint32(i))
		}
		body = append(body, 0x10) // call
		body = appendU32(body, n)
		body = append(body, 0x0b)
		code = appendU32(code, uint32(len(body)))
		code = append(code, body...)
		n++
	}
	exports = appendName(exports, "memory")
	exports = append(exports, 0x02, 0x00)
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = appendSection(m, 1, n, types)
	m = appendSection(m, 2, n, imports)
	m = appendSection(m, 3, n, funcs)
	m = appendSection(m, 5, 1, []byte{0x00, 0x02}) // memory, 2 pages
	m = appendSection(m, 7, n+1, exports)
	m = appendSection(m, 10, n, code)
	return m
}

func appendValTypes(b []byte, ts []api.ValueType) []byte {
	b = appendU32(b, uint32(len(ts)))
	return append(b, ts...)
}

func appendName(b []byte, s string) []byte { return append(appendU32(b, uint32(len(s))), s...) }

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendSection(m []byte, id byte, count uint32, content []byte) []byte {
	body := append(appendU32(nil, count), content...)
	m = append(m, id)
	m = appendU32(m, uint32(len(body)))
	return append(m, body...)
}
