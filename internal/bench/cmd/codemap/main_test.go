package main

import (
	"encoding/binary"
	"slices"
	"testing"
)

// cacheFile makes a cache file's bytes as wazero v1.12.0 writes them:
// magic, version, the functions' code offsets, the code's length, code.
func cacheFile(offsets []uint64, code int) []byte {
	b := append([]byte("WAZEVO"), byte(len("v1.12.0")))
	b = append(b, "v1.12.0"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(offsets)))
	for _, off := range offsets {
		b = binary.LittleEndian.AppendUint64(b, off)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(code))
	return append(b, make([]byte, code)...)
}

func TestCodeLayout(t *testing.T) {
	good := cacheFile([]uint64{0, 48, 16}, 64)
	const header = 6 + 1 + 7 + 4 + 3*8 + 8
	code, length, starts, err := codeLayout(good)
	if err != nil || code != header || length != 64 || !slices.Equal(starts, []uint64{header, header + 48, header + 16}) {
		t.Fatalf("codeLayout = %d, %d, %v, %v; want %d, 64, [%d %d %d]", code, length, starts, err, header, header, header+48, header+16)
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a wazero compilation cache file (no WAZEVO magic)"},
		{"magic only", []byte("WAZEVO"), "truncated before the wazero version"},
		{"no count", good[:6+1+7+2], "truncated before the number of functions"},
		{"count too large", cacheFile([]uint64{0}, 8)[:6+1+7+4], "1 functions do not fit in 18 bytes"},
		{"no length", good[:header-8], "truncated before the code's length"},
		{"code short", good[:header+10], "64 bytes of code do not fit in 60 bytes"},
		{"offset past code", cacheFile([]uint64{0, 64}, 64), "function 1's code offset 64 is past the code's 64 bytes"},
	} {
		_, _, _, err := codeLayout(tc.file)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzCodeLayout: any bytes give an error or starts that lie in the code.
func FuzzCodeLayout(f *testing.F) {
	f.Add(cacheFile([]uint64{0, 48, 16}, 64))
	f.Add(cacheFile(nil, 0))
	f.Fuzz(func(t *testing.T, file []byte) {
		code, length, starts, err := codeLayout(file)
		if err != nil {
			return
		}
		for _, s := range starts {
			if s < code || s >= code+length || s >= uint64(len(file)) {
				t.Fatalf("start %d outside the code [%d, %d+%d) of a %d-byte file", s, code, code, length, len(file))
			}
		}
	})
}

func TestField(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "-"},
		{"main", "main"},
		{"std::vector<int>::push_back(int const&)", "std::vector<int>::push_back(int_const&)"},
		{"a\tb\nc\x00d", "a_b_c_d"},
	} {
		if got := field(tc.name); got != tc.want {
			t.Errorf("field(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
