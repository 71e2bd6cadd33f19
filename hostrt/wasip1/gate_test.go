package wasip1

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// fakeGate plays the host runtime: pause closes the pausing channel, and
// resume stands for the unwind and rewind that follow an interrupt.
type fakeGate struct {
	mu          sync.Mutex
	pausingCh   chan struct{}
	refuse      bool          // Enter returns false, as when an unwind has begun
	entered     chan struct{} // receives on every Enter
	interrupted chan struct{} // receives on every Interrupt
}

func newFakeGate() *fakeGate {
	return &fakeGate{pausingCh: make(chan struct{}), entered: make(chan struct{}, 100), interrupted: make(chan struct{}, 100)}
}

func (g *fakeGate) Enter(context.Context, api.Module) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entered <- struct{}{}
	return !g.refuse
}

func (g *fakeGate) Pausing() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pausingCh
}

func (g *fakeGate) Interrupt(context.Context, api.Module) bool {
	g.interrupted <- struct{}{}
	return true
}

func (g *fakeGate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.pausingCh)
}

func (g *fakeGate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pausingCh = make(chan struct{})
}

// waitFor fails the test if ch does not deliver soon. The bound is
// generous: it only keeps a broken interrupt from hanging the tests.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// async calls the WASI function name through the proxy in a goroutine.
func async(p *proxy, name string, args ...uint64) <-chan errno {
	ch := make(chan errno, 1)
	go func() {
		res, err := p.mod.ExportedFunction("w."+name).Call(p.ctx, args...)
		if err != nil {
			panic(err)
		}
		ch <- errno(res[0])
	}()
	return ch
}

// pausedCall calls the WASI function name, pauses the gate once the call
// blocks, and returns the errno the interrupted call gives back.
func pausedCall(t *testing.T, p *proxy, g *fakeGate, name string, args ...uint64) errno {
	t.Helper()
	done := async(p, name, args...)
	waitFor(t, g.entered, name+" to start")
	g.pause()
	waitFor(t, g.interrupted, name+" to interrupt")
	return waitFor(t, done, name+" to return")
}

// TestGateStdin pauses a read of an empty blocking stdin, feeds stdin
// while the guest is paused, and checks that the re-issued read and the
// saved state get every byte.
func TestGateStdin(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	g := newFakeGate()
	w := mustNew(t, Config{Stdin: pr, Gate: g}, nil)
	p := newProxy(t, w)
	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
	p.write(memResult, []byte{0xee, 0xee, 0xee, 0xee})

	pausedCall(t, p, g, "fd_read", 0, memIovec, 1, memResult)
	if got := p.u32(memResult); got != 0xeeeeeeee {
		t.Errorf("the interrupted read wrote nread %#x", got)
	}

	// Input that arrives while the guest is paused waits in the buffer...
	go pw.Write([]byte("hello"))
	for avail, _ := w.stdin.status(); avail < 5; avail, _ = w.stdin.status() {
		time.Sleep(time.Millisecond)
	}
	st, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(st.Stdin) != "hello" {
		t.Errorf("saved stdin %q, want %q", st.Stdin, "hello")
	}
	// ...for the read re-issued after the rewind,
	g.resume()
	if got, e := p.readFD(0, 16); e != errnoSuccess || string(got) != "hello" {
		t.Errorf("re-issued read: %q, errno %d", got, e)
	}
	go func() {
		pw.Write([]byte(" world"))
		pw.Close()
	}()
	var rest []byte
	for {
		got, e := p.readFD(0, 16)
		if e != errnoSuccess {
			t.Fatalf("read: errno %d", e)
		}
		if len(got) == 0 {
			break
		}
		rest = append(rest, got...)
	}
	if string(rest) != " world" {
		t.Errorf("then %q, want %q", rest, " world")
	}
	// ...and for a guest restored from the state saved during the pause.
	p2 := newProxy(t, mustNew(t, Config{}, st))
	if got, e := p2.readFD(0, 16); e != errnoSuccess || string(got) != "hello" {
		t.Errorf("restored read: %q, errno %d", got, e)
	}
}

// TestGatePollStdin pauses a poll_oneoff waiting for stdin.
func TestGatePollStdin(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	g := newFakeGate()
	p := newProxy(t, mustNew(t, Config{Stdin: pr, Gate: g}, nil))
	sub := make([]byte, sizeSubscription)
	le.PutUint64(sub, 0x5eed)
	sub[8] = eventtypeFdRead
	p.write(memBuf, sub)
	const out = memBuf + 0x100

	pausedCall(t, p, g, "poll_oneoff", memBuf, out, 1, memResult)

	g.resume()
	go pw.Write([]byte("abc"))
	if e := p.call("poll_oneoff", memBuf, out, 1, memResult); e != errnoSuccess || p.u32(memResult) != 1 {
		t.Fatalf("re-issued poll: errno %d, %d events", e, p.u32(memResult))
	}
	ev := p.read(out, sizeEvent)
	if le.Uint64(ev) != 0x5eed || ev[10] != eventtypeFdRead || le.Uint16(ev[8:]) != 0 || le.Uint64(ev[16:]) != 3 {
		t.Errorf("event %x, want userdata 5eed, fd_read, 3 bytes", ev)
	}
}

// TestGatePollSleep pauses a sleep and checks, on a fake clock, that the
// identical call re-issued after the rewind (in place or in a restored
// system) sleeps only the rest, and that other calls start afresh.
func TestGatePollSleep(t *testing.T) {
	const sleep = 100 * time.Millisecond
	tests := []struct {
		name string
		// between runs after the interrupt, with the clock 30ms later, and
		// returns the proxy to re-issue the call on.
		between  func(t *testing.T, p *proxy, w *WASI, g *fakeGate) (*proxy, *manualClock)
		userdata uint64 // of the re-issued call
		want     time.Duration
	}{
		{
			name: "resumed in place",
			between: func(t *testing.T, p *proxy, w *WASI, g *fakeGate) (*proxy, *manualClock) {
				return p, w.clock.(*manualClock)
			},
			userdata: 1, want: 70 * time.Millisecond,
		},
		{
			name: "restored elsewhere",
			between: func(t *testing.T, p *proxy, w *WASI, g *fakeGate) (*proxy, *manualClock) {
				st, err := w.Save(SaveOptions{})
				if err != nil {
					t.Fatal(err)
				}
				clock := newManualClock(int64(time.Second))
				return newProxy(t, mustNew(t, Config{Clock: clock, Gate: g}, roundTrip(t, st))), clock
			},
			userdata: 1, want: 70 * time.Millisecond,
		},
		{
			name: "another call in between",
			between: func(t *testing.T, p *proxy, w *WASI, g *fakeGate) (*proxy, *manualClock) {
				p.call("sched_yield")
				return p, w.clock.(*manualClock)
			},
			userdata: 1, want: sleep,
		},
		{
			name: "a different poll",
			between: func(t *testing.T, p *proxy, w *WASI, g *fakeGate) (*proxy, *manualClock) {
				return p, w.clock.(*manualClock)
			},
			userdata: 2, want: sleep,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGate()
			clock := newManualClock(int64(time.Hour))
			w := mustNew(t, Config{Gate: g, Clock: clock}, nil)
			p := newProxy(t, w)
			const out = memBuf + 0x100
			sleepSub := func(p *proxy, userdata uint64) {
				sub := make([]byte, sizeSubscription)
				le.PutUint64(sub, userdata)
				sub[8] = eventtypeClock
				le.PutUint32(sub[16:], clockMonotonic)
				le.PutUint64(sub[24:], uint64(sleep))
				p.write(memBuf, sub)
				p.write(memResult, []byte{0xee, 0xee, 0xee, 0xee})
			}

			sleepSub(p, 1)
			done := async(p, "poll_oneoff", memBuf, out, 1, memResult)
			if d := waitFor(t, clock.waits, "the sleep"); d != sleep {
				t.Fatalf("first call waits %v, want %v", d, sleep)
			}
			g.pause()
			waitFor(t, g.interrupted, "poll_oneoff to interrupt")
			waitFor(t, done, "poll_oneoff to return")
			if got := p.u32(memResult); got != 0xeeeeeeee {
				t.Errorf("the interrupted poll wrote nevents %#x", got)
			}
			clock.advance(30 * time.Millisecond)
			g.resume()

			p, clock = tc.between(t, p, w, g)
			sleepSub(p, tc.userdata)
			done = async(p, "poll_oneoff", memBuf, out, 1, memResult)
			if d := waitFor(t, clock.waits, "the re-issued sleep"); d != tc.want {
				t.Errorf("re-issued call waits %v, want %v", d, tc.want)
			}
			clock.advance(tc.want)
			if e := waitFor(t, done, "the re-issued poll_oneoff"); e != errnoSuccess || p.u32(memResult) != 1 {
				t.Fatalf("re-issued poll: errno %d, %d events", e, p.u32(memResult))
			}
			if ev := p.read(out, sizeEvent); le.Uint64(ev) != tc.userdata || ev[10] != eventtypeClock {
				t.Errorf("event %x", ev)
			}
		})
	}
}

// TestGateRefuses checks that when Enter says no, a call has no effect.
func TestGateRefuses(t *testing.T) {
	var stdout bytes.Buffer
	g := newFakeGate()
	w := mustNew(t, Config{Stdout: &stdout, Stdin: bytes.NewReader([]byte("in")), Mounts: []Mount{{HostDir: t.TempDir(), GuestPath: "/"}}, Gate: g}, nil)
	p := newProxy(t, w)
	for avail, _ := w.stdin.status(); avail < 2; avail, _ = w.stdin.status() {
		time.Sleep(time.Millisecond)
	}
	g.refuse = true
	p.writeFD(1, []byte("out"))
	p.readFD(0, 2)
	p.open(3, "new.txt", oflagCreat, 0, rightFdWrite)
	g.refuse = false
	if stdout.Len() != 0 {
		t.Errorf("refused fd_write wrote %q", stdout.Bytes())
	}
	if got, _ := p.readFD(0, 2); string(got) != "in" {
		t.Errorf("stdin after a refused read: %q", got)
	}
	if fd, e := p.open(3, "new.txt", 0, 0, rightFdRead); e != errnoNoent {
		t.Errorf("a refused path_open created a file (fd %d, errno %d)", fd, e)
	}
}

// stdinGate is a fakeGate that also counts the calls announced as stdin
// reads, and refuses them when told to.
type stdinGate struct {
	*fakeGate
	stdinCalls  int
	refuseStdin bool
}

func (g *stdinGate) EnterStdin(context.Context, api.Module) bool {
	g.stdinCalls++
	return !g.refuseStdin
}

// TestStdinGate checks which calls a StdinGate hears about (reads of
// stdin and polls waiting for it, wherever stdin is numbered, and
// nothing else), and that a call it refuses has no effect: no byte taken,
// no result written.
func TestStdinGate(t *testing.T) {
	pollSub := func(p *proxy, typ uint8, fd uint32) {
		sub := make([]byte, sizeSubscription)
		le.PutUint64(sub, 7)
		sub[8] = typ
		if typ == eventtypeClock {
			le.PutUint32(sub[16:], clockMonotonic)
		} else {
			le.PutUint32(sub[16:], fd)
		}
		p.write(memBuf, sub)
	}
	const out = memBuf + 0x100
	tests := []struct {
		name string
		call func(t *testing.T, p *proxy) errno
		// stdin: EnterStdin must be called once (and nothing more).
		stdin bool
		// renumber moves stdin over fd 3 (the mount) first.
		renumber bool
	}{
		{name: "fd_read of stdin", stdin: true, call: func(t *testing.T, p *proxy) errno {
			p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
			return p.call("fd_read", 0, memIovec, 1, memResult)
		}},
		{name: "fd_read of stdin renumbered", stdin: true, renumber: true, call: func(t *testing.T, p *proxy) errno {
			p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
			return p.call("fd_read", 3, memIovec, 1, memResult)
		}},
		{name: "poll_oneoff for stdin", stdin: true, call: func(t *testing.T, p *proxy) errno {
			pollSub(p, eventtypeFdRead, 0)
			return p.call("poll_oneoff", memBuf, out, 1, memResult)
		}},
		{name: "fd_read of a file", call: func(t *testing.T, p *proxy) errno {
			fd, e := p.open(3, "f.txt", oflagCreat, 0, rightFdRead)
			if e != errnoSuccess {
				t.Fatalf("path_open: errno %d", e)
			}
			p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
			return p.call("fd_read", uint64(fd), memIovec, 1, memResult)
		}},
		{name: "fd_read of a bad fd", call: func(t *testing.T, p *proxy) errno {
			p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
			return p.call("fd_read", 77, memIovec, 1, memResult)
		}},
		{name: "fd_write to stdout", call: func(t *testing.T, p *proxy) errno { return p.writeFD(1, []byte("x")) }},
		{name: "poll_oneoff writing stdin", call: func(t *testing.T, p *proxy) errno {
			pollSub(p, eventtypeFdWrite, 0)
			return p.call("poll_oneoff", memBuf, out, 1, memResult)
		}},
		{name: "poll_oneoff sleeping", call: func(t *testing.T, p *proxy) errno {
			pollSub(p, eventtypeClock, 0)
			return p.call("poll_oneoff", memBuf, out, 1, memResult)
		}},
		{name: "poll_oneoff out of memory", call: func(t *testing.T, p *proxy) errno {
			return p.call("poll_oneoff", 0xfffffff0, out, 1, memResult)
		}},
	}
	for _, tc := range tests {
		for _, refuse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/refuse=%v", tc.name, refuse), func(t *testing.T) {
				g := &stdinGate{fakeGate: newFakeGate(), refuseStdin: refuse}
				w := mustNew(t, Config{Stdin: bytes.NewReader([]byte("in")), Mounts: []Mount{{HostDir: t.TempDir(), GuestPath: "/"}}, Gate: g}, nil)
				p := newProxy(t, w)
				for avail, _ := w.stdin.status(); avail < 2; avail, _ = w.stdin.status() {
					time.Sleep(time.Millisecond)
				}
				if tc.renumber {
					if e := p.call("fd_renumber", 0, 3); e != errnoSuccess {
						t.Fatalf("fd_renumber: errno %d", e)
					}
				}
				p.write(memResult, []byte{0xee, 0xee, 0xee, 0xee})
				tc.call(t, p)
				want := 0
				if tc.stdin {
					want = 1
				}
				if g.stdinCalls != want {
					t.Errorf("EnterStdin called %d times, want %d", g.stdinCalls, want)
				}
				if !tc.stdin || !refuse {
					return
				}
				// Refused: nothing happened (the errno is the guest's to
				// ignore), and the guest will call again.
				if got := p.u32(memResult); got != 0xeeeeeeee {
					t.Errorf("refused call wrote its result: %#x", got)
				}
				if avail, _ := w.stdin.status(); avail != 2 {
					t.Errorf("refused call left %d bytes of stdin, want 2", avail)
				}
				g.refuseStdin = false
				if e := tc.call(t, p); e != errnoSuccess || p.u32(memResult) == 0xeeeeeeee {
					t.Errorf("re-issued call: errno %d, result %#x", e, p.u32(memResult))
				}
			})
		}
	}

	// A call the gate refuses never reaches the stdin gate.
	g := &stdinGate{fakeGate: newFakeGate()}
	g.refuse = true
	p := newProxy(t, mustNew(t, Config{Stdin: bytes.NewReader([]byte("in")), Gate: g}, nil))
	p.readFD(0, 2)
	if g.stdinCalls != 0 {
		t.Errorf("read refused by Enter: EnterStdin called %d times", g.stdinCalls)
	}
}
