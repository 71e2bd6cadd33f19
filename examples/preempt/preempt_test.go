package preempt_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
	"github.com/wasmsr/wasmsr/examples/internal/ffmpegtest"
	"github.com/wasmsr/wasmsr/internal/s3test"
)

// Set by TestMain; skip says why the test cannot run.
var wasmsr, plain, instrumented, skip string

func TestMain(m *testing.M) { extest.Main(m, "preempt", setup) }

func setup(dir string) error {
	var err error
	if plain, skip, err = ffmpegtest.Find(); err != nil || skip != "" {
		return err
	}
	if wasmsr, err = extest.BuildWasmsr(dir); err != nil {
		return err
	}
	// As examples/transcoding: FFmpeg calls WASI for every packet, so a
	// pause is served soon at the next call.
	instrumented = filepath.Join(dir, "ffmpeg.sr.wasm")
	if b, err := exec.Command(wasmsr, "instrument", "--safepoints", "calls", plain, "-o", instrumented).CombinedOutput(); err != nil {
		return fmt.Errorf("wasmsr instrument: %v\n%s", err, b)
	}
	return nil
}

// gracePeriod is how long Kubernetes waits, by default, between its
// SIGTERM and its SIGKILL: a preempted node must have its snapshot in the
// bucket and have exited by then.
const gracePeriod = 30 * time.Second

// exitPreempted is the exit status of a job that --snapshot-on SIGTERM
// stopped (README.md, `wasmsr exec`).
const exitPreempted = 75

// node is one machine of the fleet: its own working directory, with the
// output directory mounted at /out and its own compilation cache, and no
// disk shared with the others; only the bucket is.
type node struct {
	name, dir string
}

func newNode(t *testing.T, name string) node {
	n := node{name: name, dir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(n.dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

// command is a wasmsr command run on the node; the AWS_* variables that
// reach the bucket come from the test's environment (s3test.Start).
func (n node) command(args ...string) *exec.Cmd {
	cmd := exec.Command(wasmsr, args...)
	cmd.Dir = n.dir
	cmd.Env = append(os.Environ(), "WASMSR_CACHE="+filepath.Join(n.dir, "cache"))
	return cmd
}

func (n node) output() string { return filepath.Join(n.dir, "out", ffmpegtest.Output) }

// preempt runs cmd on the node until its output file has grown to at
// least size bytes, then sends it SIGTERM, as a scheduler that takes the
// node back does. It checks that the job stopped with its snapshot saved,
// within the grace period, and returns how long that took.
func (n node) preempt(t *testing.T, cmd *exec.Cmd, size int64, store string) time.Duration {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		if fi, err := os.Stat(n.output()); err == nil && fi.Size() >= size {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("%s: wasmsr ended before %s reached %d bytes: %v\n%s", n.name, ffmpegtest.Output, size, err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	var err error
	select {
	case err = <-exited:
	case <-time.After(gracePeriod):
		cmd.Process.Kill()
		t.Fatalf("%s: still running %v after SIGTERM\n%s", n.name, gracePeriod, stderr.String())
	}
	took := time.Since(sent)
	code := -1
	if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
		code = ee.ExitCode()
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	want := fmt.Sprintf("wasmsr: stopped by SIGTERM after a snapshot, exit status %d; continue with: wasmsr resume %s", exitPreempted, store)
	if code != exitPreempted || lines[len(lines)-1] != want {
		t.Fatalf("%s: %v, stderr:\n%s\nwant exit status %d and last line\n%s", n.name, err, stderr.String(), exitPreempted, want)
	}
	for _, l := range extest.SnapshotLines(stderr.String()) {
		t.Logf("%s: %s", n.name, l)
	}
	t.Logf("%s: SIGTERM once %s had %d bytes or more; exited %d %v after it", n.name, ffmpegtest.Output, size, code, took.Round(time.Millisecond))
	return took
}

// FFmpeg transcodes on node 1, which is taken back (SIGTERM) a third of
// the way; node 2 resumes it from the bucket and is taken back two thirds
// of the way; node 3 resumes it and finishes. Its output equals the
// uninstrumented FFmpeg's, byte for byte. Each node snapshots every 2 s
// too, as a fleet's job would, against a node that dies without notice.
func TestPreemptTwice(t *testing.T) {
	if skip != "" {
		t.Skip(skip)
	}
	bucket := s3test.Start(t)
	want, took, err := ffmpegtest.Reference(plain, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reference (uninstrumented, wazero's WASI): %v, %d bytes", took.Round(time.Millisecond), len(want))
	policy := []string{"--snapshot-dir", bucket, "--snapshot-on", "SIGTERM", "--snapshot-every", "2s", "--snapshot-files", "--mount", "out:/out"}
	start := time.Now()

	node1 := newNode(t, "node 1")
	exec := node1.command(append(append([]string{"exec", instrumented}, policy...), append([]string{"--"}, ffmpegtest.Args...)...)...)
	node1.preempt(t, exec, int64(len(want)/3), bucket)

	node2 := newNode(t, "node 2")
	node2.preempt(t, node2.command(append([]string{"resume", bucket}, policy...)...), int64(len(want)*2/3), bucket)

	node3 := newNode(t, "node 3")
	resume := node3.command(append([]string{"resume", bucket}, policy...)...)
	var stderr bytes.Buffer
	resume.Stderr = &stderr
	if err := resume.Run(); err != nil {
		t.Fatalf("node 3: wasmsr resume: %v\n%s", err, stderr.String())
	}
	t.Logf("three nodes: %v", time.Since(start).Round(time.Millisecond))
	got, err := os.ReadFile(node3.output())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("node 3's %s: %d bytes, the reference %d; they differ from byte %d", ffmpegtest.Output, len(got), len(want), i)
	}
	t.Logf("node 3's %s: %d bytes, sha256 %x, identical to the reference", ffmpegtest.Output, len(got), sha256.Sum256(got))
}
