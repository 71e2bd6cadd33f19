package wasip1

import (
	"context"
	"io"
	"runtime"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

func (w *WASI) argsGet(_ context.Context, mod api.Module, stack []uint64) errno {
	return writeStrings(mod.Memory(), w.args, w.argsSize, uint32(stack[0]), uint32(stack[1]))
}

func (w *WASI) argsSizesGet(_ context.Context, mod api.Module, stack []uint64) errno {
	return writeSizes(mod.Memory(), len(w.args), w.argsSize, uint32(stack[0]), uint32(stack[1]))
}

func (w *WASI) environGet(_ context.Context, mod api.Module, stack []uint64) errno {
	return writeStrings(mod.Memory(), w.env, w.envSize, uint32(stack[0]), uint32(stack[1]))
}

func (w *WASI) environSizesGet(_ context.Context, mod api.Module, stack []uint64) errno {
	return writeSizes(mod.Memory(), len(w.env), w.envSize, uint32(stack[0]), uint32(stack[1]))
}

func writeSizes(mem api.Memory, count int, size, countPtr, sizePtr uint32) errno {
	if !mem.WriteUint32Le(countPtr, uint32(count)) || !mem.WriteUint32Le(sizePtr, size) {
		return errnoFault
	}
	return errnoSuccess
}

// writeStrings writes values as C strings at buf and pointers to them at
// ptrs, as args_get and environ_get do.
func writeStrings(mem api.Memory, values []string, size, ptrs, buf uint32) errno {
	p, ok := mem.Read(ptrs, uint32(len(values))*4)
	if !ok {
		return errnoFault
	}
	b, ok := mem.Read(buf, size)
	if !ok {
		return errnoFault
	}
	pos := uint32(0)
	for i, v := range values {
		le.PutUint32(p[4*i:], buf+pos)
		pos += uint32(copy(b[pos:], v))
		b[pos] = 0
		pos++
	}
	return errnoSuccess
}

func (w *WASI) randomGet(_ context.Context, mod api.Module, stack []uint64) errno {
	b, ok := mod.Memory().Read(uint32(stack[0]), uint32(stack[1]))
	if !ok {
		return errnoFault
	}
	if _, err := io.ReadFull(w.rand, b); err != nil {
		return errnoIo
	}
	return errnoSuccess
}

func (w *WASI) schedYield(context.Context, api.Module, []uint64) errno {
	runtime.Gosched()
	return errnoSuccess
}

// procExit ends the guest as wazero's does: the module closes with the
// code, so that whoever waits on it sees the code, and the panic stops the
// guest at once (compilers put unreachable after the call). It does not go
// through the gate: the guest does not come back from it.
func procExit(ctx context.Context, mod api.Module, stack []uint64) {
	code := uint32(stack[0])
	_ = mod.CloseWithExitCode(ctx, code)
	panic(sys.NewExitError(code))
}

// notImplemented serves fd_fdstat_set_rights (rights are gone from WASI)
// and proc_raise, which wazero does not implement either.
func notImplemented(*WASI, context.Context, api.Module, []uint64) errno {
	return errnoNosys
}
