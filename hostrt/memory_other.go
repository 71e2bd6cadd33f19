//go:build !(linux || darwin || freebsd)

package hostrt

// sliceMemory is a linear memory in a Go slice, grown by copying, where
// the system has no mmap.
type sliceMemory struct {
	buf   []byte
	limit uint64
}

func newLinearMemory(reserve uint64) *sliceMemory { return &sliceMemory{limit: reserve} }

// Reallocate implements experimental.LinearMemory.
func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		return nil
	}
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size, min(m.limit, max(size, 2*uint64(cap(m.buf)))))
		copy(grown, m.buf)
		m.buf = grown
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *sliceMemory) Free() { m.buf = nil }

// physicalMemory is unknown here: DefaultMaxMemory takes 4 GiB.
func physicalMemory() uint64 { return 0 }
