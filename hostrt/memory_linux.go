package hostrt

import "syscall"

// mapNoReserve keeps the reservation from counting against the system's
// commit limit until pages are used.
const mapNoReserve = syscall.MAP_NORESERVE

// physicalMemory is the machine's memory in bytes, 0 if unknown.
func physicalMemory() uint64 {
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err != nil {
		return 0
	}
	return uint64(info.Totalram) * uint64(info.Unit)
}

// adviseHugePages asks for the memory in 2 MiB pages where transparent
// huge pages are on request ("madvise", Debian's default): filling a
// restored or grown memory then takes one fault per 2 MiB instead of one
// per 4 KiB. It is advice: an error changes nothing.
func adviseHugePages(b []byte) { syscall.Madvise(b, 14 /* MADV_HUGEPAGE */) }
