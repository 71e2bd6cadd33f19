package migrate

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
)

// A host runs many jobs in one process, and code that a crafted job or
// request reaches (decoding, restoring, running, encoding) may have bugs
// that panic. A panic in a goroutine ends the process, and every job on
// the host with it; so each goroutine this package starts for a job, and
// each request handler, turns a panic into an error: the job fails (or
// the request is answered 500), with one log line that says where.

// errInternal marks a panic turned into an error.
var errInternal = errors.New("internal error")

// panicError turns a recovered panic into a one-line error naming the
// function that panicked. It must be called from the deferred function
// that recovered.
func panicError(p any) error {
	return fmt.Errorf("%w: %s%s", errInternal, errLine(fmt.Errorf("%v", p)), panicSite())
}

// panicSite finds the function that panicked in the stack of a deferred
// call running for the panic: the first frame below runtime.gopanic that
// is not the runtime's own.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			return fmt.Sprintf(" (in %s, %s:%d)", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

// protect runs f and turns a panic in it into an error.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(p)
		}
	}()
	return f()
}

// faultHook, when a test sets it, is called with the host's name at
// named points of the code that serves a job ("prepare", "receive", "run",
// "move", "encode"), to inject a panic there.
var faultHook atomic.Pointer[func(host, point string)]

func injectFault(host, point string) {
	if f := faultHook.Load(); f != nil {
		(*f)(host, point)
	}
}
