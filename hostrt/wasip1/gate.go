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

// pausing is the gate's pause channel, or nil (never ready) without a gate.
func (w *WASI) pausing() <-chan struct{} {
	if w.gate == nil {
		return nil
	}
	return w.gate.Pausing()
}
