package instrument_test

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// TestUnwindAtEverySafepointWazeroGuests does for the programs other
// toolchains built (TinyGo, Rust, Zig, zig-cc: corpus.WazeroGuests) what
// TestUnwindAtEverySafepoint does for ours: pause at the k-th safepoint
// for every k of short runs and a spread of k for long ones, resume in a
// fresh instance that gets the captured state (unwind.Module.Capture), and
// expect the original's stdout and exit code. None of these runs opens a
// file, so even those with a preopened directory can move at any point.
func TestUnwindAtEverySafepointWazeroGuests(t *testing.T) {
	for _, p := range corpus.WazeroGuests(t) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			if p.WantStdout == nil {
				t.Fatalf("no golden stdout %s", p.Golden)
			}
			out, report, err := instrument.Instrument(p.Wasm(t), instrument.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			compiled, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			total := countSafepoints(t, rt, compiled, report.Info, p)
			if total == 0 {
				t.Fatal("the program passed no safepoint")
			}
			ks := pausePoints(total)
			for _, k := range ks {
				stdout, exit, paused := safepointRun(t, rt, compiled, report.Info, p, k)
				if !paused {
					t.Fatalf("k=%d of %d: did not pause", k, total)
				}
				if exit != p.WantExit || string(stdout) != string(p.WantStdout) {
					t.Fatalf("k=%d of %d: exit %d, stdout:\n%s\nwant exit %d:\n%s", k, total, exit, lastLines(stdout), p.WantExit, lastLines(p.WantStdout))
				}
			}
			t.Logf("%d safepoints, paused and resumed at %d of them", total, len(ks))
		})
	}
}
