package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
)

// TestPreview1Snapshots runs testdata/e2e/preview1.c and preview1.rs (see
// hostrt/wasip1's TestPreview1) as a user would: without snapshots, with a
// snapshot every 5 ms, and stopped after each snapshot and resumed in a
// new process until they end, so that what their calls leave (dropped
// rights, renumbered and replaced preopens) has to survive a save and a
// restore. Their stdout must be the golden output each time.
func TestPreview1Snapshots(t *testing.T) {
	for _, name := range []string{"preview1", "preview1-rs"} {
		t.Run(name, func(t *testing.T) { preview1Snapshots(t, name) })
	}
}

func preview1Snapshots(t *testing.T, name string) {
	module := instrumentedGuest(t, "e2e/"+name+".wasm")
	want, err := os.ReadFile(filepath.Join(corpus.Root(t), "testdata", "e2e", name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		// resumes: stop after each snapshot and resume until the end.
		resumes bool
	}{
		{name: "no snapshots"},
		{name: "snapshot every 5ms", flags: []string{"--snapshot-every", "5ms"}},
		{name: "resumed after every snapshot", flags: []string{"--snapshot-every", "5ms", "--stop-after-snapshot"}, resumes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			work, snaps, stdoutPath := filepath.Join(dir, "work"), filepath.Join(dir, "snaps"), filepath.Join(dir, "stdout")
			if err := os.Mkdir(work, 0o755); err != nil {
				t.Fatal(err)
			}
			// run runs wasmsr and reports whether it stopped after a
			// snapshot rather than at the program's end.
			run := func(args ...string) (stopped bool) {
				// Appended to, as the shell's >>: a resume cuts it
				// back to where the snapshot left it.
				stdout, err := os.OpenFile(stdoutPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer stdout.Close()
				var stderr bytes.Buffer
				cmd := command(t, args...)
				cmd.Stdout, cmd.Stderr = stdout, &stderr
				if code := exitCode(t, cmd.Run(), &stderr); code != 0 {
					t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
				}
				return strings.Contains(stderr.String(), "wasmsr: stopped;")
			}
			flags := append([]string{"--snapshot-dir", snaps, "--mount", work + ":/work"}, tc.flags...)
			stopped := run(append(append([]string{"exec"}, flags...), module)...)
			rounds := 0
			for ; stopped; rounds++ {
				if rounds > 200 {
					t.Fatal("still not done after 200 resumes")
				}
				stopped = run(append(append([]string{"resume", "--truncate-output"}, flags[2:]...), snaps)...)
			}
			// The programs pause 4 or more times for 6 ms: snapshots
			// must fall between their steps, or the test proves little.
			t.Logf("%d resumes, snapshot %d the newest", rounds, newestSeq(snaps))
			if len(tc.flags) > 0 && newestSeq(snaps) < 3 {
				t.Errorf("only %d snapshots: the steps no longer leave time for snapshots between them", newestSeq(snaps))
			}
			got, err := os.ReadFile(stdoutPath)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("stdout after %d resumes differs from testdata/e2e/%s.stdout:\ngot:\n%s", rounds, name, got)
			}
		})
	}
}
