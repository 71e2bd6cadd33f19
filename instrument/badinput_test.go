package instrument_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/wasm"
)

// paddedCatch is a module written byte by byte, with overlong LEB128s (as
// Go's linker writes them) before and in a call inside a catch:
//
//	0x2b try
//	0x2d   i32.const 0   (41 80 80 00)
//	0x31   drop
//	0x32 catch 0
//	0x34   call 0        (10 80 00)
//	0x37 end
//
// An offset computed by encoding the instructions again would be 0x32.
var paddedCatch = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type 0: [] -> []
	"\x02\x0d\x01\x03env\x05sleep\x00\x00" + // import env.sleep, type 0
	"\x03\x02\x01\x00" + // function 1, type 0
	"\x0d\x03\x01\x00\x00" + // tag 0, type 0
	"\x0a\x11\x01\x0f\x00\x06\x40\x41\x80\x80\x00\x1a\x07\x00\x10\x80\x00\x0b\x0b")

// nonNullable compiles a module whose functions return funcref and
// turns those results into non-nullable (ref func), and each ref.null func
// into a ref.func of the function its declarative segment names: wabt
// 1.0.32 cannot write such a module itself.
func nonNullable(t *testing.T, src string) []byte {
	m, err := wasm.Decode(wat2wasm(t, src))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Types {
		for j, r := range m.Types[i].Results {
			if r == wasm.FuncRef {
				m.Types[i].Results[j] = wasm.RefType(false, wasm.HeapFunc)
			}
		}
	}
	for k := range m.Code {
		for i, in := range m.Code[k].Body {
			switch {
			case in.Op == wasm.OpRefNull:
				m.Code[k].Body[i] = wasm.Indexed(wasm.OpRefFunc, m.Elements[0].Funcs[0])
			case in.Op == wasm.OpIf && in.Imm == uint64(wasm.BlockResult(wasm.FuncRef)):
				m.Code[k].Body[i].Imm = uint64(wasm.BlockResult(wasm.RefType(false, wasm.HeapFunc)))
			}
		}
	}
	b, err := wasm.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Modules with calls in a catch.
const (
	sleepInCatch = `(module (import "env" "sleep" (func $sleep)) (tag $e)
		(func (export "run") try nop catch $e call $sleep end))`
	indirectInCatchAll = `(module (type $v (func)) (table (export "t") 1 funcref) (func $f (export "f"))
		(func (export "run") try nop catch_all block i32.const 0 call_indirect (type $v) end end))`
)

// TestBadInput: what the instrumenter cannot do is an error naming the
// function and the instruction's byte offset in the input module (the
// offsets are those wasm-objdump -d shows); what it may do near such
// constructs is done.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		// wat is the module's text, unless module makes it.
		wat    string
		module func(t *testing.T) []byte
		opts   instrument.Options
		// want is the exact error, or "" for a module that instruments
		// into a valid one, with no function instrumented.
		want string
	}{
		{name: "call in catch", wat: sleepInCatch,
			want: "function run [1], call at offset 0x39: a call that may unwind inside a catch: a rewind cannot re-enter a catch"},
		{name: "call in catch, --ignore-imports", wat: sleepInCatch, opts: instrument.Options{IgnoreImports: true}},
		{name: "call_indirect in a block in catch_all", wat: indirectInCatchAll,
			want: "function run [1], call_indirect at offset 0x3a: a call that may unwind inside a catch: a rewind cannot re-enter a catch"},
		{name: "call_indirect in catch_all, --ignore-indirect", wat: indirectInCatchAll, opts: instrument.Options{IgnoreIndirect: true}},
		{name: "loop in catch: no safepoint", wat: `(module (tag $e) (func (export "run") try nop catch $e loop end end))`},
		{name: "overlong encodings", module: func(*testing.T) []byte { return paddedCatch },
			want: "function func[1] [1], call at offset 0x34: a call that may unwind inside a catch: a rewind cannot re-enter a catch"},
		{name: "non-nullable result, call",
			module: func(t *testing.T) []byte {
				return nonNullable(t, `(module (import "env" "sleep" (func $sleep)) (elem declare func $g)
					(func $g (export "g") (result funcref) call $sleep ref.null func))`)
			},
			want: "function g [1], call at offset 0x39: a function that may unwind cannot return the non-nullable (ref func)"},
		{name: "non-nullable result, loop safepoint",
			module: func(t *testing.T) []byte {
				return nonNullable(t, `(module (elem declare func $g)
					(func $g (export "g") (result funcref) loop end ref.null func))`)
			},
			want: "function g [0], loop at offset 0x27: a function that may unwind cannot return the non-nullable (ref func)"},
		{name: "non-nullable result, entry safepoint",
			module: func(t *testing.T) []byte {
				return nonNullable(t, `(module (elem declare func $g)
					(func $g (export "g") (param i32) (result funcref)
						local.get 0 if (result funcref) local.get 0 i32.const 1 i32.sub call $g else ref.null func end))`)
			},
			want: "function g [0], entry at offset 0x28: a function that may unwind cannot return the non-nullable (ref func)"},
		{name: "ill-typed function that cannot unwind",
			module: func(t *testing.T) []byte {
				// (func (result i32) i64.const 1), which wat2wasm refuses.
				out, err := wasm.Encode(&wasm.Module{
					Types: []wasm.FuncType{{Results: []wasm.ValType{wasm.I32}}},
					Funcs: []uint32{0},
					Code:  []wasm.Code{{Body: []wasm.Instr{wasm.I64Const(1), wasm.Plain(wasm.OpEnd)}}},
				})
				if err != nil {
					t.Fatal(err)
				}
				return out
			},
			want: "function 0 at offset 0x1a: type mismatch: expected i32, found i64"},
		{name: "malformed", module: func(*testing.T) []byte { return paddedCatch[:len(paddedCatch)-1] },
			want: "truncated code section at offset 0x38"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var in []byte
			if c.module != nil {
				in = c.module(t)
			} else {
				in = wat2wasm(t, c.wat)
			}
			out, report, err := instrument.Instrument(in, c.opts)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(report.Functions) != 0 {
					t.Errorf("instrumented %+v, want none", report.Functions)
				}
				wasmValidate(t, out)
				return
			}
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v\nwant %s", err, c.want)
			}
		})
	}
}

// TestInstrumentedInput: a module instrumented already is refused, or
// passed through unchanged with Force.
func TestInstrumentedInput(t *testing.T) {
	once, _, err := instrument.Instrument(wat2wasm(t, `(module (import "env" "sleep" (func $sleep))
		(func (export "run") call $sleep))`), instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := instrument.Instrument(once, instrument.Options{}); !errors.Is(err, instrument.ErrInstrumented) {
		t.Errorf("instrumenting again: error %v, want ErrInstrumented", err)
	}
	out, report, err := instrument.Instrument(once, instrument.Options{Force: true})
	if err != nil || !bytes.Equal(out, once) {
		t.Fatalf("forced: error %v, output unchanged %v", err, bytes.Equal(out, once))
	}
	if want := []string{"the module is already instrumented by wasmsr: passed through unchanged"}; len(report.Warnings) != 1 || report.Warnings[0] != want[0] {
		t.Errorf("warnings %q, want %q", report.Warnings, want)
	}
}
