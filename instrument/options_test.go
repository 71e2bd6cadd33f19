package instrument_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
)

// describeInstrumented lists the instrumented functions as --verbose
// tells them, with their unwind points from the wasmsr section:
// "name [index] (why): site, site...", a site being "call <callee>",
// "indirect call" or "safepoint".
func describeInstrumented(t *testing.T, report *instrument.Report) []string {
	t.Helper()
	if len(report.Functions) != len(report.Info.Funcs) {
		t.Fatalf("%d functions reported, %d layouts in the section", len(report.Functions), len(report.Info.Funcs))
	}
	var list []string
	for k, f := range report.Functions {
		lay := &report.Info.Funcs[k]
		if lay.Func != f.Index || len(lay.Sites) != f.Sites {
			t.Fatalf("function %d reported with %d sites, laid out as function %d with %d", f.Index, f.Sites, lay.Func, len(lay.Sites))
		}
		var sites []string
		for _, s := range lay.Sites {
			if s.Kind == abi.SiteCall {
				sites = append(sites, fmt.Sprintf("call %d", s.Target))
			} else {
				sites = append(sites, s.Kind.String())
			}
		}
		list = append(list, fmt.Sprintf("%s [%d] (%s): %s", f.Name, f.Index, f.Why, strings.Join(sites, ", ")))
	}
	return list
}

// TestOptionsChooseFunctions instruments testdata/wat/options.wat (imports
// 0 env.sleep_i32, 1 env.log_i32; pure 2, sleeper 3, caller 4, logger 5,
// looper 6, recursive 7, indirect 8, run 9) with each option, and checks
// exactly which functions are instrumented, why, at which unwind points,
// and the warnings.
func TestOptionsChooseFunctions(t *testing.T) {
	module := watFile(t, "wat/options.wat")
	var (
		sleeper   = "sleeper [3] (calls import env.sleep_i32): call 0"
		caller    = "caller [4] (calls sleeper [3]): call 3"
		logger    = "logger [5] (calls import env.log_i32): call 1"
		looper    = "looper [6] (has a loop (safepoint at its header)): safepoint"
		recursive = "recursive [7] (may recurse (safepoint at its entry)): safepoint, call 7"
		indirect  = "indirect [8] (makes indirect calls): indirect call"
	)
	for _, c := range []struct {
		opts     instrument.Options
		want     []string
		warnings []string
	}{
		{opts: instrument.Options{}, want: []string{sleeper, caller, logger, looper, recursive, indirect,
			"run [9] (calls indirect [8]): call 4, call 4, call 6, call 7, call 8, call 5"}},
		{opts: instrument.Options{Wasm1: true}, want: []string{sleeper, caller, logger, looper, recursive, indirect,
			"run [9] (calls indirect [8]): call 4, call 4, call 6, call 7, call 8, call 5"}},
		{opts: instrument.Options{IgnoreImports: true}, want: []string{looper, recursive, indirect,
			"run [9] (calls indirect [8]): call 6, call 7, call 8"}},
		{opts: instrument.Options{Imports: []string{"env.sleep*"}}, want: []string{sleeper, caller, looper, recursive, indirect,
			"run [9] (calls indirect [8]): call 4, call 4, call 6, call 7, call 8"}},
		{opts: instrument.Options{IgnoreIndirect: true}, want: []string{sleeper, caller, logger, looper, recursive,
			"run [9] (calls recursive [7]): call 4, call 4, call 6, call 7, call 5"}},
		{opts: instrument.Options{Safepoints: instrument.SafepointsCalls}, want: []string{sleeper, caller, logger, indirect,
			"run [9] (calls indirect [8]): call 4, call 4, call 8, call 5"}},
		{opts: instrument.Options{Safepoints: instrument.SafepointsNone}, want: []string{sleeper, caller, logger, indirect,
			"run [9] (calls indirect [8]): call 4, call 4, call 8, call 5"}},
		// The other functions are taken never to unwind, callees included.
		{opts: instrument.Options{Only: []string{"run", "caller", "sleeper"}}, want: []string{sleeper, caller,
			"run [9] (calls caller [4]): call 4, call 4"}},
		{opts: instrument.Options{Only: []string{"run"}}},
		// Removing sleeper removes caller, which unwinds only through it.
		{opts: instrument.Options{Remove: []string{"sleeper"}}, want: []string{logger, looper, recursive, indirect,
			"run [9] (calls indirect [8]): call 6, call 7, call 8, call 5"}},
		{opts: instrument.Options{Remove: []string{"*er"}}, want: []string{recursive, indirect,
			"run [9] (calls indirect [8]): call 7, call 8"}},
		// pure has nothing to save, but its callers treat calls to it as
		// unwind points.
		{opts: instrument.Options{Add: []string{"pure"}, IgnoreImports: true, IgnoreIndirect: true, Safepoints: instrument.SafepointsCalls},
			want: []string{"run [9] (calls pure [2]): call 2"}},
		{opts: instrument.Options{Only: []string{"nothing*"}, Remove: []string{"ghost"}, Add: []string{"pure", "ghost*"}},
			warnings: []string{`--only "nothing*" matches no function`, `--remove "ghost" matches no function`, `--add "ghost*" matches no function`}},
	} {
		t.Run(c.opts.String(), func(t *testing.T) {
			out, report, err := instrument.Instrument(module, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := describeInstrumented(t, report); !slices.Equal(got, c.want) {
				t.Errorf("instrumented:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
			}
			if !slices.Equal(report.Warnings, c.warnings) {
				t.Errorf("warnings %q, want %q", report.Warnings, c.warnings)
			}
			if report.Info.Options != c.opts.String() {
				t.Errorf("the section records the options %q, want %q", report.Info.Options, c.opts.String())
			}
			wasmValidate(t, out)
		})
	}
}

// TestOptionsUnderPause runs options.wat's run(4) instrumented with
// options that leave unwind points out, pausing at each of its two sleeps
// (which it reaches through direct calls) and at each safepoint, in a
// fresh instance each time, as TestWatUnwindEverywhere does. safepoints
// is the exact number of safepoints a run passes: with
// --safepoints=calls, a pause request is never served by the module, only
// by a host function at a call.
func TestOptionsUnderPause(t *testing.T) {
	original := watFile(t, "wat/options.wat")
	r := newRunner(t, original, "run", 4)
	want := r.original(r.compile(original))
	if want.err != nil || !slices.Equal(want.results, []uint64{57}) || countSleeps(want.log) != 2 {
		t.Fatalf("original: results %v, err %v, %d sleeps; want 57 and 2 sleeps", want.results, want.err, countSleeps(want.log))
	}
	for _, c := range []struct {
		opts       instrument.Options
		safepoints int
	}{
		{instrument.Options{Safepoints: instrument.SafepointsCalls}, 0},
		// looper(4) passes its loop header 5 times, recursive(4) is entered 5 times.
		{instrument.Options{IgnoreIndirect: true}, 10},
		{instrument.Options{IgnoreIndirect: true, Safepoints: instrument.SafepointsCalls}, 0},
		{instrument.Options{Only: []string{"run", "caller", "sleeper"}}, 0},
		{instrument.Options{Remove: []string{"logger", "recursive"}}, 5},
	} {
		t.Run(c.opts.String(), func(t *testing.T) {
			r := r.forTest(t)
			module, info := instrumentModule(t, original, c.opts)
			if n := r.countSafepointsOf(r.compile(module), info); n != c.safepoints {
				t.Errorf("%d safepoints passed, want %d", n, c.safepoints)
			}
			checkUnwindEverywhere(t, r, original, want, c.opts, nil)
		})
	}
}
