package abi

import (
	"encoding/binary"
	"fmt"

	"github.com/wasmsr/wasmsr/wasm"
)

// Frame is one function's saved frame, as DecodeFrames reads it from an
// unwind buffer.
type Frame struct {
	Func uint32
	// Site is the unwind point the function stopped at (its call index).
	Site int
	// At describes the site.
	At Site
	// Locals are the locals saved at this site, in the layout's order (a
	// frame leaves out the locals its site does not need: see
	// Site.Saved; without Info.Details, all are listed, the slots the
	// site left alone holding whatever the buffer held).
	Locals []Value
}

// Value is a saved local.
type Value struct {
	Local uint32
	Type  wasm.ValType
	// Bits holds the value's bits, little-endian (16 bytes for v128).
	Bits []byte
}

// Uint64 returns the low 64 bits of the value.
func (v Value) Uint64() uint64 {
	var b [8]byte
	copy(b[:], v.Bits)
	return binary.LittleEndian.Uint64(b[:])
}

// FramesIn reads the frames of the unwind buffer whose data struct is at
// address buffer of memory, outermost first.
func FramesIn(info *Info, memory []byte, buffer uint32) ([]Frame, error) {
	if uint64(buffer)+8 > uint64(len(memory)) {
		return nil, fmt.Errorf("unwind data struct at 0x%x out of bounds", buffer)
	}
	pos := binary.LittleEndian.Uint32(memory[buffer:])
	start := buffer + 8
	if pos < start || uint64(pos) > uint64(len(memory)) {
		return nil, fmt.Errorf("unwind buffer position 0x%x outside 0x%x-0x%x", pos, start, len(memory))
	}
	return DecodeFrames(info, memory[start:pos])
}

// DecodeFrames splits the bytes of an unwind buffer (from just after the
// data struct up to its position) into frames, outermost first.
func DecodeFrames(info *Info, buf []byte) ([]Frame, error) {
	var frames []Frame
	end := len(buf)
	for end > 0 {
		if end < 8 {
			return nil, fmt.Errorf("unwind buffer: %d stray bytes at its bottom", end)
		}
		site := binary.LittleEndian.Uint32(buf[end-4:])
		fn := binary.LittleEndian.Uint32(buf[end-8:])
		layout := info.Frame(fn)
		if layout == nil {
			return nil, fmt.Errorf("unwind buffer: frame of function %d, which is not instrumented", fn)
		}
		if int(layout.FrameSize) > end {
			return nil, fmt.Errorf("unwind buffer: frame of function %d (%d bytes) does not fit", fn, layout.FrameSize)
		}
		if int(site) >= len(layout.Sites) {
			return nil, fmt.Errorf("unwind buffer: function %d has no unwind point %d", fn, site)
		}
		base := end - int(layout.FrameSize)
		f := Frame{Func: fn, Site: int(site), At: layout.Sites[site]}
		off, saved := base, f.At.Saved
		for k, l := range layout.Locals {
			size := layout.Types[k].Size()
			if len(saved) > 0 && saved[0] == l {
				f.Locals = append(f.Locals, Value{Local: l, Type: layout.Types[k], Bits: append([]byte(nil), buf[off:off+size]...)})
				saved = saved[1:]
			}
			off += size
		}
		frames = append(frames, f)
		end = base
	}
	return frames, nil
}
