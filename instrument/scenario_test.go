package instrument_test

// The scenarios Binaryen's Asyncify tests cover, written anew for wasmsr:
// a minimal sleep, repeated sleeps, locals and parameters kept across a
// sleep, a deep call chain, recursive and loop factorials, call_indirect,
// sleeps in if and else arms, two coroutines with their own buffers, and
// a buffer that overflows. Modules are in testdata/scenario.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/unwind"
)

type scenario struct {
	name   string
	file   string // under testdata/scenario, or
	wat    string // the module's text
	export string
	params []uint64
	want   []uint64
	sleeps int
	// frames, if set, is the number of frames saved when the k-th sleep
	// unwinds.
	frames func(k int) int
	// checkFrames, if set, looks at the frames of every pause.
	checkFrames func(t *testing.T, frames []abi.Frame)
}

func f32v(v float32) uint64 { return uint64(math.Float32bits(v)) }

// chainDepth is the number of functions in the deep call chain.
const chainDepth = 100

// chainWat writes a chain of n functions, f1 calling f2 ... calling fn,
// which sleeps: f_i(x) = f_{i+1}(3x + i) xor x, f_n(x) = sleep(x) xor x.
// Function indices: the import 0, f_i is i, run is n+1.
func chainWat(n int) string {
	var b strings.Builder
	b.WriteString("(module\n  (import \"env\" \"sleep_i32\" (func $sleep (param i32) (result i32)))\n  (memory 1)\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  (func $f%d (param $x i32) (result i32)\n", i)
		if i < n {
			fmt.Fprintf(&b, "    local.get $x\n    i32.const 3\n    i32.mul\n    i32.const %d\n    i32.add\n    call $f%d\n", i, i+1)
		} else {
			b.WriteString("    local.get $x\n    call $sleep\n")
		}
		b.WriteString("    local.get $x\n    i32.xor)\n")
	}
	b.WriteString("  (func (export \"run\") (param $x i32) (result i32)\n    local.get $x\n    call $f1))\n")
	return b.String()
}

// chainResult computes what chainWat's run returns.
func chainResult(n int, x uint32) uint32 {
	var f func(i int, x uint32) uint32
	f = func(i int, x uint32) uint32 {
		if i == n {
			return (x + 1) ^ x
		}
		return f(i+1, 3*x+uint32(i)) ^ x
	}
	return f(1, x)
}

var scenarios = []scenario{
	{name: "minimal", file: "sleep_once.wat", export: "run", want: []uint64{42}, sleeps: 1,
		frames: func(int) int { return 1 }},
	{name: "repeated", file: "repeated.wat", export: "run", params: []uint64{5}, want: []uint64{15}, sleeps: 10,
		frames: func(int) int { return 1 }},
	{name: "locals", file: "locals.wat", export: "run",
		params: []uint64{5, 0x123456789, f32v(16), f64v(2.5)}, want: []uint64{19, f64v(2501.5)}, sleeps: 2},
	{name: "deep_chain", wat: chainWat(chainDepth), export: "run", params: []uint64{7},
		want: []uint64{uint64(chainResult(chainDepth, 7))}, sleeps: 1,
		frames: func(int) int { return chainDepth + 1 },
		checkFrames: func(t *testing.T, frames []abi.Frame) {
			// Outermost first: run (chainDepth+1) calls f1, f_i calls
			// f_{i+1}, the last calls the import 0.
			for i, f := range frames {
				wantFunc, wantTarget := uint32(i), uint32(i+1)
				if i == 0 {
					wantFunc = chainDepth + 1
				}
				if i == chainDepth {
					wantTarget = 0
				}
				if f.Func != wantFunc || f.At.Kind != abi.SiteCall || f.At.Target != wantTarget {
					t.Errorf("frame %d: function %d, %s to %d; want function %d, call to %d", i, f.Func, f.At.Kind, f.At.Target, wantFunc, wantTarget)
					return
				}
			}
		}},
	{name: "factorial_recursive", file: "factorial.wat", export: "recursive", params: []uint64{20},
		want: []uint64{2432902008176640000}, sleeps: 19,
		frames: func(k int) int { return k + 1 }}, // the export and k levels of $fact
	{name: "factorial_loop", file: "factorial.wat", export: "loop", params: []uint64{20},
		want: []uint64{2432902008176640000}, sleeps: 19,
		frames: func(int) int { return 2 }},
	{name: "call_indirect", file: "indirect.wat", export: "run", params: []uint64{6}, want: []uint64{120}, sleeps: 3,
		frames: func(int) int { return 2 }},
	{name: "if_else_arms", file: "arms.wat", export: "run", want: []uint64{405}, sleeps: 2,
		frames: func(int) int { return 2 }},
}

func (s *scenario) module(t *testing.T) []byte {
	if s.wat != "" {
		return wat2wasm(t, s.wat)
	}
	return watFile(t, "scenario/"+s.file)
}

// TestScenarios runs each scenario unwinding at every sleep and safepoint
// (as TestWatUnwindEverywhere does), and checks the frames saved at each
// sleep.
func TestScenarios(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			original := s.module(t)
			r := newRunner(t, original, s.export, s.params...)
			want := r.original(r.compile(original))
			if want.err != nil {
				t.Fatalf("original: %v", want.err)
			}
			if !slices.Equal(want.results, s.want) {
				t.Fatalf("original: results %#x, want %#x (the scenario's expectations are wrong)", want.results, s.want)
			}
			if n := countSleeps(want.log); n != s.sleeps {
				t.Fatalf("original: %d sleeps, want %d", n, s.sleeps)
			}
			for _, opts := range watOptions {
				t.Run(opts.String(), func(t *testing.T) {
					checkUnwindEverywhere(t, r, original, want, opts, nil)
					if s.frames == nil && s.checkFrames == nil {
						return
					}
					r := r.forTest(t)
					module, info := instrumentModule(t, original, opts)
					c := r.compile(module)
					for k := 1; k <= s.sleeps; k++ {
						var frames []abi.Frame
						var err error
						got := r.instrumented(c, info, runMode{unwindAt: only(k), fresh: true,
							onPause: func(u *unwind.Module, _ int) { frames, err = u.Frames() }})
						if d := want.diff(got, true); d != "" {
							t.Fatalf("sleep %d: %s", k, d)
						}
						if err != nil {
							t.Fatalf("sleep %d: reading the frames: %v", k, err)
						}
						if s.frames != nil && len(frames) != s.frames(k) {
							t.Errorf("sleep %d: %d frames saved, want %d", k, len(frames), s.frames(k))
						}
						if s.checkFrames != nil {
							s.checkFrames(t, frames)
						}
					}
				})
			}
		})
	}
}

// TestScenarioFramesWithoutMemory: a module without memory gets an empty
// one from the instrumenter, so the driver's unwind buffer lands at
// address 0; the frames saved there must read back like anywhere else.
func TestScenarioFramesWithoutMemory(t *testing.T) {
	for _, c := range []struct{ name, memory string }{
		{"with_memory", "(memory 1)"},
		{"without_memory", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			original := wat2wasm(t, `(module (import "env" "sleep" (func $sleep)) `+c.memory+`
				(func (export "run") (result i32) call $sleep i32.const 42))`)
			r := newRunner(t, original, "run")
			want := r.original(r.compile(original))
			module, info := instrumentModule(t, original, instrument.Options{})
			var frames []abi.Frame
			var err error
			got := r.instrumented(r.compile(module), info, runMode{unwindAt: every, fresh: true,
				onPause: func(u *unwind.Module, _ int) { frames, err = u.Frames() }})
			if d := want.diff(got, true); d != "" {
				t.Fatal(d)
			}
			if err != nil {
				t.Fatalf("reading the frames: %v", err)
			}
			if len(frames) != 1 || frames[0].Func != 1 || frames[0].At.Kind != abi.SiteCall || frames[0].At.Target != 0 {
				t.Fatalf("frames %+v, want one frame of function 1 at its call to the import 0", frames)
			}
		})
	}
}

// TestScenarioOverflow: frames that do not fit in the unwind buffer when
// memory cannot grow must trap with unwind.ErrOverflow; with memory that
// can grow, a recursion needing more than a 64 KiB page of frames unwinds
// and resumes.
func TestScenarioOverflow(t *testing.T) {
	const depth = 4000 // about 24 bytes saved per level: ~96 KB
	text := readTestdata(t, "scenario/overflow.wat")
	for _, c := range []struct {
		name, memory string
		overflow     bool
	}{
		{"growable", "(memory 1)", false},
		{"fixed", "(memory 1 2)", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, "(memory 1)") {
				t.Fatal("overflow.wat no longer declares (memory 1)")
			}
			original := wat2wasm(t, strings.Replace(text, "(memory 1)", c.memory, 1))
			r := newRunner(t, original, "run", depth)
			want := r.original(r.compile(original))
			if want.err != nil || !slices.Equal(want.results, []uint64{6 * depth}) {
				t.Fatalf("original: %v, %v; want %d", want.results, want.err, 6*depth)
			}
			for _, opts := range watOptions {
				t.Run(opts.String(), func(t *testing.T) {
					r := r.forTest(t)
					module, info := instrumentModule(t, original, opts)
					cm := r.compile(module)
					if d := want.diff(r.instrumented(cm, info, runMode{}), true); d != "" {
						t.Fatalf("no pause: %s", d)
					}
					var frames []abi.Frame
					var saved uint32
					got := r.instrumented(cm, info, runMode{unwindAt: only(1), fresh: true,
						onPause: func(u *unwind.Module, _ int) {
							frames, _ = u.Frames()
							pos, _ := u.API().Memory().ReadUint32Le(u.Buffer())
							saved = pos - u.Buffer() - 8
						}})
					if c.overflow {
						if !errors.Is(got.err, unwind.ErrOverflow) {
							t.Fatalf("unwinding %d levels into a buffer that cannot grow: err %v, want unwind.ErrOverflow", depth, got.err)
						}
						return
					}
					if d := want.diff(got, true); d != "" {
						t.Fatal(d)
					}
					if len(frames) != depth+2 {
						t.Errorf("%d frames, want %d", len(frames), depth+2)
					}
					if saved <= 1<<16 {
						t.Errorf("%d bytes of frames: the test wants more than a page", saved)
					}
					t.Logf("%d frames in %d bytes", len(frames), saved)
				})
			}
		})
	}
}

func readTestdata(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// coroutine is one export run as a coroutine, with its own unwind buffer.
type coroutine struct {
	name     string
	n        uint64
	buf      uint32
	started  bool
	done     bool
	switches int
}

const coBufferSize = 0x2000

// runCoroutines alternates the exports "fib" and "squares" of a module
// instrumented by wasmsr or by Binaryen, driving the Asyncify exports
// directly: each yield unwinds the running coroutine into its buffer, and
// the next one is rewound from its own. It returns the yields in order.
func runCoroutines(t *testing.T, module []byte) []string {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig())
	defer rt.Close(ctx)
	var mod api.Module
	var cur *coroutine
	var log []string
	// Calls from the host function need fresh handles (see unwind.invoke).
	call := func(name string, params ...uint64) ([]uint64, error) {
		return mod.ExportedFunction(name).Call(ctx, params...)
	}
	yield := func(ctx context.Context, _ api.Module, stack []uint64) {
		v := int32(uint32(stack[0]))
		state, err := call(abi.ExportGetState)
		if err != nil {
			hostPanic("%v", err)
		}
		if state[0] == 2 {
			if _, err := call(abi.ExportStopRewind); err != nil {
				hostPanic("%v", err)
			}
			if pos, _ := mod.Memory().ReadUint32Le(cur.buf); pos != cur.buf+8 {
				hostPanic("%s: the rewind left its buffer at 0x%x, want it empty (0x%x)", cur.name, pos, cur.buf+8)
			}
			return
		}
		log = append(log, fmt.Sprintf("%s:%d", cur.name, v))
		if _, err := call(abi.ExportStartUnwind, uint64(cur.buf)); err != nil {
			hostPanic("%v", err)
		}
	}
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(yield), []api.ValueType{i32}, nil).Export("yield").
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	var err error
	if mod, err = rt.InstantiateWithConfig(ctx, module, wazero.NewModuleConfig().WithName("")); err != nil {
		t.Fatal(err)
	}
	cos := []*coroutine{{name: "fib", n: 10, buf: 0x1000}, {name: "squares", n: 6, buf: 0x1000 + coBufferSize}}
	mem := mod.Memory()
	for left := len(cos); left > 0; {
		for k, c := range cos {
			if c.done {
				continue
			}
			cur = c
			other := cos[1-k]
			before, _ := mem.Read(other.buf, coBufferSize)
			before = slices.Clone(before)
			if c.started {
				if _, err := call(abi.ExportStartRewind, uint64(c.buf)); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			} else {
				mem.WriteUint32Le(c.buf, c.buf+8)
				mem.WriteUint32Le(c.buf+4, c.buf+coBufferSize)
			}
			if _, err := call(c.name, c.n); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			state, err := call(abi.ExportGetState)
			if err != nil {
				t.Fatal(err)
			}
			switch state[0] {
			case 0:
				c.done = true
				left--
			case 1:
				if _, err := call(abi.ExportStopUnwind); err != nil {
					t.Fatal(err)
				}
				c.started = true
				c.switches++
				if c.switches > 100 {
					t.Fatalf("%s: more than 100 switches", c.name)
				}
			default:
				t.Fatalf("%s returned in state %d", c.name, state[0])
			}
			if after, _ := mem.Read(other.buf, coBufferSize); !slices.Equal(before, after) {
				t.Fatalf("running %s changed the buffer of %s", c.name, other.name)
			}
		}
	}
	return log
}

// TestScenarioCoroutines alternates two coroutines, each unwinding into
// and rewinding from its own buffer, on wasmsr's and Binaryen's output.
func TestScenarioCoroutines(t *testing.T) {
	original := watFile(t, "scenario/coroutines.wat")
	var want []string
	fib := []int{0, 1, 1, 2, 3, 5, 8, 13, 21, 34}
	for i := range fib {
		want = append(want, fmt.Sprintf("fib:%d", fib[i]))
		if i < 6 {
			want = append(want, fmt.Sprintf("squares:%d", (i+1)*(i+1)))
		}
	}
	for _, opts := range []instrument.Options{{}, {Safepoints: instrument.SafepointsNone}} {
		t.Run("wasmsr/"+opts.String(), func(t *testing.T) {
			module, _ := instrumentModule(t, original, opts)
			if got := runCoroutines(t, module); !slices.Equal(got, want) {
				t.Errorf("yields %v, want %v", got, want)
			}
		})
	}
	t.Run("binaryen", func(t *testing.T) {
		module := asyncify(t, original)
		if got := runCoroutines(t, module); !slices.Equal(got, want) {
			t.Errorf("yields %v, want %v", got, want)
		}
	})
}
