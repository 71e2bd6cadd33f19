package debuginfo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// fuzzSections are the sections FuzzDWARF mutates, in the order of its
// arguments.
var fuzzSections = []string{".debug_info", ".debug_abbrev", ".debug_line", ".debug_loc", ".debug_ranges",
	".debug_addr", ".debug_rnglists", ".debug_loclists", ".debug_line_str", ".debug_str_offsets", ".debug_str"}

// FuzzDWARF feeds mutated DWARF sections to every reader and to the
// rewrite: outside bytes must give an error or a result, never a panic.
// The seeds are the sections of the programs built with -g, in DWARF 4
// and 5, when they are built, and the DWARF 5 of TestDWARF5Lists, which
// has every kind of list entry.
func FuzzDWARF(f *testing.F) {
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, []byte{}, []byte{}, []byte{}, []byte{}, []byte{}, []byte{}, []byte{})
	s := sections(dwarf5Module())
	f.Add(s[fuzzSections[0]], s[fuzzSections[1]], s[fuzzSections[2]], s[fuzzSections[3]], s[fuzzSections[4]],
		s[fuzzSections[5]], s[fuzzSections[6]], s[fuzzSections[7]], s[fuzzSections[8]], s[fuzzSections[9]], s[fuzzSections[10]])
	for _, name := range []string{"lines-O2", "lines-g-dwarf5", "lines-O2-dwarf5"} {
		path := filepath.Join(corpus.Root(f), "build", "testdata", "debug", name+".wasm")
		if !fileExists(path) {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		m, err := (&wasm.Decoder{KeepSource: true}).Decode(data)
		if err != nil {
			f.Fatal(err)
		}
		s := sections(m)
		f.Add(s[fuzzSections[0]], s[fuzzSections[1]], s[fuzzSections[2]], s[fuzzSections[3]], s[fuzzSections[4]],
			s[fuzzSections[5]], s[fuzzSections[6]], s[fuzzSections[7]], s[fuzzSections[8]], s[fuzzSections[9]], s[fuzzSections[10]])
	}
	f.Fuzz(func(t *testing.T, info, abbrev, line, loc, ranges, addr, rnglists, loclists, lineStr, strOffsets, str []byte) {
		m := &wasm.Module{Offsets: &wasm.Offsets{}}
		for i, data := range [][]byte{info, abbrev, line, loc, ranges, addr, rnglists, loclists, lineStr, strOffsets, str} {
			if len(data) > 0 || i < 5 {
				m.Customs = append(m.Customs, wasm.CustomSection{Name: fuzzSections[i], Data: data})
			}
		}
		rewritten, err := Rewritten(Range{0x20, 0x30}, Range{0x40, 0x60}, []byte{0, 0x01, 0x0b}, []byte{0, 0x01, 0x01, 0x0b}, []int32{0, -1, 1})
		if err != nil {
			t.Fatal(err)
		}
		// The seeds' code reaches 0x6500: a body moved past the rewritten one
		// holds most of it.
		mp := &Map{Funcs: []Func{Moved(Range{2, 0x1f}, Range{2, 0x1f}), rewritten, Moved(Range{0x32, 0x8000}, Range{0x62, 0x8030})}}
		Rewrite(m, mp)
		in, err := Read(m)
		if err != nil {
			return
		}
		in.FuncNames(map[uint64]uint32{2: 0, 0x20: 1, 0x32: 2})
		for _, a := range []uint64{0, 2, 0x21, 0x40, 0x100} {
			in.LineAt(a)
			in.Locals(a, a+4)
		}
	})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// FuzzDemangle: a name from a module never panics the demangler, and
// what it makes of it stays within its limit.
func FuzzDemangle(f *testing.F) {
	for _, s := range []string{"_ZN4main3run17h183e6ec280388372E", "_ZNSt3__16vectorIiNS_9allocatorIiEEE9push_backERKi",
		"_RNvCs15kBYyAo9fc_7mycrate7example", "_Z4workv", "main", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got := Demangle(name); got != name && len(got) > 1<<12 {
			t.Fatalf("%q demangles to %d bytes", name, len(got))
		}
	})
}
