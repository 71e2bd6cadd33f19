package wasip1

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// Gate lets the host runtime pause the guest at WASI calls.
type Gate interface {
	// Enter is called first by every WASI function except proc_exit. It returns false when the
	// function must return at once without any effect (the host has just started an unwind;
	// the guest discards the results and will call the function again after the rewind).
	Enter(ctx context.Context, mod api.Module) bool
	// Pausing returns a channel that is closed when a pause has been requested; blocking calls
	// select on it.
	Pausing() <-chan struct{}
	// Interrupt is called by a blocking call that gave up because Pausing fired; it starts the
	// unwind and reports whether it did. The function then returns at once without effect, and is
	// re-issued after the rewind; when no unwind started, it goes on waiting (Pausing must then
	// return a channel that is not closed).
	Interrupt(ctx context.Context, mod api.Module) bool
}

// StdinGate is a Gate that is also told when the guest is about to read
// its stdin, so that the host can pause it there: for instance to snapshot
// a program once it has initialised and first waits for input.
type StdinGate interface {
	Gate
	// EnterStdin is called after Enter has let run a call that reads from
	// the stdin descriptor or waits for it to be readable (fd_read of it,
	// poll_oneoff with an fd_read subscription on it), before the call
	// does anything: no byte is taken and no time counted yet. Like Enter,
	// it returns false when the call must return at once without effect
	// (the host has started an unwind; the guest issues the call again
	// after the rewind, when EnterStdin is called again).
	EnterStdin(ctx context.Context, mod api.Module) bool
}

// pausing is the gate's pause channel, or nil (never ready) without a gate.
func (w *WASI) pausing() <-chan struct{} {
	if w.gate == nil {
		return nil
	}
	return w.gate.Pausing()
}
