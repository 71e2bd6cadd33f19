package instrument_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/unwind"
)

// moveToFresh captures the state of a paused instance (memory, mutable
// globals, tables, dropped segments), closes the instance, and restores
// the state into a fresh instance of the same compiled module, ready to
// resume.
func moveToFresh(tb testing.TB, rt wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig, info *abi.Info, u *unwind.Module) (api.Module, *unwind.Module) {
	tb.Helper()
	st, err := u.Capture(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	u.API().Close(context.Background())
	return restoreFresh(tb, rt, compiled, cfg, info, st)
}

// restoreFresh restores a paused program's state into a fresh instance.
func restoreFresh(tb testing.TB, rt wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig, info *abi.Info, st *unwind.InstanceState) (api.Module, *unwind.Module) {
	tb.Helper()
	ctx := context.Background()
	fresh, err := rt.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := unwind.New(fresh, info)
	if err == nil {
		err = u.Restore(ctx, st, unwind.Bytes(st.Memory))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return fresh, u
}

// exitCode turns the end of a run into an exit code.
func exitCode(t *testing.T, err error) uint32 {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// safepointRun runs p pausing at the k-th safepoint, resuming in a fresh
// instance. It returns the output, the exit code, and whether it paused.
func safepointRun(t *testing.T, rt wazero.Runtime, compiled wazero.CompiledModule, info *abi.Info, p corpus.Program, k int) ([]byte, uint32, bool) {
	ctx := context.Background()
	cfg, out := p.ModuleConfig(t)
	cfg = cfg.WithStartFunctions().WithName("").WithSysNanotime().WithSysWalltime()
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := unwind.New(mod, info)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.RequestPauseAfter(k); err != nil {
		t.Fatal(err)
	}
	_, paused, err := u.Call(ctx, "_start")
	if !paused {
		mod.Close(ctx)
		return out.Stdout.Bytes(), exitCode(t, err), false
	}
	frames, err := u.Frames()
	if err != nil || len(frames) == 0 {
		t.Fatalf("k=%d: reading frames: %v (%d frames)", k, err, len(frames))
	}
	fresh, u := moveToFresh(t, rt, compiled, cfg, info, u)
	defer fresh.Close(ctx)
	_, paused, err = u.Resume(ctx)
	if paused {
		t.Fatalf("k=%d: paused again without a request", k)
	}
	return out.Stdout.Bytes(), exitCode(t, err), true
}

// pausePoints chooses which k to test: all of the first few, then a spread.
func pausePoints(total int) []int {
	var ks []int
	for k := 1; k <= total; k++ {
		if k <= 40 || k%(total/40+1) == 0 || k == total {
			ks = append(ks, k)
		}
	}
	return ks
}

// countSafepoints runs the program once with a countdown too large to
// expire and reads how far it got.
func countSafepoints(t *testing.T, rt wazero.Runtime, compiled wazero.CompiledModule, info *abi.Info, p corpus.Program) int {
	ctx := context.Background()
	cfg, _ := p.ModuleConfig(t)
	mod, err := rt.InstantiateModule(ctx, compiled, cfg.WithStartFunctions().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	u, err := unwind.New(mod, info)
	if err != nil {
		t.Fatal(err)
	}
	const big = 1 << 30
	u.RequestPauseAfter(big)
	_, paused, err := u.Call(ctx, "_start")
	exitCode(t, err)
	if paused {
		t.Fatal("paused with a countdown that cannot expire")
	}
	left := int32(uint32(mod.ExportedGlobal(abi.ExportRequest).Get()))
	return big + int(left)
}

func TestUnwindAtEverySafepoint(t *testing.T) {
	for _, p := range corpus.Programs(t) {
		if p.NeedsDir {
			continue // its open files live in the WASI state: see the hostrt tests
		}
		t.Run(p.Name, func(t *testing.T) {
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

func lastLines(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > 8 {
		lines = append([]string{fmt.Sprintf("... %d lines", len(lines)-8)}, lines[len(lines)-8:]...)
	}
	return strings.Join(lines, "\n")
}
