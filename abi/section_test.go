package abi_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// sampleSection is the named custom section of the CLI's instrumented
// sample (instrumented with --site-details).
func sampleSection(tb testing.TB, name string) []byte {
	data, err := os.ReadFile("../cmd/wasmsr/testdata/sample.sr.wasm")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := wasm.Decode(data)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range m.Customs {
		if c.Name == name {
			return c.Data
		}
	}
	tb.Fatalf("no %s section", name)
	return nil
}

// sampleInfo is the sample's Info with its sites' details.
func sampleInfo(tb testing.TB) *abi.Info {
	info, err := abi.DecodeInfo(sampleSection(tb, abi.SectionName))
	if err != nil {
		tb.Fatal(err)
	}
	if err := info.DecodeSites(sampleSection(tb, abi.SitesSectionName)); err != nil {
		tb.Fatal(err)
	}
	return info
}

func TestDecodeInfoRefusesCorruption(t *testing.T) {
	good := sampleSection(t, abi.SectionName)
	info, err := abi.DecodeInfo(good)
	if err != nil || len(info.Funcs) != 2 || info.Details {
		t.Fatalf("sample section: %v, %d functions, details %v", err, len(info.Funcs), info.Details)
	}
	for n := range len(good) {
		if _, err := abi.DecodeInfo(good[:n]); err == nil {
			t.Errorf("truncation to %d bytes accepted", n)
		}
	}
	next := byte(abi.FormatVersion + 1)
	if _, err := abi.DecodeInfo(append([]byte{next}, good[1:]...)); err == nil || err.Error() != fmt.Sprintf("wasmsr section format %d is not supported (this wasmsr reads 1 to %d)", next, abi.FormatVersion) {
		t.Errorf("other version: %v", err)
	}
}

// Each site says which locals its exit stores; for format 1, which did
// not say, all of them are reported.
func TestSectionSavedLocals(t *testing.T) {
	info := sampleInfo(t)
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

// The sites' details round-trip through their own section, and formats 2
// and 3 (which kept them in the main section) still read the same; a
// sites section that does not fit its main section is refused, and
// leaves the Info as it was.
func TestSitesSection(t *testing.T) {
	want := sampleInfo(t)
	if !want.Details || want.Funcs[0].Sites[0].Kind != abi.SiteSafepoint || want.Funcs[0].Sites[0].Instr != 1 {
		t.Fatalf("sample: details %v, sites %+v", want.Details, want.Funcs[0].Sites)
	}
	if got := want.EncodeSites(); !bytes.Equal(got, sampleSection(t, abi.SitesSectionName)) {
		t.Errorf("re-encoded sites section differs from the sample's")
	}
	for _, version := range []uint32{2, 3} {
		old := *want
		old.Version = version
		if old.EncodeSites() != nil {
			t.Errorf("format %d: a sites section", version)
		}
		got, err := abi.DecodeInfo(old.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Funcs, want.Funcs) || !got.Details {
			t.Errorf("format %d: %+v, want %+v", version, got.Funcs, want.Funcs)
		}
	}

	sites := sampleSection(t, abi.SitesSectionName)
	other := *want
	other.InputSHA256[0] ^= 1
	otherSites := other.EncodeSites()
	for _, c := range []struct {
		name, err string
		data      []byte
	}{
		{"truncated", "malformed wasmsr.sites section: unexpected EOF", sites[:len(sites)-1]},
		{"another module's", "malformed wasmsr.sites section: it describes another module", otherSites},
		{"another format", fmt.Sprintf("malformed wasmsr.sites section: format 3, the wasmsr section's is %d", abi.FormatVersion), append([]byte{3}, sites[1:]...)},
	} {
		info, err := abi.DecodeInfo(sampleSection(t, abi.SectionName))
		if err != nil {
			t.Fatal(err)
		}
		before := fmt.Sprintf("%+v", info)
		if err := info.DecodeSites(c.data); err == nil || err.Error() != c.err {
			t.Errorf("%s: %v, want %s", c.name, err, c.err)
		}
		if after := fmt.Sprintf("%+v", info); after != before {
			t.Errorf("%s: the Info changed:\n%s\nwas\n%s", c.name, after, before)
		}
	}
	if err := want.DecodeSites(sites); err == nil || err.Error() != fmt.Sprintf("malformed wasmsr.sites section: the wasmsr section (format %d) has the details already", abi.FormatVersion) {
		t.Errorf("details twice: %v", err)
	}
}

// FuzzDecodeInfo: the section comes with modules from anywhere; it never
// panics, and what decodes is what the encoder would have written.
func FuzzDecodeInfo(f *testing.F) {
	f.Add(sampleSection(f, abi.SectionName))
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

// FuzzDecodeSites: the same for the sites section, read against the
// sample's main section.
func FuzzDecodeSites(f *testing.F) {
	f.Add(sampleSection(f, abi.SitesSectionName))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := abi.DecodeInfo(sampleSection(t, abi.SectionName))
		if err != nil {
			t.Fatal(err)
		}
		if info.DecodeSites(data) != nil {
			return
		}
		again, err := abi.DecodeInfo(info.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if err := again.DecodeSites(info.EncodeSites()); err != nil || !reflect.DeepEqual(again, info) {
			t.Fatalf("re-encoding decoded sites: %v", err)
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
