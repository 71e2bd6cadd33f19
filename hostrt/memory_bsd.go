//go:build darwin || freebsd

package hostrt

const mapNoReserve = 0

// physicalMemory is unknown here: DefaultMaxMemory takes 4 GiB.
func physicalMemory() uint64 { return 0 }

// adviseHugePages does nothing: huge pages are the system's business here.
func adviseHugePages([]byte) {}
