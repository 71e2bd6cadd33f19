package wasip1

import (
	"io"
	"sync"
)

// stdinReadAhead bounds how far the stdin goroutine reads ahead of the guest.
const stdinReadAhead = 64 << 10

// stdinBuffer reads the guest's stdin in a goroutine. A Read on the host's
// reader cannot be abandoned, but a guest's read waiting on this buffer
// can: when the host pauses, the read gives up, and whatever arrives later
// stays here for the read the guest re-issues after its rewind — or goes
// into the saved State.
//
// The goroutine starts with New rather than with the first read, so that a
// poll_oneoff with a zero timeout finds the data of an in-memory reader.
type stdinBuffer struct {
	mu sync.Mutex
	// roomy wakes the goroutine when the guest has consumed enough.
	roomy sync.Cond
	// buf[off:] is read from the host and not yet by the guest.
	buf []byte
	off int
	// taken counts the bytes of the stream appended to buf, restored ones
	// included.
	taken int64
	// err is the reader's final error (io.EOF at the end); the guest sees
	// it once buf is drained.
	err    error
	closed bool
	// ready receives a token whenever buf grows or err is set.
	ready chan struct{}
}

func newStdinBuffer(pending []byte, taken int64, src io.Reader) *stdinBuffer {
	s := &stdinBuffer{buf: append([]byte(nil), pending...), taken: taken, ready: make(chan struct{}, 1)}
	s.roomy.L = &s.mu
	if src == nil {
		s.err = io.EOF
	} else {
		go s.fill(src)
	}
	return s
}

func (s *stdinBuffer) fill(src io.Reader) {
	chunk := make([]byte, 16<<10)
	for {
		s.mu.Lock()
		for len(s.buf)-s.off >= stdinReadAhead && !s.closed {
			s.roomy.Wait()
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		n, err := src.Read(chunk)
		s.mu.Lock()
		if s.off > 0 {
			// Compact, so that buf stays within the read-ahead bound.
			s.buf = s.buf[:copy(s.buf, s.buf[s.off:])]
			s.off = 0
		}
		s.buf = append(s.buf, chunk[:n]...)
		s.taken += int64(n)
		if err != nil {
			s.err = err
		}
		s.mu.Unlock()
		select {
		case s.ready <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// status reports how many bytes the guest can read at once and, when none,
// the error that ended the stream (nil while more may come).
func (s *stdinBuffer) status() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf) - s.off, s.err
}

// take moves buffered bytes into dst, which is guest memory.
func (s *stdinBuffer) take(dst []byte) int {
	s.mu.Lock()
	n := copy(dst, s.buf[s.off:])
	s.off += n
	s.mu.Unlock()
	s.roomy.Signal()
	return n
}

// pending returns a copy of the bytes the guest has not read, and how many
// bytes of the stream the buffer has taken in all.
func (s *stdinBuffer) pending() ([]byte, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.buf[s.off:]...), s.taken
}

func (s *stdinBuffer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.roomy.Broadcast()
}
