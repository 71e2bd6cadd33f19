package wasip1

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/tetratelabs/wazero/api"
)

// Sockets. A guest gets no way to make a socket: preview1 has no
// sock_open, and path_open cannot open a socket file. It gets the
// listening TCP sockets its host preopened (Config.Listeners), as
// wasmtime's --tcplisten and wazero's sock config do: descriptors of type
// SOCKET_STREAM after the preopened directories, which fd_prestat_get
// calls EBADF so that wasi-libc's and Go's scans of the preopens stop
// there. sock_accept on them gives it connections; it reaches nothing
// else.
//
// The host's sockets stay non-blocking, in Go's poller: a guest's
// blocking call waits through the poller and gives up when the host
// pauses (pausableIO), like a read of a pipe.
//
// A snapshot records each listener's address and each connection's peer
// (State, FD.Path). A restore listens again with the listeners its host
// gives (Config.Listeners, in fd order: the CLI opens them on the saved
// addresses or on those of resume --listen). Connections cannot be
// restored, their peer having seen the old process go: a restored one is
// reset, every call on it but fd_close, fd_fdstat_get and poll_oneoff
// fails with ECONNRESET (poll_oneoff reports it ready with that error),
// as a host's socket whose peer reset it.

// The preview1 numbers sockets use.
const (
	filetypeSocketStream uint8 = 6

	errnoConnaborted errno = 13
	errnoConnreset   errno = 15
	errnoNotconn     errno = 53

	riflagRecvPeek    uint16 = 1 << 0
	riflagRecvWaitall uint16 = 1 << 1

	sdflagRd uint8 = 1 << 0
	sdflagWr uint8 = 1 << 1

	// socketRights are what fd_fdstat_get reports for a socket: a
	// stream has no offset, size or times to set.
	socketRights = rightFdRead | rightFdWrite | rightFdFdstatSetFlags | rightFdFilestatGet |
		rightPollFdReadwrite | rightSockShutdown | rightSockAccept
)

// isSocket reports whether k is a listener or a connection.
func (k Kind) isSocket() bool { return k == KindListener || k == KindConn }

func (e *entry) isSocket() bool { return e.kind.isSocket() }

// isReset reports whether e is a connection that a restore could not
// bring back.
func (e *entry) isReset() bool { return e.kind == KindConn && e.file == nil }

// listenerEntry turns a host's listener into a guest's descriptor. The
// guest's descriptor is a duplicate: the WASI owns it, and the caller's
// listener is closed.
func listenerEntry(l *net.TCPListener) (*entry, error) {
	addr := l.Addr().String()
	f, err := l.File()
	l.Close()
	if err != nil {
		return nil, fmt.Errorf("wasip1: listener %s: %w", addr, err)
	}
	return &entry{kind: KindListener, file: f, path: addr, ftype: filetypeSocketStream, stream: true, readable: true, writable: true}, nil
}

// connEntry is a connection the guest accepted, f nil for one a restore
// could not bring back; path is its peer.
func connEntry(f *os.File, peer string, flags uint16) *entry {
	return &entry{kind: KindConn, file: f, path: peer, ftype: filetypeSocketStream, stream: true, readable: true, writable: true, fdflags: flags}
}

// connection returns fd's entry when it is a connection that can carry
// data, or the errno of a sock_* call on it otherwise.
func (w *WASI) connection(fd uint32) (*entry, errno) {
	e := w.lookup(fd)
	switch {
	case e == nil:
		return nil, errnoBadf
	case e.kind == KindListener:
		return nil, errnoNotconn
	case e.kind != KindConn:
		return nil, errnoNotsock
	case e.isReset():
		return nil, errnoConnreset
	}
	return e, errnoSuccess
}

// socketCapable is connection, for a call that needs a right the guest
// may have dropped (fd_fdstat_set_rights).
func (w *WASI) socketCapable(fd uint32, need uint64) (*entry, errno) {
	e, errno := w.connection(fd)
	if errno == errnoSuccess {
		errno = e.capable(need)
	}
	return e, errno
}

func (w *WASI) sockAccept(ctx context.Context, mod api.Module, stack []uint64) errno {
	fd, flags, result := uint32(stack[0]), uint16(stack[1]), uint32(stack[2])
	e := w.lookup(fd)
	switch {
	case e == nil:
		return errnoBadf
	case e.kind == KindConn:
		return errnoInval // as accept(2) on a socket that does not listen
	case e.kind != KindListener:
		return errnoNotsock
	case e.capable(rightSockAccept) != errnoSuccess:
		return errnoNotcapable
	case flags&^fdflagNonblock != 0:
		return errnoInval
	}
	// Checked first: a connection taken cannot go back.
	if _, ok := mod.Memory().Read(result, 4); !ok {
		return errnoFault
	}
	var conn *os.File
	var peer string
	if errno := w.pausableIO(ctx, mod, e, false, true, func(fd int) (bool, error) {
		var err error
		conn, peer, err = acceptNonblock(fd)
		return conn != nil, err
	}); errno != errnoSuccess {
		return errno
	}
	newFD, errno := w.insert(connEntry(conn, peer, flags))
	if errno != errnoSuccess {
		conn.Close()
		return errno
	}
	return putUint32(mod.Memory(), result, newFD)
}

func (w *WASI) sockRecv(ctx context.Context, mod api.Module, stack []uint64) errno {
	fd, iovs, n, flags, resultLen, resultFlags := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint16(stack[3]), uint32(stack[4]), uint32(stack[5])
	e, errno := w.socketCapable(fd, rightFdRead)
	if errno != errnoSuccess {
		return errno
	}
	if flags&^(riflagRecvPeek|riflagRecvWaitall) != 0 {
		return errnoInval
	}
	mem := mod.Memory()
	// Checked first: bytes received cannot go back.
	if _, ok := mem.Read(resultFlags, 2); !ok {
		return errnoFault
	}
	if _, ok := mem.Read(resultLen, 4); !ok {
		return errnoFault
	}
	total, errno := w.recv(ctx, mod, e, iovs, n, flags)
	if errno != errnoSuccess {
		return errno
	}
	mem.WriteUint16Le(resultFlags, 0) // nothing truncated: a stream has no messages
	return putUint32(mem, resultLen, total)
}

// recv reads a connection into the iovecs for sock_recv and fd_read:
// what has come, or, for a blocking descriptor, after waiting for the
// first byte; with WAITALL, until the iovecs are full or the stream ends.
// A peek looks at the front of the stream only once.
func (w *WASI) recv(ctx context.Context, mod api.Module, e *entry, iovs, n uint32, flags uint16) (uint32, errno) {
	bufs, ok := guestBuffers(mod.Memory(), iovs, n)
	if !ok {
		return 0, errnoFault
	}
	peek := flags&riflagRecvPeek != 0
	var total uint32
	for k := range bufs.len() {
		for buf := bufs.buf(k); len(buf) > 0; {
			var m int
			var eof bool
			// Once bytes are in the guest's buffers, a pause must not
			// make the guest issue the call again: it gets them now.
			errno := w.pausableIO(ctx, mod, e, false, total == 0, func(fd int) (bool, error) {
				var err error
				m, eof, err = recvNonblock(fd, buf, peek)
				return m > 0 || eof, err
			})
			switch {
			case errno != errnoSuccess && total == 0:
				return 0, errno
			case errno != errnoSuccess:
				return total, errnoSuccess
			}
			total += uint32(m)
			buf = buf[m:]
			if eof || peek || flags&riflagRecvWaitall == 0 {
				return total, errnoSuccess
			}
		}
	}
	return total, errnoSuccess
}

func (w *WASI) sockSend(ctx context.Context, mod api.Module, stack []uint64) errno {
	fd, iovs, n, flags, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint16(stack[3]), uint32(stack[4])
	e, errno := w.socketCapable(fd, rightFdWrite)
	if errno != errnoSuccess {
		return errno
	}
	if flags != 0 { // preview1 defines no siflags
		return errnoInval
	}
	return w.send(ctx, mod, e, iovs, n, result)
}

// send writes the iovecs to a connection for sock_send and fd_write: as
// much as the socket takes without waiting, or, for a blocking
// descriptor, after waiting for room for the first byte.
func (w *WASI) send(ctx context.Context, mod api.Module, e *entry, iovs, n, result uint32) errno {
	mem := mod.Memory()
	if _, ok := mem.Read(result, 4); !ok {
		return errnoFault
	}
	bufs, ok := guestBuffers(mem, iovs, n)
	if !ok {
		return errnoFault
	}
	var total uint32
	for k := range bufs.len() {
		buf := bufs.buf(k)
		if len(buf) == 0 {
			continue
		}
		var m int
		errno := w.pausableIO(ctx, mod, e, true, total == 0, func(fd int) (bool, error) {
			var err error
			m, err = sendNonblock(fd, buf)
			return m > 0, err
		})
		if errno != errnoSuccess && total > 0 {
			break // what was sent is sent
		}
		if errno != errnoSuccess {
			return errno
		}
		total += uint32(m)
		if m < len(buf) {
			break
		}
	}
	return putUint32(mem, result, total)
}

func (w *WASI) sockShutdown(_ context.Context, _ api.Module, stack []uint64) errno {
	fd, how := uint32(stack[0]), uint8(stack[1])
	e, errno := w.socketCapable(fd, rightSockShutdown)
	if errno != errnoSuccess {
		return errno
	}
	if how == 0 || how&^(sdflagRd|sdflagWr) != 0 {
		return errnoInval
	}
	return toErrno(shutdown(e.file, how&sdflagRd != 0, how&sdflagWr != 0))
}

// pausableIO runs op, a non-blocking operation on a socket's host
// descriptor that reports whether it did something, until it does,
// unless e is non-blocking (EAGAIN then). It waits through Go's poller,
// and gives up with EINTR when ctx ends or the host pauses: when
// interruptible, after the gate has started the unwind (the guest issues
// the call again after the rewind); otherwise at once, for a caller that
// returns what it has done so far and lets the pause happen at the next
// call. Nothing op does is undone, so op must do nothing when it reports
// false without an error.
func (w *WASI) pausableIO(ctx context.Context, mod api.Module, e *entry, write, interruptible bool, op func(fd int) (bool, error)) errno {
	rc, err := e.file.SyscallConn()
	if err != nil {
		return toErrno(err)
	}
	blocking := e.fdflags&fdflagNonblock == 0
	setDeadline, wait := e.file.SetReadDeadline, rc.Read
	if write {
		setDeadline, wait = e.file.SetWriteDeadline, rc.Write
	}
	for {
		pausing := w.pausing()
		stop := wakeOnPause(ctx, pausing, setDeadline)
		var did bool
		var opErr error
		err := wait(func(fd uintptr) bool {
			did, opErr = op(int(fd))
			// false waits for the socket to be ready, and calls again.
			return did || opErr != nil || !blocking
		})
		stop()
		switch {
		case opErr != nil:
			return toErrno(opErr)
		case did:
			return errnoSuccess
		case err == nil:
			return errnoAgain // non-blocking, and nothing to do now
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return toErrno(err)
		}
		select {
		case <-pausing:
			if !interruptible || w.gate.Interrupt(ctx, mod) {
				return errnoIntr
			}
			// No unwind started: wait on, for the next pause.
		default:
			return errnoIntr // ctx ended
		}
	}
}

// ListenerAddrs returns the addresses of the guest's listening sockets,
// in fd order.
func (w *WASI) ListenerAddrs() []string {
	var addrs []string
	for _, e := range w.fds {
		if e != nil && e.kind == KindListener {
			addrs = append(addrs, e.path)
		}
	}
	return addrs
}

// SavedListener is a listening socket a saved guest had.
type SavedListener struct {
	FD   uint32
	Addr string
}

// Listeners returns the listening sockets the guest had at the save, in
// fd order: a restore needs a listener for each (Config.Listeners).
func (s *State) Listeners() []SavedListener {
	var ls []SavedListener
	for _, fd := range s.FDs {
		if fd.Kind == KindListener {
			ls = append(ls, SavedListener{FD: fd.FD, Addr: fd.Path})
		}
	}
	return ls
}

// checkSocketFD checks a saved socket (whose kind allows no file state):
// a listener's address must be an IP address and a port, as a restoring
// host listens on it again unless told otherwise.
func checkSocketFD(s *FD) error {
	if s.Kind != KindListener {
		return nil
	}
	host, port, err := net.SplitHostPort(s.Path)
	if err == nil && net.ParseIP(host) != nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || net.ParseIP(host) == nil {
		return fmt.Errorf("a listener at %q, not an IP address and port", s.Path)
	}
	return nil
}

// takeListeners checks that the host gave as many listeners as the
// saved guest had, before anything is reopened.
func (w *WASI) takeListeners(st *State) error {
	saved := st.Listeners()
	if len(saved) != len(w.listeners) {
		return fmt.Errorf("wasip1: restore: the guest had %d listening sockets, the host gives %d", len(saved), len(w.listeners))
	}
	return nil
}

// reopenSocket is a restored socket: the next listener the host gave, or
// a reset connection.
func (w *WASI) reopenSocket(s *FD) *entry {
	if s.Kind == KindConn {
		return connEntry(nil, s.Path, s.FDFlags)
	}
	e := w.listeners[0]
	w.listeners = w.listeners[1:]
	return e
}

// waitSockets starts waiting for the sockets poll_oneoff waits for, if
// any: ready is closed when one may be ready, and stop must be called
// once poll_oneoff stops waiting.
func (w *WASI) waitSockets(files []*os.File, write []bool) (ready <-chan struct{}, stop func(), _ errno) {
	if len(files) == 0 {
		return nil, func() {}, errnoSuccess
	}
	if w.sockWaiter == nil {
		sw, err := newSocketWaiter()
		if err != nil {
			return nil, nil, toErrno(err)
		}
		w.sockWaiter = sw
	}
	ready, stop = w.sockWaiter.wait(files, write)
	return ready, stop, errnoSuccess
}

// socketsNow is what poll(2) says now of the sockets the subscriptions
// name, by subscription; nil when they name none.
func (w *WASI) socketsNow(subs []byte) []socketReadiness {
	var ready []socketReadiness
	var files []*os.File
	var at []int
	for i := 0; i < len(subs); i += sizeSubscription {
		s := subs[i : i+sizeSubscription]
		if s[8] == eventtypeClock {
			continue
		}
		if e := w.lookup(le.Uint32(s[16:])); e != nil && e.isSocket() {
			if ready == nil {
				ready = make([]socketReadiness, len(subs)/sizeSubscription)
			}
			if !e.isReset() {
				files = append(files, e.file)
				at = append(at, i/sizeSubscription)
			}
		}
	}
	if len(files) > 0 {
		for k, r := range pollSocketsNow(files) {
			ready[at[k]] = r
		}
	}
	return ready
}

// socketEvent is a poll_oneoff event on socket e: whether it is ready,
// and the event's errno, byte count and flags. A reset connection is
// ready, with ECONNRESET.
func socketEvent(e *entry, write bool, r socketReadiness) (bool, errno, uint64, uint16) {
	var flags uint16
	switch {
	case e.isReset():
		return true, errnoConnreset, 0, 0
	case r.err != nil:
		return true, toErrno(r.err), 0, 0
	case r.hangup:
		flags = eventrwHangup
	}
	if write {
		return r.writable, errnoSuccess, 0, flags
	}
	return r.readable, errnoSuccess, uint64(r.nread), flags
}
