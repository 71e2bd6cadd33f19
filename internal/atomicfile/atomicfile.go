// Package atomicfile writes files that readers see whole or not at all, and
// cleans up after the writers that were killed before they finished.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tempMarker separates a temporary file's target name from the writer's
// process id: ".NAME.tmp-PID-RANDOM".
const tempMarker = ".tmp-"

// Write writes the file at path through write: to a temporary file in the
// same directory, synced, then renamed over path, so that a crash leaves
// either the old file or the new one, never a torn one. The temporary
// file's name holds the writer's process id, so that RemoveStale can tell
// the leftovers of a crashed writer from a file being written.
func Write(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMarker+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	// The rename itself must reach the disk too.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// legacyTempAge is how old a temporary file without a process id (left by
// an older wasmsr) must be before RemoveStale takes it for a crashed
// writer's.
const legacyTempAge = 10 * time.Minute

// RemoveStale removes the temporary files that writers killed before
// they renamed them left in dir: those of processes that no longer run.
// It returns how many it removed.
func RemoveStale(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		_, rest, ok := strings.Cut(name, tempMarker)
		if !ok || !strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		pidText, _, withPID := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		switch {
		case withPID && err == nil:
			if processRuns(pid) {
				continue
			}
		default:
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < legacyTempAge {
				continue
			}
		}
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			removed++
		}
	}
	return removed, nil
}
