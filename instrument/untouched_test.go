package instrument_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestUntouchedFunctionsKeepTheirBytes: a function the analysis leaves
// alone (none of the wasmsr section's layouts is its) keeps exactly its
// body's bytes in the output, at the same index: its locals and
// instructions, overlong integers included. The exceptions: a body
// holding data.drop or elem.drop gets `i32.const 1; global.set` of the
// segment's wasmsr_dropped_* flag after each drop and nothing else (see
// RATIONALE.md); memory.size and memory.grow become calls to their
// stand-ins (memory.go); and a function that ends in a trap starts with
// `i32.const 1; global.set` of the no-unwind flag, then its own code.
func TestUntouchedFunctionsKeepTheirBytes(t *testing.T) {
	type input struct {
		name   string
		module func(testing.TB) []byte
	}
	inputs := []input{
		{"wat/dropped_segments", func(tb testing.TB) []byte { return watFile(tb, "wat/dropped_segments.wat") }},
		{"go/gofmt", func(tb testing.TB) []byte {
			b, err := os.ReadFile(corpus.Gofmt(tb))
			if err != nil {
				tb.Fatal(err)
			}
			return b
		}},
	}
	for _, p := range corpus.CPrograms(t) {
		inputs = append(inputs, input{p.Name, p.Wasm})
	}
	for _, in := range inputs {
		for _, opts := range []instrument.Options{{}, {Safepoints: instrument.SafepointsCalls}} {
			t.Run(opts.String()+"/"+in.name, func(t *testing.T) {
				checkUntouched(t, in.module(t), opts)
			})
		}
	}
}

func checkUntouched(t *testing.T, original []byte, opts instrument.Options) {
	out, report, err := instrument.Instrument(original, opts)
	if err != nil {
		t.Fatal(err)
	}
	d := wasm.Decoder{KeepSource: true}
	before, err := d.Decode(original)
	if err != nil {
		t.Fatal(err)
	}
	after, err := d.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	flags := dropFlags(t, after)
	instrumented := map[uint32]bool{}
	for _, f := range report.Info.Funcs {
		instrumented[f.Func] = true
	}
	raisesFlag := map[uint32]bool{}
	for _, f := range report.TrapFunctions {
		raisesFlag[f.Index] = true
	}
	raise := []wasm.Instr{wasm.I32Const(1), wasm.Indexed(wasm.OpGlobalSet, report.Info.Globals.NoUnwind)}
	numImports := before.NumImported(wasm.KindFunc)
	untouched, withDrops := 0, 0
	for k := range before.Code {
		fn := uint32(numImports + k)
		if instrumented[fn] {
			continue
		}
		b, a := &before.Code[k], &after.Code[k]
		want, drops := withDropFlags(b.Body, flags, memoryCalls(after))
		if raisesFlag[fn] {
			want = append(slices.Clone(raise), want...)
		}
		switch {
		case raisesFlag[fn] && (!reflect.DeepEqual(a.Locals, b.Locals) || !reflect.DeepEqual(a.Body, want)):
			t.Errorf("function %d (%s), ending in a trap, is not its code after raising the no-unwind flag", fn, before.FuncName(fn))
		case raisesFlag[fn]:
		case drops == 0 && !bytes.Equal(a.Source, b.Source):
			t.Errorf("function %d (%s), not instrumented, has other bytes", fn, before.FuncName(fn))
		case drops > 0 && (!reflect.DeepEqual(a.Locals, b.Locals) || !reflect.DeepEqual(a.Body, want)):
			t.Errorf("function %d (%s), not instrumented, is not its code with the flags set after its %d drops", fn, before.FuncName(fn), drops)
		}
		untouched++
		if drops > 0 {
			withDrops++
		}
	}
	if untouched == 0 || len(instrumented) == 0 {
		t.Fatalf("%d functions instrumented, %d not: the test wants both", len(instrumented), untouched)
	}
	t.Logf("%d functions instrumented, %d not (%d of them with drops, %d ending in a trap)", len(instrumented), untouched, withDrops, len(raisesFlag))
}

// dropFlags maps "data <i>" and "elem <i>" to the index of the global
// wasmsr_dropped_data_<i> or wasmsr_dropped_elem_<i> of an instrumented
// module.
func dropFlags(t *testing.T, m *wasm.Module) map[string]uint32 {
	flags := map[string]uint32{}
	for _, e := range m.Exports {
		var kind string
		var i uint32
		if _, err := fmt.Sscanf(e.Name, abi.ExportDroppedDataPrefix+"%d", &i); err == nil {
			kind = "data"
		} else if _, err := fmt.Sscanf(e.Name, abi.ExportDroppedElemPrefix+"%d", &i); err == nil {
			kind = "elem"
		} else {
			continue
		}
		if e.Kind != wasm.KindGlobal {
			t.Fatalf("export %s is a %s, want a global", e.Name, e.Kind)
		}
		flags[fmt.Sprintf("%s %d", kind, i)] = e.Index
	}
	return flags
}

// withDropFlags returns body with the flag of each dropped segment set,
// and memory.size and memory.grow calls to the functions memory maps them
// to, and the number of such changes
// after its drop, and the number of drops.
func withDropFlags(body []wasm.Instr, flags map[string]uint32, memory map[wasm.Opcode]uint32) ([]wasm.Instr, int) {
	var out []wasm.Instr
	drops := 0
	for _, in := range body {
		if f, ok := memory[in.Op]; ok {
			out = append(out, wasm.Indexed(wasm.OpCall, f))
			drops++
			continue
		}
		out = append(out, in)
		if in.Op == wasm.OpDataDrop || in.Op == wasm.OpElemDrop {
			kind := map[wasm.Opcode]string{wasm.OpDataDrop: "data", wasm.OpElemDrop: "elem"}[in.Op]
			flag, ok := flags[fmt.Sprintf("%s %d", kind, in.X)]
			if !ok {
				flag = ^uint32(0) // no flag: the comparison fails
			}
			out = append(out, wasm.I32Const(1), wasm.Indexed(wasm.OpGlobalSet, flag))
			drops++
		}
	}
	return slices.Clip(out), drops
}

// memoryCalls maps memory.size and memory.grow to the functions the
// rewrite puts in their place.
func memoryCalls(m *wasm.Module) map[wasm.Opcode]uint32 {
	calls := map[wasm.Opcode]uint32{}
	for fn := range uint32(m.NumImported(wasm.KindFunc) + len(m.Code)) {
		switch m.FuncName(fn) {
		case "wasmsr_memory_size":
			calls[wasm.OpMemorySize] = fn
		case "wasmsr_memory_grow":
			calls[wasm.OpMemoryGrow] = fn
		}
	}
	return calls
}
