package instrument_test

import (
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/spectest"
)

// TestSpecSuitePreserved runs every assertion of the spec suites the
// instrumenter supports on instrumented modules: they must give the same
// results as on the originals (which TestSuitesOnWazero checks).
func TestSpecSuitePreserved(t *testing.T) {
	suites, err := spectest.Suites()
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []instrument.Options{{}, {Safepoints: instrument.SafepointsNone}} {
		for _, s := range suites {
			switch s.Name {
			case "v1", "v2", "tail-call", "extended-const":
			default:
				continue
			}
			t.Run(opts.Safepoints.String()+"/"+s.Name, func(t *testing.T) {
				s.Run(t, spectest.Options{Transform: func(name string, module []byte) ([]byte, error) {
					out, _, err := instrument.Instrument(module, opts)
					return out, err
				}})
			})
		}
	}
}
