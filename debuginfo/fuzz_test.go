package debuginfo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// FuzzDWARF feeds mutated DWARF sections to every reader and to the
// rewrite: outside bytes must give an error or a result, never a panic.
// The seeds are the sections of a program built with -g, when it is built.
func FuzzDWARF(f *testing.F) {
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, []byte{})
	if path := filepath.Join(corpus.Root(f), "build", "testdata", "debug", "lines-O2.wasm"); fileExists(path) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		m, err := (&wasm.Decoder{KeepSource: true}).Decode(data)
		if err != nil {
			f.Fatal(err)
		}
		s := sections(m)
		f.Add(s[".debug_info"], s[".debug_abbrev"], s[".debug_line"], s[".debug_loc"], s[".debug_ranges"])
	}
	f.Fuzz(func(t *testing.T, info, abbrev, line, loc, ranges []byte) {
		m := &wasm.Module{Offsets: &wasm.Offsets{}}
		for _, s := range []struct {
			name string
			data []byte
		}{{".debug_info", info}, {".debug_abbrev", abbrev}, {".debug_line", line}, {".debug_loc", loc}, {".debug_ranges", ranges}} {
			m.Customs = append(m.Customs, wasm.CustomSection{Name: s.name, Data: s.data})
		}
		rewritten, err := Rewritten(Range{0x20, 0x30}, Range{0x40, 0x60}, []byte{0, 0x01, 0x0b}, []byte{0, 0x01, 0x01, 0x0b}, []int32{0, -1, 1})
		if err != nil {
			t.Fatal(err)
		}
		mp := &Map{Funcs: []Func{Moved(Range{2, 0x1f}, Range{2, 0x1f}), rewritten, Moved(Range{0x32, 0x400}, Range{0x62, 0x430})}}
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
