//go:build unix

package wasip1

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// acceptNonblock accepts a pending connection on the listening socket fd,
// or returns nil when there is none. The connection is non-blocking, in
// Go's poller, like the listener.
func acceptNonblock(fd int) (*os.File, string, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := syscall.Accept(fd)
	if err == nil {
		syscall.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return nil, "", nil
	case err != nil:
		return nil, "", err
	}
	if err := syscall.SetNonblock(nfd, true); err != nil {
		syscall.Close(nfd)
		return nil, "", err
	}
	return os.NewFile(uintptr(nfd), "socket"), sockaddrString(sa), nil
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return ""
}

// recvNonblock reads what the connection fd has now into buf, leaving it
// there with peek; eof is the end of the stream. Nothing now is 0, false,
// nil.
func recvNonblock(fd int, buf []byte, peek bool) (n int, eof bool, err error) {
	flags := 0
	if peek {
		flags = syscall.MSG_PEEK
	}
	n, _, err = syscall.Recvfrom(fd, buf, flags)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return n, n == 0, nil
}

// sendNonblock writes what the connection fd takes now of buf.
func sendNonblock(fd int, buf []byte) (int, error) {
	n, err := syscall.Write(fd, buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return 0, nil
	case err != nil:
		return 0, err
	}
	return n, nil
}

func shutdown(f *os.File, read, write bool) error {
	how := syscall.SHUT_RDWR
	switch {
	case !write:
		how = syscall.SHUT_RD
	case !read:
		how = syscall.SHUT_WR
	}
	return control(f, func(fd int) error { return syscall.Shutdown(fd, how) })
}

// control runs op on f's host descriptor.
func control(f *os.File, op func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = op(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// socketReadiness is what poll(2) says of sockets now: per file, whether
// it can be read (or accepted from) without waiting, written without
// waiting, and how many bytes it has to read.
type socketReadiness struct {
	readable, writable, hangup bool
	err                        error
	nread                      int
}

// pollSocketsNow polls the files without waiting.
func pollSocketsNow(files []*os.File) []socketReadiness {
	ready := make([]socketReadiness, len(files))
	fds := make([]unix.PollFd, len(files))
	for i, f := range files {
		fds[i].Fd = -1 // poll(2) skips negative descriptors
		control(f, func(fd int) error {
			fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLOUT}
			return nil
		})
	}
	for {
		if _, err := unix.Poll(fds, 0); !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	for i, p := range fds {
		r := &ready[i]
		r.readable = p.Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0
		r.writable = p.Revents&(unix.POLLOUT|unix.POLLHUP|unix.POLLERR) != 0
		r.hangup = p.Revents&unix.POLLHUP != 0
		if p.Revents&unix.POLLERR != 0 {
			r.err = control(files[i], func(fd int) error {
				if soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil {
					return err
				} else if soErr != 0 {
					return syscall.Errno(soErr)
				}
				return nil
			})
		}
		if r.readable && p.Fd >= 0 {
			r.nread = pendingBytes(int(p.Fd))
		}
	}
	return ready
}

// socketWaiter waits for sockets to become ready in poll(2), on a thread
// of its own, so that poll_oneoff can wait for them beside its timer,
// stdin and the host's pause. A pipe wakes the thread when poll_oneoff
// stops waiting first.
type socketWaiter struct {
	wakeR, wakeW int
}

func newSocketWaiter() (*socketWaiter, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err := syscall.Pipe(p[:])
	if err == nil {
		syscall.CloseOnExec(p[0])
		syscall.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, err
	}
	for _, fd := range p {
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(p[0])
			syscall.Close(p[1])
			return nil, err
		}
	}
	return &socketWaiter{wakeR: p[0], wakeW: p[1]}, nil
}

// wait starts waiting until one of files is ready for reading (when
// write is false) or writing; ready is closed then. stop ends the wait
// and returns once the thread is done with the files.
func (s *socketWaiter) wait(files []*os.File, write []bool) (ready <-chan struct{}, stop func()) {
	fds := make([]unix.PollFd, 0, len(files)+1)
	fds = append(fds, unix.PollFd{Fd: int32(s.wakeR), Events: unix.POLLIN})
	for i, f := range files {
		events := int16(unix.POLLIN)
		if write[i] {
			events = unix.POLLOUT
		}
		control(f, func(fd int) error {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: events})
			return nil
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := unix.Poll(fds, -1); !errors.Is(err, syscall.EINTR) {
				return
			}
		}
	}()
	return done, func() {
		syscall.Write(s.wakeW, []byte{0})
		<-done
		var drain [16]byte
		for {
			if n, _ := syscall.Read(s.wakeR, drain[:]); n <= 0 {
				return
			}
		}
	}
}

func (s *socketWaiter) close() {
	syscall.Close(s.wakeR)
	syscall.Close(s.wakeW)
}
