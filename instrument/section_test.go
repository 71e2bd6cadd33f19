package instrument_test

import (
	"os"
	"reflect"
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
	if _, err := instrument.DecodeInfo(append([]byte{2}, good[1:]...)); err == nil || err.Error() != "wasmsr section format 2 is not supported (this wasmsr reads 1)" {
		t.Errorf("other version: %v", err)
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
