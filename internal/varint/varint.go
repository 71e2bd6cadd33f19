// Package varint reads the integers of encoding/binary's variable-length
// encoding from a byte slice, keeping the first error: the decoders of
// wasmsr's own formats (the wasmsr section, the snapshot's instance and
// WASI sections) read long runs of them and check the error once. A
// count is bounded by the bytes left, so that corrupt input cannot make a
// decoder allocate much. (WebAssembly's own LEB128, with its size rules
// and byte offsets, is package wasm's.)
package varint

import (
	"encoding/binary"
	"fmt"
)

// Reader reads from B, which shrinks as it goes. Once Err is set every
// read returns a zero value.
type Reader struct {
	B   []byte
	Err error
}

// Fail sets Err, unless it is set already.
func (r *Reader) Fail(format string, args ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf(format, args...)
	}
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail("truncated or overlong varint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed (zigzag) varint.
func (r *Reader) Varint() int64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.Fail("truncated or overlong varint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// U32 reads an unsigned varint that must fit in 32 bits.
func (r *Reader) U32() uint32 {
	v := r.Uvarint()
	if v > 0xFFFFFFFF {
		r.Fail("%d does not fit in 32 bits", v)
		return 0
	}
	return uint32(v)
}

// Count reads a length, which must not exceed the bytes left.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if n > uint64(len(r.B)) {
		r.Fail("count %d exceeds the %d bytes left", n, len(r.B))
	}
	if r.Err != nil {
		return 0
	}
	return int(n)
}

// Bytes takes the next n bytes, without copying them.
func (r *Reader) Bytes(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || n > len(r.B) {
		r.Fail("truncated")
		return nil
	}
	b := r.B[:n]
	r.B = r.B[n:]
	return b
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if b := r.Bytes(1); b != nil {
		return b[0]
	}
	return 0
}
