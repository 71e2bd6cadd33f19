package hostrt

import "github.com/tetratelabs/wazero/experimental"

// A job's linear memory is not a Go slice that wazero grows by copying:
// it is address space reserved once for the memory's maximum (within the
// host's limit), whose pages the kernel provides when they are first
// touched. Growing it then copies nothing and leaves no garbage; a restore
// writes only the pages the snapshot holds, so that memory the program
// never used costs nothing; closing the job gives the memory back to the
// system at once; and the host's limit is a memory.grow that fails, which
// the program sees and handles, rather than an error at compile time.
// (Where the system has no mmap, the memory is a Go slice with the same
// limit.)

// memoryAllocator makes the memories of a job whose memory may not exceed
// limit bytes.
type memoryAllocator struct {
	limit uint64
}

// Allocate implements experimental.MemoryAllocator. wazero asks for the
// memory's initial capacity and its maximum; the reservation is the
// maximum within the limit, and never less than the initial capacity (a
// module whose initial memory exceeds the limit is refused before it is
// instantiated: see checkMemory).
func (a memoryAllocator) Allocate(capacity, maximum uint64) experimental.LinearMemory {
	return newLinearMemory(max(capacity, min(maximum, a.limit)))
}

// DefaultMaxMemory is the most memory a job may have unless told
// otherwise: half of the machine's memory, and at most the 4 GiB a 32-bit
// memory can address.
func DefaultMaxMemory() uint64 {
	total := physicalMemory()
	if total == 0 {
		return 4 << 30
	}
	return min(4<<30, total/2/pageSize*pageSize)
}

const pageSize = 65536
