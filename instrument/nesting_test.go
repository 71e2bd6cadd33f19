package instrument_test

import (
	"fmt"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/wasm"
)

// nestedModule is a module whose export run(x i32) -> i32 nests depth
// blocks, loops or ifs (on x) around a call to env.sleep and x += 1, and
// returns x: issue 12's shape, where the rewrite took the square of the
// depth.
func nestedModule(tb testing.TB, kind wasm.Opcode, depth int) []byte {
	tb.Helper()
	body := make([]wasm.Instr, 0, 3*depth+10)
	for range depth {
		if kind == wasm.OpIf {
			body = append(body, wasm.Indexed(wasm.OpLocalGet, 0))
		}
		body = append(body, wasm.Block(kind, wasm.BlockEmpty))
	}
	body = append(body, wasm.Indexed(wasm.OpCall, 0),
		wasm.Indexed(wasm.OpLocalGet, 0), wasm.I32Const(1), wasm.Plain(wasm.OpI32Add), wasm.Indexed(wasm.OpLocalSet, 0))
	for range depth {
		body = append(body, wasm.Plain(wasm.OpEnd))
	}
	body = append(body, wasm.Indexed(wasm.OpLocalGet, 0), wasm.Plain(wasm.OpEnd))
	out, err := wasm.Encode(&wasm.Module{
		Types:   []wasm.FuncType{{}, {Params: []wasm.ValType{wasm.I32}, Results: []wasm.ValType{wasm.I32}}},
		Imports: []wasm.Import{{Module: "env", Name: "sleep", Kind: wasm.KindFunc}},
		Funcs:   []uint32{1},
		Exports: []wasm.Export{{Name: "run", Kind: wasm.KindFunc, Index: 1}},
		Code:    []wasm.Code{{Body: body}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

var nestingKinds = []wasm.Opcode{wasm.OpIf, wasm.OpLoop, wasm.OpBlock}

// TestDeepNesting: code nested 100,000 deep is instrumented into a valid
// module whose one unwind point is the sleep (wazero needs minutes to
// compile that deep, so the runs compare the original and the
// instrumented module, paused at the sleep, at a depth of 1,000).
func TestDeepNesting(t *testing.T) {
	for _, kind := range nestingKinds {
		t.Run(kind.String(), func(t *testing.T) {
			out, report, err := instrument.Instrument(nestedModule(t, kind, 100_000), instrument.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := decodeValid(t, out)
			if len(report.Functions) != 1 || report.Functions[0].Index != 1 {
				t.Fatalf("instrumented %+v, want function 1 only", report.Functions)
			}
			// The call is the instruction after the nest (and the local.get of each if).
			call := int32(100_000)
			if kind == wasm.OpIf {
				call *= 2
			}
			var calls []int32
			for _, f := range report.Info.Funcs {
				for _, s := range f.Sites {
					if s.Kind == abi.SiteCall {
						calls = append(calls, s.Instr)
					}
				}
			}
			if len(calls) != 1 || calls[0] != call {
				t.Errorf("call sites at %v, want [%d]", calls, call)
			}
			if n := len(m.Code); n < 2 {
				t.Errorf("output has %d bodies", n)
			}

			small := nestedModule(t, kind, 1000)
			r := newRunner(t, small, "run", 5)
			want := r.original(r.compile(small))
			out, info := instrumentModule(t, small, instrument.Options{})
			got := r.instrumented(r.compile(out), info, runMode{unwindAt: every})
			if d := want.diff(got, true); d != "" || got.unwinds != 1 {
				t.Errorf("depth 1000: %s (%d unwinds, want 1)", d, got.unwinds)
			}
		})
	}
}

// decodeValid decodes a module and validates it.
func decodeValid(tb testing.TB, module []byte) *wasm.Module {
	tb.Helper()
	m, err := wasm.Decode(module)
	if err == nil {
		err = wasm.Validate(m)
	}
	if err != nil {
		tb.Fatalf("output: %v", err)
	}
	return m
}

// TestNestingLimit: a body nested deeper than wasm.MaxNesting (here a
// million blocks) is refused with one line, before any rewrite, and
// neither crashes nor takes long.
func TestNestingLimit(t *testing.T) {
	_, _, err := instrument.Instrument(nestedModule(t, wasm.OpBlock, 1_000_000), instrument.Options{})
	if want := "function 1 at offset 0x4003a: blocks nested deeper than 131072, more than this tool supports"; err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
}

// BenchmarkNesting instruments blocks, loops and ifs nested 20,000,
// 40,000 and 100,000 deep: the time per op must grow with the depth, not
// its square (issue 12: 100,000 ifs took 28 s).
func BenchmarkNesting(b *testing.B) {
	for _, kind := range nestingKinds {
		for _, depth := range []int{20_000, 40_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%d", kind, depth), func(b *testing.B) {
				in := nestedModule(b, kind, depth)
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					if _, _, err := instrument.Instrument(in, instrument.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
