package abi_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// info describes two functions: 7 saves an i64 and an i32 (the i32 only
// at site 1), 9 saves nothing.
var info = &abi.Info{Funcs: []abi.FuncLayout{
	{Func: 7, FrameSize: 20, Locals: []uint32{2, 0}, Types: []wasm.ValType{wasm.I64, wasm.I32}, Sites: []abi.Site{
		{Kind: abi.SiteCall, Target: 9, Instr: 4, Saved: []uint32{2}},
		{Kind: abi.SiteCall, Target: 9, Instr: 8, Saved: []uint32{2, 0}},
	}},
	{Func: 9, FrameSize: 8, Sites: []abi.Site{{Kind: abi.SiteSafepoint, Instr: -1}}},
}}

// frame appends a frame of fn stopped at site, its slots filled with values.
func frame(b []byte, fn, site uint32, slots ...uint64) []byte {
	for _, v := range slots {
		if v > 0xFFFFFFFF {
			b = binary.LittleEndian.AppendUint64(b, v)
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		}
	}
	b = binary.LittleEndian.AppendUint32(b, fn)
	return binary.LittleEndian.AppendUint32(b, site)
}

func describe(frames []abi.Frame) string {
	var lines []string
	for _, f := range frames {
		var locals []string
		for _, v := range f.Locals {
			locals = append(locals, fmt.Sprintf("%d:%s=%#x", v.Local, v.Type, v.Uint64()))
		}
		lines = append(lines, fmt.Sprintf("func %d site %d (%s) %s", f.Func, f.Site, f.At.Kind, strings.Join(locals, " ")))
	}
	return strings.Join(lines, "\n")
}

// Frames come out outermost first (the last pushed), with the locals their
// site saved and not the slots it left alone.
func TestDecodeFrames(t *testing.T) {
	var buf []byte
	buf = frame(buf, 9, 0)                                // innermost, pushed first
	buf = frame(buf, 7, 0, 0x1111_2222_3333_4444, 0xdead) // the i32 slot is stale
	buf = frame(buf, 7, 1, 0x5555_6666_7777_8888, 0x2a)
	frames, err := abi.DecodeFrames(info, buf)
	if err != nil {
		t.Fatal(err)
	}
	want := `func 7 site 1 (call) 2:i64=0x5555666677778888 0:i32=0x2a
func 7 site 0 (call) 2:i64=0x1111222233334444
func 9 site 0 (safepoint) `
	if got := describe(frames); got != want {
		t.Errorf("frames:\n%s\nwant\n%s", got, want)
	}
}

func TestDecodeFramesRefusesCorruption(t *testing.T) {
	good := frame(frame(nil, 9, 0), 7, 1, 0x5555_6666_7777_8888, 0x2a)
	for _, c := range []struct {
		name string
		buf  []byte
		want string
	}{
		{"stray bytes", append([]byte{1, 2, 3}, good...), "unwind buffer: 3 stray bytes at its bottom"},
		{"unknown function", frame(nil, 8, 0), "unwind buffer: frame of function 8, which is not instrumented"},
		{"unknown site", frame(nil, 9, 1), "unwind buffer: function 9 has no unwind point 1"},
		{"frame too big", good[len(good)-16:], "unwind buffer: frame of function 7 (20 bytes) does not fit"},
	} {
		if _, err := abi.DecodeFrames(info, c.buf); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// FuzzDecodeFrames: buffers come from snapshots, which come from anywhere.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(frame(frame(nil, 9, 0), 7, 1, 0x5555_6666_7777_8888, 0x2a))
	f.Fuzz(func(t *testing.T, buf []byte) {
		abi.DecodeFrames(info, buf)
	})
}
