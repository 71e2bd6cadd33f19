package unwind

import (
	"errors"

	"github.com/wasmsr/wasmsr/abi"
)

// Frames reads the frames saved in the paused program's buffer, outermost
// (the export) first.
func (m *Module) Frames() ([]abi.Frame, error) {
	if m.info == nil {
		return nil, errors.New("frames of a module instrumented by Binaryen cannot be read")
	}
	if m.paused == nil {
		return nil, errors.New("the program is not paused")
	}
	// memoryView, not Read(0, Size()): Size is 0 for a 4 GiB memory.
	data, ok := memoryView(m.mod.Memory())
	if !ok {
		return nil, errors.New("cannot read memory")
	}
	return abi.FramesIn(m.info, data, m.buffer)
}
