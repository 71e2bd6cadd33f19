package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResumeFork resumes one snapshot of echo (paused before its first
// read) twice, each with --timeline, into timelines of its store: both give
// the uninterrupted output, each writes its own snapshot under its name,
// the snapshot they came from stays the store's newest, STORE/NAME
// locates a fork's newest, and a name already used is refused.
func TestResumeFork(t *testing.T) {
	module := instrumentedGuest(t, "e2e/echo.wasm")
	snaps := filepath.Join(t.TempDir(), "snaps")
	if _, stderr, code := runCLIWithStdin(t, noStdin, "", "exec", "-q", "--snapshot-on", "first-stdin", "--stop-after-snapshot",
		"--snapshot-dir", snaps, module); code != 0 || stderr != "" {
		t.Fatalf("exec: exit %d, stderr %q", code, stderr)
	}
	want := strings.TrimPrefix(echoReference(t, echoLines), echoBanner)
	for _, name := range []string{"one", "two"} {
		stdout, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, "resume", "-q", "--timeline", name, "--snapshot-on", "first-stdin", snaps)
		if code != 0 || stderr != "" || stdout != want {
			t.Fatalf("resume --timeline %s: exit %d, stdout %q, stderr %q; want stdout %q", name, code, stdout, stderr, want)
		}
		if got := snapshotNames(t, filepath.Join(snaps, name)); fmt.Sprint(got) != "[snapshot-000002.wsm]" {
			t.Errorf("timeline %s: %v, want [snapshot-000002.wsm]", name, got)
		}
	}
	if got := snapshotNames(t, snaps); fmt.Sprint(got) != "[snapshot-000001.wsm]" {
		t.Errorf("the default timeline: %v, want [snapshot-000001.wsm] as it was", got)
	}
	one := filepath.Join(snaps, "one")
	if text, stderr, code := runCLI(t, "inspect", one); code != 0 || !strings.HasPrefix(text, filepath.Join(one, "snapshot-000002.wsm")+": wasmsr snapshot 2,") {
		t.Errorf("inspect %s: exit %d, stderr %q, stdout begins %q; want its snapshot 2", one, code, stderr, text[:min(len(text), 120)])
	}
	_, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, "resume", "--timeline", "two", "--snapshot-on", "first-stdin", snaps)
	if want := fmt.Sprintf("wasmsr: %s: timeline \"two\" already has snapshots: choose another name, or resume it\n", snaps); code != 1 || stderr != want {
		t.Errorf("a used name: exit %d, stderr %q; want %q", code, stderr, want)
	}
	if _, err := os.Stat(filepath.Join(snaps, "timelines", "one")); err != nil {
		t.Error(err)
	}
}
