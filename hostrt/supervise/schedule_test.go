package supervise_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/hostrt/supervise"
)

// testCache is shared by the tests' jobs, so each module compiles once.
var testCache = wazero.NewCompilationCache()

// Wait merges the triggers waiting, in favour of one that stops; the
// alarm goes off at its time only.
func TestScheduleWait(t *testing.T) {
	a, b, stop := supervise.Trigger{Reason: "a"}, supervise.Trigger{Reason: "b"}, supervise.Trigger{Reason: "stop", Stop: true}
	for _, tc := range []struct {
		name   string
		queued []supervise.Trigger
		want   supervise.Trigger
	}{
		{"one", []supervise.Trigger{a}, a},
		{"two: the first", []supervise.Trigger{a, b}, a},
		{"a stop wins", []supervise.Trigger{a, stop, b}, stop},
		{"the first stop", []supervise.Trigger{stop, {Reason: "stop 2", Stop: true}}, stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			triggers := make(chan supervise.Trigger, len(tc.queued))
			for _, tr := range tc.queued {
				triggers <- tr
			}
			s := supervise.NewSchedule(&fakeClock{}, triggers)
			if got, ok := s.Wait(context.Background()); !ok || got != tc.want {
				t.Errorf("Wait: %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}

// An alarm set with After goes off once, at its time; a closed trigger
// channel is no trigger.
func TestScheduleAlarm(t *testing.T) {
	clock := &fakeClock{}
	triggers := make(chan supervise.Trigger)
	s := supervise.NewSchedule(clock, triggers)
	defer s.Stop()
	s.After(5*time.Second, supervise.Trigger{Reason: "due"})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan supervise.Trigger, 10)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		for {
			t, ok := s.Wait(ctx)
			if !ok {
				return
			}
			select {
			case got <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	clock.Advance(4 * time.Second)
	close(triggers)
	clock.Advance(time.Hour)
	cancel()
	<-waited
	close(got)
	var all []supervise.Trigger
	for tr := range got {
		all = append(all, tr)
	}
	if want := []supervise.Trigger{{Reason: "due"}}; !slices.Equal(all, want) {
		t.Errorf("got %+v, want %+v", all, want)
	}
}
