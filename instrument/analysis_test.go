package instrument_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
)

// TestWhichFunctionsMayUnwind checks the analysis on small modules: which
// functions are instrumented, and which end in a trap (they raise the
// no-unwind flag: see analysis.go). Function 0 is the import env.sleep;
// $a is function 1, $b 2, and so on.
func TestWhichFunctionsMayUnwind(t *testing.T) {
	const head = `(import "env" "sleep" (func $sleep)) (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
		(type $v (func)) (type $i (func (param i32)))`
	tests := []struct {
		name string
		body string
		// instrumented are the functions the rewrite instruments (indices
		// from 2, after the two imports).
		instrumented []uint32
	}{
		{"a call to a function ending in a trap is no unwind point",
			`(func $a call $sleep unreachable)
			 (func $b (export "b") i32.const 1 if call $a end)`,
			nil},
		{"a function with a loop does not end in a trap",
			`(func $a (loop call $sleep br 0) unreachable)
			 (func $b (export "b") call $a)`,
			[]uint32{2, 3}},
		{"a function that may return does not",
			`(func $a i32.const 1 if call $sleep return end unreachable)
			 (func $b (export "b") call $a)`,
			[]uint32{2, 3}},
		{"a branch out of the body returns",
			`(func $a (block call $sleep i32.const 1 br_if 1) unreachable)
			 (func $b (export "b") call $a)`,
			[]uint32{2, 3}},
		{"a function that reaches proc_exit is the program's way out",
			`(func $a call $sleep i32.const 0 call $exit unreachable)
			 (func $b (export "b") call $a)`,
			[]uint32{2, 3}},
		{"an exported function is the host's to call",
			`(func $a (export "a") call $sleep unreachable)
			 (func $b (export "b") call $a)`,
			[]uint32{2, 3}},
		// With the tables closed, an indirect call reaches the functions of
		// its type in them.
		{"indirect calls of a type whose functions cannot unwind",
			`(table 2 funcref) (elem (i32.const 0) $a $c)
			 (func $a (type $v) call $sleep)
			 (func $b (export "b") i32.const 5 i32.const 1 call_indirect (type $i))
			 (func $c (type $i))`,
			[]uint32{2}},
		{"indirect calls of a type with a function that can",
			`(table 2 funcref) (elem (i32.const 0) $a $c)
			 (func $a (type $v) call $sleep)
			 (func $b (export "b") i32.const 0 call_indirect (type $v))
			 (func $c (type $i))`,
			[]uint32{2, 3}},
		{"a function of the table that ends in a trap",
			`(table 1 funcref) (elem (i32.const 0) $a)
			 (func $a (type $v) call $sleep unreachable)
			 (func $b (export "b") i32.const 0 call_indirect (type $v))`,
			nil},
		{"an exported table may hold anything",
			`(table (export "t") 2 funcref) (elem (i32.const 0) $a $c)
			 (func $a (type $v) call $sleep)
			 (func $b (export "b") i32.const 5 i32.const 1 call_indirect (type $i))
			 (func $c (type $i))`,
			[]uint32{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := wat2wasm(t, fmt.Sprintf("(module %s (memory 1) %s)", head, tc.body))
			_, report, err := instrument.Instrument(module, instrument.Options{Safepoints: instrument.SafepointsCalls})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, f := range report.Functions {
				got = append(got, f.Index)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.instrumented) {
				t.Errorf("instrumented %v, want %v", got, tc.instrumented)
			}
		})
	}
}

// TestEntrySafepoints checks which functions get a safepoint at their
// entry in loops mode: one on every cycle of the call graph is enough, and
// a loop at the entry or a trap function already cuts a cycle.
func TestEntrySafepoints(t *testing.T) {
	const head = `(import "env" "sleep" (func $sleep)) (type $v (func))`
	tests := []struct {
		name string
		body string
		opts instrument.Options
		// entry are the functions (from 1, after the import) with a
		// safepoint at their entry.
		entry []uint32
	}{
		{"a function calling itself",
			`(func $a (export "a") i32.const 0 if call $a end)`,
			instrument.Options{}, []uint32{1}},
		{"two functions calling each other need one",
			`(func $a (export "a") call $b)
			 (func $b i32.const 0 if call $a end)`,
			instrument.Options{}, []uint32{1}},
		{"two cycles through one function",
			`(func $a (export "a") call $b call $c)
			 (func $b i32.const 0 if call $a end)
			 (func $c i32.const 0 if call $a end)`,
			instrument.Options{}, []uint32{1}},
		{"a cycle through a loop at a function's entry has its safepoint",
			`(func $a (export "a") (loop call $b))
			 (func $b i32.const 0 if call $a end)`,
			instrument.Options{}, nil},
		{"a cycle through a trap function cannot pause below it",
			`(func $a (export "a") call $b)
			 (func $b call $a unreachable)`,
			instrument.Options{}, nil},
		{"a cycle through an indirect call of its type",
			`(table 1 funcref) (elem (i32.const 0) $a)
			 (func $a (export "a") (type $v) i32.const 0 if i32.const 0 call_indirect (type $v) end)`,
			instrument.Options{}, []uint32{1}},
		{"indirect calls of another type make no cycle",
			`(table 1 funcref) (elem (i32.const 0) $a)
			 (func $a (export "a") (type $v) i32.const 0 if i32.const 0 i32.const 0 call_indirect (param i32) end)`,
			instrument.Options{}, nil},
		{"a function left out cannot hold it: the one calling it does",
			`(func $a (export "a") call $b)
			 (func $b i32.const 0 if call $c end)
			 (func $c i32.const 0 if call $a end)`,
			instrument.Options{Remove: []string{"a"}}, []uint32{3}},
		{"when neither end of the edge closing a cycle can, every function on a cycle that can",
			`(func $a (export "a") call $b)
			 (func $b i32.const 0 if call $c end)
			 (func $c (export "c") i32.const 0 if call $a end)`,
			instrument.Options{Remove: []string{"a", "c"}}, []uint32{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := wat2wasm(t, fmt.Sprintf("(module %s (memory 1) %s)", head, tc.body))
			_, report, err := instrument.Instrument(module, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, f := range report.Functions {
				if f.Why == "may recurse (safepoint at its entry)" {
					got = append(got, f.Index)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.entry) {
				t.Errorf("entry safepoints in %v, want %v", got, tc.entry)
			}
		})
	}
}
