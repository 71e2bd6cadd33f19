package instrument_test

import (
	"crypto/sha256"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/spectest"
	"github.com/wasmsr/wasmsr/wasm"
)

// specValidateFlags are wasm-validate's feature flags for each suite:
// the suite's features and no others, so that an instrumented module must
// not need more than its original (wabt enables the WebAssembly 2.0
// features by default; 1.0 has mutable globals).
var specValidateFlags = map[string][]string{
	"v1": {"--disable-saturating-float-to-int", "--disable-sign-extension", "--disable-simd",
		"--disable-multi-value", "--disable-bulk-memory", "--disable-reference-types"},
	"v2":             nil,
	"tail-call":      {"--enable-tail-call"},
	"extended-const": {"--enable-extended-const"},
}

// wabtRefuses lists the modules of the suites that wasm-validate (wabt
// 1.0.32) refuses in their original form, by suite and the name the suite
// runner gives them (file:line of the .wast), with the reason: their
// instrumented versions cannot be checked by it either. wazero runs them,
// instrumented, like the others.
var wabtRefuses = map[string]string{
	"v2/elem:682": "an element segment whose item is global.get: wabt 1.0.32 takes only ref.null and ref.func there",
}

// TestSpecSuitePreserved runs every assertion of the spec suites the
// instrumenter supports on instrumented modules: they must give the same
// results as on the originals (which TestSuitesOnWazero checks). Every
// distinct instrumented module must also pass wasm-validate with the
// suite's features.
func TestSpecSuitePreserved(t *testing.T) {
	suites, err := spectest.Suites()
	if err != nil {
		t.Fatal(err)
	}
	tool := lookTool(t, "wasm-validate", "wabt")
	outputs := map[string]*specOutputs{} // by suite, over both options
	for _, opts := range []instrument.Options{{}, {Safepoints: instrument.SafepointsNone}} {
		for _, s := range suites {
			flags, ok := specValidateFlags[s.Name]
			if !ok {
				continue
			}
			o := outputs[s.Name]
			if o == nil {
				o = &specOutputs{seen: map[[32]byte]bool{}, excused: map[string]bool{}}
				outputs[s.Name] = o
			}
			opts := opts
			// The 1.0 suite runs where nothing newer is known: Wasm1 must keep it there.
			opts.Wasm1 = s.Name == "v1"
			t.Run(opts.Safepoints.String()+"/"+s.Name, func(t *testing.T) {
				t.Run("run", func(t *testing.T) {
					s.Run(t, spectest.Options{Transform: func(name string, module []byte) ([]byte, error) {
						out, _, err := instrument.Instrument(module, opts)
						if err == nil {
							o.add(name, module, out)
						}
						return out, err
					}})
				})
				t.Run("wasm-validate", func(t *testing.T) {
					o.validate(t, tool, s.Name, flags)
				})
			})
		}
	}
}

// specOutputs collects the distinct instrumented modules of a suite.
// Modules that differ only in their wasmsr section (which records the
// options, and which wasm-validate does not read) count as one.
type specOutputs struct {
	mu      sync.Mutex
	seen    map[[32]byte]bool
	modules []specOutput
	// validated counts the modules validated so far; excused are those
	// wabtRefuses excuses.
	validated int
	excused   map[string]bool
}

type specOutput struct {
	name                   string
	original, instrumented []byte
}

func (o *specOutputs) add(name string, original, instrumented []byte) {
	sum := sha256.Sum256(withoutInfo(instrumented))
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.seen[sum] {
		o.seen[sum] = true
		o.modules = append(o.modules, specOutput{name, original, instrumented})
	}
}

// withoutInfo returns an instrumented module without its wasmsr section.
func withoutInfo(module []byte) []byte {
	m, err := wasm.Decode(module)
	if err != nil {
		return module
	}
	m.Customs = slices.DeleteFunc(m.Customs, func(c wasm.CustomSection) bool { return c.Name == abi.SectionName })
	if b, err := wasm.Encode(m); err == nil {
		return b
	}
	return module
}

// validate runs wasm-validate on the modules collected since the last
// call, a few at a time. A module it refuses is an error unless wabt
// refuses its original too and wabtRefuses says why; an entry of
// wabtRefuses that is not refused is stale.
func (o *specOutputs) validate(t *testing.T, tool, suite string, flags []string) {
	modules := o.modules[o.validated:]
	o.validated = len(o.modules)
	dir := t.TempDir()
	refused := make([]error, len(modules))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				refused[i] = validate(tool, dir, modules[i].instrumented, flags...)
			}
		}()
	}
	for i := range modules {
		next <- i
	}
	close(next)
	wg.Wait()

	for i, err := range refused {
		if err == nil {
			continue
		}
		m := &modules[i]
		key := suite + "/" + m.name
		if validate(tool, dir, m.original, flags...) == nil {
			t.Errorf("%s: the instrumented module fails wasm-validate, the original passes: %v", key, err)
		} else if _, ok := wabtRefuses[key]; !ok {
			t.Errorf("%s: wasm-validate refuses the original module too (list it in wabtRefuses with the reason): %v", key, err)
		} else {
			o.excused[key] = true
		}
	}
	var stale []string
	for key := range wabtRefuses {
		if strings.HasPrefix(key, suite+"/") && !o.excused[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	for _, key := range stale {
		t.Errorf("%s is listed in wabtRefuses, but wasm-validate no longer refuses it", key)
	}
	if len(o.modules) == 0 {
		t.Fatal("no module was instrumented")
	}
	t.Logf("%d distinct instrumented modules validated (%d in all), %d excused", len(modules), len(o.modules), len(o.excused))
}
