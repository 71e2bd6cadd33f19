package migrate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/supervise"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// retryAfter is how long a job whose policy has no interval waits before
// it tries again to move after a failure.
const retryAfter = 10 * time.Second

// runner runs one job on a host and moves it on by its policy.
type runner struct {
	h      *Host
	id     string
	hop    int // the hop that brought the job here (0: started here)
	policy Policy
	cfg    hostrt.Config
	local  bool // started here: may go wherever its route says
	job    *hostrt.Job
	closed bool // job is closed

	stdout, stderr *lineWriter
	// trigger asks the job to move now (POST /v1/jobs/ID/migrate).
	trigger chan supervise.Trigger
	enc     *snapshot.Encoder
	// peer is what the runner knows of the chunks of the host it last
	// sent chunks to.
	peer *peerChunks
	// store is the job's timeline in the shared store (stored.go), and
	// arrived what the manifest the job arrived by names there.
	store   *hostrt.Store
	arrived *snapshot.Refs
}

func (h *Host) newRunner(id string, hop int, p Policy, cfg hostrt.Config, local bool) *runner {
	r := &runner{h: h, id: id, hop: hop, policy: p, local: local,
		trigger: make(chan supervise.Trigger, 1), enc: snapshot.NewEncoder()}
	r.enc.Keys = h.cfg.Keys
	prefix := fmt.Sprintf("[%s %s] ", h.cfg.Name, id)
	r.stdout = newLineWriter(h.cfg.Stdout, prefix)
	r.stderr = newLineWriter(h.cfg.Stderr, prefix)
	cfg.Stdout, cfg.Stderr = r.stdout, r.stderr
	cfg.SnapshotFiles = true
	cfg.MaxMemory = h.cfg.MaxMemory
	if !local {
		// The files are this host's copies of the sender's.
		cfg.FileCheck = wasip1.CheckOtherHost
	}
	if cfg.Cache == nil {
		cfg.Cache = h.cfg.Cache
	}
	r.cfg = cfg
	return r
}

func (r *runner) logf(format string, args ...any) {
	r.h.Logf("job %s: "+format, append([]any{r.id}, args...)...)
}

// capture is a job paused to move.
type capture struct {
	snap       *snapshot.Snapshot
	target     string
	requested  time.Time
	moduleSent bool
	// preCopied is how many bytes of chunks were sent ahead.
	preCopied int64
	// chunks is how many chunks the move sent (or wrote to the store),
	// and stored says that it went through the store.
	chunks int
	stored bool
	// byChunks says that the peer does not share the store.
	byChunks bool
}

// mover waits for the time (or a trigger) to move the job, gets the
// peer ready and pauses the job; Run then returns ErrStopped.
type mover struct {
	stopc    chan struct{}
	done     chan struct{}
	captured *capture
	// failed is the mover's panic, after which it stopped the job.
	failed error
}

// stop ends the mover and returns what it captured, if anything, or its
// failure.
func (m *mover) stop() (*capture, error) {
	close(m.stopc)
	<-m.done
	return m.captured, m.failed
}

// moveDue is the mover's alarm: the policy's time to move has come.
var moveDue = supervise.Trigger{Reason: "the time to move"}

// startMover starts a mover that first acts after delay (never when
// negative, unless triggered).
func (r *runner) startMover(ctx context.Context, delay time.Duration) *mover {
	m := &mover{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-m.stopc:
				cancel()
			case <-ctx.Done():
			}
		}()
		sched := supervise.NewSchedule(supervise.RealClock, r.trigger)
		defer sched.Stop()
		defer func() {
			if p := recover(); p != nil {
				// The job can move no more, and may be in a bad state:
				// stop it, so that it ends as failed.
				m.failed = panicError(p)
				protect(func() error {
					_, err := r.job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: "internal error", StopAlways: true})
					return err
				})
			}
		}()
		sched.After(delay, moveDue)
		for {
			if _, ok := sched.Wait(ctx); !ok {
				return
			}
			target, ok := r.policy.target()
			if !ok {
				sched.After(-1, moveDue)
				continue
			}
			if !r.h.allowed(target, r.local) {
				r.logf("stays here: %s is not a peer of this host", quoted(target))
				sched.After(-1, moveDue)
				continue
			}
			sum := r.job.ModuleSHA256()
			sent, err := r.h.client.EnsureModule(ctx, target, sum, r.cfg.Module)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.logf("cannot move to %s: %s; continuing here", quoted(target), errLine(err))
				sched.After(r.retry(), moveDue)
				continue
			}
			if sent {
				r.logf("module %x sent to %s", sum[:8], quoted(target))
			}
			var preCopied int64
			if r.h.store != nil {
				preCopied, err = r.preCopyStore(ctx)
			} else {
				preCopied, err = r.preCopy(ctx, target)
			}
			if err != nil {
				if errors.Is(err, hostrt.ErrNotRunning) || ctx.Err() != nil {
					return
				}
				r.logf("cannot move to %s: %s; continuing here", quoted(target), errLine(err))
				sched.After(r.retry(), moveDue)
				continue
			}
			requested := time.Now()
			injectFault(r.h.cfg.Name, "move")
			snap, err := r.job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: "migrate to " + target, Stop: true})
			if err != nil {
				if errors.Is(err, hostrt.ErrNotRunning) || ctx.Err() != nil {
					return
				}
				r.logf("cannot pause to move: %s", errLine(err))
				sched.After(r.retry(), moveDue)
				continue
			}
			m.captured = &capture{snap: snap, target: target, requested: requested, moduleSent: sent, preCopied: preCopied}
			return
		}
	}()
	return m
}

// Pre-copy: before a job pauses to move, snapshots taken while it runs
// send their chunks ahead, each round what changed during the one before,
// so that the pause covers only what changed during the last round.
// Rounds stop when one sends less than preCopyEnough, or after
// preCopyRounds.
const (
	preCopyRounds = 3
	preCopyEnough = 1 << 20
)

// preCopy sends the job's chunks ahead to target, and returns how many
// bytes it sent. A failed round is logged and ends the pre-copy (the move
// sends what is missing); an error means the job cannot move there.
func (r *runner) preCopy(ctx context.Context, target string) (int64, error) {
	if r.peer == nil || r.peer.target != target {
		r.peer = newPeerChunks(target)
	}
	var total int64
	for round := 1; round <= preCopyRounds; round++ {
		start := time.Now()
		snap, err := r.job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: "pre-copy to " + target})
		if err != nil {
			return total, err
		}
		paused := snap.Meta.Paused
		chunks, size, err := r.peer.preCopy(ctx, r.h.client, r.enc, snap)
		r.job.Recycle(snap)
		var ref *RefusedError
		if errors.As(err, &ref) && ref.Code == codeProtocol || ctx.Err() != nil {
			return total, err
		}
		if err != nil {
			r.peer.forget()
			r.logf("pre-copy to %s failed: %s; moving without it", quoted(target), errLine(err))
			return total, nil
		}
		total += size
		r.logf("pre-copy %d to %s: %d chunks (%s) in %s (paused %s)", round, quoted(target), chunks, formatBytes(size), ms(time.Since(start)), ms(paused))
		if size < preCopyEnough {
			break
		}
	}
	return total, nil
}

func (r *runner) retry() time.Duration {
	if r.policy.Every > 0 {
		return r.policy.Every
	}
	return retryAfter
}

// firstDelay is how long a job that arrived runs before it moves on.
func (r *runner) firstDelay() time.Duration {
	if r.policy.Every > 0 && len(r.policy.Route) > 0 {
		return r.policy.Every
	}
	return -1
}

// run runs the job until it ends or moves away; first is the delay before
// the first move. A panic in anything it calls fails the job.
func (r *runner) run(ctx context.Context, first time.Duration) (out *Outcome, err error) {
	var m *mover // while it runs
	defer func() {
		if p := recover(); p != nil {
			err = panicError(p)
			if m != nil {
				m.stop()
			}
			r.stdout.Flush()
			r.stderr.Flush()
			r.closeJob(ctx)
			r.end(0, err)
			out = nil
		}
	}()
	delay := first
	for {
		m = r.startMover(ctx, delay)
		injectFault(r.h.cfg.Name, "run")
		exit, runErr := r.job.Run(ctx)
		c, moveErr := m.stop()
		m = nil
		r.stdout.Flush()
		r.stderr.Flush()
		if moveErr != nil {
			if errors.Is(runErr, hostrt.ErrStopped) {
				runErr = moveErr
			} else {
				r.logf("could not move: %s", errLine(moveErr))
			}
		}
		if errors.Is(runErr, hostrt.ErrStopped) && c != nil {
			r.closeJob(ctx)
			moved, serr := r.send(ctx, c)
			if serr != nil {
				r.end(0, serr)
				return nil, serr
			}
			if moved != nil {
				return moved, nil
			}
			job, rerr := hostrt.Restore(ctx, r.cfg, c.snap)
			if rerr != nil {
				err = fmt.Errorf("restoring here after the failed move: %w", rerr)
				r.end(0, err)
				return nil, err
			}
			r.job, r.closed = job, false
			r.logf("continues here from where it paused")
			delay = r.retry()
			continue
		}
		r.closeJob(ctx)
		r.end(exit, runErr)
		if runErr != nil {
			return nil, runErr
		}
		return &Outcome{ID: r.id, Hop: r.hop, Exit: exit}, nil
	}
}

// closeJob closes the job, once; the job is over either way, so a panic
// in Close is only logged.
func (r *runner) closeJob(ctx context.Context) {
	if r.closed {
		return
	}
	r.closed = true
	if err := protect(func() error { return r.job.Close(ctx) }); errors.Is(err, errInternal) {
		r.logf("closing: %s", errLine(err))
	}
}

// send sends a captured job to its target and returns the outcome, or nil
// if the job did not arrive (it is then up to the caller to continue it).
// An error is an internal one: the job fails.
func (r *runner) send(ctx context.Context, c *capture) (*Outcome, error) {
	sum := r.job.ModuleSHA256()
	hdr := &Header{ID: r.id, Hop: r.hop + 1, From: r.h.cfg.Name, Module: hex.EncodeToString(sum[:]), Policy: r.policy.advanced()}
	cl := r.h.client
	acc, n, err := r.sendJob(ctx, c, hdr)
	var ref *RefusedError
	for retried := map[string]bool{}; errors.As(err, &ref) && !retried[ref.Code]; {
		retried[ref.Code] = true
		switch ref.Code {
		case codeModuleUnknown:
			// The peer lost the module since it said it had it.
			if err = cl.PutModule(ctx, c.target, sum, r.cfg.Module); err != nil {
				continue
			}
			c.moduleSent = true
		case codeChunksMissing:
			// The peer lost chunks since it took them: send them all.
			r.peer.forget()
		default:
			continue
		}
		acc, n, err = r.sendJob(ctx, c, hdr)
	}
	if errors.Is(err, errInternal) {
		return nil, err
	}
	if err != nil && !errors.As(err, &ref) {
		// The connection broke: the job may have arrived all the same.
		if st, serr := cl.Status(ctx, c.target, r.id, 0, 0, ""); serr == nil && st.Hop >= hdr.Hop {
			r.logf("arrived on %s although its answer was lost (%s)", quoted(st.Host), errLine(err))
			acc, err = &Accepted{ID: r.id, Hop: st.Hop, Host: st.Host, Bytes: n}, nil
		}
	}
	if err != nil {
		r.logf("could not move to %s after %s paused: %s; continuing here", quoted(c.target), time.Since(c.requested).Round(time.Millisecond), errLine(err))
		return nil, nil
	}
	mig := Migration{ID: r.id, Hop: hdr.Hop, From: r.h.cfg.Name, To: acc.Host, Downtime: time.Since(c.requested),
		Pause: c.snap.Meta.Paused, Bytes: n, Chunks: c.chunks, PreCopied: c.preCopied, ModuleSent: c.moduleSent, Stored: c.stored, Accepted: *acc}
	upload := mig.Downtime - mig.Pause - acc.Decode - acc.Restore
	how := "encode and upload"
	if c.stored {
		how = "write to the store and send its name"
	}
	r.logf("moved to %s (%s) at hop %d: downtime %s = pause %s + %s %s (%s) + decode %s + restore %s there",
		quoted(acc.Host), quoted(c.target), hdr.Hop, ms(mig.Downtime), ms(mig.Pause), how, ms(upload), formatBytes(n), ms(acc.Decode), ms(acc.Restore))
	r.h.mu.Lock()
	if rec, ok := r.h.records[r.id]; ok && rec.runner == r {
		rec.runner = nil
		r.h.running--
		r.h.updateLocked(rec, func(s *Status) { s.State, s.Next = StateMigrated, c.target })
		r.h.pruneLocked()
	}
	r.h.mu.Unlock()
	if f := r.h.cfg.OnMigrated; f != nil {
		f(mig)
	}
	return &Outcome{ID: r.id, Moved: c.target, Hop: hdr.Hop}, nil
}

// sendManifest sends a captured job in protocol 2: its manifest with the
// chunks the peer is not known to have.
func (r *runner) sendManifest(ctx context.Context, c *capture, hdr *Header) (*Accepted, int64, error) {
	if r.peer == nil || r.peer.target != c.target {
		r.peer = newPeerChunks(c.target)
	}
	var manifest []byte
	err := protect(func() error {
		injectFault(r.h.cfg.Name, "encode")
		var err error
		manifest, err = r.peer.encode(ctx, r.enc, c.snap)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	c.chunks = len(r.peer.pending)
	return r.h.client.SendManifest(ctx, c.target, hdr, r.peer.pending, manifest, r.enc.Keys)
}

// sendJob sends a captured job through the shared store, or by its chunks
// to a peer that does not share it (or when there is none).
func (r *runner) sendJob(ctx context.Context, c *capture, hdr *Header) (*Accepted, int64, error) {
	if r.h.store != nil && !c.byChunks {
		acc, n, err := r.sendStored(ctx, c, hdr)
		var ref *RefusedError
		if !errors.As(err, &ref) || ref.Code != codeStoreDiffers && ref.Code != codeProtocol {
			c.stored = err == nil
			return acc, n, err
		}
		r.logf("%s does not share the store (%s): moving the job by its chunks", quoted(c.target), errLine(err))
		c.byChunks = true
	}
	return r.sendManifest(ctx, c, hdr)
}

// end records that the program ended here.
func (r *runner) end(exit uint32, err error) {
	if err != nil {
		r.logf("failed: %s", errLine(err))
	} else {
		r.logf("finished, exit %d (hop %d)", exit, r.hop)
	}
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	if rec, ok := r.h.records[r.id]; ok && rec.runner == r {
		rec.runner = nil
		r.h.running--
		r.h.updateLocked(rec, func(s *Status) {
			s.State, s.Exit, s.Next = StateFinished, exit, ""
			if err != nil {
				s.State, s.Error = StateFailed, errLine(err)
			}
		})
		r.h.pruneLocked()
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
