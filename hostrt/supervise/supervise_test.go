package supervise_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/supervise"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// fakeClock moves only when a test advances it. It delivers every timer
// and tick that falls due, in time order, each once the supervisor takes
// it (or stops the timer): after Advance returns, the supervisor has
// received every alarm up to the new time, and no other.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*fakeTimer
}

type fakeTimer struct {
	c         chan time.Time
	at, every time.Duration
	fired     bool // a one-shot timer that went off
	stopped   chan struct{}
	stop      sync.Once
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop()               { t.stop.Do(func() { close(t.stopped) }) }

func (c *fakeClock) NewTimer(d time.Duration) supervise.Timer  { return c.add(d, 0) }
func (c *fakeClock) NewTicker(d time.Duration) supervise.Timer { return c.add(d, d) }

func (c *fakeClock) add(d, every time.Duration) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time), at: c.now + d, every: every, stopped: make(chan struct{})}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now + d
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			select {
			case <-t.stopped:
				continue
			default:
			}
			if !t.fired && t.at <= target && (next == nil || t.at < next.at) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		c.now = next.at
		at := next.at
		if next.every > 0 {
			next.at += next.every
		} else {
			next.fired = true
		}
		c.mu.Unlock()
		select {
		case next.c <- time.Unix(0, 0).Add(at):
		case <-next.stopped:
		}
	}
}

// instrumented is the program build/testdata/REL, instrumented.
func instrumented(t *testing.T, rel string) []byte {
	t.Helper()
	wasm, err := os.ReadFile(corpus.Built(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := instrument.Instrument(wasm, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// watchedOutput is a job's stdout that a test can wait on.
type watchedOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newWatchedOutput() *watchedOutput { return &watchedOutput{changed: make(chan struct{}, 1)} }

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until the output is s.
func (w *watchedOutput) waitFor(t *testing.T, s string) {
	t.Helper()
	for w.String() != s {
		select {
		case <-w.changed:
		case <-time.After(30 * time.Second):
			t.Fatalf("stdout %q, waited for %q", w.String(), s)
		}
	}
}

// run is a supervised job of a test and what it reports.
type run struct {
	sup     *supervise.Supervisor
	stdin   *io.PipeWriter
	stdout  *watchedOutput
	dir     string
	reports chan string // "seq reason -> file" or "error: ..."
	ended   chan struct{}
	res     supervise.Result
	err     error
}

// startEcho runs testdata/e2e/echo.c (it prints "echo: ready", then
// echoes its input line by line and counts the lines) under the policy, with a store of dir keeping
// keep snapshots as its sink (unless the policy has one), and waits until
// it is ready.
func startEcho(t *testing.T, ctx context.Context, p supervise.Policy, keep int) *run {
	t.Helper()
	r := &run{stdout: newWatchedOutput(), dir: t.TempDir(), reports: make(chan string, 100), ended: make(chan struct{})}
	store, err := hostrt.OpenStore(r.dir, keep)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sink == nil {
		p.Sink = store
	}
	p.OnSnapshot = func(path string, snap *snapshot.Snapshot) {
		r.reports <- fmt.Sprintf("%d %s -> %s", snap.Meta.Seq, snap.Meta.Reason, filepath.Base(path))
	}
	p.OnError = func(err error) { r.reports <- "error: " + strings.ReplaceAll(err.Error(), r.dir, "DIR") }
	stdin, w := io.Pipe()
	r.stdin = w
	cfg := hostrt.Config{Module: instrumented(t, "e2e/echo.wasm"), Args: []string{"echo"}, Stdin: stdin, Stdout: r.stdout, Cache: testCache}
	if r.sup, err = supervise.Start(ctx, cfg, nil, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.sup.Close(context.Background()) })
	go func() {
		defer close(r.ended)
		r.res, r.err = r.sup.Run(ctx)
	}()
	r.stdout.waitFor(t, "echo: ready\n")
	return r
}

// wait waits for n reports.
func (r *run) wait(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for range n {
		select {
		case s := <-r.reports:
			got = append(got, s)
		case <-time.After(30 * time.Second):
			t.Fatalf("reports %q, waited for %d", got, n)
		}
	}
	return got
}

// endAs ends the run as want says: a job that was not stopped gets a line
// and the end of its input. It checks the result, that nothing more was
// reported, and the program's output.
func (r *run) endAs(t *testing.T, want supervise.Result) {
	t.Helper()
	stdout := "echo: ready\n"
	if !want.Stopped {
		io.WriteString(r.stdin, "hello\n")
		r.stdin.Close()
		stdout = "echo: ready\n1: hello\necho: 1 lines\n"
	}
	r.end(t)
	if r.res != want || r.err != nil {
		t.Errorf("result %+v, %v; want %+v, nil", r.res, r.err, want)
	}
	if got := r.stdout.String(); got != stdout {
		t.Errorf("stdout %q, want %q", got, stdout)
	}
}

// end waits for the run to end and checks that nothing more was reported.
func (r *run) end(t *testing.T) {
	t.Helper()
	select {
	case <-r.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end")
	}
	close(r.reports)
	for s := range r.reports {
		t.Errorf("reported more: %s", s)
	}
}

// files lists the snapshot directory.
func (r *run) files(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		if e.Name() != "chunks" && e.Name() != "packs" { // what the snapshots share
			names = append(names, e.Name())
		}
	}
	return names
}

func TestEvery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		advance   time.Duration
		keep      int
		stopAfter bool
		reports   []string
		files     []string
		res       supervise.Result
	}{
		{"three ticks, keep 2", 35 * time.Second, 2, false,
			[]string{"1 every 10s -> snapshot-000001.wsm", "2 every 10s -> snapshot-000002.wsm", "3 every 10s -> snapshot-000003.wsm"},
			[]string{"snapshot-000002.wsm", "snapshot-000003.wsm"}, supervise.Result{}},
		{"not yet", 9 * time.Second, 2, false, nil, []string{}, supervise.Result{}},
		{"one tick, keep all", 10 * time.Second, 0, false,
			[]string{"1 every 10s -> snapshot-000001.wsm"}, []string{"snapshot-000001.wsm"}, supervise.Result{}},
		{"stop after the first", 35 * time.Second, 2, true,
			[]string{"1 every 10s -> snapshot-000001.wsm"}, []string{"snapshot-000001.wsm"}, supervise.Result{Stopped: true, StoppedBy: supervise.Trigger{Reason: "every 10s"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			r := startEcho(t, context.Background(), supervise.Policy{Every: 10 * time.Second, StopAfter: tc.stopAfter, Clock: clock}, tc.keep)
			clock.Advance(tc.advance)
			if got := r.wait(t, len(tc.reports)); !slices.Equal(got, tc.reports) {
				t.Errorf("reports %q, want %q", got, tc.reports)
			}
			r.endAs(t, tc.res)
			if got := r.files(t); !slices.Equal(got, tc.files) {
				t.Errorf("files %q, want %q", got, tc.files)
			}
		})
	}
}

// The program reads stdin several times (a line, then the end): the
// snapshot is taken at the first read only.
func TestFirstStdin(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stopAfter bool
		res       supervise.Result
	}{
		{"continue", false, supervise.Result{}},
		{"stop", true, supervise.Result{Stopped: true, StoppedBy: supervise.Trigger{Reason: supervise.FirstStdinReason}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startEcho(t, context.Background(), supervise.Policy{FirstStdin: true, StopAfter: tc.stopAfter}, 0)
			want := []string{"1 first-stdin -> snapshot-000001.wsm"}
			if got := r.wait(t, 1); !slices.Equal(got, want) {
				t.Errorf("reports %q, want %q", got, want)
			}
			r.endAs(t, tc.res)
		})
	}
}

// heldSink holds the first snapshot's write until released.
type heldSink struct {
	supervise.Sink
	entered, release chan struct{}
	once             sync.Once
}

func (h *heldSink) Write(snap *snapshot.Snapshot) (string, error) {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
	return h.Sink.Write(snap)
}

// Triggers that come while a snapshot is written make one snapshot after
// it, which stops the job if one of them asks to.
func TestTriggersWhileWriting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		while   []supervise.Trigger
		reports []string
		res     supervise.Result
	}{
		{"two", []supervise.Trigger{{Reason: "two"}, {Reason: "three"}},
			[]string{"1 one -> snapshot-000001.wsm", "2 two -> snapshot-000002.wsm"}, supervise.Result{}},
		{"then a stop", []supervise.Trigger{{Reason: "two"}, {Reason: "stop", Stop: true}, {Reason: "four"}},
			[]string{"1 one -> snapshot-000001.wsm", "2 stop -> snapshot-000002.wsm"},
			supervise.Result{Stopped: true, StoppedBy: supervise.Trigger{Reason: "stop", Stop: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			triggers := make(chan supervise.Trigger, len(tc.while))
			dir := t.TempDir()
			store, err := hostrt.OpenStore(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			held := &heldSink{Sink: store, entered: make(chan struct{}), release: make(chan struct{})}
			r := startEcho(t, context.Background(), supervise.Policy{Triggers: triggers, Sink: held}, 0)
			triggers <- supervise.Trigger{Reason: "one"}
			<-held.entered
			for _, tr := range tc.while {
				triggers <- tr
			}
			close(held.release)
			if got := r.wait(t, len(tc.reports)); !slices.Equal(got, tc.reports) {
				t.Errorf("reports %q, want %q", got, tc.reports)
			}
			r.endAs(t, tc.res)
		})
	}
}

// Cancelling the context stops the job without a snapshot, and its
// schedule with it.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clock := &fakeClock{}
	r := startEcho(t, ctx, supervise.Policy{Every: 10 * time.Second, Clock: clock}, 0)
	cancel()
	r.end(t)
	if r.res != (supervise.Result{}) || !errors.Is(r.err, context.Canceled) {
		t.Errorf("result %+v, %v; want {}, context canceled", r.res, r.err)
	}
	clock.Advance(time.Minute) // would block if the ticker still ran
	if got := r.files(t); len(got) != 0 {
		t.Errorf("files %q, want none", got)
	}
	if got := r.stdout.String(); got != "echo: ready\n" {
		t.Errorf("stdout %q", got)
	}
}

// A snapshot that cannot be written is reported with its file; when it
// was to stop the job, Run returns that error.
func TestWriteError(t *testing.T) {
	triggers := make(chan supervise.Trigger, 1)
	r := startEcho(t, context.Background(), supervise.Policy{Triggers: triggers}, 0)
	triggers <- supervise.Trigger{Reason: "one"}
	if got, want := r.wait(t, 1), []string{"1 one -> snapshot-000001.wsm"}; !slices.Equal(got, want) {
		t.Fatalf("reports %q, want %q", got, want)
	}
	// The directory becomes a file.
	if err := os.RemoveAll(r.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	triggers <- supervise.Trigger{Reason: "two", Stop: true}
	want := "DIR/snapshot-000002.wsm: not a directory"
	if got := r.wait(t, 1); !slices.Equal(got, []string{"error: " + want}) {
		t.Errorf("reports %q, want the error %q", got, want)
	}
	r.end(t)
	if r.res != (supervise.Result{Stopped: true, StoppedBy: supervise.Trigger{Reason: "two", Stop: true}}) || r.err == nil ||
		strings.ReplaceAll(r.err.Error(), r.dir, "DIR") != want {
		t.Errorf("result %+v, %v; want stopped, %s", r.res, r.err, want)
	}
}

// A program's exit code is the result's; a policy that takes snapshots
// needs somewhere to put them.
func TestStartAndExit(t *testing.T) {
	module := instrumented(t, "c/exitcode.wasm")
	var stdout bytes.Buffer
	cfg := hostrt.Config{Module: module, Args: []string{"exitcode"}, Stdout: &stdout, Cache: testCache}
	_, err := supervise.Start(context.Background(), cfg, nil, supervise.Policy{Every: time.Second})
	if want := "supervise: the policy takes snapshots but has no Sink"; err == nil || err.Error() != want {
		t.Errorf("Start without a sink: %v, want %s", err, want)
	}
	sup, err := supervise.Start(context.Background(), cfg, nil, supervise.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close(context.Background())
	res, err := sup.Run(context.Background())
	if res != (supervise.Result{Exit: 3}) || err != nil {
		t.Errorf("result %+v, %v; want exit 3", res, err)
	}
	if want := "partial line without newline, flushed at exit; exiting with 3\natexit handler ran\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}
