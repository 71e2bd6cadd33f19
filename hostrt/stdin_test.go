package hostrt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// greetModule is testdata/greet.wasm instrumented: it writes "name? ",
// reads stdin once (fd_read, import 0) and greets what it read.
func greetModule(t *testing.T) []byte {
	t.Helper()
	wasm, err := os.ReadFile("testdata/greet.wasm")
	if err != nil {
		t.Fatal(err)
	}
	// With the sites' details: a test reads where it paused.
	module, _, err := instrument.Instrument(wasm, instrument.Options{SiteDetails: true})
	if err != nil {
		t.Fatal(err)
	}
	return module
}

// throughFile moves a snapshot through the file format.
func throughFile(t *testing.T, snap *snapshot.Snapshot) *snapshot.Snapshot {
	t.Helper()
	var file bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&file, snap); err != nil {
		t.Fatal(err)
	}
	decoded, err := snapshot.Decode(file.Bytes(), snapshot.Limits{MaxMemory: 1 << 32})
	if err != nil {
		t.Fatal(err)
	}
	return decoded
}

// TestSnapshotAtStdin snapshots greet when it first reads stdin, stopping
// it or letting it go on: the snapshot is paused in the call to fd_read,
// has taken no input, and a job restored from it with the rest of the
// input finishes the program as an uninterrupted run does.
func TestSnapshotAtStdin(t *testing.T) {
	const input = "gopher\n"
	module := greetModule(t)
	info, err := readInfo(module)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		stop bool
		// stdout of the first job, and of the job restored from the
		// snapshot.
		first, restored string
	}{
		{name: "stop", stop: true, first: "name? ", restored: "hello, gopher\n"},
		{name: "continue", stop: false, first: "name? hello, gopher\n", restored: "hello, gopher\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var stdout bytes.Buffer
			var results []<-chan SnapshotResult
			calls := 0
			job, err := Start(ctx, Config{
				Module: module, Args: []string{"greet"}, Stdin: strings.NewReader(input), Stdout: &stdout, Cache: testCache,
				OnStdin: func(j *Job) {
					if calls++; calls == 1 {
						results = append(results, j.SnapshotAtStdin(SnapshotOptions{Reason: "first stdin", Stop: tc.stop}))
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			exit, err := job.Run(ctx)
			job.Close(ctx)
			switch {
			case tc.stop && !errors.Is(err, ErrStopped):
				t.Fatalf("Run: exit %d, %v; want ErrStopped", exit, err)
			case !tc.stop && (err != nil || exit != 0):
				t.Fatalf("Run: exit %d, %v; want exit 0", exit, err)
			}
			// The read re-issued after the rewind is not announced again.
			if calls != 1 || len(results) != 1 {
				t.Fatalf("OnStdin called %d times, want 1", calls)
			}
			if got := stdout.String(); got != tc.first {
				t.Errorf("stdout %q, want %q", got, tc.first)
			}
			res := <-results[0]
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			snap := throughFile(t, res.Snapshot)
			if snap.Meta.Reason != "first stdin" || snap.Meta.Seq != 1 {
				t.Errorf("snapshot %d (%s), want 1 (first stdin)", snap.Meta.Seq, snap.Meta.Reason)
			}
			frames, err := abi.FramesIn(info, snap.Instance.Memory, snap.Instance.Buffer)
			if err != nil {
				t.Fatal(err)
			}
			if top := frames[len(frames)-1].At; len(frames) != 1 || top.Kind != abi.SiteCall || top.Target != 0 {
				t.Errorf("paused with %d frames, the top one at %v %d; want 1 frame, at the call to import 0 (fd_read)", len(frames), top.Kind, top.Target)
			}
			var ws wasip1.State
			if err := ws.UnmarshalBinary(snap.WASI); err != nil {
				t.Fatal(err)
			}
			// What the host had read ahead is in the snapshot, the rest
			// comes from the stream: nothing was taken by the program.
			if got := string(ws.Stdin) + input[ws.StdinOffset:]; got != input {
				t.Errorf("the snapshot's input %q, want %q", got, input)
			}

			stdout.Reset()
			restored, err := Restore(ctx, Config{Module: module, Stdin: strings.NewReader(input[ws.StdinOffset:]), Stdout: &stdout, Cache: testCache}, snap)
			if err != nil {
				t.Fatal(err)
			}
			defer restored.Close(ctx)
			if exit, err := restored.Run(ctx); err != nil || exit != 0 {
				t.Fatalf("restored: exit %d, %v", exit, err)
			}
			if got := stdout.String(); got != tc.restored {
				t.Errorf("restored stdout %q, want %q", got, tc.restored)
			}
		})
	}
}

// TestSnapshotAtEveryStdinCall snapshots a program at each of its stdin
// calls: OnStdin hears of each once (not of the call again after each
// rewind, which would loop), every snapshot succeeds, and the output is
// the program's.
func TestSnapshotAtEveryStdinCall(t *testing.T) {
	var p corpus.Program
	for _, q := range corpus.CPrograms(t) {
		if q.Name == "c/files" {
			p = q
		}
	}
	if p.Name == "" {
		t.Fatal("no c/files in the corpus")
	}
	g := newGuest(t, p)
	run := func(snapshotEach bool) (calls int, snaps []uint64) {
		ctx := context.Background()
		var stdout bytes.Buffer
		cfg := g.config(&stdout)
		var results []<-chan SnapshotResult
		cfg.OnStdin = func(j *Job) {
			calls++
			if snapshotEach {
				results = append(results, j.SnapshotAtStdin(SnapshotOptions{Reason: "stdin"}))
			}
		}
		job, err := Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer job.Close(ctx)
		exit, err := job.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.Verify(t, stdout.Bytes(), exit)
		for _, ch := range results {
			res := <-ch
			if res.Err != nil {
				t.Fatalf("snapshot: %v", res.Err)
			}
			snaps = append(snaps, res.Snapshot.Meta.Seq)
		}
		return calls, snaps
	}
	want, _ := run(false)
	if want == 0 {
		t.Fatal("the program made no stdin call")
	}
	calls, snaps := run(true)
	if calls != want || len(snaps) != want || snaps[len(snaps)-1] != uint64(want) {
		t.Errorf("snapshotting each stdin call: OnStdin called %d times, snapshots %v; want %d of each", calls, snaps, want)
	}
	t.Logf("%d stdin calls", want)
}

// TestSnapshotAtStdinOutsideOnStdin: anywhere but in OnStdin the call is
// refused, and nothing is asked of the job.
func TestSnapshotAtStdinOutsideOnStdin(t *testing.T) {
	ctx := context.Background()
	job, err := Start(ctx, Config{Module: greetModule(t), Stdin: strings.NewReader("x\n"), Cache: testCache})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close(ctx)
	if res := <-job.SnapshotAtStdin(SnapshotOptions{}); res.Snapshot != nil || res.Err == nil || res.Err.Error() != "hostrt: SnapshotAtStdin called outside Config.OnStdin" {
		t.Errorf("SnapshotAtStdin outside OnStdin: %+v", res)
	}
	if exit, err := job.Run(ctx); err != nil || exit != 0 {
		t.Errorf("Run: exit %d, %v", exit, err)
	}
}

// TestFailedCapture: a snapshot that cannot be taken leaves a job that
// asked to stop after it running to its end, and its error says why; only
// a caller that gives up on the job (StopAlways) stops it anyway.
func TestFailedCapture(t *testing.T) {
	const input = "gopher\n"
	module := greetModule(t)
	fault := errors.New("the disk is on fire")
	captureFault = func() error { return fault }
	defer func() { captureFault = func() error { return nil } }()
	for _, tc := range []struct {
		name    string
		opts    SnapshotOptions
		stopped bool
		stdout  string
	}{
		{"stop", SnapshotOptions{Stop: true}, false, "name? hello, gopher\n"},
		{"stop always", SnapshotOptions{StopAlways: true}, true, "name? "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var stdout bytes.Buffer
			var result <-chan SnapshotResult
			job, err := Start(ctx, Config{
				Module: module, Args: []string{"greet"}, Stdin: strings.NewReader(input), Stdout: &stdout, Cache: testCache,
				OnStdin: func(j *Job) {
					if result == nil {
						result = j.SnapshotAtStdin(tc.opts)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			exit, err := job.Run(ctx)
			job.Close(ctx)
			if stopped := errors.Is(err, ErrStopped); stopped != tc.stopped || !stopped && (err != nil || exit != 0) {
				t.Fatalf("Run: exit %d, %v; want stopped %v", exit, err, tc.stopped)
			}
			if res := <-result; res.Snapshot != nil || !errors.Is(res.Err, fault) {
				t.Errorf("snapshot %v, error %v; want none, %q", res.Snapshot, res.Err, fault)
			}
			if got := stdout.String(); got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
		})
	}
}
