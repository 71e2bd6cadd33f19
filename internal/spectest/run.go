package spectest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Options of a run.
type Options struct {
	// Transform, when set, rewrites every module before wazero instantiates it.
	Transform func(name string, module []byte) ([]byte, error)
}

// trapMessages maps the suite's trap texts to wazero's.
var trapMessages = map[string]string{
	"out of bounds memory access":   "out of bounds memory access",
	"indirect call type mismatch":   "indirect call type mismatch",
	"indirect call":                 "indirect call type mismatch",
	"undefined element":             "invalid table access",
	"undefined":                     "invalid table access",
	"out of bounds table access":    "invalid table access",
	"integer overflow":              "integer overflow",
	"invalid conversion to integer": "invalid conversion to integer",
	"integer divide by zero":        "integer divide by zero",
	"unaligned atomic":              "unaligned atomic",
	"expected shared memory":        "expected shared memory",
	"unreachable":                   "unreachable",
	"uncaught exception":            "uncaught exception",
	"null":                          "null reference",
	"null reference":                "null reference",
	"null function reference":       "null reference",
	"null function":                 "null reference",
}

func expectedTrap(text string) string {
	if m, ok := trapMessages[text]; ok {
		return m
	}
	if strings.HasPrefix(text, "uninitialized") {
		return "invalid table access"
	}
	return text
}

// Run executes the suite's commands that run code (module, register,
// assert_return, action, assert_trap, assert_exhaustion, assert_exception,
// and the instantiations of assert_uninstantiable and assert_unlinkable for
// their side effects), one subtest per file. Modules that wazero refuses in their original form
// are skipped along with the assertions on them.
func (s *Suite) Run(t *testing.T, opts Options) {
	spectestModule, err := spectestWasm()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Files {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			r := &fileRun{t: t, f: f, opts: opts, named: map[string]api.Module{}}
			r.run(s.Features, spectestModule)
		})
	}
}

// spectestWasm is the "spectest" host module the suite imports from
// (print functions, globals, a table and a memory), as wazero ships it.
func spectestWasm() ([]byte, error) {
	dir, err := wazeroDir()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, "internal", "integration_test", "spectest", "testdata", "spectest.wasm"))
}

type fileRun struct {
	t     *testing.T
	f     *File
	opts  Options
	ctx   context.Context
	rt    wazero.Runtime
	named map[string]api.Module
	// last is the module assertions without a module name apply to; nil
	// when it was skipped.
	last api.Module
}

func (r *fileRun) run(features api.CoreFeatures, spectestModule []byte) {
	r.ctx = context.Background()
	r.rt = wazero.NewRuntimeWithConfig(r.ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features))
	defer r.rt.Close(r.ctx)
	if _, err := r.rt.InstantiateWithConfig(r.ctx, spectestModule, wazero.NewModuleConfig().WithName("spectest")); err != nil {
		r.t.Fatal(err)
	}
	cmds := r.f.Commands
	for i := range cmds {
		c := &cmds[i]
		where := fmt.Sprintf("%s:%d", r.f.Name, c.Line)
		switch c.Type {
		case "module":
			r.module(where, c, r.registeredAs(i))
		case "assert_uninstantiable", "assert_unlinkable":
			// They must fail, but their active segments may already have
			// written into imported memories and tables, which later
			// assertions observe.
			r.instantiateForEffects(c)
		case "assert_return", "action":
			m := r.target(c)
			if m == nil {
				continue
			}
			results, err := r.act(m, c)
			if err != nil {
				r.t.Errorf("%s: %s %s: %v", where, c.Type, c.Action.Field, err)
				continue
			}
			if c.Type == "assert_return" {
				if err := match(c.Expected, results); err != nil {
					r.t.Errorf("%s: %s(%v): %v", where, c.Action.Field, c.Action.Args, err)
				}
			}
		case "assert_trap", "assert_exhaustion", "assert_exception":
			m := r.target(c)
			if m == nil {
				continue
			}
			want := map[string]string{"assert_exhaustion": "stack overflow", "assert_exception": "uncaught exception"}[c.Type]
			if want == "" {
				want = expectedTrap(c.Text)
			}
			_, err := r.act(m, c)
			if err == nil {
				r.t.Errorf("%s: %s(%v) returned, want a trap %q", where, c.Action.Field, c.Action.Args, want)
			} else if !strings.Contains(firstLine(err.Error()), want) {
				r.t.Errorf("%s: %s(%v): got %q, want a trap %q", where, c.Action.Field, c.Action.Args, firstLine(err.Error()), want)
			}
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// registeredAs returns the name a later register command gives the
// module of command i, so it can be instantiated under that name.
func (r *fileRun) registeredAs(i int) string {
	cmds := r.f.Commands
	for j := i + 1; j < len(cmds); j++ {
		c := cmds[j]
		if c.Type == "module" && (cmds[i].Name == "" || c.Name == cmds[i].Name) {
			break
		}
		if c.Type == "register" && (c.Name == "" && j == i+1 || c.Name != "" && c.Name == cmds[i].Name) {
			return c.As
		}
	}
	return ""
}

func (r *fileRun) module(where string, c *Command, name string) {
	r.last = nil
	orig, err := os.ReadFile(r.f.ModulePath(*c))
	if err != nil {
		r.t.Fatal(err)
	}
	bin := orig
	if r.opts.Transform != nil {
		if bin, err = r.opts.Transform(where, orig); err != nil {
			r.t.Errorf("%s: transform: %v", where, err)
			return
		}
	}
	mod, err := r.rt.InstantiateWithConfig(r.ctx, bin, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		if r.opts.Transform == nil || !r.originalInstantiates(orig) {
			return // wazero refuses the original too: nothing to compare
		}
		r.t.Errorf("%s: wazero instantiates the original module but not the transformed one: %v", where, err)
		return
	}
	if c.Name != "" {
		r.named[c.Name] = mod
	}
	r.last = mod
}

func (r *fileRun) instantiateForEffects(c *Command) {
	if !strings.HasSuffix(c.Filename, ".wasm") {
		return
	}
	bin, err := os.ReadFile(r.f.ModulePath(*c))
	if err != nil {
		r.t.Fatal(err)
	}
	if r.opts.Transform != nil {
		if bin, err = r.opts.Transform(c.Filename, bin); err != nil {
			return // the transform may refuse a module that cannot link anyway
		}
	}
	if mod, err := r.rt.InstantiateWithConfig(r.ctx, bin, wazero.NewModuleConfig().WithName("")); err == nil {
		mod.Close(r.ctx)
	}
}

// originalInstantiates checks, in a scratch runtime with the same
// registered modules, whether the untransformed module instantiates.
func (r *fileRun) originalInstantiates(orig []byte) bool {
	mod, err := r.rt.InstantiateWithConfig(r.ctx, orig, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return false
	}
	mod.Close(r.ctx)
	return true
}

func (r *fileRun) target(c *Command) api.Module {
	if c.Action.Module != "" {
		return r.named[c.Action.Module]
	}
	return r.last
}

func (r *fileRun) act(m api.Module, c *Command) ([]uint64, error) {
	if c.Action.Type == "get" {
		g := m.ExportedGlobal(c.Action.Field)
		if g == nil {
			return nil, fmt.Errorf("no global %q", c.Action.Field)
		}
		return []uint64{g.Get()}, nil
	}
	var args []uint64
	for _, a := range c.Action.Args {
		w, err := a.words()
		if err != nil {
			return nil, err
		}
		args = append(args, w...)
	}
	fn := m.ExportedFunction(c.Action.Field)
	if fn == nil {
		return nil, fmt.Errorf("no function %q", c.Action.Field)
	}
	return fn.Call(r.ctx, args...)
}
