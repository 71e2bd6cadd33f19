package wasip1

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// nopGate never pauses, and costs what a real gate's Enter costs at least.
type nopGate struct{ pausing chan struct{} }

func (nopGate) Enter(context.Context, api.Module) bool     { return true }
func (g nopGate) Pausing() <-chan struct{}                 { return g.pausing }
func (nopGate) Interrupt(context.Context, api.Module) bool { return true }

// hotCall is a call of a WASI function through the proxy guest that
// allocates nothing itself, for measuring the function.
type hotCall struct {
	fn    api.Function
	args  []uint64
	stack []uint64
}

func (c *hotCall) run(ctx context.Context) errno {
	copy(c.stack, c.args)
	if err := c.fn.CallWithStack(ctx, c.stack); err != nil {
		panic(err)
	}
	return errno(c.stack[0])
}

// hotCalls sets up the calls of the hot paths: fd_write of 64 bytes to
// stdout, fd_read and fd_write of 64 bytes of a file (rewound now and
// then), and clock_time_get; all under a gate.
func hotCalls(t testing.TB) map[string]func(ctx context.Context, i int) errno {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	w := mustNew(t, Config{Stdout: io.Discard, Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}, Gate: nopGate{}}, nil)
	p := newProxy(t, w)
	rfd, e := p.open(3, "data", 0, 0, rightFdRead)
	if e != errnoSuccess {
		t.Fatalf("open: errno %d", e)
	}
	wfd, e := p.open(3, "out", oflagCreat, 0, rightFdWrite)
	if e != errnoSuccess {
		t.Fatalf("open: errno %d", e)
	}
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 64))
	call := func(name string, args ...uint64) *hotCall {
		fn := p.mod.ExportedFunction("w." + name)
		n := max(len(args), len(fn.Definition().ResultTypes()))
		return &hotCall{fn: fn, args: args, stack: make([]uint64, n)}
	}
	stdout := call("fd_write", 1, memIovec, 1, memResult)
	read := call("fd_read", uint64(rfd), memIovec, 1, memResult)
	write := call("fd_write", uint64(wfd), memIovec, 1, memResult)
	rewindRead := call("fd_seek", uint64(rfd), 0, 0, memResult)
	rewindWrite := call("fd_seek", uint64(wfd), 0, 0, memResult)
	clock := call("clock_time_get", uint64(clockMonotonic), 1, memResult)
	const rewind = 1 << 12 // 256 KiB
	return map[string]func(ctx context.Context, i int) errno{
		"fd_write stdout": func(ctx context.Context, i int) errno { return stdout.run(ctx) },
		"fd_read file": func(ctx context.Context, i int) errno {
			if i%rewind == 0 {
				rewindRead.run(ctx)
			}
			return read.run(ctx)
		},
		"fd_write file": func(ctx context.Context, i int) errno {
			if i%rewind == 0 {
				rewindWrite.run(ctx)
			}
			return write.run(ctx)
		},
		"clock_time_get": func(ctx context.Context, i int) errno { return clock.run(ctx) },
	}
}

// TestHotPathsDoNotAllocate requires the hot paths to allocate nothing.
func TestHotPathsDoNotAllocate(t *testing.T) {
	ctx := context.Background()
	for name, call := range hotCalls(t) {
		i := 1
		if allocs := testing.AllocsPerRun(1000, func() {
			if e := call(ctx, i); e != errnoSuccess {
				t.Fatalf("%s: errno %d", name, e)
			}
			i++
		}); allocs != 0 {
			t.Errorf("%s allocates %v times per call", name, allocs)
		}
	}
}

// loopModule builds a guest whose export "run" calls the WASI function
// name n times with constant arguments, so that a benchmark measures the
// call from wasm, as guests make it, rather than Go's calls into wasm.
func loopModule(t testing.TB, host api.Module, name string, args ...int64) []byte {
	t.Helper()
	def, ok := host.ExportedFunctionDefinitions()[name]
	if !ok || len(def.ParamTypes()) != len(args) {
		t.Fatalf("%s does not take %d arguments", name, len(args))
	}
	types := append([]byte{0x60}, appendValTypes(nil, def.ParamTypes())...)
	types = append(types, appendValTypes(nil, def.ResultTypes())...)
	types = append(types, 0x60, 1, api.ValueTypeI32, 0)
	imports := append(appendName(appendName(nil, ModuleName), name), 0x00, 0)
	body := []byte{0, 0x03, 0x40} // no locals; loop
	for i, a := range args {
		if def.ParamTypes()[i] == api.ValueTypeI64 {
			body = append(body, 0x42) // i64.const
		} else {
			body = append(body, 0x41) // i32.const
		}
		body = appendS64(body, a)
	}
	body = append(body, 0x10, 0, 0x1a) // call, drop
	body = append(body, 0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0, 0x0b, 0x0b)
	exports := append(appendName(nil, "run"), 0x00, 1)
	exports = append(appendName(exports, "memory"), 0x02, 0)
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = appendSection(m, 1, 2, types)
	m = appendSection(m, 2, 1, imports)
	m = appendSection(m, 3, 1, []byte{1})
	m = appendSection(m, 5, 1, []byte{0x00, 0x02})
	m = appendSection(m, 7, 2, exports)
	return appendSection(m, 10, 1, append(appendU32(nil, uint32(len(body))), body...))
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// BenchmarkWASICall measures a WASI call made from wasm, per call.
func BenchmarkWASICall(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data"), make([]byte, 64), 0o644); err != nil {
		b.Fatal(err)
	}
	tests := []struct {
		name string
		gate Gate
		call string
		args []int64
	}{
		{"fd_write stdout", nopGate{}, "fd_write", []int64{1, memIovec, 1, memResult}},
		{"fd_write stdout without gate", nil, "fd_write", []int64{1, memIovec, 1, memResult}},
		{"fd_pread file", nopGate{}, "fd_pread", []int64{4, memIovec, 1, 0, memResult}},
		{"fd_pwrite file", nopGate{}, "fd_pwrite", []int64{5, memIovec, 1, 0, memResult}},
		{"clock_time_get", nopGate{}, "clock_time_get", []int64{int64(clockMonotonic), 1, memResult}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			w := mustNew(b, Config{Stdout: io.Discard, Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}, Gate: tc.gate}, nil)
			p := newProxy(b, w)
			if fd, e := p.open(3, "data", 0, 0, rightFdRead); fd != 4 || e != errnoSuccess {
				b.Fatalf("open: fd %d, errno %d", fd, e)
			}
			if fd, e := p.open(3, "out", oflagCreat, 0, rightFdWrite); fd != 5 || e != errnoSuccess {
				b.Fatalf("open: fd %d, errno %d", fd, e)
			}
			host := p.rt.Module(ModuleName)
			mod, err := p.rt.Instantiate(ctx, loopModule(b, host, tc.call, tc.args...))
			if err != nil {
				b.Fatal(err)
			}
			mod.Memory().Write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 64))
			run := mod.ExportedFunction("run")
			b.ReportAllocs()
			b.ResetTimer()
			if _, err := run.Call(ctx, uint64(b.N)); err != nil {
				b.Fatal(err)
			}
			if e, _ := mod.Memory().ReadUint32Le(memResult); tc.call != "clock_time_get" && e != 64 {
				b.Fatalf("the last call moved %d bytes", e)
			}
		})
	}
}

// BenchmarkWazeroFdWrite is BenchmarkWASICall's "fd_write stdout" on
// wazero's own WASI, for comparison.
func BenchmarkWazeroFdWrite(b *testing.B) {
	ctx := context.Background()
	rt := newRuntime(ctx, false)
	defer rt.Close(ctx)
	host, err := wasi_snapshot_preview1.Instantiate(ctx, rt)
	if err != nil {
		b.Fatal(err)
	}
	bin := loopModule(b, host.(api.Module), "fd_write", 1, memIovec, 1, memResult)
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithStdout(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	mod.Memory().Write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 64))
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := mod.ExportedFunction("run").Call(ctx, uint64(b.N)); err != nil {
		b.Fatal(err)
	}
}
