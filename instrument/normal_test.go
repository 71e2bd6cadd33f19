package instrument_test

import (
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// TestProgramsUnchanged: an instrumented program that nobody asks to pause
// prints exactly what the original prints, whatever the options.
func TestProgramsUnchanged(t *testing.T) {
	for _, opts := range []instrument.Options{
		{},
		{Safepoints: instrument.SafepointsNone},
		{IgnoreIndirect: true, Safepoints: instrument.SafepointsCalls},
	} {
		for _, p := range corpus.Programs(t) {
			t.Run(opts.String()+"/"+p.Name, func(t *testing.T) {
				out, _, err := instrument.Instrument(p.Wasm(t), opts)
				if err != nil {
					t.Fatal(err)
				}
				p.Check(t, out)
			})
		}
	}
}
