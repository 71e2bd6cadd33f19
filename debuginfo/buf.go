package debuginfo

import (
	"encoding/binary"
	"fmt"
)

// buf reads little-endian DWARF with a sticky error: a read past the end
// returns zeros and records errTruncated, so outside bytes never panic.
type buf struct {
	data []byte
	pos  int
	err  error
}

var errTruncated = fmt.Errorf("truncated")

func (b *buf) need(n int) bool {
	if b.err != nil || n < 0 || n > len(b.data)-b.pos {
		if b.err == nil {
			b.err = errTruncated
		}
		return false
	}
	return true
}

func (b *buf) u8() byte {
	if !b.need(1) {
		return 0
	}
	b.pos++
	return b.data[b.pos-1]
}

func (b *buf) u16() uint16 {
	if !b.need(2) {
		return 0
	}
	b.pos += 2
	return binary.LittleEndian.Uint16(b.data[b.pos-2:])
}

func (b *buf) u32() uint32 {
	if !b.need(4) {
		return 0
	}
	b.pos += 4
	return binary.LittleEndian.Uint32(b.data[b.pos-4:])
}

// addr reads an address of size bytes, 4 or 8.
func (b *buf) addr(size int) uint64 {
	if size == 4 {
		return uint64(b.u32())
	}
	lo, hi := b.u32(), b.u32()
	return uint64(hi)<<32 | uint64(lo)
}

func putAddr(out []byte, a uint64, size int) {
	if size == 4 {
		binary.LittleEndian.PutUint32(out, uint32(a))
	} else {
		binary.LittleEndian.PutUint64(out, a)
	}
}

func appendAddr(out []byte, a uint64, size int) []byte {
	if size == 4 {
		return binary.LittleEndian.AppendUint32(out, uint32(a))
	}
	return binary.LittleEndian.AppendUint64(out, a)
}

func (b *buf) skip(n int) {
	if b.need(n) {
		b.pos += n
	}
}

func (b *buf) uleb() uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		c := b.u8()
		if b.err != nil {
			return 0
		}
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			return v
		}
	}
}

func (b *buf) sleb() int64 {
	var v int64
	shift := 0
	for {
		c := b.u8()
		if b.err != nil {
			return 0
		}
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

// cstring skips a NUL-terminated string.
func (b *buf) cstring() {
	for b.err == nil && b.u8() != 0 {
	}
}

func appendULEB(out []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func appendSLEB(out []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

// putULEBPadded writes v as a ULEB128 of exactly n bytes, padded with
// continuation bytes, so that a value can be replaced in place; false
// when it does not fit.
func putULEBPadded(out []byte, v uint64, n int) bool {
	if n == 0 || n < 10 && v>>(7*n) != 0 {
		return false
	}
	for i := 0; i < n; i++ {
		c := byte(v & 0x7f)
		v >>= 7
		if i < n-1 {
			c |= 0x80
		}
		out[i] = c
	}
	return true
}

// offsetSet is a set of the offsets into a section, a bit each.
type offsetSet []uint64

func newOffsetSet(size int) offsetSet { return make(offsetSet, size/64+1) }

// add adds off to the set, and reports whether it was not in it yet (an
// offset past the section is never kept).
func (s offsetSet) add(off uint64) bool {
	if off/64 >= uint64(len(s)) {
		return true
	}
	bit := uint64(1) << (off % 64)
	if s[off/64]&bit != 0 {
		return false
	}
	s[off/64] |= bit
	return true
}
