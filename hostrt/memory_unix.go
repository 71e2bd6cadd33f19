//go:build linux || darwin || freebsd

package hostrt

import (
	"syscall"
)

// mappedMemory is a linear memory in reserved address space.
type mappedMemory struct {
	// reserved is all of the address space; committed is how much of it
	// is readable and writable.
	reserved  []byte
	committed uint64
}

func newLinearMemory(reserve uint64) *mappedMemory {
	m := &mappedMemory{}
	if reserve == 0 {
		return m
	}
	b, err := syscall.Mmap(-1, 0, int(reserve), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		// wazero takes nil from Reallocate as a memory that cannot grow.
		return m
	}
	m.reserved = b
	adviseHugePages(b)
	return m
}

// Reallocate implements experimental.LinearMemory.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.reserved)) {
		return nil
	}
	if size > m.committed {
		if err := syscall.Mprotect(m.reserved[m.committed:size], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.committed = size
	}
	return m.reserved[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.reserved != nil {
		syscall.Munmap(m.reserved)
		m.reserved, m.committed = nil, 0
	}
}
