//go:build unix

package wasip1

import (
	"io"
	"os"
	"syscall"
)

// readNonblock reads what f has now. os.File would wait for data instead
// of reporting EAGAIN, because Go keeps pollable files non-blocking itself.
func readNonblock(f *os.File, buf []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true
	}); err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
