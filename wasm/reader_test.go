package wasm

import (
	"errors"
	"testing"
)

func TestLEB128(t *testing.T) {
	tests := []struct {
		name         string
		in           []byte
		bits         uint
		signed       bool
		want         uint64
		nonCanonical bool
		err          string
	}{
		{name: "u32 zero", in: []byte{0}, bits: 32, want: 0},
		{name: "u32 one byte max", in: []byte{0x7F}, bits: 32, want: 127},
		{name: "u32 two bytes", in: []byte{0x80, 0x01}, bits: 32, want: 128},
		{name: "u32 max", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, bits: 32, want: 0xFFFFFFFF},
		{name: "u32 padded zero", in: []byte{0x80, 0x80, 0x80, 0x80, 0x00}, bits: 32, want: 0, nonCanonical: true},
		{name: "u32 padded 5", in: []byte{0x85, 0x80, 0x00}, bits: 32, want: 5, nonCanonical: true},
		{name: "u32 unused bits set", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x1F}, bits: 32, err: "integer too large"},
		{name: "u32 six bytes", in: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, bits: 32, err: "integer representation too long"},
		{name: "u32 truncated", in: []byte{0x80, 0x80}, bits: 32, err: "unexpected end"},
		{name: "s32 minus one", in: []byte{0x7F}, bits: 32, signed: true, want: 0xFFFFFFFFFFFFFFFF},
		{name: "s32 63", in: []byte{0x3F}, bits: 32, signed: true, want: 63},
		{name: "s32 64", in: []byte{0xC0, 0x00}, bits: 32, signed: true, want: 64},
		{name: "s32 -65", in: []byte{0xBF, 0x7F}, bits: 32, signed: true, want: 0xFFFFFFFFFFFFFFBF},
		{name: "s32 min", in: []byte{0x80, 0x80, 0x80, 0x80, 0x78}, bits: 32, signed: true, want: 0xFFFFFFFF80000000},
		{name: "s32 max", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x07}, bits: 32, signed: true, want: 0x7FFFFFFF},
		{name: "s32 padded -1", in: []byte{0xFF, 0x7F}, bits: 32, signed: true, want: 0xFFFFFFFFFFFFFFFF, nonCanonical: true},
		{name: "s32 padded 1", in: []byte{0x81, 0x00}, bits: 32, signed: true, want: 1, nonCanonical: true},
		{name: "s32 unused bits not sign", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, bits: 32, signed: true, err: "integer too large"},
		{name: "s32 negative unused bits not sign", in: []byte{0x80, 0x80, 0x80, 0x80, 0x70}, bits: 32, signed: true, err: "integer too large"},
		{name: "s33 max type index", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, bits: 33, signed: true, want: 0xFFFFFFFF},
		{name: "s33 unused bits", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x2F}, bits: 33, signed: true, err: "integer too large"},
		{name: "s64 min", in: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F}, bits: 64, signed: true, want: 1 << 63},
		{name: "s64 max", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}, bits: 64, signed: true, want: 1<<63 - 1},
		{name: "s64 last byte not sign", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, bits: 64, signed: true, err: "integer too large"},
		{name: "u64 max", in: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, bits: 64, want: 1<<64 - 1},
		{name: "u64 eleven bytes", in: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, bits: 64, err: "integer representation too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reader{buf: tc.in, fn: -1}
			got := r.leb(tc.bits, tc.signed)
			if tc.err != "" {
				if r.err == nil || r.err.Msg != tc.err {
					t.Fatalf("got value %#x, error %v; want error %q", got, r.err, tc.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("unexpected error %v", r.err)
			}
			if got != tc.want || r.nonCanonical != tc.nonCanonical || r.pos != len(tc.in) {
				t.Fatalf("got %#x (nonCanonical %v, read %d bytes), want %#x (nonCanonical %v, %d bytes)",
					got, r.nonCanonical, r.pos, tc.want, tc.nonCanonical, len(tc.in))
			}
			// The encoder must write canonical values back the same way.
			if !tc.nonCanonical {
				var e encoder
				if tc.signed {
					e.s64(int64(got))
				} else {
					e.u64(got)
				}
				if string(e.buf) != string(tc.in) {
					t.Fatalf("re-encoded as % x, want % x", e.buf, tc.in)
				}
			}
		})
	}
}

func TestDecodeErrorMessages(t *testing.T) {
	header := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated module header at offset 0x0"},
		{"not wasm", []byte("hello world"), "module header at offset 0x0: magic header not detected"},
		{"version 2", []byte{0, 'a', 's', 'm', 2, 0, 0, 0}, "module header at offset 0x4: unknown binary version"},
		{"truncated section", append(header[:8:8], 1, 10, 1), "truncated type section at offset 0xb"},
		{"unknown section", append(header[:8:8], 14, 0), "module at offset 0x8: malformed section id 14"},
		{"bad opcode", append(header[:8:8],
			1, 4, 1, 0x60, 0, 0, // type () -> ()
			3, 2, 1, 0, // one function of type 0
			10, 5, 1, 3, 0, 0xFF, 0x0B, // body: illegal opcode 0xff
		), "code section, function 0 at offset 0x17: illegal opcode unknown(0xff)"},
		{"missing end", append(header[:8:8],
			1, 4, 1, 0x60, 0, 0,
			3, 2, 1, 0,
			10, 4, 1, 2, 0, 0x01, // nop, then the body ends
		), "truncated code section at offset 0x18"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DecodeError", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}
