package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wasmsr/wasmsr/internal/s3test"
)

// preemptStep is one process of a job that a signal stops: it is given
// one line of input, and signalled once it has echoed it.
type preemptStep struct {
	args []string
	sig  syscall.Signal
	// line is what the step's stderr ends with (after the snapshot
	// report), code its exit status.
	line string
	code int
}

// TestPreemptExitStatus: a job stopped by a signal given to --snapshot-on
// exits with exitPreempted and says so in one line, from exec and from
// resume alike; a stop asked for up front (--stop-after-snapshot) is a
// success. Each process echoes one line of input; the last one runs to the
// end, and what the processes printed together is the uninterrupted run's
// output.
func TestPreemptExitStatus(t *testing.T) {
	module := instrumentedGuest(t, "e2e/echo.wasm")
	bucket := s3test.Start(t)
	dir := filepath.Join(t.TempDir(), "snaps")
	stopped := func(sig, store string) string {
		return fmt.Sprintf("wasmsr: stopped by %s after a snapshot, exit status 75; continue with: wasmsr resume %s", sig, store)
	}
	for _, tc := range []struct {
		name  string
		store string
		steps []preemptStep
	}{
		{"SIGTERM on S3, twice", bucket, []preemptStep{
			{[]string{"exec", "--snapshot-on", "SIGTERM", "--snapshot-dir", bucket, module}, syscall.SIGTERM, stopped("SIGTERM", bucket), exitPreempted},
			{[]string{"resume", "--snapshot-on", "SIGTERM", bucket}, syscall.SIGTERM, stopped("SIGTERM", bucket), exitPreempted},
		}},
		{"SIGINT", dir, []preemptStep{
			{[]string{"exec", "--snapshot-on", "SIGINT", "--snapshot-dir", dir, module}, syscall.SIGINT, stopped("SIGINT", dir), exitPreempted},
		}},
		{"stop after a snapshot", dir + "2", []preemptStep{
			{[]string{"exec", "--snapshot-on", "SIGUSR1", "--stop-after-snapshot", "--snapshot-dir", dir + "2", module}, syscall.SIGUSR1,
				"wasmsr: stopped; continue with: wasmsr resume " + dir + "2", 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := strings.SplitAfter(echoLines, "\n")
			var stdout strings.Builder
			for i, step := range tc.steps {
				stdout.WriteString(runPreemptStep(t, step, i, lines[i]))
			}
			rest := strings.Join(lines[len(tc.steps):], "")
			out, errOut, code := runCLIWithStdin(t, pipeStdin, rest, "resume", "-q", tc.store)
			if code != 0 || errOut != "" {
				t.Fatalf("the last resume: exit %d, stderr %q", code, errOut)
			}
			stdout.WriteString(out)
			sameBytes(t, "stdout of all the processes", []byte(stdout.String()), []byte(echoReference(t, echoLines)))
		})
	}
}

// runPreemptStep runs the i-th process of a job: it writes line to its
// stdin, waits for the echo, sends the signal and checks how the process
// ended. It returns what the process wrote to stdout.
func runPreemptStep(t *testing.T, step preemptStep, i int, line string) string {
	t.Helper()
	cmd := command(t, step.args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	io.WriteString(stdin, line)
	// The echo of the line shows that the job runs (its signal handler is
	// installed); waitIdle, that it is back in its read.
	stdout := bufio.NewReader(pipe)
	var out strings.Builder
	want := fmt.Sprintf("%d: %s", i+1, line)
	for !strings.HasSuffix(out.String(), want) {
		s, err := stdout.ReadString('\n')
		out.WriteString(s)
		if err != nil {
			t.Fatalf("%s: stdout %q (%v), waited for %q; stderr:\n%s", step.args[0], out.String(), err, want, stderr.String())
		}
	}
	waitIdle(t, cmd.Process.Pid)
	if err := cmd.Process.Signal(step.sig); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(stdout)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(rest)
	code := exitCode(t, cmd.Wait(), &stderr)
	got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if code != step.code || len(got) != 2 || !strings.HasPrefix(got[0], "wasmsr: snapshot ") || got[1] != step.line {
		t.Fatalf("%s: exit %d, stderr:\n%s\nwant exit %d, a snapshot line, then\n%s", step.args[0], code, stderr.String(), step.code, step.line)
	}
	return out.String()
}
