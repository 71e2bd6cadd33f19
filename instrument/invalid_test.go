package instrument_test

import (
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/wasm"
)

// callMissing is issue 12's module: a call to function 99 where there is
// one function. The instrumenter used to panic in its call graph.
var callMissing = []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x06\x01\x04\x00\x10\x63\x0b")

// invalidModule encodes a module of one function of type 0, () -> (), whose
// body is body and an end, with one memory of one page, a table of two
// funcrefs, an immutable and a mutable i32 global, a passive data segment
// and a passive element segment naming function 0, after edit changed
// it.
func invalidModule(t *testing.T, body []wasm.Instr, edit func(m *wasm.Module)) []byte {
	t.Helper()
	dataCount := uint32(1)
	m := &wasm.Module{
		Types:    []wasm.FuncType{{}, {Params: []wasm.ValType{wasm.I32}}},
		Funcs:    []uint32{0},
		Tables:   []wasm.TableType{{Elem: wasm.FuncRef, Limits: wasm.Limits{Min: 2}}},
		Memories: []wasm.Limits{{Min: 1}},
		Globals: []wasm.Global{
			{Type: wasm.GlobalType{Type: wasm.I32}, Init: []wasm.Instr{wasm.I32Const(7), wasm.Plain(wasm.OpEnd)}},
			{Type: wasm.GlobalType{Type: wasm.I32, Mutable: true}, Init: []wasm.Instr{wasm.I32Const(8), wasm.Plain(wasm.OpEnd)}},
		},
		Elements:  []wasm.Element{{Mode: wasm.SegmentPassive, Type: wasm.FuncRef, Funcs: []uint32{0}}},
		DataCount: &dataCount,
		Code:      []wasm.Code{{Body: append(body, wasm.Plain(wasm.OpEnd))}},
		Data:      []wasm.Data{{Mode: wasm.SegmentPassive, Init: []byte("x")}},
	}
	if edit != nil {
		edit(m)
	}
	out, err := wasm.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func i32s(vs ...int32) []wasm.Instr {
	var out []wasm.Instr
	for _, v := range vs {
		out = append(out, wasm.I32Const(v))
	}
	return out
}

func with(parts ...[]wasm.Instr) []wasm.Instr {
	var out []wasm.Instr
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(in ...wasm.Instr) []wasm.Instr { return in }

// TestInvalidModules: an invalid module is refused before anything is
// rewritten, with one line naming the part (the function for a body) and
// its byte offset in the input. One case per index space and per kind of
// limit, and issue 12's reproductions. The offsets are those
// wasm-objdump -d and -x show.
func TestInvalidModules(t *testing.T) {
	plain := wasm.Plain
	idx := wasm.Indexed
	for _, c := range []struct {
		name   string
		module func(t *testing.T) []byte
		want   string
	}{
		{"call to a missing function (issue 12)", func(*testing.T) []byte { return callMissing },
			"function 0 at offset 0x17: call to function 99, the module has 1"},
		{"return_call to a missing function", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpReturnCall, 1)), nil)
		}, "function 0 at offset 0x3d: return_call to function 1, the module has 1"},
		{"memory of 2^32-1 pages (issue 12)", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Memories[0].Min = 1<<32 - 1 })
		}, "memory 0 at offset 0x1f: minimum of 4294967295 pages, more than 4 GiB (65536 pages)"},
		{"memory.grow on memory 5 (issue 12)", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(1), one(idx(wasm.OpMemoryGrow, 5), plain(wasm.OpDrop))), nil)
		}, "function 0 at offset 0x3f: memory 5, the module has 1"},
		{"maximum over 4 GiB", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Memories[0] = wasm.Limits{Min: 1, Max: 65537, HasMax: true} })
		}, "memory 0 at offset 0x1f: maximum of 65537 pages, more than 4 GiB (65536 pages)"},
		{"minimum over maximum", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Memories[0] = wasm.Limits{Min: 3, Max: 2, HasMax: true} })
		}, "memory 0 at offset 0x1f: minimum of 3 pages is larger than the maximum of 2"},
		{"two memories", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Memories = append(m.Memories, wasm.Limits{}) })
		}, "memory 1 at offset 0x21: wazero supports 1 memory, the module has 2"},
		{"imported memory too large", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Memories = nil
				m.Imports = []wasm.Import{{Module: "env", Name: "memory", Kind: wasm.KindMemory, Memory: wasm.Limits{Min: 70000}}}
			})
		}, `import "env" "memory" at offset 0x15: minimum of 70000 pages, more than 4 GiB (65536 pages)`},
		{"shared memory without maximum", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Memories[0].Shared = true })
		}, "memory 0 at offset 0x1f: a shared memory needs a maximum"},
		{"table minimum over maximum", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Tables[0].Limits = wasm.Limits{Min: 2, Max: 1, HasMax: true} })
		}, "table 0 at offset 0x19: minimum size 2 is larger than the maximum 1"},
		{"table over wazero's size", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Tables[0].Limits.Min = 1<<27 + 1 })
		}, "table 0 at offset 0x19: 134217729 elements, more than wazero's limit of 134217728"},
		{"function of a missing type", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Funcs[0] = 9 })
		}, "function 0 at offset 0x15: type 9, the module has 2"},
		{"import of a missing type", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Imports = []wasm.Import{{Module: "env", Name: "f", Kind: wasm.KindFunc, TypeIndex: 2}}
			})
		}, `import "env" "f" at offset 0x15: type 2, the module has 2`},
		{"call_indirect of a missing type", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0), one(wasm.Instr{Op: wasm.OpCallIndirect, X: 5})), nil)
		}, "function 0 at offset 0x3f: type 5, the module has 2"},
		{"call_indirect through a missing table", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0), one(wasm.Instr{Op: wasm.OpCallIndirect, Y: 1})), nil)
		}, "function 0 at offset 0x3f: table 1, the module has 1"},
		{"missing local", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpLocalGet, 0), plain(wasm.OpDrop)), nil)
		}, "function 0 at offset 0x3d: local 0, the function has 0"},
		{"missing global", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpGlobalGet, 2), plain(wasm.OpDrop)), nil)
		}, "function 0 at offset 0x3d: global 2, the module has 2"},
		{"global.set of an immutable global", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(1), one(idx(wasm.OpGlobalSet, 0))), nil)
		}, "function 0 at offset 0x3f: global 0 is immutable"},
		{"missing table", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpTableSize, 3), plain(wasm.OpDrop)), nil)
		}, "function 0 at offset 0x3d: table 3, the module has 1"},
		{"load without memory", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0), one(wasm.Mem(wasm.OpI32Load, 2, 0), plain(wasm.OpDrop))), func(m *wasm.Module) { m.Memories = nil })
		}, "function 0 at offset 0x3a: memory 0, the module has 0"},
		{"store to memory 1", func(t *testing.T) []byte {
			store := wasm.Mem(wasm.OpI32Store, 2, 0)
			store.Y = 1
			return invalidModule(t, with(i32s(0, 0), one(store)), nil)
		}, "function 0 at offset 0x41: memory 1, the module has 1"},
		{"alignment over the access", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0), one(wasm.Mem(wasm.OpI32Load8U, 1, 0), plain(wasm.OpDrop))), nil)
		}, "function 0 at offset 0x3f: alignment 2**1 is larger than the 1 bytes accessed"},
		{"missing data segment", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpDataDrop, 1)), nil)
		}, "function 0 at offset 0x3d: data segment 1, the module has 1"},
		{"memory.init of a missing data segment", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0, 0, 0), one(wasm.Instr{Op: wasm.OpMemoryInit, X: 4})), nil)
		}, "function 0 at offset 0x43: data segment 4, the module has 1"},
		{"missing element segment", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpElemDrop, 1)), nil)
		}, "function 0 at offset 0x3d: element segment 1, the module has 1"},
		{"table.init into a missing table", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0, 0, 0), one(wasm.Instr{Op: wasm.OpTableInit, Y: 1})), nil)
		}, "function 0 at offset 0x43: table 1, the module has 1"},
		{"table.copy from a missing table", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0, 0, 0), one(wasm.Instr{Op: wasm.OpTableCopy, Y: 2})), nil)
		}, "function 0 at offset 0x43: table 2, the module has 1"},
		{"ref.func of a missing function", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpRefFunc, 1), plain(wasm.OpDrop)), nil)
		}, "function 0 at offset 0x3d: function 1, the module has 1"},
		{"ref.func of an undeclared function", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpRefFunc, 0), plain(wasm.OpDrop)), func(m *wasm.Module) { m.Elements = nil })
		}, "function 0 at offset 0x36: ref.func 0 names a function nothing outside the code declares (an export or an element segment)"},
		{"missing label", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpBr, 1)), nil)
		}, "function 0 at offset 0x3d: label 1, 1 in scope"},
		{"br_table to a missing label", func(t *testing.T) []byte {
			return invalidModule(t, with(i32s(0), one(wasm.Instr{Op: wasm.OpBrTable, Ext: &wasm.Extra{Labels: []uint32{0, 3}}})), nil)
		}, "function 0 at offset 0x3f: label 3, 1 in scope"},
		{"block of a missing type", func(t *testing.T) []byte {
			return invalidModule(t, one(wasm.Block(wasm.OpBlock, wasm.BlockTypeIndex(7)), plain(wasm.OpEnd)), nil)
		}, "function 0 at offset 0x3d: type 7, the module has 2"},
		{"missing tag", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpThrow, 0)), nil)
		}, "function 0 at offset 0x3d: tag 0, the module has 0"},
		{"lane out of range", func(t *testing.T) []byte {
			return invalidModule(t, one(wasm.V128Const([16]byte{}), wasm.Instr{Op: wasm.OpI32x4ExtractLane, Lane: 4}, plain(wasm.OpDrop)), nil)
		}, "function 0 at offset 0x4f: lane 4, the shape has 4"},
		{"too many locals", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Code[0].Locals = []wasm.LocalGroup{{Count: wasm.MaxLocals + 1, Type: wasm.I32}}
			})
		}, "function 0 at offset 0x3c: 50001 locals, more than this tool supports (50000)"},
		{"global of the wrong type", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Globals[0].Init[0] = wasm.I64Const(7) })
		}, "global 0 at offset 0x24: type mismatch: expected i32, found i64"},
		{"global initialised from a mutable global", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Globals[1].Init[0] = idx(wasm.OpGlobalGet, 0)
				m.Globals[0].Type.Mutable = true
			})
		}, "global 1 at offset 0x29: global.get 0: a constant expression cannot read a mutable global"},
		{"global initialised from a later global", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Globals[0].Init[0] = idx(wasm.OpGlobalGet, 1) })
		}, "global 0 at offset 0x24: global.get 1: a constant expression reads only the imported globals and those defined before it (0 here)"},
		{"global initialised by a call", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Globals[0].Init[0] = idx(wasm.OpCall, 0) })
		}, "global 0 at offset 0x24: call is not a constant instruction"},
		{"export of a missing function", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Exports = []wasm.Export{{Name: "run", Kind: wasm.KindFunc, Index: 1}} })
		}, `export "run" at offset 0x31: func 1, the module has 1`},
		{"export of a missing memory", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Exports = []wasm.Export{{Name: "memory", Kind: wasm.KindMemory, Index: 1}} })
		}, `export "memory" at offset 0x31: memory 1, the module has 1`},
		{"export name twice", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Exports = []wasm.Export{{Name: "run", Kind: wasm.KindFunc}, {Name: "run", Kind: wasm.KindGlobal}}
			})
		}, `export "run" at offset 0x37: the name is exported twice`},
		{"missing start function", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { start := uint32(3); m.Start = &start })
		}, "start function at offset 0x30: function 3, the module has 1"},
		{"start function with a parameter", func(t *testing.T) []byte {
			return invalidModule(t, one(idx(wasm.OpLocalGet, 0), plain(wasm.OpDrop)), func(m *wasm.Module) {
				m.Funcs[0] = 1
				start := uint32(0)
				m.Start = &start
			})
		}, "start function at offset 0x30: function 0 has the type (i32) -> (), not () -> ()"},
		{"element segment of a missing function", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) { m.Elements[0].Funcs[0] = 4 })
		}, "element segment 0 at offset 0x31: function 4, the module has 1"},
		{"element segment in a missing table", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Elements[0] = wasm.Element{Table: 2, ExplicitTable: true, Offset: i32s(0), Type: wasm.FuncRef, Funcs: []uint32{0}}
				m.Elements[0].Offset = append(m.Elements[0].Offset, plain(wasm.OpEnd))
			})
		}, "element segment 0 at offset 0x31: table 2, the module has 1"},
		{"element segment at an i64 offset", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Elements[0] = wasm.Element{Offset: []wasm.Instr{wasm.I64Const(0), plain(wasm.OpEnd)}, Type: wasm.FuncRef, Funcs: []uint32{0}}
			})
		}, "element segment 0 at offset 0x31: offset: type mismatch: expected i32, found i64"},
		{"data segment without memory", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Memories = nil
				m.Data[0] = wasm.Data{Offset: []wasm.Instr{wasm.I32Const(0), plain(wasm.OpEnd)}, Init: []byte("x")}
			})
		}, "data segment 0 at offset 0x3c: memory 0, the module has 0"},
		{"data segment at a global's offset", func(t *testing.T) []byte {
			return invalidModule(t, nil, func(m *wasm.Module) {
				m.Data[0] = wasm.Data{Offset: []wasm.Instr{idx(wasm.OpGlobalGet, 1), plain(wasm.OpEnd)}, Init: []byte("x")}
			})
		}, "data segment 0 at offset 0x41: offset: global.get 1: a constant expression cannot read a mutable global"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := instrument.Instrument(c.module(t), instrument.Options{})
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v\nwant  %s", err, c.want)
			}
		})
	}
}
