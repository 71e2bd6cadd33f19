// Package unwind drives the unwind/rewind protocol of an instrumented
// module running on wazero: it asks the program to pause, stops the unwind
// at the top, reads the saved frames, and rewinds the program back into the
// call it left. It speaks Binaryen's Asyncify ABI, so it also drives
// modules made by wasm-opt --asyncify (without wasmsr's extras: safepoint
// requests, frame decoding, a buffer that grows).
package unwind

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsr/wasmsr/abi"
)

// State is the module's unwind state.
type State uint32

// States, numbered as in Binaryen's ABI.
const (
	Normal    State = 0
	Unwinding State = 1
	Rewinding State = 2
)

func (s State) String() string {
	switch s {
	case Normal:
		return "normal"
	case Unwinding:
		return "unwinding"
	case Rewinding:
		return "rewinding"
	}
	return fmt.Sprintf("state %d", uint32(s))
}

// ErrNoRoom is returned when a pause cannot start because memory is at its
// maximum and has no room for the unwind buffer; the program runs on.
var ErrNoRoom = errors.New("cannot pause: memory is at its maximum, with no room for the unwind buffer")

// ErrNotNow is returned when the program cannot unwind now: it runs a
// function that ends in a trap, which saves no frame (see package
// instrument). The program runs on; a pause asked for waits.
var ErrNotNow = errors.New("cannot pause now: the program is on its way to a trap")

// ErrOverflow is returned when the program trapped because its frames did
// not fit in the unwind buffer and memory could not grow.
var ErrOverflow = errors.New("unwind buffer overflow: the saved call stack does not fit in memory (memory is at its maximum)")

// Module drives one instance of an instrumented module.
type Module struct {
	mod api.Module
	// info is nil for a module instrumented by Binaryen.
	info *abi.Info
	// The globals wasmsr adds (nil for Binaryen).
	request, data, owned, overflow api.MutableGlobal
	// prepared: the module keeps its buffer from the start (format 5), a
	// request needs it.
	prepared bool

	// buffer is the address of the data struct of the unwind in progress
	// or paused, 0 if none.
	buffer uint32
	// paused is the export call that unwound, to be resumed.
	paused *call
}

type call struct {
	name   string
	params []uint64
}

// BinaryenBufferSize is the buffer given to modules made by wasm-opt
// --asyncify, whose code cannot grow it and writes past its end when it
// overflows (wasmsr's modules start with one page and grow it).
const BinaryenBufferSize = 16 << 16

const pageSize = 1 << 16

// New wraps an instance of an instrumented module. info is the module's
// wasmsr section (abi.ReadInfo), or nil for a module instrumented
// by Binaryen.
func New(mod api.Module, info *abi.Info) (*Module, error) {
	m := &Module{mod: mod, info: info}
	for _, name := range []string{abi.ExportStartUnwind, abi.ExportStopUnwind,
		abi.ExportStartRewind, abi.ExportStopRewind, abi.ExportGetState} {
		if mod.ExportedFunction(name) == nil {
			return nil, fmt.Errorf("module does not export %s: it is not instrumented", name)
		}
	}
	if mod.Memory() == nil {
		return nil, errors.New("module has no memory for the unwind buffer")
	}
	if info == nil {
		return m, nil
	}
	for _, g := range []struct {
		name string
		dst  *api.MutableGlobal
	}{{abi.ExportRequest, &m.request}, {abi.ExportData, &m.data},
		{abi.ExportOwned, &m.owned}, {abi.ExportOverflow, &m.overflow}} {
		mg, ok := mod.ExportedGlobal(g.name).(api.MutableGlobal)
		if !ok {
			return nil, fmt.Errorf("module does not export the mutable global %s", g.name)
		}
		*g.dst = mg
	}
	if mod.ExportedFunction(abi.ExportPrepare) != nil {
		// The buffer a safepoint stores into before deciding: it must
		// exist before the program runs (0: memory cannot grow, and
		// requests are refused with ErrNoRoom). A restored instance
		// gets the snapshot's, pages it already has.
		m.prepared = true
		if _, err := m.invoke(context.Background(), abi.ExportPrepare, 1); err != nil {
			return nil, fmt.Errorf("%s: %w", abi.ExportPrepare, err)
		}
	}
	return m, nil
}

// Info returns the module's wasmsr section, or nil for Binaryen's.
func (m *Module) Info() *abi.Info { return m.info }

// API returns the wazero module.
func (m *Module) API() api.Module { return m.mod }

// anyResults is invoke's results count for a call whose results are not
// looked at.
const anyResults = -1

// invoke calls an export through a fresh handle: wazero returns wrong
// results when a handle that is already running up the stack is reused,
// which happens when host functions call back into the module. The
// export must take len(params) parameters and return results values: the
// module is outside input too, and may be crafted.
func (m *Module) invoke(ctx context.Context, name string, results int, params ...uint64) ([]uint64, error) {
	f, err := m.function(name, len(params), results)
	if err != nil {
		return nil, err
	}
	res, err := f.Call(ctx, params...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// function returns an export that takes params parameters and returns
// results values (any number with anyResults), counted as wazero's Call
// passes them: a v128 is two.
func (m *Module) function(name string, params, results int) (api.Function, error) {
	f := m.mod.ExportedFunction(name)
	if f == nil {
		return nil, fmt.Errorf("the module does not export the function %s", name)
	}
	def := f.Definition()
	if p, r := slots(def.ParamTypes()), slots(def.ResultTypes()); p != params || results != anyResults && r != results {
		return nil, fmt.Errorf("the module's %s takes %d parameters and returns %d values, not %d and %d", name, p, r, params, results)
	}
	return f, nil
}

// valueTypeV128 is how wazero's definitions name v128, which its api
// package has no constant for.
const valueTypeV128 api.ValueType = 0x7b

// slots counts the uint64 values wazero's Call uses for types.
func slots(types []api.ValueType) int {
	n := len(types)
	for _, t := range types {
		if t == valueTypeV128 {
			n++
		}
	}
	return n
}

// State returns the module's unwind state.
func (m *Module) State(ctx context.Context) (State, error) {
	res, err := m.invoke(ctx, abi.ExportGetState, 1)
	if err != nil {
		return 0, err
	}
	return State(res[0]), nil
}

// RequestPause asks the program to unwind at its next safepoint. It is
// safe to call from any goroutine while the program runs.
func (m *Module) RequestPause() error {
	if err := m.canRequest(); err != nil {
		return err
	}
	m.request.Set(1)
	return nil
}

// RequestPauseAfter asks the program to unwind at the k-th safepoint it
// reaches from now (k >= 1): a deterministic pause point for tests.
func (m *Module) RequestPauseAfter(k int) error {
	if err := m.canRequest(); err != nil {
		return err
	}
	if k < 1 || k > 1<<31 {
		return fmt.Errorf("safepoint count %d out of range", k)
	}
	m.request.Set(uint64(uint32(-int32(k))))
	return nil
}

// canRequest says why a request cannot be made, if it cannot.
func (m *Module) canRequest() error {
	switch {
	case m.request == nil:
		return errors.New("module has no safepoints (instrumented by Binaryen)")
	case m.prepared && m.owned.Get() == 0:
		return ErrNoRoom
	}
	return nil
}

// Declined reports whether a safepoint declined a pause request since the
// last call, because memory had no room for the unwind buffer (see
// ErrNoRoom). The program runs on.
func (m *Module) Declined() bool {
	if m.overflow == nil || m.overflow.Get() != 2 {
		return false
	}
	m.overflow.Set(0)
	return true
}

// CancelPause withdraws a request that no safepoint has served yet.
func (m *Module) CancelPause() {
	if m.request != nil {
		m.request.Set(0)
	}
}

// StartUnwind makes the program unwind when the calling host function
// returns. Host functions (imports) call it to pause the program at a
// call; the import must then return at once, and it will be called again
// after the rewind (see Rewinding and StopRewind).
func (m *Module) StartUnwind(ctx context.Context) error {
	if m.info != nil {
		// The module makes (or reuses) its buffer at the end of memory and
		// owns it: it grows it as needed and zeroes it when the rewind ends.
		res, err := m.invoke(ctx, abi.ExportUnwind, 1)
		if err != nil {
			return err
		}
		switch res[0] {
		case 0:
			return ErrNoRoom
		case abi.UnwindNotNow:
			return ErrNotNow
		}
		m.buffer = uint32(m.data.Get())
		return nil
	}
	ptr, err := m.allocBuffer()
	if err != nil {
		return err
	}
	if _, err := m.invoke(ctx, abi.ExportStartUnwind, 0, uint64(ptr)); err != nil {
		return err
	}
	m.buffer = ptr
	return nil
}

// allocBuffer puts the unwind buffer of a module made by Binaryen at the
// end of memory: the data struct {pos, end} followed by the space for
// frames. Its code cannot grow the buffer, so it gets a fixed size.
func (m *Module) allocBuffer() (uint32, error) {
	mem := m.mod.Memory()
	prev, ok := mem.Grow(BinaryenBufferSize / pageSize)
	if !ok {
		return 0, fmt.Errorf("cannot grow memory by %d bytes for the unwind buffer", BinaryenBufferSize)
	}
	ptr := prev * pageSize
	if !mem.WriteUint32Le(ptr, ptr+8) || !mem.WriteUint32Le(ptr+4, ptr+BinaryenBufferSize) {
		return 0, errors.New("cannot write the unwind data struct")
	}
	return ptr, nil
}

// Call calls an export. If the program unwinds during the call, Call
// stops the unwind and reports paused; Resume continues it.
func (m *Module) Call(ctx context.Context, name string, params ...uint64) (results []uint64, paused bool, err error) {
	if m.paused != nil {
		return nil, false, fmt.Errorf("cannot call %s: the program is paused in %s", name, m.paused.name)
	}
	return m.run(ctx, &call{name: name, params: params})
}

func (m *Module) run(ctx context.Context, c *call) ([]uint64, bool, error) {
	results, err := m.invoke(ctx, c.name, anyResults, c.params...)
	if err != nil {
		if m.overflow != nil && m.overflow.Get() == 1 {
			return nil, false, fmt.Errorf("%w (%v)", ErrOverflow, err)
		}
		return nil, false, err
	}
	state, err := m.State(ctx)
	if err != nil {
		return nil, false, err
	}
	switch state {
	case Normal:
		return results, false, nil
	case Unwinding:
		if m.data != nil {
			m.buffer = uint32(m.data.Get())
		}
		if _, err := m.invoke(ctx, abi.ExportStopUnwind, 0); err != nil {
			return nil, false, err
		}
		m.paused = c
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("%s returned while %s: the rewind did not reach the point it left", c.name, state)
}

// Paused reports whether the program is paused, and in which export.
func (m *Module) Paused() (export string, ok bool) {
	if m.paused == nil {
		return "", false
	}
	return m.paused.name, true
}

// Resume rewinds the paused program into the call it left and lets it run
// on, until it returns or pauses again.
func (m *Module) Resume(ctx context.Context) (results []uint64, paused bool, err error) {
	c := m.paused
	if c == nil {
		return nil, false, errors.New("the program is not paused")
	}
	if _, err := m.invoke(ctx, abi.ExportStartRewind, 0, uint64(m.buffer)); err != nil {
		return nil, false, err
	}
	if m.owned != nil && !m.prepared {
		// The buffer is at the end of memory: the module zeroes it when the rewind ends.
		m.owned.Set(1)
	}
	m.paused = nil
	return m.run(ctx, c)
}

// Rewinding reports whether a rewind is in progress: a host function that
// sees it was reached by a rewind, and must call StopRewind before doing
// its work.
func (m *Module) Rewinding(ctx context.Context) (bool, error) {
	s, err := m.State(ctx)
	return s == Rewinding, err
}

// StopRewind ends a rewind at the host function that started the unwind.
// The buffer is zeroed: the program may take its pages as fresh memory.
func (m *Module) StopRewind(ctx context.Context) error {
	if m.info == nil {
		// Binaryen's module does not zero the buffer itself.
		mem := m.mod.Memory()
		end, ok := mem.ReadUint32Le(m.buffer + 4)
		if !ok || end < m.buffer || !mem.Write(m.buffer, make([]byte, end-m.buffer)) {
			return errors.New("unwind buffer out of bounds")
		}
	}
	if _, err := m.invoke(ctx, abi.ExportStopRewind, 0); err != nil {
		return err
	}
	m.buffer = 0
	return nil
}

// Buffer returns the address of the paused program's unwind data struct.
func (m *Module) Buffer() uint32 { return m.buffer }

// SetPaused makes a fresh instance, whose memory and globals were restored
// from a paused one, ready to Resume the given export call with the frames
// in the buffer at address buffer.
func (m *Module) SetPaused(export string, params []uint64, buffer uint32) {
	m.paused = &call{name: export, params: params}
	m.buffer = buffer
}

// PausedCall returns the export and parameters of the paused call.
func (m *Module) PausedCall() (export string, params []uint64, ok bool) {
	if m.paused == nil {
		return "", nil, false
	}
	return m.paused.name, m.paused.params, true
}
