package abi_test

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
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
		if c.Name == abi.SectionName {
			return c.Data
		}
	}
	tb.Fatal("no wasmsr section")
	return nil
}

func TestDecodeInfoRefusesCorruption(t *testing.T) {
	good := sampleSection(t)
	info, err := abi.DecodeInfo(good)
	if err != nil || len(info.Funcs) != 2 {
		t.Fatalf("sample section: %v, %d functions", err, len(info.Funcs))
	}
	for n := range len(good) {
		if _, err := abi.DecodeInfo(good[:n]); err == nil {
			t.Errorf("truncation to %d bytes accepted", n)
		}
	}
	if _, err := abi.DecodeInfo(append([]byte{4}, good[1:]...)); err == nil || err.Error() != "wasmsr section format 4 is not supported (this wasmsr reads 1 to 3)" {
		t.Errorf("other version: %v", err)
	}
}

// Each site says which locals its exit stores; for format 1, which did
// not say, all of them are reported.
func TestSectionSavedLocals(t *testing.T) {
	info, err := abi.DecodeInfo(sampleSection(t))
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
	old, err := abi.DecodeInfo(info.Encode())
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
		info, err := abi.DecodeInfo(data)
		if err != nil {
			return
		}
		again, err := abi.DecodeInfo(info.Encode())
		if err != nil || !reflect.DeepEqual(again, info) {
			t.Fatalf("re-encoding a decoded section: %v", err)
		}
	})
}

// The site kinds are stored in the section as these bytes: they are the
// format, whatever order the rewrite's planner lists them in.
func TestSiteKindValues(t *testing.T) {
	for _, c := range []struct {
		kind abi.SiteKind
		want byte
		name string
	}{{abi.SiteCall, 0, "call"}, {abi.SiteIndirect, 1, "indirect call"}, {abi.SiteSafepoint, 2, "safepoint"}} {
		if byte(c.kind) != c.want || c.kind.String() != c.name {
			t.Errorf("%s: stored as %d (%s), want %d", c.name, byte(c.kind), c.kind, c.want)
		}
	}
}
