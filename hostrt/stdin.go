package hostrt

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// Snapshots at stdin reads: Config.OnStdin hears of every WASI call about
// to read stdin or wait for it, before the call does anything, and may ask
// for a snapshot there with SnapshotAtStdin. The pause is then taken at
// that call, through the same unwind as any pause at a WASI call: no byte
// of input is taken and no time counted, and the call is made after the
// rewind — or, when the snapshot stops the job, by the job restored from
// it. The typical use is a snapshot of a program that has initialised and
// first waits for input (`wasmsr exec --snapshot-on first-stdin`).
//
// The call made again after a pause OnStdin asked for is not announced
// again (an OnStdin snapshotting every read would loop); after any other
// pause, or in a restored job, it is: OnStdin sees a call each time it
// starts.

// SnapshotResult is a snapshot, or why it could not be taken.
type SnapshotResult struct {
	Snapshot *snapshot.Snapshot
	Err      error
}

// errNotAtStdin is SnapshotAtStdin's answer outside Config.OnStdin.
var errNotAtStdin = errors.New("hostrt: SnapshotAtStdin called outside Config.OnStdin")

// stdinHook is the Job's state for Config.OnStdin.
type stdinHook struct {
	// in is set while OnStdin runs; pause when it asked for a snapshot.
	in, pause bool
	// reissued is set when a pause was taken at a stdin call on OnStdin's
	// request: the next stdin call is that call again, after the rewind,
	// and OnStdin has heard of it already. Without this, an OnStdin that
	// asks for a snapshot at every read would ask again, forever.
	reissued bool
}

var _ wasip1.StdinGate = (*Job)(nil)

// gate is the job as its WASI's gate: a StdinGate only when Config.OnStdin
// wants to hear of stdin reads, so that WASI does not look for them (in
// every poll_oneoff's subscriptions) for nothing.
func (j *Job) gate() wasip1.Gate {
	if j.cfg.OnStdin == nil {
		return struct{ wasip1.Gate }{j}
	}
	return j
}

// EnterStdin implements wasip1.StdinGate, for Config.OnStdin.
func (j *Job) EnterStdin(ctx context.Context, mod api.Module) bool {
	h := &j.stdin
	if h.reissued {
		h.reissued = false
		return true
	}
	h.in = true
	j.cfg.OnStdin(j)
	h.in = false
	if !h.pause {
		return true
	}
	h.pause = false
	if !j.startUnwind(ctx) {
		// No room to unwind: the requests have failed, the call goes on.
		return true
	}
	h.reissued = true
	return false
}

// SnapshotAtStdin, called from Config.OnStdin, pauses the program at the
// call OnStdin was called for, before it reads, to take a snapshot with
// opts. It does not wait: the snapshot, or the error, arrives on the
// returned channel once the program is captured, which is before Run
// returns when the snapshot stops the job. Called anywhere else, it
// returns a channel holding an error.
func (j *Job) SnapshotAtStdin(opts SnapshotOptions) <-chan SnapshotResult {
	out := make(chan SnapshotResult, 1)
	if !j.stdin.in {
		out <- SnapshotResult{Err: errNotAtStdin}
		return out
	}
	r := newRequest(opts)
	// Registered as Snapshot registers a request, so that a concurrent
	// Snapshot shares the pause; but the unwind starts from this call when
	// OnStdin returns, so the module's safepoints need not be asked.
	j.mu.Lock()
	j.addRequest(r, false)
	j.mu.Unlock()
	j.stdin.pause = true
	go func() {
		rep := <-r.reply
		out <- SnapshotResult{Snapshot: rep.snap, Err: rep.err}
	}()
	return out
}
