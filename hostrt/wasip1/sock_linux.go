package wasip1

import "golang.org/x/sys/unix"

// pendingBytes is how many bytes a connection has to read (0 for a
// listener), for poll_oneoff's events.
func pendingBytes(fd int) int {
	n, _ := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return n
}
