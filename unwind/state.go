package unwind

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// InstanceState is everything a paused program keeps in its instance: the unwind
// buffer lives in Memory, and the paused export call says where to rewind
// into. Loading it into a fresh instance of the same module and resuming
// continues the program. Reference values are kept as function indices
// (funcref) so that they mean the same in another instance; externref
// values are the host's own and are kept as they are.
type InstanceState struct {
	Memory  []byte
	Globals []GlobalValue
	Tables  []TableValues
	// DroppedData and DroppedElems are the passive segments the program
	// dropped.
	DroppedData, DroppedElems []uint32
	// Export and Params are the paused call; Buffer is the address of its
	// unwind data struct.
	Export string
	Params []uint64
	Buffer uint32
}

// GlobalValue is the value of a mutable global: Lo holds it (a funcref as
// function index + 1, 0 for null), Hi the high half of a v128.
type GlobalValue struct {
	Index  uint32
	Lo, Hi uint64
}

// TableValues are the elements of a table, encoded like GlobalValue.Lo.
type TableValues struct {
	Index  uint32
	Values []uint64
}

// isFuncRef reports whether values of type t are function references.
func isFuncRef(t wasm.ValType) bool {
	return t.IsRef() && (t.Heap() == wasm.HeapFunc || t.Heap() >= 0)
}

// funcRefs maps function references of this instance to indices and back.
//
// wazero v1.12's compiler makes a new object for every reference it
// creates to a function the module defines (each ref.func, each element
// segment item), so equal functions can have unequal references; only
// references to imports are unique. A reference to a defined function
// points to wazero's functionInstance, which holds the function's index:
// funcRefs reads it there, and accepts it only when the code pointer next
// to it is that of the reference wasmsr_func_ref gives for the same index,
// so that a different wazero layout is an error, never a wrong index.
type funcRefs struct {
	m   *Module
	ctx context.Context
	// byRef maps the references wasmsr_func_ref returns to indices.
	byRef map[uint64]uint32
	// refs[i] is the reference wasmsr_func_ref returns for function i.
	refs []uint64
}

// functionInstance mirrors the start of wazero v1.12's
// internal/engine/wazevo.functionInstance.
type functionInstance struct {
	executable             uintptr
	moduleContextOpaquePtr uintptr
	typeID                 uint32
	indexInModule          uint32
}

func (m *Module) funcRefs(ctx context.Context) *funcRefs { return &funcRefs{m: m, ctx: ctx} }

func (f *funcRefs) load() error {
	if f.refs != nil {
		return nil
	}
	n := f.m.info.FuncRefs
	if n == 0 {
		return errors.New("module has funcref state but no wasmsr_func_ref export")
	}
	f.refs = make([]uint64, n)
	f.byRef = make(map[uint64]uint32, n)
	for i := range n {
		res, err := f.m.invoke(f.ctx, abi.ExportFuncRef, 1, uint64(i))
		if err != nil {
			return err
		}
		f.refs[i] = res[0]
		f.byRef[res[0]] = i
	}
	return nil
}

// instance reads the functionInstance a reference points to. The
// reference's bits are read as a pointer rather than converted from an
// integer: the conversion is pointer arithmetic to the race detector's
// checks (-race implies -d=checkptr), which refuse a result that points
// into the heap.
func instance(ref uint64) *functionInstance {
	return *(**functionInstance)(unsafe.Pointer(&ref))
}

func (f *funcRefs) encode(v uint64) (uint64, error) {
	if v == 0 {
		return 0, nil
	}
	if err := f.load(); err != nil {
		return 0, err
	}
	if i, ok := f.byRef[v]; ok {
		return uint64(i) + 1, nil
	}
	fi := instance(v)
	if i := fi.indexInModule; int(i) < len(f.refs) {
		if want := instance(f.refs[i]); want.executable == fi.executable && want.moduleContextOpaquePtr == fi.moduleContextOpaquePtr {
			return uint64(i) + 1, nil
		}
	}
	return 0, fmt.Errorf("a function reference that is not one of the module's functions (from another module, or a wazero whose references wasmsr cannot read: this is %s, wasmsr reads v1.12's)", wazeroVersion())
}

func (f *funcRefs) decode(v uint64) (uint64, error) {
	if v == 0 {
		return 0, nil
	}
	if err := f.load(); err != nil {
		return 0, err
	}
	if v-1 >= uint64(len(f.refs)) {
		return 0, fmt.Errorf("function index %d out of range", v-1)
	}
	return f.refs[v-1], nil
}

// Capture reads the state of a paused program.
func (m *Module) Capture(ctx context.Context) (*InstanceState, error) {
	return m.CaptureInto(ctx, nil)
}

// CaptureInto is Capture copying memory into buf when it is large enough
// (a buffer of an earlier capture the caller is done with: copying into
// memory already in use is several times faster than into fresh pages).
func (m *Module) CaptureInto(ctx context.Context, buf []byte) (*InstanceState, error) {
	if m.info == nil {
		return nil, errors.New("the state of a module instrumented by Binaryen cannot be captured")
	}
	if m.paused == nil {
		return nil, errors.New("the program is not paused")
	}
	data, ok := memoryView(m.mod.Memory())
	if !ok {
		return nil, errors.New("cannot read memory")
	}
	if cap(buf) < len(data) {
		buf = make([]byte, len(data))
	}
	st := &InstanceState{
		Memory: buf[:copy(buf[:len(data)], data)],
		Export: m.paused.name, Params: append([]uint64(nil), m.paused.params...), Buffer: m.buffer,
		DroppedData:  m.dropped(abi.ExportDroppedDataPrefix, m.info.DroppedData),
		DroppedElems: m.dropped(abi.ExportDroppedElemPrefix, m.info.DroppedElems),
	}
	refs := m.funcRefs(ctx)
	for _, g := range m.info.Mutable {
		v := GlobalValue{Index: g.Index}
		if g.Type == wasm.V128 {
			res, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportGlobalGetPrefix, g.Index), 2)
			if err != nil {
				return nil, err
			}
			v.Lo, v.Hi = res[0], res[1]
		} else {
			eg := m.mod.ExportedGlobal(g.Export)
			if eg == nil {
				return nil, fmt.Errorf("module does not export global %s", g.Export)
			}
			v.Lo = eg.Get()
			if isFuncRef(g.Type) {
				var err error
				if v.Lo, err = refs.encode(v.Lo); err != nil {
					return nil, fmt.Errorf("global %d: %w", g.Index, err)
				}
			}
		}
		st.Globals = append(st.Globals, v)
	}
	for _, t := range m.info.Tables {
		tv, err := m.captureTable(ctx, t, refs)
		if err != nil {
			return nil, fmt.Errorf("table %d: %w", t, err)
		}
		st.Tables = append(st.Tables, tv)
	}
	return st, nil
}

func (m *Module) dropped(prefix string, segments []uint32) []uint32 {
	var list []uint32
	for _, s := range segments {
		if g := m.mod.ExportedGlobal(fmt.Sprintf("%s%d", prefix, s)); g != nil && g.Get() != 0 {
			list = append(list, s)
		}
	}
	return list
}

func (m *Module) captureTable(ctx context.Context, t uint32, refs *funcRefs) (TableValues, error) {
	tv := TableValues{Index: t}
	res, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportTableSizePrefix, t), 1)
	if err != nil {
		return tv, err
	}
	get, err := m.function(fmt.Sprintf("%s%d", abi.ExportTableGetPrefix, t), 1, 1)
	if err != nil {
		return tv, err
	}
	funcs := get.Definition().ResultTypes()[0] != api.ValueTypeExternref
	tv.Values = make([]uint64, res[0])
	for i := range tv.Values {
		v, err := get.Call(ctx, uint64(i))
		if err != nil {
			return tv, err
		}
		tv.Values[i] = v[0]
		if funcs {
			if tv.Values[i], err = refs.encode(v[0]); err != nil {
				return tv, fmt.Errorf("element %d: %w", i, err)
			}
		}
	}
	return tv, nil
}

// MemoryImage is a paused program's memory, as Restore takes it.
type MemoryImage interface {
	// Size is the memory's size in bytes, a whole number of pages.
	Size() uint64
	// CopyTo writes the memory into dst, a fresh instance's memory of
	// Size bytes (which holds the module's data segments).
	CopyTo(dst []byte) error
}

// Bytes is a memory held in a byte slice, as Capture returns it.
func Bytes(b []byte) MemoryImage { return memoryBytes(b) }

type memoryBytes []byte

func (b memoryBytes) Size() uint64 { return uint64(len(b)) }

func (b memoryBytes) CopyTo(dst []byte) error {
	if len(dst) != len(b) {
		return fmt.Errorf("memory of %d bytes into %d", len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// Restore loads a paused program's state into this instance, which must
// be a fresh instance of the same module, and makes it ready to Resume.
// The memory comes from mem; st.Memory is not read.
func (m *Module) Restore(ctx context.Context, st *InstanceState, mem MemoryImage) error {
	if m.info == nil {
		return errors.New("the state of a module instrumented by Binaryen cannot be restored")
	}
	if err := m.checkPausedCall(st); err != nil {
		return err
	}
	if err := m.restoreMemory(mem); err != nil {
		return err
	}
	// A frame the module would misread (a function it did not
	// instrument, a call index it has no landing for, a size that runs
	// past the buffer) is named here rather than met by the rewind.
	if view, ok := memoryView(m.mod.Memory()); !ok {
		return errors.New("cannot read memory")
	} else if _, err := abi.FramesIn(m.info, view, st.Buffer); err != nil {
		return fmt.Errorf("the paused stack: %w", err)
	}
	refs := m.funcRefs(ctx)
	types := map[uint32]abi.MutableGlobal{}
	for _, g := range m.info.Mutable {
		types[g.Index] = g
	}
	for _, v := range st.Globals {
		g, ok := types[v.Index]
		if !ok {
			return fmt.Errorf("global %d is not a mutable global of this module", v.Index)
		}
		if g.Type == wasm.V128 {
			if _, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportGlobalSetPrefix, g.Index), 0, v.Lo, v.Hi); err != nil {
				return err
			}
			continue
		}
		eg, ok := m.mod.ExportedGlobal(g.Export).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("module does not export mutable global %s", g.Export)
		}
		val := v.Lo
		if isFuncRef(g.Type) {
			var err error
			if val, err = refs.decode(val); err != nil {
				return fmt.Errorf("global %d: %w", g.Index, err)
			}
		}
		eg.Set(val)
	}
	for _, tv := range st.Tables {
		if err := m.restoreTable(ctx, tv, refs); err != nil {
			return fmt.Errorf("table %d: %w", tv.Index, err)
		}
	}
	for _, s := range st.DroppedData {
		if _, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportDropDataPrefix, s), 0); err != nil {
			return err
		}
	}
	for _, s := range st.DroppedElems {
		if _, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportDropElemPrefix, s), 0); err != nil {
			return err
		}
	}
	m.paused = &call{name: st.Export, params: append([]uint64(nil), st.Params...)}
	m.buffer = st.Buffer
	return nil
}

// checkPausedCall checks that a state's paused call can be made again:
// the export is a function of this module taking those parameters, and
// the unwind buffer lies in the memory.
func (m *Module) checkPausedCall(st *InstanceState) error {
	f := m.mod.ExportedFunction(st.Export)
	if f == nil {
		return fmt.Errorf("the program is paused in %q, which this module does not export", st.Export)
	}
	if want := slots(f.Definition().ParamTypes()); len(st.Params) != want {
		return fmt.Errorf("the program is paused in %s with %d parameters, it takes %d", st.Export, len(st.Params), want)
	}
	return nil
}

// restoreMemory grows the instance's memory to the image's size and
// copies the image into it.
func (m *Module) restoreMemory(img MemoryImage) error {
	mem := m.mod.Memory()
	size := img.Size()
	if size%pageSize != 0 {
		return fmt.Errorf("memory of %d bytes is not a whole number of pages", size)
	}
	if have := memorySize(mem); size > have {
		if _, ok := mem.Grow(uint32((size - have) / pageSize)); !ok {
			return fmt.Errorf("cannot grow memory to %d bytes", size)
		}
	} else if size < have {
		return fmt.Errorf("memory of %d bytes, less than the module's initial %d", size, have)
	}
	dst, ok := memoryView(mem)
	if !ok {
		return errors.New("cannot write memory")
	}
	return img.CopyTo(dst)
}

// memorySize is the size of a memory in bytes: api.Memory.Size is a
// uint32, which a memory of 4 GiB overflows.
func memorySize(mem api.Memory) uint64 {
	pages, _ := mem.Grow(0)
	return uint64(pages) * pageSize
}

// memoryView is a memory's whole content, valid until it grows. (Read
// cannot return 4 GiB: its length is a uint32.)
func memoryView(mem api.Memory) ([]byte, bool) {
	size := memorySize(mem)
	if size < 1<<32 {
		return mem.Read(0, uint32(size))
	}
	head, ok := mem.Read(0, 1)
	if !ok {
		return nil, false
	}
	return unsafe.Slice(unsafe.SliceData(head), size), true
}

func (m *Module) restoreTable(ctx context.Context, tv TableValues, refs *funcRefs) error {
	res, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportTableSizePrefix, tv.Index), 1)
	if err != nil {
		return err
	}
	if size := uint64(len(tv.Values)); size > res[0] {
		grow, err := m.invoke(ctx, fmt.Sprintf("%s%d", abi.ExportTableGrowPrefix, tv.Index), 1, 0, size-res[0])
		if err != nil {
			return err
		}
		if int32(grow[0]) < 0 {
			return fmt.Errorf("cannot grow the table to %d elements", size)
		}
	}
	set, err := m.function(fmt.Sprintf("%s%d", abi.ExportTableSetPrefix, tv.Index), 2, 0)
	if err != nil {
		return err
	}
	funcs := set.Definition().ParamTypes()[1] != api.ValueTypeExternref
	for i, v := range tv.Values {
		if funcs {
			if v, err = refs.decode(v); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		if _, err := set.Call(ctx, uint64(i), v); err != nil {
			return err
		}
	}
	return nil
}

// wazeroVersion is the version of wazero this program was built with, for
// the error that says its function instances cannot be read.
func wazeroVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				if d.Replace != nil {
					return "wazero " + d.Version + " replaced by " + d.Replace.Path + " " + d.Replace.Version
				}
				return "wazero " + d.Version
			}
		}
	}
	return "an unknown wazero"
}
