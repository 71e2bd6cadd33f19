package wasm

import (
	"fmt"
	"unicode/utf8"
)

// DecodeError reports malformed input: what is wrong and where.
type DecodeError struct {
	// Offset is the byte offset in the module where the problem was found.
	Offset int
	// Section is the section being decoded, or 0xFF outside sections (in the
	// header or a section header).
	Section SectionID
	// Func is the index (in the function index space) of the function whose
	// body is malformed, or -1.
	Func int64
	// Truncated is set when the input ended early.
	Truncated bool
	Msg       string
}

func (e *DecodeError) Error() string {
	where := e.Section.String() + " section"
	if e.Section == sectionNone {
		where = "module"
		if e.Offset < 8 {
			where = "module header"
		}
	}
	if e.Truncated {
		return fmt.Sprintf("truncated %s at offset 0x%x", where, e.Offset)
	}
	if e.Func >= 0 {
		where += fmt.Sprintf(", function %d", e.Func)
	}
	return fmt.Sprintf("%s at offset 0x%x: %s", where, e.Offset, e.Msg)
}

// sectionNone marks errors outside any section.
const sectionNone SectionID = 0xFF

// reader reads the binary format from buf with a sticky error: once a read
// fails every later read returns zero values, so callers check err once per
// item instead of after every field.
type reader struct {
	buf []byte
	pos int
	// base is the module offset of buf[0], for error offsets.
	base    int
	section SectionID
	fn      int64
	err     *DecodeError
	// nonCanonical is set when an integer used more bytes than needed.
	nonCanonical bool
}

func (r *reader) offset() int { return r.base + r.pos }

func (r *reader) failAt(pos int, format string, args ...any) {
	if r.err == nil {
		r.err = &DecodeError{Offset: r.base + pos, Section: r.section, Func: r.fn, Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *reader) fail(format string, args ...any) { r.failAt(r.pos, format, args...) }

func (r *reader) truncated() {
	if r.err == nil {
		r.err = &DecodeError{Offset: r.base + len(r.buf), Section: r.section, Func: r.fn, Truncated: true, Msg: "unexpected end"}
	}
	r.pos = len(r.buf)
}

func (r *reader) remaining() int { return len(r.buf) - r.pos }

func (r *reader) byte() byte {
	if r.pos >= len(r.buf) {
		r.truncated()
		return 0
	}
	b := r.buf[r.pos]
	r.pos++
	return b
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > r.remaining() {
		r.truncated()
		return nil
	}
	b := r.buf[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b
}

func (r *reader) u32() uint32 {
	if r.pos < len(r.buf) {
		if b := r.buf[r.pos]; b < 0x80 {
			r.pos++
			return uint32(b)
		}
	}
	return uint32(r.leb(32, false))
}

func (r *reader) s32() int32 {
	if r.pos < len(r.buf) {
		if b := r.buf[r.pos]; b < 0x80 {
			r.pos++
			return int32(int8(b<<1) >> 1)
		}
	}
	return int32(r.leb(32, true))
}

func (r *reader) s33() int64 { return int64(r.leb(33, true)) }
func (r *reader) s64() int64 { return int64(r.leb(64, true)) }

// leb reads an unsigned or signed LEB128 integer of the given bit width,
// rejecting what the spec rejects: more than ceil(bits/7) bytes, and unused
// bits of the last byte that are not zero (unsigned) or the sign (signed).
func (r *reader) leb(bits uint, signed bool) uint64 {
	start := r.pos
	maxBytes := int((bits + 6) / 7)
	var v uint64
	var shift uint
	for i := 0; ; i++ {
		if r.pos >= len(r.buf) {
			r.truncated()
			return 0
		}
		b := r.buf[r.pos]
		r.pos++
		if i == maxBytes-1 {
			if b&0x80 != 0 {
				r.failAt(start, "integer representation too long")
				return 0
			}
			used := bits - shift // payload bits of the last byte that belong to the value
			if signed {
				// The unused bits and the value's top bit must all be equal.
				rest := int8(b<<1) >> (used)
				if rest != 0 && rest != -1 {
					r.failAt(start, "integer too large")
					return 0
				}
			} else if b>>used != 0 {
				r.failAt(start, "integer too large")
				return 0
			}
		}
		v |= uint64(b&0x7F) << shift
		shift += 7
		if b&0x80 == 0 {
			if i > 0 && (b == 0 && (!signed || r.buf[r.pos-2]&0x40 == 0) || signed && b == 0x7F && r.buf[r.pos-2]&0x40 != 0) {
				r.nonCanonical = true
			}
			if signed && shift < 64 && b&0x40 != 0 {
				v |= ^uint64(0) << shift
			}
			return v
		}
	}
}

// count reads a vector length and checks that at least minSize bytes per
// element remain, so a corrupt length cannot make the decoder allocate.
func (r *reader) count(minSize int) int {
	start := r.pos
	n := r.u32()
	if r.err != nil {
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		r.failAt(start, "length %d out of bounds", n)
		return 0
	}
	return int(n)
}

func (r *reader) name() string {
	start := r.pos
	n := r.u32()
	b := r.bytes(int(n))
	if r.err == nil && !utf8.Valid(b) {
		r.failAt(start, "malformed UTF-8 encoding")
	}
	return string(b)
}
