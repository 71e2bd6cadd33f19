package instrument_test

// Shared helpers of the hand-written module tests (wat_test.go,
// scenario_test.go, binaryen_test.go): external tools, a host "env" module
// whose sleep imports unwind on demand, and a runner that runs a module's
// export to the end, unwinding where told and resuming (in a fresh
// instance or in the same one), and reports what the run showed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/unwind"
	"github.com/wasmsr/wasmsr/wasm"
)

// lookTool returns the path of an external tool. When it is missing the
// test is skipped, or fails under WASMSR_REQUIRE_CORPUS=1 (`make test`,
// which installs the tools).
func lookTool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s is not installed (Debian package %s; `make deps` installs it): %v", name, pkg, err)
		if os.Getenv(corpus.RequireEnv) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return path
}

// runTool runs an external tool and fails the test with its output if it fails.
func runTool(tb testing.TB, name string, args ...string) {
	tb.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.Bytes())
	}
}

// watCache keeps compiled .wat files: several tests use the same modules.
var watCache sync.Map // flags and source text -> []byte

// wat2wasm compiles WebAssembly text with every feature enabled, passing
// wat2wasm flags too (--debug-names keeps the text's names).
func wat2wasm(tb testing.TB, src string, flags ...string) []byte {
	tb.Helper()
	key := strings.Join(append(flags, src), "\x00")
	if b, ok := watCache.Load(key); ok {
		return b.([]byte)
	}
	tool := lookTool(tb, "wat2wasm", "wabt")
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "in.wat"), filepath.Join(dir, "out.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	runTool(tb, tool, append([]string{"--enable-all", in, "-o", out}, flags...)...)
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	watCache.Store(key, b)
	return b
}

// watFile compiles a .wat file under testdata.
func watFile(tb testing.TB, rel string, flags ...string) []byte {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(rel)))
	if err != nil {
		tb.Fatal(err)
	}
	return wat2wasm(tb, string(src), flags...)
}

// wasmValidate checks a module with wabt's validator, every feature enabled.
func wasmValidate(tb testing.TB, module []byte) {
	tb.Helper()
	if err := validate(lookTool(tb, "wasm-validate", "wabt"), tb.TempDir(), module, "--enable-all"); err != nil {
		tb.Fatal(err)
	}
}

// validate runs wasm-validate (at path tool) with the given feature flags
// on a module, written to a file in dir, and returns its complaint.
func validate(tool, dir string, module []byte, flags ...string) error {
	f, err := os.CreateTemp(dir, "*.wasm")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(module); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := exec.Command(tool, append(slices.Clone(flags), f.Name())...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("wasm-validate %s: %v\n%s", strings.Join(flags, " "), err, out)
	}
	return nil
}

// instrumentModule instruments a module and checks the result with
// wasm-validate; it fails the test if either fails.
func instrumentModule(tb testing.TB, module []byte, opts instrument.Options) ([]byte, *abi.Info) {
	tb.Helper()
	out, report, err := instrument.Instrument(module, opts)
	if err != nil {
		tb.Fatalf("instrument (%s): %v", opts.String(), err)
	}
	wasmValidate(tb, out)
	return out, report.Info
}

// runtimeConfig enables what the hand-written modules use: WebAssembly 2.0
// and tail calls.
func runtimeConfig() wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall)
}

// The host module "env". Its sleep_* imports are where the program may be
// paused: when host.unwindAt says so, a sleep starts an unwind instead of
// returning, and completes when the rewind brings the program back into it.
// Every import records its call in host.log, once per call of the
// program (not again when a rewind re-enters it), so that two runs can be
// compared call by call. The results are simple functions of the arguments
// so that tests can compute the expected values by hand:
//
//	sleep()                     -> ()
//	sleep_i32(x i32)            -> x+1
//	sleep_i64(x i64)            -> x+1
//	sleep_f64(x f64)            -> x+0.5
//	sleep_ref(r externref)      -> r
//	log_i32(i32), log_i64(i64), log_f64(f64), log_ref(externref) -> ()
//
// The log_* imports never unwind.
type host struct {
	// u drives the instrumented instance running; nil while the original
	// module runs.
	u *unwind.Module
	// unwindAt says whether the sleep with sequence number seq (from 1)
	// starts an unwind; nil: never.
	unwindAt func(seq int) bool
	seq      int
	log      []string
	// pending is the sleep that unwound, to complete when rewound.
	pending *pendingSleep
	// rewinds counts the rewinds that came back into a sleep.
	rewinds int
}

type pendingSleep struct {
	name    string
	args    []uint64
	results []uint64
}

// reset prepares the host for a run.
func (h *host) reset(u *unwind.Module, unwindAt func(int) bool) {
	*h = host{u: u, unwindAt: unwindAt}
}

type hostFunc struct {
	name            string
	params, results []api.ValueType
	// result computes the results from the arguments; nil for a log import.
	result func(args []uint64) []uint64
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	f64 = api.ValueTypeF64
	ext = api.ValueTypeExternref
)

var hostFuncs = []hostFunc{
	{"sleep", nil, nil, func([]uint64) []uint64 { return nil }},
	{"sleep_i32", []api.ValueType{i32}, []api.ValueType{i32}, func(a []uint64) []uint64 { return []uint64{uint64(uint32(a[0]) + 1)} }},
	{"sleep_i64", []api.ValueType{i64}, []api.ValueType{i64}, func(a []uint64) []uint64 { return []uint64{a[0] + 1} }},
	{"sleep_f64", []api.ValueType{f64}, []api.ValueType{f64}, func(a []uint64) []uint64 {
		return []uint64{math.Float64bits(math.Float64frombits(a[0]) + 0.5)}
	}},
	{"sleep_ref", []api.ValueType{ext}, []api.ValueType{ext}, func(a []uint64) []uint64 { return []uint64{a[0]} }},
	{"log_i32", []api.ValueType{i32}, nil, nil},
	{"log_i64", []api.ValueType{i64}, nil, nil},
	{"log_f64", []api.ValueType{f64}, nil, nil},
	{"log_ref", []api.ValueType{ext}, nil, nil},
}

// hostPanic is how a host function reports a protocol violation: wazero
// turns the panic into an error of the export call.
func hostPanic(format string, args ...any) { panic(fmt.Errorf("host: "+format, args...)) }

func (h *host) fn(f hostFunc) api.GoModuleFunc {
	return func(ctx context.Context, _ api.Module, stack []uint64) {
		args := normalize(f.params, stack[:len(f.params)])
		if f.result == nil {
			h.log = append(h.log, fmt.Sprintf("%s(%s)", f.name, formatArgs(f.params, args)))
			return
		}
		if h.u != nil {
			rewinding, err := h.u.Rewinding(ctx)
			if err != nil {
				hostPanic("%v", err)
			}
			if rewinding {
				p := h.pending
				switch {
				case p == nil:
					hostPanic("%s(%s) reached while rewinding, but no sleep unwound", f.name, formatArgs(f.params, args))
				case p.name != f.name || !slices.Equal(p.args, args):
					hostPanic("the rewind reached %s(%s), but %s(%s) unwound", f.name, formatArgs(f.params, args), p.name, formatArgs(f.params, p.args))
				}
				if err := h.u.StopRewind(ctx); err != nil {
					hostPanic("%v", err)
				}
				h.pending = nil
				h.rewinds++
				copy(stack, p.results)
				return
			}
		}
		h.seq++
		results := f.result(args)
		h.log = append(h.log, fmt.Sprintf("%s(%s)", f.name, formatArgs(f.params, args)))
		if h.u != nil && h.unwindAt != nil && h.unwindAt(h.seq) {
			err := h.u.StartUnwind(ctx)
			if errors.Is(err, unwind.ErrNotNow) {
				copy(stack, results) // on the way to a trap: no pause
				return
			}
			if err != nil {
				hostPanic("%v", err)
			}
			h.pending = &pendingSleep{name: f.name, args: args, results: results}
			return
		}
		copy(stack, results)
	}
}

// normalize copies values, clearing the upper half of i32s: wazero does
// not promise that it is zero.
func normalize(types []api.ValueType, values []uint64) []uint64 {
	out := slices.Clone(values)
	for i := range out {
		if i < len(types) && (types[i] == i32 || types[i] == api.ValueTypeF32) {
			out[i] = uint64(uint32(out[i]))
		}
	}
	return out
}

func formatArgs(types []api.ValueType, args []uint64) string {
	s := make([]string, len(args))
	for i, a := range args {
		switch types[i] {
		case i32:
			s[i] = fmt.Sprint(int32(a))
		case i64:
			s[i] = fmt.Sprint(int64(a))
		case f64:
			s[i] = fmt.Sprint(math.Float64frombits(a))
		default:
			s[i] = fmt.Sprintf("ref:%#x", a)
		}
	}
	return strings.Join(s, ",")
}

// newHostRuntime makes a runtime with the "env" host module bound to h.
func newHostRuntime(tb testing.TB, h *host) wazero.Runtime {
	tb.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig())
	tb.Cleanup(func() { rt.Close(ctx) })
	b := rt.NewHostModuleBuilder("env")
	for _, f := range hostFuncs {
		b.NewFunctionBuilder().WithGoModuleFunction(h.fn(f), f.params, f.results).Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		tb.Fatal(err)
	}
	return rt
}

// outcome is what a run showed.
type outcome struct {
	results []uint64
	log     []string
	// memory is the whole memory at the end (nil without a memory).
	memory []byte
	// globals are the values of the original module's globals, by index,
	// and exported the values of its exported globals, by name.
	globals  []uint64
	exported map[string]uint64
	// unwinds counts the pauses, rewinds the rewinds that reached a sleep.
	unwinds, rewinds int
	err              error
	// framesErr is the first failure to read the frames of a pause
	// (reported apart: the run goes on).
	framesErr error
}

// runner runs one export of one module, the original or an instrumented
// version of it, in the runtime of a host.
type runner struct {
	t      *testing.T
	h      *host
	rt     wazero.Runtime
	export string
	params []uint64
	// numGlobals is the number of globals of the original module and
	// exportedGlobals the names of its exported globals.
	numGlobals      int
	exportedGlobals []string
}

// newRunner compiles nothing yet: it reads what the outcome compares from
// the original module.
func newRunner(t *testing.T, original []byte, export string, params ...uint64) *runner {
	t.Helper()
	m, err := wasm.Decode(original)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, h: &host{}, export: export, params: params}
	r.rt = newHostRuntime(t, r.h)
	r.numGlobals = m.NumImported(wasm.KindGlobal) + len(m.Globals)
	for _, e := range m.Exports {
		if e.Kind == wasm.KindGlobal {
			r.exportedGlobals = append(r.exportedGlobals, e.Name)
		}
	}
	return r
}

// forTest returns the runner bound to a subtest (same runtime and host).
func (r *runner) forTest(t *testing.T) *runner {
	c := *r
	c.t = t
	return &c
}

func (r *runner) compile(module []byte) wazero.CompiledModule {
	r.t.Helper()
	c, err := r.rt.CompileModule(context.Background(), module)
	if err != nil {
		r.t.Fatalf("compile: %v", err)
	}
	return c
}

func (r *runner) instantiate(c wazero.CompiledModule) api.Module {
	r.t.Helper()
	mod, err := r.rt.InstantiateModule(context.Background(), c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		r.t.Fatalf("instantiate: %v", err)
	}
	return mod
}

// finish fills in the end state of an instance.
func (r *runner) finish(mod api.Module, o *outcome) {
	// Memory returns a typed nil for a module without memory.
	if mem := mod.Memory(); mem != nil && !reflect.ValueOf(mem).IsNil() {
		b, _ := mem.Read(0, mem.Size())
		o.memory = bytes.Clone(b)
	}
	im := mod.(experimental.InternalModule)
	for i := 0; i < r.numGlobals && i < im.NumGlobal(); i++ {
		o.globals = append(o.globals, globalValue(im.Global(i)))
	}
	o.exported = map[string]uint64{}
	for _, name := range r.exportedGlobals {
		if g := mod.ExportedGlobal(name); g != nil {
			o.exported[name] = globalValue(g)
		}
	}
	if f := mod.ExportedFunction(r.export); f != nil {
		o.results = normalize(f.Definition().ResultTypes(), o.results)
	}
	o.log = slices.Clone(r.h.log)
	o.rewinds = r.h.rewinds
}

// valueTypeFuncref is funcref's binary code (wazero's api names only externref).
const valueTypeFuncref api.ValueType = 0x70

// globalValue is a global's value as runs can compare it: a funcref is
// an address that differs from instance to instance, so only whether it is
// null counts (the modules check which function it is by calling it).
func globalValue(g api.Global) uint64 {
	v := g.Get()
	if g.Type() == valueTypeFuncref && v != 0 {
		return 1
	}
	return v
}

// original runs the original module with sleeps that never unwind.
func (r *runner) original(c wazero.CompiledModule) outcome {
	r.t.Helper()
	ctx := context.Background()
	mod := r.instantiate(c)
	defer mod.Close(ctx)
	r.h.reset(nil, nil)
	var o outcome
	o.results, o.err = mod.ExportedFunction(r.export).Call(ctx, r.params...)
	r.finish(mod, &o)
	return o
}

// runMode says how an instrumented run pauses and resumes.
type runMode struct {
	// unwindAt chooses the sleeps that unwind (nil: none).
	unwindAt func(seq int) bool
	// pauseAfter, if positive, asks for a pause at that safepoint.
	pauseAfter int
	// fresh resumes each pause in a fresh instance that gets the paused
	// one's state (unwind.Module.Capture and Restore: memory, mutable
	// globals, tables); otherwise the paused instance itself is rewound.
	fresh bool
	// maxPauses bounds the pauses of one run.
	maxPauses int
	// onPause, if set, is called at each pause (numbered from 1) before
	// the program is moved or resumed.
	onPause func(u *unwind.Module, pause int)
}

// instrumented runs an instrumented module (info is nil for Binaryen's)
// through unwind.Module.
func (r *runner) instrumented(c wazero.CompiledModule, info *abi.Info, mode runMode) outcome {
	r.t.Helper()
	ctx := context.Background()
	mod := r.instantiate(c)
	defer func() { mod.Close(ctx) }()
	u, err := unwind.New(mod, info)
	if err != nil {
		r.t.Fatal(err)
	}
	r.h.reset(u, mode.unwindAt)
	if mode.pauseAfter > 0 {
		if err := u.RequestPauseAfter(mode.pauseAfter); err != nil {
			r.t.Fatal(err)
		}
	}
	var o outcome
	var paused bool
	o.results, paused, o.err = u.Call(ctx, r.export, r.params...)
	for paused && o.err == nil {
		o.unwinds++
		if mode.maxPauses > 0 && o.unwinds > mode.maxPauses {
			o.err = fmt.Errorf("more than %d pauses", mode.maxPauses)
			break
		}
		// The frames must decode at every pause. (A buffer at address 0,
		// which a module without memory gets, is left to
		// TestScenarioFramesWithoutMemory.)
		if info != nil && o.framesErr == nil && u.Buffer() != 0 {
			if frames, err := u.Frames(); err != nil || len(frames) == 0 {
				o.framesErr = fmt.Errorf("pause %d: reading the frames: %v (%d frames)", o.unwinds, err, len(frames))
			}
		}
		if mode.onPause != nil {
			mode.onPause(u, o.unwinds)
		}
		if mode.fresh {
			st, err := u.Capture(ctx)
			if err != nil {
				o.err = fmt.Errorf("pause %d: capture: %w", o.unwinds, err)
				break
			}
			mod.Close(ctx)
			mod = r.instantiate(c)
			if u, err = unwind.New(mod, info); err == nil {
				err = u.Restore(ctx, st, unwind.Bytes(st.Memory))
			}
			if err != nil {
				o.err = fmt.Errorf("pause %d: restore: %w", o.unwinds, err)
				break
			}
			r.h.u = u
		}
		o.results, paused, o.err = u.Resume(ctx)
	}
	if o.err == nil && r.h.pending != nil {
		o.err = fmt.Errorf("%s(%v) unwound but the rewind never came back to it", r.h.pending.name, r.h.pending.args)
	}
	r.finish(mod, &o)
	// The program sees memory up to the module's own buffer (memory.go):
	// what follows is not its.
	if info == nil {
		return o
	}
	im := mod.(experimental.InternalModule)
	if own := uint32(im.Global(int(info.Globals.OwnBuffer)).Get()); im.Global(int(info.Globals.Owned)).Get() != 0 {
		if int(own) > len(o.memory) {
			r.t.Fatalf("the module's buffer at 0x%x, past memory's end 0x%x", own, len(o.memory))
		}
		o.memory = o.memory[:own]
	}
	return o
}

// diff describes how got differs from want (the original's outcome), or
// returns "". A trap must be the original's. Memory must be the same up to
// the original's size and zero beyond it (the unwind buffer, given back).
// With byIndex the globals are compared by index (wasmsr keeps the
// module's globals where they are), else only the exported ones by name
// (wasm-opt -O2 may renumber them).
func (want outcome) diff(got outcome, byIndex bool) string {
	var d []string
	if got.err != nil || want.err != nil {
		// A run that traps must trap as the original does; what it left
		// behind is compared as for a run that returns.
		if got.err == nil || want.err == nil || trapOf(got.err) != trapOf(want.err) {
			return fmt.Sprintf("error: %v, want %v", got.err, want.err)
		}
	}
	if !slices.Equal(want.results, got.results) {
		d = append(d, fmt.Sprintf("results %#x, want %#x", got.results, want.results))
	}
	if !slices.Equal(want.log, got.log) {
		d = append(d, "host calls differ: "+firstDifference(want.log, got.log))
	}
	switch {
	case len(got.memory) < len(want.memory):
		d = append(d, fmt.Sprintf("memory has %d bytes, want at least %d", len(got.memory), len(want.memory)))
	case !bytes.Equal(got.memory[:len(want.memory)], want.memory):
		i := 0
		for got.memory[i] == want.memory[i] {
			i++
		}
		d = append(d, fmt.Sprintf("memory differs first at 0x%x: %#x, want %#x", i, got.memory[i], want.memory[i]))
	default:
		if i := slices.IndexFunc(got.memory[len(want.memory):], func(b byte) bool { return b != 0 }); i >= 0 {
			d = append(d, fmt.Sprintf("memory beyond the original's %d bytes is not zero at 0x%x", len(want.memory), len(want.memory)+i))
		}
	}
	if byIndex && !slices.Equal(want.globals, got.globals) {
		d = append(d, fmt.Sprintf("globals %#x, want %#x", got.globals, want.globals))
	}
	for name, v := range want.exported {
		if got.exported[name] != v {
			d = append(d, fmt.Sprintf("global %s = %#x, want %#x", name, got.exported[name], v))
		}
	}
	return strings.Join(d, "; ")
}

// trapOf is what an error of a run says without its context (which
// export, the stack trace): the first line of the error it wraps.
func trapOf(err error) string {
	for errors.Unwrap(err) != nil {
		err = errors.Unwrap(err)
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

func firstDifference(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		w, g := "(none)", "(none)"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("call %d is %s, want %s (%d calls, want %d)", i+1, g, w, len(got), len(want))
		}
	}
	return "(none)"
}

// countSafepointsOf runs an instrumented module once with a countdown too
// large to expire and returns how many safepoints it passed.
func (r *runner) countSafepointsOf(c wazero.CompiledModule, info *abi.Info) int {
	r.t.Helper()
	ctx := context.Background()
	mod := r.instantiate(c)
	defer mod.Close(ctx)
	u, err := unwind.New(mod, info)
	if err != nil {
		r.t.Fatal(err)
	}
	r.h.reset(u, nil)
	const big = 1 << 30
	if err := u.RequestPauseAfter(big); err != nil {
		r.t.Fatal(err)
	}
	// A run may trap, as the original does (the other runs check that):
	// the count is how far it got.
	if _, paused, err := u.Call(ctx, r.export, r.params...); paused {
		r.t.Fatalf("counting safepoints: paused with a countdown that cannot expire (err %v)", err)
	}
	left := int32(uint32(mod.ExportedGlobal(abi.ExportRequest).Get()))
	return big + int(left)
}

// every unwinds at every sleep; only unwinds at the k-th.
func every(int) bool { return true }

func only(k int) func(int) bool { return func(seq int) bool { return seq == k } }
