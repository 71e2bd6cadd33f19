//go:build unix

package wasip1

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
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

// setBlocking undoes the O_NONBLOCK a restore opens files with, for a file
// outside Go's poller: one in the poller is non-blocking whatever it was
// opened with, and os.File waits for it through the poller.
func setBlocking(f *os.File) error {
	if err := f.SetReadDeadline(time.Time{}); !errors.Is(err, os.ErrNoDeadline) {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
