package instrument_test

// "Same driver for both tools": modules with env.sleep imports go through
// wasm-opt --asyncify (Binaryen 108) and through wasmsr, and both outputs
// are driven by the same code, unwind.Module with call-site unwinding
// (the import calls StartUnwind; Resume rewinds; the import calls
// StopRewind when the rewind brings the program back). Both must give the
// results, host calls and memory of the original.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
)

// asyncifyFlags are the features wasm-opt must accept in our modules.
var asyncifyFlags = []string{"--asyncify", "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
	"--enable-nontrapping-float-to-int", "--enable-multivalue", "--enable-simd", "-O2"}

// asyncify runs wasm-opt --asyncify on a module and validates the result.
func asyncify(t *testing.T, module []byte) []byte {
	t.Helper()
	tool := lookTool(t, "wasm-opt", "binaryen")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wasm"), filepath.Join(dir, "out.wasm")
	if err := os.WriteFile(in, module, 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, tool, append(slices.Clone(asyncifyFlags), in, "-o", out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wasmValidate(t, b)
	return b
}

// clangSleepy compiles testdata/c/sleepy.c, freestanding, for wasm32.
func clangSleepy(t *testing.T) []byte {
	t.Helper()
	tool := lookTool(t, "clang", "clang lld wasi-libc")
	lookTool(t, "wasm-ld", "lld")
	out := filepath.Join(t.TempDir(), "sleepy.wasm")
	runTool(t, tool, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-nostdlib", "-Wl,--no-entry",
		"-Wl,--export=run", "-Wl,--allow-undefined", filepath.Join("testdata", "c", "sleepy.c"), "-o", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// everySleepLimit bounds the sleeps of a run that unwinds at every one of
// them with Binaryen's module, which takes a fresh 1 MiB buffer each time.
const everySleepLimit = 64

// driveSleeps is the one driver for both tools: it runs an instrumented
// module (info nil for Binaryen's) through unwind.Module, unwinding at the
// k-th sleep for a spread of k and then at every sleep, rewinding in the
// same instance (Binaryen's module does not export its globals, so a fresh
// instance could not get them back), and compares each run with the
// original's outcome. It returns the results of the runs, to compare the
// tools with each other.
func driveSleeps(t *testing.T, r *runner, module []byte, info *abi.Info, want outcome) [][]uint64 {
	t.Helper()
	r = r.forTest(t)
	c := r.compile(module)
	var results [][]uint64
	check := func(what string, mode runMode, unwinds int) bool {
		t.Helper()
		got := r.instrumented(c, info, mode)
		results = append(results, got.results)
		if d := want.diff(got, info != nil); d != "" {
			t.Errorf("%s: %s", what, d)
			return false
		}
		if got.unwinds != unwinds || got.rewinds != unwinds {
			t.Errorf("%s: %d unwinds and %d rewinds into a sleep, want %d", what, got.unwinds, got.rewinds, unwinds)
			return false
		}
		return true
	}
	if !check("no pause", runMode{}, 0) {
		return results
	}
	n := countSleeps(want.log)
	for _, k := range pausePoints(n) {
		if !check(fmt.Sprintf("unwinding at sleep %d of %d", k, n), runMode{unwindAt: only(k)}, 1) {
			return results
		}
	}
	if n <= everySleepLimit {
		check("unwinding at every sleep", runMode{unwindAt: every, maxPauses: n + 1}, n)
	}
	return results
}

type toolCase struct {
	name   string
	module func(t *testing.T) []byte
	export string
	params []uint64
	want   []uint64
}

func watCaseModule(rel string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte { return watFile(t, rel) }
}

// toolCases are the hand-written modules Binaryen 108 can asyncify (it
// refuses block parameters, reference-typed locals and tail calls), the
// scenarios, and a C program.
var toolCases = []toolCase{
	{"wat/br_table", watCaseModule("wat/br_table.wat"), "run", []uint64{8}, []uint64{75160, 3036}},
	{"wat/loop_values", watCaseModule("wat/loop_values.wat"), "run", []uint64{4}, []uint64{92, 52}},
	{"wat/call_indirect", watCaseModule("wat/call_indirect.wat"), "run", []uint64{6}, []uint64{i32v(-39)}},
	{"wat/dead_code", watCaseModule("wat/dead_code.wat"), "run", []uint64{3}, []uint64{4, 5, 12, 4, 5}},
	{"wat/multi_return", watCaseModule("wat/multi_return.wat"), "run", []uint64{3}, []uint64{34, 7, f64v(3.5), f64v(3), 4, 3}},
	{"scenario/repeated", watCaseModule("scenario/repeated.wat"), "run", []uint64{5}, []uint64{15}},
	{"scenario/locals", watCaseModule("scenario/locals.wat"), "run", []uint64{5, 0x123456789, f32v(16), f64v(2.5)}, []uint64{19, f64v(2501.5)}},
	{"scenario/factorial_recursive", watCaseModule("scenario/factorial.wat"), "recursive", []uint64{20}, []uint64{2432902008176640000}},
	{"scenario/factorial_loop", watCaseModule("scenario/factorial.wat"), "loop", []uint64{20}, []uint64{2432902008176640000}},
	{"scenario/call_indirect", watCaseModule("scenario/indirect.wat"), "run", []uint64{6}, []uint64{120}},
	{"scenario/if_else_arms", watCaseModule("scenario/arms.wat"), "run", nil, []uint64{405}},
	{"scenario/deep_chain", func(t *testing.T) []byte { return wat2wasm(t, chainWat(chainDepth)) }, "run", []uint64{7},
		[]uint64{uint64(chainResult(chainDepth, 7))}},
	{"c/sleepy", clangSleepy, "run", []uint64{10}, nil},
}

// TestSameDriverBinaryenAndWasmsr drives wasm-opt --asyncify's output and
// wasmsr's output with the same code and expects the same outcome.
func TestSameDriverBinaryenAndWasmsr(t *testing.T) {
	for _, c := range toolCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			original := c.module(t)
			r := newRunner(t, original, c.export, c.params...)
			want := r.original(r.compile(original))
			if want.err != nil {
				t.Fatalf("original: %v", want.err)
			}
			if c.want != nil && !slices.Equal(want.results, c.want) {
				t.Fatalf("original: results %#x, want %#x", want.results, c.want)
			}
			if countSleeps(want.log) == 0 {
				t.Fatal("the original never sleeps")
			}
			binaryen := asyncify(t, original)
			wasmsr, info := instrumentModule(t, original, instrument.Options{Safepoints: instrument.SafepointsNone})
			var byTool [2][][]uint64
			t.Run("binaryen", func(t *testing.T) { byTool[0] = driveSleeps(t, r, binaryen, nil, want) })
			t.Run("wasmsr", func(t *testing.T) { byTool[1] = driveSleeps(t, r, wasmsr, info, want) })
			if !slices.EqualFunc(byTool[0], byTool[1], slices.Equal[[]uint64]) {
				t.Errorf("the tools' runs gave different results:\nbinaryen %v\nwasmsr   %v", byTool[0], byTool[1])
			}
			t.Logf("%d sleeps; results %v", countSleeps(want.log), want.results)
		})
	}
}
