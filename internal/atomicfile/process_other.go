//go:build !unix

package atomicfile

// processRuns cannot tell here: every writer is taken to be running.
func processRuns(pid int) bool { return true }
