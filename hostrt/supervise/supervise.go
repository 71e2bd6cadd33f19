// Package supervise runs a hostrt job under a snapshot policy. Its one
// job is to decide when the job is snapshotted and where the snapshots
// go: at an interval, on the caller's triggers and at the program's first
// read of stdin; into a Sink (a hostrt.Store keeps the newest N); and
// whether the job stops after a snapshot. `wasmsr exec`, `wasmsr resume`
// and programs embedding hostrt run their jobs through it.
//
// It installs no signal handlers: a command turns the signals it wants
// into Triggers. Its time comes from a Clock, so that tests move time
// instead of sleeping. Package migrate's mover waits on the same
// Schedule for the time (or the request) to move a job.
package supervise

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// FirstStdinReason is the reason recorded in the snapshot of
// Policy.FirstStdin.
const FirstStdinReason = "first-stdin"

// Sink is where a supervisor's snapshots go. *hostrt.Store is one: it
// numbers the files and keeps the newest N.
type Sink interface {
	// Write writes the snapshot and returns where it went. Its errors
	// name that place.
	Write(*snapshot.Snapshot) (path string, err error)
}

// Policy says when a supervised job is snapshotted, where the snapshots
// go and who hears of them.
type Policy struct {
	// Every takes a snapshot at this interval (0: never).
	Every time.Duration
	// Triggers take a snapshot each; those that come while one is taken
	// make one snapshot after it. The supervisor stops reading them when
	// the channel is closed.
	Triggers <-chan Trigger
	// FirstStdin takes a snapshot when the program first reads stdin in
	// this job, before the read takes anything (it sets Config.OnStdin;
	// see hostrt.Job.SnapshotAtStdin).
	FirstStdin bool
	// StopAfter stops the job after its first snapshot, whatever took it.
	StopAfter bool
	// Sink is where snapshots go; a policy that takes any needs one.
	Sink Sink
	// OnSnapshot, if not nil, hears of every snapshot written, and where;
	// OnError of every one that could not be taken or written. They are
	// called one at a time.
	OnSnapshot func(path string, snap *snapshot.Snapshot)
	OnError    func(error)
	// Clock times Every (nil: RealClock).
	Clock Clock
}

// TakesSnapshots reports whether the policy may take a snapshot, and so
// needs a Sink.
func (p Policy) TakesSnapshots() bool {
	return p.Every > 0 || p.Triggers != nil || p.FirstStdin
}

// Supervisor is a job and its policy.
type Supervisor struct {
	job *hostrt.Job
	p   Policy
	// atStdin waits for the first-stdin snapshot to be saved.
	atStdin sync.WaitGroup

	mu sync.Mutex
	// written is the last snapshot written: requests that shared a
	// pause get the same one, written once.
	written *snapshot.Snapshot
	// failed is the last snapshot that could not be taken or written.
	failed error
	// stoppedBy is the trigger of the snapshot that stopped the job.
	stoppedBy Trigger
}

// Result is how a supervised job ended.
type Result struct {
	// Exit is the program's exit code, when it exited.
	Exit uint32
	// Stopped is set when a snapshot stopped the job.
	Stopped bool
	// StoppedBy is the trigger of that snapshot. Its Stop is false when
	// the job stopped only because of Policy.StopAfter: a caller can tell
	// a stop it asked for up front from one that came from outside (a
	// preemption, say).
	StoppedBy Trigger
}

// Start starts the job cfg describes, or restores it from a snapshot
// when from is not nil; Run runs it under the policy.
func Start(ctx context.Context, cfg hostrt.Config, from *snapshot.Snapshot, p Policy) (*Supervisor, error) {
	if p.TakesSnapshots() && p.Sink == nil {
		return nil, errors.New("supervise: the policy takes snapshots but has no Sink")
	}
	s := &Supervisor{p: p}
	if p.FirstStdin {
		cfg.OnStdin = s.firstStdin(p.StopAfter)
	}
	var err error
	if from != nil {
		s.job, err = hostrt.Restore(ctx, cfg, from)
	} else {
		s.job, err = hostrt.Start(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// firstStdin is the OnStdin of a job snapshotted at its first stdin read:
// the program pauses right there, and the snapshot is saved once captured.
func (s *Supervisor) firstStdin(stop bool) func(*hostrt.Job) {
	fired := false
	return func(j *hostrt.Job) {
		if fired {
			return
		}
		fired = true
		res := j.SnapshotAtStdin(hostrt.SnapshotOptions{Reason: FirstStdinReason, Stop: stop})
		s.atStdin.Add(1)
		go func() {
			defer s.atStdin.Done()
			r := <-res
			s.save(context.Background(), Trigger{Reason: FirstStdinReason}, stop, r.Snapshot, r.Err)
		}()
	}
}

// Run runs the job to its end under the policy. When a snapshot stopped
// the job, the error is that of the last snapshot that failed, if any:
// the job's state may be lost. When ctx ends, the job is stopped (at its
// next pause point) without a snapshot, and Run returns ctx's error.
func (s *Supervisor) Run(ctx context.Context) (Result, error) {
	running, ended := context.WithCancel(ctx)
	// Set before the job runs, so that its time counts from now.
	sched := NewSchedule(s.p.Clock, s.p.Triggers)
	sched.Every(s.p.Every, Trigger{Reason: "every " + s.p.Every.String()})
	looped := make(chan struct{})
	go func() {
		defer close(looped)
		s.loop(ctx, running, sched)
	}()
	// The job does not hear of ctx: its blocked reads would fail, and
	// the program see an error. The loop stops it instead.
	exit, err := s.job.Run(context.WithoutCancel(ctx))
	ended()
	<-looped
	s.atStdin.Wait()
	switch {
	case errors.Is(err, hostrt.ErrStopped) && ctx.Err() != nil:
		return Result{}, ctx.Err()
	case errors.Is(err, hostrt.ErrStopped):
		s.mu.Lock()
		defer s.mu.Unlock()
		return Result{Stopped: true, StoppedBy: s.stoppedBy}, s.failed
	case err != nil:
		return Result{}, err
	}
	return Result{Exit: exit}, nil
}

// loop takes the snapshots the schedule asks for while the job runs.
func (s *Supervisor) loop(ctx, running context.Context, sched *Schedule) {
	defer sched.Stop()
	for {
		t, ok := sched.Wait(running)
		if !ok {
			break
		}
		stop := t.Stop || s.p.StopAfter
		snap, err := s.job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: t.Reason, Stop: stop})
		s.save(ctx, t, stop, snap, err)
	}
	if ctx.Err() != nil {
		// The caller gave up on the job: stop it, keeping nothing (a
		// Trigger with Stop is how to end a job and keep it).
		snap, err := s.job.Snapshot(context.WithoutCancel(ctx), hostrt.SnapshotOptions{Reason: "canceled", StopAlways: true})
		if err == nil {
			s.job.Recycle(snap)
		}
	}
}

// save writes a snapshot the job took for trigger t, stopping it when
// stop is set, or reports why it could not.
func (s *Supervisor) save(ctx context.Context, t Trigger, stop bool, snap *snapshot.Snapshot, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stop && err == nil {
		s.stoppedBy = t
	}
	switch {
	case errors.Is(err, hostrt.ErrNotRunning) || errors.Is(err, hostrt.ErrStopped):
		// The program ended, or another snapshot stopped it.
		return
	case err != nil && ctx.Err() != nil:
		// Run is ending the job.
		return
	case err == nil && snap == s.written:
		return
	}
	if err == nil {
		var path string
		if path, err = s.p.Sink.Write(snap); err == nil && s.p.OnSnapshot != nil {
			s.p.OnSnapshot(path, snap)
		}
		s.written = snap
		s.job.Recycle(snap)
	}
	if err != nil {
		s.failed = err
		if s.p.OnError != nil {
			s.p.OnError(err)
		}
	}
}

// Close releases the job.
func (s *Supervisor) Close(ctx context.Context) error { return s.job.Close(ctx) }
