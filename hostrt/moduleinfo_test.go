package hostrt

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestReadInfo checks the section walk against a full decode, and that a
// cut module is an error, not a wrong answer.
func TestReadInfo(t *testing.T) {
	for _, p := range corpus.CPrograms(t) {
		orig := p.Wasm(t)
		module, _, err := instrument.Instrument(orig, instrument.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := wasm.Decode(module)
		if err != nil {
			t.Fatal(err)
		}
		want, err := abi.ReadInfo(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readInfo(module)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: readInfo differs from the full decode (%v)", p.Name, err)
		}
		if _, err := readInfo(orig); !errors.Is(err, abi.ErrNotInstrumented) {
			t.Errorf("%s uninstrumented: %v, want ErrNotInstrumented", p.Name, err)
		}
		for _, n := range []int{0, 4, 9, len(module) / 2, len(module) - 1} {
			if _, err := readInfo(module[:n]); err == nil {
				t.Errorf("%s cut at %d: no error", p.Name, n)
			}
		}
	}
}
