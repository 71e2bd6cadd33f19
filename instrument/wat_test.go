package instrument_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
)

// watCase is a hand-written module (testdata/wat/FILE) with what compilers
// never emit, run through its export "run".
type watCase struct {
	name   string
	file   string
	params []uint64
	// want are the exact results of run, and sleeps the exact number of
	// calls to sleep imports it makes (the points where it can be paused).
	want   []uint64
	sleeps int
	// trap, if set, is the trap that ends run (see trapOf).
	trap string
	// notNow are the sleeps (from 1) made on the way to a trap, where the
	// program declines to unwind.
	notNow []int
}

// i32s and f64s encode results the way wazero returns them.
func i32v(v int32) uint64   { return uint64(uint32(v)) }
func i64v(v int64) uint64   { return uint64(v) }
func f64v(v float64) uint64 { return math.Float64bits(v) }

// hostRef is the externref the host passes in.
const hostRef = 0x5eed_0000_c0ffee

var watCases = []watCase{
	{name: "block_params", file: "block_params.wat", params: []uint64{4},
		want: []uint64{7000000006, 14, 140, i64v(-433)}, sleeps: 8},
	{name: "loop_params", file: "loop_params.wat", params: []uint64{4},
		want: []uint64{14}, sleeps: 4},
	{name: "br_table", file: "br_table.wat", params: []uint64{8},
		want: []uint64{75160, 3036}, sleeps: 44},
	{name: "nested_stack", file: "nested_stack.wat", params: []uint64{3},
		want: []uint64{3070}, sleeps: 4},
	{name: "if_else", file: "if_else.wat", params: []uint64{6},
		want: []uint64{10375}, sleeps: 13},
	{name: "loop_values", file: "loop_values.wat", params: []uint64{4},
		want: []uint64{92, 52}, sleeps: 20},
	{name: "multi_return/positive", file: "multi_return.wat", params: []uint64{3},
		want: []uint64{34, 7, f64v(3.5), f64v(3), 4, 3}, sleeps: 4},
	{name: "multi_return/negative", file: "multi_return.wat", params: []uint64{i32v(-2)},
		want: []uint64{i32v(-21), i64v(-3), f64v(-1.5), f64v(0), 0, 7}, sleeps: 5},
	{name: "v128", file: "v128.wat", params: []uint64{2},
		want: []uint64{0x010203020506070B, 0x1112131815161711, 0x000000240000001B, 0x000000360000002D,
			0x0000000C00000009, 0x000000120000000F}, sleeps: 3},
	{name: "funcref/even", file: "funcref.wat", params: []uint64{2},
		want: []uint64{22222122}, sleeps: 3},
	{name: "funcref/odd", file: "funcref.wat", params: []uint64{1},
		want: []uint64{33332133}, sleeps: 3},
	{name: "externref", file: "externref.wat", params: []uint64{hostRef, 1},
		want: []uint64{hostRef, hostRef, hostRef, hostRef, hostRef, 1}, sleeps: 4},
	{name: "call_indirect", file: "call_indirect.wat", params: []uint64{6},
		want: []uint64{i32v(-39)}, sleeps: 10},
	{name: "clobbered", file: "clobbered.wat", params: []uint64{3},
		want: []uint64{6, 18}, sleeps: 2},
	{name: "split_if", file: "split_if.wat", params: []uint64{10},
		want: []uint64{4521}, sleeps: 12},
	{name: "dead_code", file: "dead_code.wat", params: []uint64{3},
		want: []uint64{4, 5, 12, 4, 5}, sleeps: 8},
	{name: "tail_call/shallow", file: "tail_call.wat", params: []uint64{1000, 100},
		want: []uint64{500500, 500500, 2001}, sleeps: 21},
	// A million tail calls: fine in constant stack, too deep for a call
	// stack that keeps every frame.
	{name: "tail_call/deep", file: "tail_call.wat", params: []uint64{1000000, 100000},
		want: []uint64{500000500000, 500000500000, 2000001}, sleeps: 21},
	{name: "dropped_segments", file: "dropped_segments.wat", params: []uint64{0},
		want: []uint64{49, 16}, sleeps: 2},
	{name: "dispatch_loop", file: "dispatch_loop.wat", params: []uint64{5}, want: []uint64{0x87, 0xffffffff, 0xffffffff}, sleeps: 9},
	{name: "hoisted_if", file: "hoisted_if.wat", params: []uint64{5}, want: []uint64{0x3f0, 0x32}, sleeps: 44},
	{name: "recomputed_args", file: "recomputed_args.wat", params: []uint64{3}, want: []uint64{21, 71, 10}, sleeps: 3},
	{name: "trap_path/fine", file: "trap_path.wat", params: []uint64{3}, want: []uint64{18}, sleeps: 3},
	{name: "trap_path/trap", file: "trap_path.wat", params: []uint64{4}, sleeps: 5, trap: "unreachable", notNow: []int{5}},
	{name: "dropped_segments/data", file: "dropped_segments.wat", params: []uint64{1},
		sleeps: 2, trap: "out of bounds memory access"},
	{name: "dropped_segments/elem", file: "dropped_segments.wat", params: []uint64{2},
		sleeps: 2, trap: "invalid table access"},
}

// watOptions are the instrumentations every case goes through: the
// default (every import may unwind, safepoints at loops and recursive
// entries), and only the sleeps with no safepoints.
var watOptions = []instrument.Options{
	{},
	{Imports: []string{"env.sleep*"}, Safepoints: instrument.SafepointsNone},
}

func countSleeps(log []string) int {
	n := 0
	for _, l := range log {
		if strings.HasPrefix(l, "sleep") {
			n++
		}
	}
	return n
}

// TestWatUnwindEverywhere runs each hand-written module unwinding at each of
// its sleeps in turn (k = 1..n), then at all of them in one run, then at
// each safepoint (a spread of them for long runs), every time resuming in a
// fresh instance that gets the captured state (memory, globals, tables); the
// results, the host calls, the memory and the globals must be those of the
// original module.
func TestWatUnwindEverywhere(t *testing.T) {
	for _, c := range watCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			original := watFile(t, "wat/"+c.file)
			r := newRunner(t, original, "run", c.params...)
			want := r.original(r.compile(original))
			if c.trap == "" && want.err != nil || c.trap != "" && (want.err == nil || trapOf(want.err) != c.trap) {
				t.Fatalf("original: error %v, want trap %q", want.err, c.trap)
			}
			if fmt.Sprint(want.results) != fmt.Sprint(c.want) {
				t.Fatalf("original: results %#x, want %#x (the case's expectations are wrong)", want.results, c.want)
			}
			if n := countSleeps(want.log); n != c.sleeps {
				t.Fatalf("original: %d sleeps, want %d", n, c.sleeps)
			}
			for _, opts := range watOptions {
				t.Run(opts.String(), func(t *testing.T) {
					checkUnwindEverywhere(t, r, original, want, opts, c.notNow)
				})
			}
		})
	}
}

// checkUnwindEverywhere instruments a module and compares its runs with the
// original's outcome want; the sleeps in notNow decline to unwind.
func checkUnwindEverywhere(t *testing.T, r *runner, original []byte, want outcome, opts instrument.Options, notNow []int) {
	t.Helper()
	r = r.forTest(t)
	module, info := instrumentModule(t, original, opts)
	c := r.compile(module)
	framesReported := false
	check := func(what string, mode runMode, unwinds int) bool {
		t.Helper()
		got := r.instrumented(c, info, mode)
		if got.framesErr != nil && !framesReported {
			t.Errorf("%s: %v", what, got.framesErr)
			framesReported = true
		}
		if d := want.diff(got, true); d != "" {
			t.Errorf("%s: %s", what, d)
			return false
		}
		if got.unwinds != unwinds {
			t.Errorf("%s: paused %d times, want %d", what, got.unwinds, unwinds)
			return false
		}
		return true
	}
	if !check("no pause", runMode{}, 0) {
		return // the other runs would fail the same way
	}
	n := countSleeps(want.log)
	for k := 1; k <= n; k++ {
		unwinds := 1
		if slices.Contains(notNow, k) {
			unwinds = 0
		}
		if !check(fmt.Sprintf("unwinding at sleep %d of %d", k, n), runMode{unwindAt: only(k), fresh: true}, unwinds) {
			break
		}
	}
	check("unwinding at every sleep", runMode{unwindAt: every, fresh: true, maxPauses: n + 1}, n-len(notNow))
	check("unwinding at every sleep, rewinding in the same instance", runMode{unwindAt: every, maxPauses: n + 1}, n-len(notNow))
	if opts.Safepoints == instrument.SafepointsNone {
		return
	}
	total := r.countSafepointsOf(c, info)
	for _, k := range pausePoints(total) {
		if !check(fmt.Sprintf("pausing at safepoint %d of %d", k, total), runMode{pauseAfter: k, fresh: true}, 1) {
			break
		}
	}
	t.Logf("%d sleeps, %d safepoints", n, total)
}
