package migrate

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Uploads (modules and jobs) hold one of a host's two upload slots while
// they arrive, so a client that sends its body a byte at a time could keep
// every other upload out until the upload deadline. An upload must
// therefore keep a minimum rate: over every window of the time the host
// spends waiting for it, at least rate × window bytes must arrive. The
// first window is the grace (a sender compresses each snapshot section
// whole before it sends it, so a job's body pauses while a large memory is
// compressed), and time the host spends on the body itself (decoding,
// compiling) does not count against the sender.

// Defaults of Config.MinUploadRate and Config.UploadWindow.
const (
	defaultMinUploadRate = 64 << 10
	defaultUploadWindow  = 20 * time.Second
)

// errUploadTimeout is an upload that outlasted its deadline.
var errUploadTimeout = errors.New("upload not complete by its deadline")

// slowUploadError is an upload cut for arriving slower than the floor.
type slowUploadError struct {
	rate   int64
	window time.Duration
	got    int64
}

func (e *slowUploadError) Error() string {
	return fmt.Sprintf("upload slower than %s/s over %s (cut after %d bytes)", formatBytes(e.rate), e.window, e.got)
}

// rateWindow keeps how many bytes had arrived at which points of the time
// spent waiting for them (the marks), over the last window, to say how
// long the next read may wait before the rate falls below the floor.
type rateWindow struct {
	floor  int64 // bytes a window must bring
	window time.Duration
	marks  []rateMark // by time; the first is at or before now - window
}

type rateMark struct {
	at    time.Duration // waiting time so far
	total int64         // bytes so far
}

func newRateWindow(rate int64, window time.Duration) *rateWindow {
	return &rateWindow{floor: int64(float64(rate) * window.Seconds()), window: window, marks: []rateMark{{}}}
}

// add records that total bytes had arrived after waiting at.
func (w *rateWindow) add(at time.Duration, total int64) {
	n := len(w.marks)
	// Marks closer than window/32 to the one before the last replace the
	// last: at most a few dozen marks, and the floor is checked at most
	// window/32 late.
	if n >= 2 && at-w.marks[n-2].at < w.window/32 {
		w.marks[n-1] = rateMark{at, total}
	} else {
		w.marks = append(w.marks, rateMark{at, total})
	}
	for len(w.marks) >= 2 && w.marks[1].at <= at-w.window {
		w.marks = w.marks[1:]
	}
}

// allowed is how long the next read may wait, at waiting time now with
// total bytes arrived, before fewer than floor bytes arrived in the last
// window: until the first mark whose bytes leave less than floor to the
// total is a window old (and at least one window from the start).
func (w *rateWindow) allowed(now time.Duration, total int64) time.Duration {
	for _, m := range w.marks {
		if m.total > total-w.floor {
			return max(m.at+w.window, w.window) - now
		}
	}
	return 0 // not reached: the last mark holds total
}

// rateReader is an upload's body that fails when it arrives slower than
// its window allows or outlasts its deadline. It enforces both through
// the connection's read deadline, set before each read.
type rateReader struct {
	r      io.Reader
	rc     *http.ResponseController
	until  time.Time // the upload's deadline
	rate   int64
	w      *rateWindow
	waited time.Duration
	total  int64
}

// uploadBody returns the body of an upload, limited to max bytes, timed
// by the upload deadlines and the host's rate floor.
func (h *Host) uploadBody(w http.ResponseWriter, r *http.Request, max int64) io.ReadCloser {
	until := deadlines(w)
	body := io.Reader(r.Body)
	if h.cfg.MinUploadRate > 0 {
		body = &rateReader{r: r.Body, rc: http.NewResponseController(w), until: until,
			rate: h.cfg.MinUploadRate, w: newRateWindow(h.cfg.MinUploadRate, h.cfg.UploadWindow)}
	}
	return http.MaxBytesReader(w, io.NopCloser(body), max)
}

func (r *rateReader) Read(p []byte) (int, error) {
	allowed := r.w.allowed(r.waited, r.total)
	if allowed <= 0 {
		return 0, r.slow()
	}
	start := time.Now()
	deadline, byRate := start.Add(allowed), true
	if !deadline.Before(r.until) {
		deadline, byRate = r.until, false
	}
	// Where deadlines cannot be set (a handler called without a
	// connection), a read waits as long as the body lets it.
	r.rc.SetReadDeadline(deadline)
	n, err := r.r.Read(p)
	r.waited += time.Since(start)
	r.total += int64(n)
	r.w.add(r.waited, r.total)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if byRate {
				return n, r.slow()
			}
			return n, errUploadTimeout
		}
		// After the body the server watches the connection for the
		// client going away: it must not see the rate's deadline.
		r.rc.SetReadDeadline(r.until)
	}
	return n, err
}

func (r *rateReader) slow() error {
	return &slowUploadError{rate: r.rate, window: r.w.window, got: r.total}
}
