//go:build unix

package wasip1

import (
	"io"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// listen is a listener on a free port of the loopback interface.
func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// sockGuest is a guest with one mount (fd 3) and one listener (fd 4),
// and the listener's address.
func sockGuest(t *testing.T, gate Gate) (*proxy, string) {
	t.Helper()
	l := listen(t)
	addr := l.Addr().String()
	w := mustNew(t, Config{Mounts: []Mount{{HostDir: t.TempDir(), GuestPath: "/"}}, Listeners: []*net.TCPListener{l}, Gate: gate}, nil)
	return newProxy(t, w), addr
}

const (
	sockDir      = 3
	sockListener = 4
)

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// accept accepts a connection the test dialled and returns its fd.
func (p *proxy) accept(flags uint16) uint32 {
	p.t.Helper()
	if e := p.call("sock_accept", sockListener, uint64(flags), memResult); e != errnoSuccess {
		p.t.Fatalf("sock_accept: errno %d", e)
	}
	return p.u32(memResult)
}

// recv calls sock_recv with one iovec of n bytes.
func (p *proxy) recv(fd, n uint32, flags uint16) ([]byte, uint16, errno) {
	p.t.Helper()
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), n))
	e := p.call("sock_recv", uint64(fd), memIovec, 1, uint64(flags), memResult, memResult+8)
	if e != errnoSuccess {
		return nil, 0, e
	}
	return p.read(memBuf, p.u32(memResult)), le.Uint16(p.read(memResult+8, 2)), e
}

// send calls sock_send with data in one iovec and returns the count.
func (p *proxy) send(fd uint32, data []byte) (uint32, errno) {
	p.t.Helper()
	p.write(memBuf, data)
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), uint32(len(data))))
	e := p.call("sock_send", uint64(fd), memIovec, 1, 0, memResult)
	return p.u32(memResult), e
}

// callWithin is call for a call that must not wait: a broken one fails
// the test instead of hanging it.
func (p *proxy) callWithin(name string, args ...uint64) errno {
	p.t.Helper()
	return waitFor(p.t.(*testing.T), async(p, name, args...), name+" to return at once")
}

// The errnos of the sock_* calls on what is not a connection, and of
// calls on sockets that make no sense there.
func TestSockErrnos(t *testing.T) {
	p, addr := sockGuest(t, nil)
	dial(t, addr)
	conn := p.accept(0)
	tests := []struct {
		name string
		call func() errno
		want errno
	}{
		{"accept stdin", func() errno { return p.call("sock_accept", 0, 0, memResult) }, errnoNotsock},
		{"accept stdout", func() errno { return p.call("sock_accept", 1, 0, memResult) }, errnoNotsock},
		{"accept directory", func() errno { return p.call("sock_accept", sockDir, 0, memResult) }, errnoNotsock},
		{"accept closed", func() errno { return p.call("sock_accept", 99, 0, memResult) }, errnoBadf},
		{"accept connection", func() errno { return p.call("sock_accept", uint64(conn), 0, memResult) }, errnoInval},
		{"accept flags", func() errno { return p.call("sock_accept", sockListener, uint64(fdflagAppend), memResult) }, errnoInval},
		{"accept result outside memory", func() errno { return p.call("sock_accept", sockListener, 0, 1<<20) }, errnoFault},
		{"recv stdin", func() errno { return p.call("sock_recv", 0, memIovec, 0, 0, memResult, memResult+8) }, errnoNotsock},
		{"recv directory", func() errno { return p.call("sock_recv", sockDir, memIovec, 0, 0, memResult, memResult+8) }, errnoNotsock},
		{"recv closed", func() errno { return p.call("sock_recv", 99, memIovec, 0, 0, memResult, memResult+8) }, errnoBadf},
		{"recv listener", func() errno { return p.call("sock_recv", sockListener, memIovec, 0, 0, memResult, memResult+8) }, errnoNotconn},
		{"recv flags", func() errno { return p.call("sock_recv", uint64(conn), memIovec, 0, 4, memResult, memResult+8) }, errnoInval},
		{"send stderr", func() errno { return p.call("sock_send", 2, memIovec, 0, 0, memResult) }, errnoNotsock},
		{"send listener", func() errno { return p.call("sock_send", sockListener, memIovec, 0, 0, memResult) }, errnoNotconn},
		{"send flags", func() errno { return p.call("sock_send", uint64(conn), memIovec, 0, 1, memResult) }, errnoInval},
		{"shutdown directory", func() errno { return p.call("sock_shutdown", sockDir, uint64(sdflagWr)) }, errnoNotsock},
		{"shutdown closed", func() errno { return p.call("sock_shutdown", 99, uint64(sdflagWr)) }, errnoBadf},
		{"shutdown listener", func() errno { return p.call("sock_shutdown", sockListener, uint64(sdflagWr)) }, errnoNotconn},
		{"shutdown how 0", func() errno { return p.call("sock_shutdown", uint64(conn), 0) }, errnoInval},
		{"shutdown how 4", func() errno { return p.call("sock_shutdown", uint64(conn), 4) }, errnoInval},
		{"prestat of listener", func() errno { return p.call("fd_prestat_get", sockListener, memResult) }, errnoBadf},
		{"seek connection", func() errno { return p.call("fd_seek", uint64(conn), 0, 0, memResult) }, errnoSpipe},
		{"read listener", func() errno { _, e := p.readFD(sockListener, 4); return e }, errnoNotconn},
		{"write listener", func() errno { return p.writeFD(sockListener, []byte("x")) }, errnoNotconn},
		{"set times of connection", func() errno { return p.call("fd_filestat_set_times", uint64(conn), 0, 0, 0) }, errnoNosys},
		{"open in listener", func() errno { _, e := p.open(sockListener, "x", 0, 0, 0); return e }, errnoNotdir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.call(); got != tc.want {
				t.Errorf("errno %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSockRights: a socket call that needs a right the guest dropped is
// ENOTCAPABLE, as every other call.
func TestSockRights(t *testing.T) {
	p, addr := sockGuest(t, nil)
	dial(t, addr)
	conn := uint64(p.accept(0))
	drop := func(fd, right uint64) {
		t.Helper()
		if e := p.call("fd_fdstat_set_rights", fd, socketRights&^right, 0); e != errnoSuccess {
			t.Fatalf("dropping right %#x of fd %d: errno %d", right, fd, e)
		}
	}
	drop(conn, rightFdRead|rightFdWrite|rightSockShutdown)
	drop(sockListener, rightSockAccept)
	for _, tc := range []struct {
		name string
		call func() errno
	}{
		{"recv", func() errno { return p.callWithin("sock_recv", conn, memIovec, 0, 0, memResult, memResult+8) }},
		{"send", func() errno { return p.callWithin("sock_send", conn, memIovec, 0, 0, memResult) }},
		{"shutdown", func() errno { return p.callWithin("sock_shutdown", conn, uint64(sdflagWr)) }},
		{"accept", func() errno { return p.callWithin("sock_accept", sockListener, 0, memResult) }},
	} {
		if got := tc.call(); got != errnoNotcapable {
			t.Errorf("%s without its right: errno %d, want %d", tc.name, got, errnoNotcapable)
		}
	}
}

// A guest accepts, receives, peeks, sends and shuts down, through the
// sock_* calls and fd_read/fd_write, byte for byte.
func TestSockData(t *testing.T) {
	p, addr := sockGuest(t, nil)
	if e := p.call("fd_fdstat_set_flags", sockListener, uint64(fdflagNonblock)); e != errnoSuccess {
		t.Fatal(e)
	}
	if e := p.callWithin("sock_accept", sockListener, 0, memResult); e != errnoAgain {
		t.Fatalf("sock_accept with nothing pending on a non-blocking listener: errno %d, want %d", e, errnoAgain)
	}
	c := dial(t, addr)
	// The listener is non-blocking: wait for the connection to be there.
	var conn uint32
	for deadline := time.Now().Add(10 * time.Second); ; {
		e := p.call("sock_accept", sockListener, uint64(fdflagNonblock), memResult)
		if e == errnoSuccess {
			conn = p.u32(memResult)
			break
		}
		if e != errnoAgain || time.Now().After(deadline) {
			t.Fatalf("sock_accept: errno %d", e)
		}
		time.Sleep(time.Millisecond)
	}
	if conn != 5 {
		t.Errorf("accepted fd %d, want 5 (the lowest free)", conn)
	}
	if e := p.call("fd_fdstat_get", uint64(conn), memResult); e != errnoSuccess {
		t.Fatal(e)
	}
	if st := p.read(memResult, sizeFdstat); st[0] != filetypeSocketStream || le.Uint16(st[2:]) != fdflagNonblock || le.Uint64(st[8:]) != socketRights {
		t.Errorf("fdstat %x: want a SOCKET_STREAM, NONBLOCK, rights %#x", st, socketRights)
	}
	if e := p.call("fd_filestat_get", uint64(conn), memResult); e != errnoSuccess || p.read(memResult+16, 1)[0] != filetypeSocketStream {
		t.Errorf("filestat: errno %d, type %d, want a SOCKET_STREAM", e, p.read(memResult+16, 1)[0])
	}
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
	if e := p.callWithin("sock_recv", uint64(conn), memIovec, 1, 0, memResult, memResult+8); e != errnoAgain {
		t.Errorf("sock_recv with nothing to read, non-blocking: errno %d, want %d", e, errnoAgain)
	}
	if _, err := c.Write([]byte("hello, guest")); err != nil {
		t.Fatal(err)
	}
	if e := p.call("fd_fdstat_set_flags", uint64(conn), 0); e != errnoSuccess {
		t.Fatal(e)
	}
	if b, _, e := p.recv(conn, 5, riflagRecvPeek); e != errnoSuccess || string(b) != "hello" {
		t.Errorf("peek: %q errno %d, want \"hello\"", b, e)
	}
	if b, fl, e := p.recv(conn, 7, riflagRecvWaitall); e != errnoSuccess || string(b) != "hello, " || fl != 0 {
		t.Errorf("recv: %q flags %d errno %d, want \"hello, \" 0", b, fl, e)
	}
	if b, e := p.readFD(conn, 64); e != errnoSuccess || string(b) != "guest" {
		t.Errorf("fd_read: %q errno %d, want \"guest\"", b, e)
	}
	if n, e := p.send(conn, []byte("hello, ")); e != errnoSuccess || n != 7 {
		t.Errorf("sock_send: %d errno %d, want 7", n, e)
	}
	if e := p.writeFD(conn, []byte("host")); e != errnoSuccess || p.u32(memResult) != 4 {
		t.Errorf("fd_write: %d errno %d, want 4", p.u32(memResult), e)
	}
	if e := p.call("sock_shutdown", uint64(conn), uint64(sdflagWr)); e != errnoSuccess {
		t.Fatalf("sock_shutdown: errno %d", e)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello, host" {
		t.Errorf("the peer read %q, %v; want \"hello, host\" and the end", got, err)
	}
	c.Close()
	if b, _, e := p.recv(conn, 16, 0); e != errnoSuccess || len(b) != 0 {
		t.Errorf("recv at the end: %q errno %d, want nothing", b, e)
	}
	if e := p.call("fd_close", uint64(conn)); e != errnoSuccess {
		t.Errorf("fd_close: errno %d", e)
	}
}

// pollOne calls poll_oneoff on one fd subscription with a timeout, and
// returns the events.
func (p *proxy) pollOne(fd uint32, typ uint8, timeout time.Duration) ([][]byte, errno) {
	p.t.Helper()
	subs := make([]byte, 2*sizeSubscription)
	le.PutUint64(subs, 0xf0)
	subs[8] = typ
	le.PutUint32(subs[16:], fd)
	clock := subs[sizeSubscription:]
	le.PutUint64(clock, 0xc1)
	clock[8] = eventtypeClock
	le.PutUint32(clock[16:], clockMonotonic)
	le.PutUint64(clock[24:], uint64(timeout))
	p.write(memBuf, subs)
	const out = memBuf + 0x200
	e := p.call("poll_oneoff", memBuf, out, 2, memResult)
	var events [][]byte
	for i := range p.u32(memResult) {
		events = append(events, p.read(out+i*sizeEvent, sizeEvent))
	}
	return events, e
}

// event is an event's userdata, errno, type, byte count and flags.
type event struct {
	userdata uint64
	errno    errno
	typ      uint8
	nbytes   uint64
	flags    uint16
}

func decodeEvent(ev []byte) event {
	return event{le.Uint64(ev), errno(le.Uint16(ev[8:])), ev[10], le.Uint64(ev[16:]), le.Uint16(ev[24:])}
}

// poll_oneoff waits for a listener to have a connection, for a
// connection to have bytes, and reports a connection writable.
func TestSockPoll(t *testing.T) {
	p, addr := sockGuest(t, nil)
	var c net.Conn
	tests := []struct {
		name    string
		fd      func() uint32
		typ     uint8
		before  func()
		timeout time.Duration
		want    event
	}{
		{"listener idle", func() uint32 { return sockListener }, eventtypeFdRead, nil, time.Millisecond, event{0xc1, 0, eventtypeClock, 0, 0}},
		{"listener with a connection", func() uint32 { return sockListener }, eventtypeFdRead,
			func() { c = dial(t, addr) }, time.Minute, event{0xf0, 0, eventtypeFdRead, 0, 0}},
	}
	var conn uint32
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				go func() { time.Sleep(20 * time.Millisecond); tc.before() }()
			}
			evs, e := p.pollOne(tc.fd(), tc.typ, tc.timeout)
			if e != errnoSuccess || len(evs) != 1 || decodeEvent(evs[0]) != tc.want {
				t.Fatalf("errno %d, events %x, want %+v", e, evs, tc.want)
			}
		})
	}
	conn = p.accept(0)
	more := []struct {
		name    string
		typ     uint8
		before  func()
		timeout time.Duration
		want    event
	}{
		{"connection idle", eventtypeFdRead, nil, time.Millisecond, event{0xc1, 0, eventtypeClock, 0, 0}},
		{"connection writable", eventtypeFdWrite, nil, time.Minute, event{0xf0, 0, eventtypeFdWrite, 0, 0}},
		{"connection with bytes", eventtypeFdRead, func() { c.Write([]byte("abc")) }, time.Minute, event{0xf0, 0, eventtypeFdRead, 3, 0}},
	}
	for _, tc := range more {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				go func() { time.Sleep(20 * time.Millisecond); tc.before() }()
			}
			evs, e := p.pollOne(conn, tc.typ, tc.timeout)
			if e != errnoSuccess || len(evs) != 1 || decodeEvent(evs[0]) != tc.want {
				t.Fatalf("errno %d, events %x, want %+v", e, evs, tc.want)
			}
		})
	}
}

// A pause interrupts a blocking sock_accept and a poll_oneoff waiting
// for a socket; the calls re-issued after it find the connection.
func TestSockPause(t *testing.T) {
	g := newFakeGate()
	p, addr := sockGuest(t, g)
	if e := pausedCall(t, p, g, "sock_accept", sockListener, 0, memResult); e != errnoIntr {
		t.Fatalf("interrupted sock_accept: errno %d, want %d", e, errnoIntr)
	}
	g.resume()

	sub := make([]byte, sizeSubscription)
	sub[8] = eventtypeFdRead
	le.PutUint32(sub[16:], sockListener)
	p.write(memBuf, sub)
	if e := pausedCall(t, p, g, "poll_oneoff", memBuf, memBuf+0x100, 1, memResult); e != errnoIntr {
		t.Fatalf("interrupted poll_oneoff: errno %d, want %d", e, errnoIntr)
	}
	g.resume()

	dial(t, addr)
	if conn := p.accept(0); conn != 5 {
		t.Errorf("accepted fd %d, want 5", conn)
	}
}

// A restore listens with the listener its host gives at the saved fd,
// and a connection open at the save is reset: ECONNRESET on every call
// but fd_close, and poll_oneoff reports it so.
func TestSockRestore(t *testing.T) {
	p, addr := sockGuest(t, nil)
	dial(t, addr)
	conn := p.accept(uint16(fdflagNonblock))
	if e := p.call("fd_fdstat_set_flags", sockListener, uint64(fdflagNonblock)); e != errnoSuccess {
		t.Fatal(e)
	}
	saved, err := p.w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := roundTrip(t, saved)
	if ls := st.Listeners(); len(ls) != 1 || ls[0].FD != sockListener || ls[0].Addr != addr {
		t.Fatalf("saved listeners %+v, want fd 4 at %s", ls, addr)
	}
	mounts := []Mount{{HostDir: t.TempDir(), GuestPath: "/"}}
	if _, err := New(Config{Mounts: mounts}, st); err == nil || err.Error() != "wasip1: restore: the guest had 1 listening sockets, the host gives 0" {
		t.Fatalf("restore without a listener: %v", err)
	}
	p.w.Close()

	l := listen(t)
	q := newProxy(t, mustNew(t, Config{Mounts: mounts, Listeners: []*net.TCPListener{l}}, st))
	if got := q.w.ListenerAddrs(); len(got) != 1 || got[0] != l.Addr().String() {
		t.Errorf("listener addresses %q, want %s", got, l.Addr())
	}
	if e := q.call("fd_fdstat_get", sockListener, memResult); e != errnoSuccess || q.read(memResult, 1)[0] != filetypeSocketStream || le.Uint16(q.read(memResult+2, 2)) != fdflagNonblock {
		t.Errorf("restored listener: errno %d fdstat %x", e, q.read(memResult, sizeFdstat))
	}
	resets := []struct {
		name string
		call func() errno
	}{
		{"sock_recv", func() errno { _, _, e := q.recv(conn, 4, 0); return e }},
		{"sock_send", func() errno { _, e := q.send(conn, []byte("x")); return e }},
		{"sock_shutdown", func() errno { return q.call("sock_shutdown", uint64(conn), uint64(sdflagRd|sdflagWr)) }},
		{"fd_read", func() errno { _, e := q.readFD(conn, 4); return e }},
		{"fd_write", func() errno { return q.writeFD(conn, []byte("x")) }},
	}
	for _, tc := range resets {
		if e := tc.call(); e != errnoConnreset {
			t.Errorf("%s on a restored connection: errno %d, want %d", tc.name, e, errnoConnreset)
		}
	}
	evs, e := q.pollOne(conn, eventtypeFdRead, time.Minute)
	if want := (event{0xf0, errnoConnreset, eventtypeFdRead, 0, 0}); e != errnoSuccess || len(evs) != 1 || decodeEvent(evs[0]) != want {
		t.Errorf("poll_oneoff on a restored connection: errno %d, events %x, want %+v", e, evs, want)
	}
	if e := q.call("fd_close", uint64(conn)); e != errnoSuccess {
		t.Errorf("fd_close: errno %d", e)
	}
	c := dial(t, l.Addr().String())
	if got := q.accept(0); got != conn {
		t.Errorf("accepted fd %d, want %d (the closed connection's)", got, conn)
	}
	c.Write([]byte("new"))
	if b, _, e := q.recv(conn, 3, riflagRecvWaitall); e != errnoSuccess || string(b) != "new" {
		t.Errorf("recv on the new connection: %q errno %d", b, e)
	}
}

// A saved listener must be at an IP address and port: a restoring host
// listens there again.
func TestSockRestoreRefuses(t *testing.T) {
	for _, addr := range []string{"localhost:80", "127.0.0.1", "127.0.0.1:65536", "/tmp/sock"} {
		st := &State{FDs: []FD{{FD: 3, Kind: KindListener, Path: addr}}}
		_, err := New(Config{Listeners: []*net.TCPListener{listen(t)}}, st)
		want := "wasip1: restore fd 3: a listener at \"" + addr + "\", not an IP address and port"
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", addr, err, want)
		}
	}
}

// The guest reaches the network only through its listeners: preview1
// has no call that makes or connects a socket, and a socket file in a
// mount cannot be opened.
func TestSockSandbox(t *testing.T) {
	var socks []string
	for _, f := range functions {
		if len(f.name) > 5 && f.name[:5] == "sock_" {
			socks = append(socks, f.name)
		}
	}
	if want := []string{"sock_accept", "sock_recv", "sock_send", "sock_shutdown"}; !slices.Equal(socks, want) {
		t.Errorf("socket functions %q, want only %q", socks, want)
	}

	dir := t.TempDir()
	unixListener, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer unixListener.Close()
	p := newProxy(t, mustNew(t, Config{Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}}, nil))
	for _, rights := range []uint64{0, rightFdRead, rightFdRead | rightFdWrite} {
		if _, e := p.open(3, "s", 0, 0, rights); e != errnoNxio {
			t.Errorf("path_open of a unix socket (rights %#x): errno %d, want %d", rights, e, errnoNxio)
		}
	}
	if e := p.call("sock_accept", 3, 0, memResult); e != errnoNotsock {
		t.Errorf("sock_accept on a directory: errno %d, want %d", e, errnoNotsock)
	}
}
