package instrument_test

import (
	"fmt"
	"slices"
	"strings"
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

// TestRecursionSafepoints checks which functions get a safepoint at their
// entry in loops mode: one on every cycle of the call graph is enough.
// Functions are numbered from 2, after the imports env.sleep and
// proc_exit.
func TestRecursionSafepoints(t *testing.T) {
	const head = `(import "env" "sleep" (func $sleep)) (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
		(type $v (func))`
	tests := []struct {
		name string
		body string
		// entry are the functions with a safepoint at their entry.
		entry []uint32
	}{
		{"a function calling itself",
			`(func $a (export "a") (param i32) local.get 0 if local.get 0 i32.const 1 i32.sub call $a end)`,
			[]uint32{2}},
		{"one of two functions calling each other, the one with most calls in the cycle",
			`(func $a (export "a") (param i32) local.get 0 if local.get 0 i32.const 1 i32.sub call $b end)
			 (func $b (param i32) local.get 0 call $a local.get 0 call $a local.get 0 call $b)`,
			[]uint32{3}},
		{"none on a cycle whose function starts with a loop",
			`(func $a (export "a") (param i32) (loop local.get 0 call $b local.get 0 br_if 0))
			 (func $b (param i32) local.get 0 if local.get 0 call $a end)`,
			nil},
		{"the functions an indirect call reaches, when fewer than those making one",
			`(table 1 funcref) (elem (i32.const 0) $c)
			 (func $a (export "a") i32.const 0 call_indirect (type $v))
			 (func $b (export "b") i32.const 0 call_indirect (type $v))
			 (func $c (type $v) call $a call $b)`,
			[]uint32{4}},
		{"two cycles sharing a function: that one",
			`(func $a (export "a") (param i32) local.get 0 if local.get 0 call $b local.get 0 call $c end)
			 (func $b (param i32) local.get 0 call $a)
			 (func $c (param i32) local.get 0 call $a)`,
			[]uint32{2}},
		{"a cycle through a function left out gets its safepoint elsewhere",
			`(func $a (export "a") (param i32) local.get 0 if local.get 0 call $b end)
			 (func $b (param i32) local.get 0 call $a)`,
			[]uint32{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := wat2wasm(t, fmt.Sprintf("(module %s (memory 1) %s)", head, tc.body), "--debug-names")
			opts := instrument.Options{}
			if strings.Contains(tc.name, "left out") {
				opts.Remove = []string{"b"}
			}
			_, report, err := instrument.Instrument(module, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, f := range report.Functions {
				if strings.HasPrefix(f.Why, "may recurse") {
					got = append(got, f.Index)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.entry) {
				t.Errorf("safepoints at the entry of %v, want %v", got, tc.entry)
			}
		})
	}
}
