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
