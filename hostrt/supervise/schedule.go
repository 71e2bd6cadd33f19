package supervise

import (
	"context"
	"time"
)

// Clock makes the timers a supervisor waits on: RealClock, or in tests a
// fake one that moves only when told.
type Clock interface {
	// NewTimer fires once, d from now.
	NewTimer(d time.Duration) Timer
	// NewTicker fires every d, dropping ticks its reader is too slow for.
	NewTicker(d time.Duration) Timer
}

// Timer is a timer or a ticker of a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop()
}

// RealClock is the time package's clock.
var RealClock Clock = realClock{}

type realClock struct{}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop()               { t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

func (realClock) NewTimer(d time.Duration) Timer  { return realTimer{time.NewTimer(d)} }
func (realClock) NewTicker(d time.Duration) Timer { return realTicker{time.NewTicker(d)} }

// Trigger asks a supervisor to act now: to take a snapshot, or to move
// the job on.
type Trigger struct {
	// Reason is recorded in the snapshot.
	Reason string
	// Stop ends the job after the snapshot; when it cannot be taken, the
	// job goes on (see hostrt.SnapshotOptions).
	Stop bool
}

// merge is the one trigger that stands for two that came while the
// supervisor was busy: it stops if either does, for the reason of the
// one that stops.
func merge(a, b Trigger) Trigger {
	if b.Stop && !a.Stop {
		return b
	}
	return a
}

// Schedule says when a supervisor acts: when its alarm goes off (once
// after a delay, or at an interval) and when a trigger comes. Triggers
// that pile up while the supervisor acts are merged into one; none is
// lost. Both Supervisor and the mover of package migrate wait on one.
// A Schedule belongs to the goroutine that waits on it.
type Schedule struct {
	clock    Clock
	triggers <-chan Trigger
	alarm    Timer
	fires    Trigger // what the alarm stands for
}

// NewSchedule makes a schedule of the triggers (nil: none) with no alarm
// set. A nil clock is RealClock.
func NewSchedule(clock Clock, triggers <-chan Trigger) *Schedule {
	if clock == nil {
		clock = RealClock
	}
	return &Schedule{clock: clock, triggers: triggers}
}

// After sets the alarm to go off once, d from now, as t (d < 0: never).
func (s *Schedule) After(d time.Duration, t Trigger) {
	s.Stop()
	if d >= 0 {
		s.alarm, s.fires = s.clock.NewTimer(d), t
	}
}

// Every sets the alarm to go off every d, as t (d <= 0: never). An
// alarm missed while the supervisor acts goes off once when it is done.
func (s *Schedule) Every(d time.Duration, t Trigger) {
	s.Stop()
	if d > 0 {
		s.alarm, s.fires = s.clock.NewTicker(d), t
	}
}

// Stop unsets the alarm.
func (s *Schedule) Stop() {
	if s.alarm != nil {
		s.alarm.Stop()
		s.alarm = nil
	}
}

// Wait waits for the alarm or a trigger, and returns it merged with the
// triggers already waiting; false when ctx ends first. An alarm set
// with After goes off once: Wait does not return for it again until it is
// set again.
func (s *Schedule) Wait(ctx context.Context) (Trigger, bool) {
	for {
		var alarm <-chan time.Time
		if s.alarm != nil {
			alarm = s.alarm.C()
		}
		var t Trigger
		select {
		case <-ctx.Done():
			return Trigger{}, false
		case <-alarm:
			t = s.fires
		case got, open := <-s.triggers:
			if !open {
				s.triggers = nil
				continue
			}
			t = got
		}
		for s.triggers != nil {
			select {
			case got, open := <-s.triggers:
				if !open {
					s.triggers = nil
					break
				}
				t = merge(t, got)
			default:
				return t, true
			}
		}
		return t, true
	}
}
