package unwind_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/unwind"
)

// TestCaptureRestoreInAnotherInstance pauses testdata/moved.wat in its
// import, captures the instance, restores it into a fresh instance and
// resumes there: the result needs the global and the table slot the
// program set before pausing. The slot holds a reference wazero made at
// run time, which Capture can name only by reading wazero's private
// function instance: with a wazero whose layout differs, Capture fails.
func TestCaptureRestoreInAnotherInstance(t *testing.T) {
	module := instrumented(t, "testdata/moved.wat")
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)

	var current *unwind.Module // the instance the program runs in
	pauses := 0
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().WithFunc(func(ctx context.Context, _ api.Module) {
		if rewinding, err := current.Rewinding(ctx); err != nil || rewinding {
			if err == nil {
				err = current.StopRewind(ctx)
			}
			if err != nil {
				panic(err)
			}
			return
		}
		pauses++
		if err := current.StartUnwind(ctx); err != nil {
			panic(err)
		}
	}).Export("pause").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, module.wasm)
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string) *unwind.Module {
		mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(name).WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		u, err := unwind.New(mod, module.report.Info)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	current = start("first")
	if _, paused, err := current.Call(ctx, "run"); err != nil || !paused {
		t.Fatalf("run: paused %v, error %v; want a pause", paused, err)
	}
	st, err := current.Capture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const two = 2 // imports first: env.pause 0, $one 1, $two 2
	if want := []unwind.TableValues{{Index: 0, Values: []uint64{two + 1, 0}}}; !reflect.DeepEqual(st.Tables, want) {
		t.Errorf("captured tables %+v, want %+v (function index + 1, 0 for null)", st.Tables, want)
	}
	if st.Export != "run" {
		t.Errorf("paused in %q, want run", st.Export)
	}
	current.API().Close(ctx)

	current = start("second")
	if err := current.Restore(ctx, st, unwind.Bytes(st.Memory)); err != nil {
		t.Fatal(err)
	}
	results, paused, err := current.Resume(ctx)
	if err != nil || paused || len(results) != 1 || results[0] != 42 || pauses != 1 {
		t.Fatalf("resumed: results %v, paused %v, error %v, %d pauses; want [42], one pause", results, paused, err, pauses)
	}

	// A reference to another instance's function is not the module's: its
	// capture fails, naming the wazero it runs on.
	second := current
	foreign, err := second.API().ExportedFunction(abi.ExportFuncRef).Call(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	current = start("third")
	if _, paused, err := current.Call(ctx, "run"); err != nil || !paused {
		t.Fatalf("run: paused %v, error %v; want a pause", paused, err)
	}
	if _, err := current.API().ExportedFunction(abi.ExportTableSetPrefix+"0").Call(ctx, 1, foreign[0]); err != nil {
		t.Fatal(err)
	}
	// (A test binary carries no module versions: "an unknown wazero".)
	_, err = current.Capture(ctx)
	wantStart := "table 0: element 1: a function reference that is not one of the module's functions (from another module, or a wazero whose references wasmsr cannot read: this is "
	if err == nil || !strings.HasPrefix(err.Error(), wantStart) || !strings.HasSuffix(err.Error(), ", wasmsr reads v1.12's)") {
		t.Errorf("capturing another instance's reference: %v; want %q, the wazero, and what wasmsr reads", err, wantStart)
	}
}

type module struct {
	wasm   []byte
	report *instrument.Report
}

// instrumented compiles a .wat file with wabt's wat2wasm (its default
// features: reference types, bulk memory) and instruments it with the
// default options.
func instrumented(t *testing.T, wat string) module {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		if os.Getenv("WASMSR_REQUIRE_CORPUS") == "1" {
			t.Fatal("wat2wasm not found: run make deps (Debian package wabt)")
		}
		t.Skip("wat2wasm not found (Debian package wabt)")
	}
	out := filepath.Join(t.TempDir(), "m.wasm")
	if msg, err := exec.Command(tool, wat, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", wat, err, msg)
	}
	plain, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wasm, report, err := instrument.Instrument(plain, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return module{wasm, report}
}
