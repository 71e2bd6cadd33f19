package wasip1

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// systemClock is the host's time.
type systemClock struct{ origin time.Time }

func newSystemClock() systemClock                          { return systemClock{origin: time.Now()} }
func (systemClock) Walltime() int64                        { return time.Now().UnixNano() }
func (c systemClock) Nanotime() int64                      { return int64(time.Since(c.origin)) }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// nanotime is the guest's monotonic clock.
func (w *WASI) nanotime() int64 {
	t := w.monoBase + w.clock.Nanotime() - w.monoStart
	if t < w.monoLast {
		t = w.monoLast
	}
	w.monoLast = t
	return t
}

func (w *WASI) clockResGet(_ context.Context, mod api.Module, stack []uint64) errno {
	id, result := uint32(stack[0]), uint32(stack[1])
	var res uint64
	switch id {
	case clockRealtime:
		res = uint64(time.Microsecond)
	case clockMonotonic:
		res = 1
	default:
		// The CPU-time clocks, like wazero.
		return errnoInval
	}
	if !mod.Memory().WriteUint64Le(result, res) {
		return errnoFault
	}
	return errnoSuccess
}

func (w *WASI) clockTimeGet(_ context.Context, mod api.Module, stack []uint64) errno {
	id, result := uint32(stack[0]), uint32(stack[2])
	var t int64
	switch id {
	case clockRealtime:
		t = w.clock.Walltime()
	case clockMonotonic:
		t = w.nanotime()
	default:
		return errnoInval
	}
	if !mod.Memory().WriteUint64Le(result, uint64(t)) {
		return errnoFault
	}
	return errnoSuccess
}

// PendingPoll is a poll_oneoff that a pause interrupted.
//
// After the rewind the guest issues the same call again, with the same
// subscriptions, and a relative timeout in it still counts from the
// original call — otherwise every pause would restart a sleep. So the
// interrupted call leaves its subscriptions and the guest's monotonic
// time when it began; the next poll_oneoff with byte-identical
// subscriptions counts its relative timeouts from there, and any other
// WASI call forgets it. Comparing the whole subscription array, user data
// included, keeps an unrelated poll from inheriting the start; a guest
// that sleeps in a loop does make identical calls, but only the one right
// after the rewind can find a pending poll. The start is on the guest's
// monotonic clock, which carries on from its saved value after a restore,
// so the time the guest spent saved does not count either.
type PendingPoll struct {
	// Subscriptions are the call's subscription array as the guest wrote it.
	Subscriptions []byte
	// Start is the guest's monotonic time, in nanoseconds, when the call
	// was first issued.
	Start int64
}

func (w *WASI) pollOneoff(ctx context.Context, mod api.Module, stack []uint64) errno {
	in, out, nsubs, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if nsubs == 0 {
		return errnoInval
	}
	if nsubs > math.MaxUint32/sizeSubscription {
		return errnoFault
	}
	mem := mod.Memory()
	view, ok := mem.Read(in, nsubs*sizeSubscription)
	if !ok {
		return errnoFault
	}
	if _, ok := mem.Read(out, nsubs*sizeEvent); !ok {
		return errnoFault
	}
	// A copy, as the views are not to be kept across the wait.
	w.subs = append(w.subs[:0], view...)
	subs := w.subs
	now := w.nanotime()
	start := now
	if w.pending != nil && bytes.Equal(w.pending.Subscriptions, subs) {
		start = w.pending.Start
	}
	w.pending = nil

	// Validate everything before waiting, and find the earliest deadline
	// and whether stdin and sockets are awaited.
	deadline := int64(math.MaxInt64)
	waitStdin := false
	var sockets []*os.File
	var socketWrites []bool
	for i := 0; i < len(subs); i += sizeSubscription {
		s := subs[i : i+sizeSubscription]
		switch s[8] {
		case eventtypeClock:
			d, errno := w.clockDeadline(s, start, now)
			if errno != errnoSuccess {
				return errno
			}
			deadline = min(deadline, d)
		case eventtypeFdRead, eventtypeFdWrite:
			e := w.lookup(le.Uint32(s[16:]))
			switch {
			case e == nil:
			case e.kind == KindStdin && s[8] == eventtypeFdRead:
				waitStdin = true
			case e.isSocket() && !e.isReset():
				sockets = append(sockets, e.file)
				socketWrites = append(socketWrites, s[8] == eventtypeFdWrite)
			}
		default:
			return errnoInval
		}
	}
	for {
		if n := w.pollEvents(mem, subs, out, start, now); n > 0 {
			return putUint32(mem, result, n)
		}
		var timer <-chan time.Time
		if deadline != math.MaxInt64 {
			timer = w.clock.After(time.Duration(deadline - now))
		}
		var stdinReady chan struct{}
		if waitStdin {
			stdinReady = w.stdin.ready
		}
		socketReady, stopSockets, errno := w.waitSockets(sockets, socketWrites)
		if errno != errnoSuccess {
			return errno
		}
		select {
		case <-timer:
		case <-stdinReady:
		case <-socketReady:
		case <-w.pausing():
			if w.gate.Interrupt(ctx, mod) {
				stopSockets()
				w.pending = &PendingPoll{Subscriptions: append([]byte(nil), subs...), Start: start}
				return errnoIntr
			}
		case <-ctx.Done():
			stopSockets()
			return errnoIntr
		}
		stopSockets()
		now = w.nanotime()
	}
}

// clockDeadline is when a clock subscription fires, on the guest's
// monotonic clock.
func (w *WASI) clockDeadline(s []byte, start, now int64) (int64, errno) {
	id, timeout, flags := le.Uint32(s[16:]), le.Uint64(s[24:]), le.Uint16(s[40:])
	switch {
	case flags == 0:
		// Relative, whatever the clock: time passes alike on both.
		return addSaturating(start, timeout), errnoSuccess
	case flags != subclockAbstime:
		return 0, errnoInval
	case id == clockMonotonic:
		return int64(min(timeout, math.MaxInt64)), errnoSuccess
	case id == clockRealtime:
		left := int64(min(timeout, math.MaxInt64)) - w.clock.Walltime()
		return addSaturating(now, uint64(max(left, 0))), errnoSuccess
	}
	return 0, errnoInval
}

func addSaturating(t int64, d uint64) int64 {
	if d > uint64(math.MaxInt64-t) {
		return math.MaxInt64
	}
	return t + int64(d)
}

// pollEvents writes the events of the subscriptions that are ready and
// returns how many. Files other than stdin and sockets are always ready,
// as in wazero: their reads and writes either do not wait or wait
// interruptibly.
func (w *WASI) pollEvents(mem api.Memory, subs []byte, out uint32, start, now int64) uint32 {
	var n uint32
	sockets := w.socketsNow(subs)
	for i := 0; i < len(subs); i += sizeSubscription {
		s := subs[i : i+sizeSubscription]
		var errno errno
		var nbytes uint64
		var flags uint16
		if s[8] == eventtypeClock {
			if d, _ := w.clockDeadline(s, start, now); now < d {
				continue
			}
		} else if e := w.lookup(le.Uint32(s[16:])); e == nil {
			errno = errnoBadf
		} else if e.isSocket() {
			var ready bool
			if ready, errno, nbytes, flags = socketEvent(e, s[8] == eventtypeFdWrite, sockets[i/sizeSubscription]); !ready {
				continue
			}
		} else if e.kind == KindStdin && s[8] == eventtypeFdRead {
			avail, err := w.stdin.status()
			switch {
			case avail > 0:
				nbytes = uint64(avail)
			case err == io.EOF:
				flags = eventrwHangup
			case err != nil:
				errno = toErrno(err)
			default:
				continue
			}
		}
		ev, _ := mem.Read(out+n*sizeEvent, sizeEvent)
		clear(ev)
		copy(ev, s[:8]) // userdata
		le.PutUint16(ev[8:], uint16(errno))
		ev[10] = s[8]
		le.PutUint64(ev[16:], nbytes)
		le.PutUint16(ev[24:], flags)
		n++
	}
	return n
}
