package instrument_test

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
)

// The program's view of memory once wasmsr_prepare has put the unwind
// buffer past its end: memory.size leaves the buffer out, memory.grow
// hands the program the buffer's first pages zeroed (whatever a pause left
// there) and moves the buffer up, and a grow past the maximum fails as in
// the original. Without wasmsr_prepare the module sees memory as it is.
func TestHiddenBuffer(t *testing.T) {
	const page = 65536
	src := `(module
		(memory 1 4)
		(func (export "size") (result i32) memory.size)
		(func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
		(func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
		(func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
		(func (export "spin") (param i32) (loop (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))`
	module, info := instrumentModule(t, wat2wasm(t, src), instrument.Options{})

	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig())
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, module)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		name string
		args []uint64
		want uint32
	}
	cases := []struct {
		name    string
		prepare bool
		steps   []step
		// pages is the size of the whole memory at the end, buffer included.
		pages uint32
	}{
		{name: "prepared", prepare: true, pages: 4, steps: []step{
			{"size", nil, 1},
			// A frame a pause left in the buffer, written as a program could.
			{"store", []uint64{page, 0xdead}, 0},
			{"grow", []uint64{0}, 1},
			{"grow", []uint64{1}, 1},
			{"size", nil, 2},
			{"load", []uint64{page}, 0},
			{"grow", []uint64{2}, ^uint32(0)}, // 2 + 2 + the buffer's page > 4
			{"size", nil, 2},
			{"grow", []uint64{1}, 2},
			{"size", nil, 3},
			{"grow", []uint64{1}, ^uint32(0)},
		}},
		{name: "not prepared", pages: 4, steps: []step{
			{"size", nil, 1},
			{"grow", []uint64{2}, 1},
			{"size", nil, 3},
			{"grow", []uint64{1}, 3},
			{"grow", []uint64{1}, ^uint32(0)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close(ctx)
			call := func(name string, args ...uint64) uint32 {
				t.Helper()
				res, err := mod.ExportedFunction(name).Call(ctx, args...)
				if err != nil {
					t.Fatalf("%s%v: %v", name, args, err)
				}
				if len(res) == 0 {
					return 0
				}
				return uint32(res[0])
			}
			if c.prepare {
				if got := call(abi.ExportPrepare); got != 1 {
					t.Fatalf("%s() = %d, want 1", abi.ExportPrepare, got)
				}
			}
			for _, s := range c.steps {
				if got := call(s.name, s.args...); got != s.want {
					t.Fatalf("%s%v = %d, want %d", s.name, s.args, int32(got), int32(s.want))
				}
			}
			if got := mod.Memory().Size() / page; got != c.pages {
				t.Errorf("memory has %d pages, want %d", got, c.pages)
			}
			owned := uint32(mod.ExportedGlobal(abi.ExportOwned).Get())
			if own := uint32(mod.(experimental.InternalModule).Global(int(info.Globals.OwnBuffer)).Get()); c.prepare && (owned != 1 || own != 3*page) {
				t.Errorf("owned %d, buffer at %#x; want 1 and %#x (after the program's 3 pages)", owned, own, 3*page)
			}
		})
	}
}
