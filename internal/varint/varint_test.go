package varint_test

import (
	"testing"

	"github.com/wasmsr/wasmsr/internal/varint"
)

// TestReader reads a sequence from each input and checks the values and
// the first error; every read after an error returns a zero value.
func TestReader(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		read func(r *varint.Reader) []uint64
		want []uint64
		err  string
		left int
	}{
		{"values", []byte{0x96, 0x01, 0x03, 0x02, 'h', 'i', 7}, func(r *varint.Reader) []uint64 {
			u := r.Uvarint()
			v := r.Varint()
			b := r.Bytes(r.Count())
			return []uint64{u, uint64(v), uint64(len(b)), uint64(b[1]), uint64(r.Byte())}
		}, []uint64{150, ^uint64(1), 2, 'i', 7}, "", 0},
		{"truncated varint", []byte{0x80}, func(r *varint.Reader) []uint64 { return []uint64{r.Uvarint(), uint64(r.Byte())} },
			[]uint64{0, 0}, "truncated or overlong varint", 1},
		{"overlong varint", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, func(r *varint.Reader) []uint64 { return []uint64{r.Uvarint()} },
			[]uint64{0}, "truncated or overlong varint", 11},
		{"u32 too large", []byte{0x80, 0x80, 0x80, 0x80, 0x10, 5}, func(r *varint.Reader) []uint64 { return []uint64{uint64(r.U32()), r.Uvarint()} },
			[]uint64{0, 0}, "4294967296 does not fit in 32 bits", 1},
		{"count beyond the input", []byte{5, 1, 2}, func(r *varint.Reader) []uint64 { return []uint64{uint64(r.Count()), uint64(r.Byte())} },
			[]uint64{0, 0}, "count 5 exceeds the 2 bytes left", 2},
		{"bytes beyond the input", []byte{1}, func(r *varint.Reader) []uint64 { return []uint64{uint64(len(r.Bytes(2))), uint64(r.Byte())} },
			[]uint64{0, 0}, "truncated", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &varint.Reader{B: c.in}
			got := c.read(r)
			errText := ""
			if r.Err != nil {
				errText = r.Err.Error()
			}
			if len(got) != len(c.want) || errText != c.err || len(r.B) != c.left {
				t.Fatalf("read %v, error %q, %d bytes left; want %v, %q, %d", got, errText, len(r.B), c.want, c.err, c.left)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("read %v, want %v", got, c.want)
				}
			}
		})
	}
}
