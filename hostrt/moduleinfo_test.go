package hostrt

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestReadInfo checks the section walk against a full decode, with and
// without the sites' details, and that a cut module is an error, not a
// wrong answer.
func TestReadInfo(t *testing.T) {
	for i, p := range corpus.CPrograms(t) {
		orig := p.Wasm(t)
		module, _, err := instrument.Instrument(orig, instrument.Options{SiteDetails: i%2 == 0})
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
		if err != nil || !reflect.DeepEqual(got, want) || got.Details != (i%2 == 0) {
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

// TestModuleFacts: facts read once give what SnapshotLimits and the hash
// give, and are refused with a copy of their module (facts are tied to
// the bytes they were read from, which do not change).
func TestModuleFacts(t *testing.T) {
	p := corpus.CPrograms(t)[0]
	module, _, err := instrument.Instrument(p.Wasm(t), instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	facts, err := ReadModuleFacts(module)
	if err != nil {
		t.Fatal(err)
	}
	want, err := SnapshotLimits(module, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := facts.of(module); err != nil || !reflect.DeepEqual(got.limits(1<<30), want) || got.SHA256 != sha256.Sum256(module) {
		t.Errorf("facts of %s: %v; limits or hash differ", p.Name, err)
	}
	if _, err := facts.of(bytes.Clone(module)); !errors.Is(err, errOtherFacts) {
		t.Errorf("facts with a copy of their module: %v, want errOtherFacts", err)
	}
	if _, err := ReadModuleFacts(p.Wasm(t)); !errors.Is(err, abi.ErrNotInstrumented) {
		t.Errorf("facts of an uninstrumented module: %v", err)
	}
}
