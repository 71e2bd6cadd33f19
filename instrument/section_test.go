package instrument_test

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/wasm"
)

// sampleSection is the wasmsr section of the CLI's instrumented sample.
func sampleSection(tb testing.TB) []byte {
	data, err := os.ReadFile("../cmd/wasmsr/testdata/sample.sr.wasm")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := wasm.Decode(data)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range m.Customs {
		if c.Name == instrument.SectionName {
			return c.Data
		}
	}
	tb.Fatal("no wasmsr section")
	return nil
}

func TestDecodeInfoRefusesCorruption(t *testing.T) {
	good := sampleSection(t)
	info, err := instrument.DecodeInfo(good)
	if err != nil || len(info.Funcs) != 2 {
		t.Fatalf("sample section: %v, %d functions", err, len(info.Funcs))
	}
	for n := range len(good) {
		if _, err := instrument.DecodeInfo(good[:n]); err == nil {
			t.Errorf("truncation to %d bytes accepted", n)
		}
	}
	if _, err := instrument.DecodeInfo(append([]byte{4}, good[1:]...)); err == nil || err.Error() != "wasmsr section format 4 is not supported (this wasmsr reads 1 to 3)" {
		t.Errorf("other version: %v", err)
	}
}

// Each site says which locals its exit stores; for format 1, which did
// not say, all of them are reported.
func TestSectionSavedLocals(t *testing.T) {
	info, err := instrument.DecodeInfo(sampleSection(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range info.Funcs {
		for k, s := range f.Sites {
			got = append(got, fmt.Sprintf("func %d site %d: locals %v saved %v", f.Func, k, f.Locals, s.Saved))
		}
	}
	want := []string{
		"func 2 site 0: locals [1 0] saved [1 0]",
		"func 3 site 0: locals [] saved []",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("saved locals:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	info.Version = 1
	old, err := instrument.DecodeInfo(info.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range old.Funcs {
		for k, s := range f.Sites {
			if !reflect.DeepEqual(s.Saved, f.Locals) {
				t.Errorf("format 1, func %d site %d: saved %v, want every local %v", f.Func, k, s.Saved, f.Locals)
			}
		}
	}
}

// FuzzDecodeInfo: the section comes with modules from anywhere; it never
// panics, and what decodes is what the encoder would have written.
func FuzzDecodeInfo(f *testing.F) {
	f.Add(sampleSection(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := instrument.DecodeInfo(data)
		if err != nil {
			return
		}
		again, err := instrument.DecodeInfo(info.Encode())
		if err != nil || !reflect.DeepEqual(again, info) {
			t.Fatalf("re-encoding a decoded section: %v", err)
		}
	})
}

// A local that no resume point on the way to a site reads is not saved
// there, though another site of the function saves it.
func TestSiteSavesOnlyWhatItsResumeReads(t *testing.T) {
	module := wat2wasm(t, `(module
  (import "env" "sleep" (func $sleep))
  (func (export "run") (param $a i32) (param $b i32) (result i32)
    call $sleep            ;; site 0: a and b are read after it
    local.get $a
    local.get $b
    i32.add
    local.set $a           ;; b is dead from here
    call $sleep            ;; site 1
    local.get $a))`)
	_, report, err := instrument.Instrument(module, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := report.Info.Frame(1)
	if f == nil || len(f.Sites) != 2 {
		t.Fatalf("layout of run: %+v", f)
	}
	if got := fmt.Sprint(f.Locals, f.Sites[0].Saved, f.Sites[1].Saved); got != "[0 1] [0 1] [0]" {
		t.Errorf("layout locals, saved at site 0, saved at site 1: %s, want [0 1] [0 1] [0]", got)
	}
}
