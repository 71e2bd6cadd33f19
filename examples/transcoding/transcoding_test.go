package transcoding_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
	"github.com/wasmsr/wasmsr/examples/internal/ffmpegtest"
)

// Set by TestMain; skip says why the tests cannot run. instrumented is
// made with --safepoints=calls, as run.sh makes it (FFmpeg calls WASI for
// every packet, so a pause is served at the next call), instrumentedLoops
// with the default, safepoints at loop headers too.
var (
	wasmsr, plain, instrumented, instrumentedLoops string
	skip                                           string
)

func TestMain(m *testing.M) { extest.Main(m, "transcoding", setup) }

func setup(dir string) error {
	var err error
	if plain, skip, err = ffmpegtest.Find(); err != nil || skip != "" {
		return err
	}
	if wasmsr, err = extest.BuildWasmsr(dir); err != nil {
		return err
	}
	instrumented = filepath.Join(dir, "ffmpeg.sr.wasm")
	instrumentedLoops = filepath.Join(dir, "ffmpeg.loops.sr.wasm")
	for out, safepoints := range map[string]string{instrumented: "calls", instrumentedLoops: "loops"} {
		start := time.Now()
		if b, err := exec.Command(wasmsr, "instrument", "--safepoints", safepoints, plain, "-o", out).CombinedOutput(); err != nil {
			return fmt.Errorf("wasmsr instrument --safepoints %s: %v\n%s", safepoints, err, b)
		}
		fmt.Fprintf(os.Stderr, "transcoding: instrumented %s with --safepoints=%s in %v\n", ffmpegtest.Path, safepoints, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func needFFmpeg(t *testing.T) {
	if skip != "" {
		t.Skip(skip)
	}
}

// reference transcodes with the uninstrumented module on plain wazero and
// its own WASI (no wasmsr code), as the wazero command would, and returns
// the output file. The result is computed once.
var referenceOnce struct {
	avi []byte
	err error
	ran bool
}

func reference(t *testing.T) []byte {
	t.Helper()
	r := &referenceOnce
	if !r.ran {
		r.ran = true
		r.avi, r.err = runReference(t)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.avi
}

func runReference(t *testing.T) ([]byte, error) {
	avi, took, err := ffmpegtest.Reference(plain, t.TempDir())
	t.Logf("reference (uninstrumented, wazero's WASI): %v", took.Round(time.Millisecond))
	return avi, err
}

// execArgs is `wasmsr exec` of an instrumented module writing into out.
func execArgs(module, out, snaps string) []string {
	return append([]string{"exec", module, "--snapshot-every", "2s", "--keep", "0",
		"--snapshot-dir", snaps, "--mount", out + ":/out", "--"}, ffmpegtest.Args...)
}

func sameFile(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		t.Logf("%s: %d bytes, sha256 %x, identical to the reference", what, len(got), sha256.Sum256(got))
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: %d bytes, the reference %d; they differ from byte %d", what, len(got), len(want), i)
}

// With a snapshot every 2 s, the instrumented FFmpeg's output is byte for
// byte the uninstrumented one's, and the snapshots have the output file
// open for writing; with safepoints at calls only and at loops too.
func TestSnapshotsEvery2s(t *testing.T) {
	needFFmpeg(t)
	want := reference(t)
	t.Run("calls", func(t *testing.T) { checkSnapshotsEvery2s(t, instrumented, want) })
	t.Run("loops", func(t *testing.T) { checkSnapshotsEvery2s(t, instrumentedLoops, want) })
}

func checkSnapshotsEvery2s(t *testing.T, module string, want []byte) {
	out, snaps := t.TempDir(), t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(wasmsr, execArgs(module, out, snaps)...)
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("wasmsr exec: %v\n%s", err, stderr.String())
	}
	lines := extest.SnapshotLines(stderr.String())
	t.Logf("instrumented, snapshots every 2 s: %v, %d snapshots", time.Since(start).Round(time.Millisecond), len(lines))
	for _, l := range lines {
		t.Log(l)
	}
	if len(lines) == 0 {
		t.Fatalf("no snapshot was taken:\n%s", stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(out, "a.avi"))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, "a.avi", got, want)

	report, err := exec.Command(wasmsr, "inspect", filepath.Join(snaps, "snapshot-000001.wsm")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "file /out/a.avi (") {
		t.Errorf("the first snapshot does not have /out/a.avi open:\n%s", report)
	}
}

// SIGKILL at a random moment after the first snapshot, then `wasmsr
// resume` from the newest snapshot in a new process: the output file ends
// byte for byte the uninstrumented one's. WASMSR_SEED=N repeats a moment.
func TestKillAndResume(t *testing.T) {
	needFFmpeg(t)
	want := reference(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WASMSR_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	// The kill comes up to 1.5 s after the first snapshot (2 s in).
	delay := time.Duration(mrand.New(mrand.NewPCG(seed, 0)).Int64N(int64(1500 * time.Millisecond)))
	t.Logf("seed %d (WASMSR_SEED=%d repeats it): kill %v after the first snapshot", seed, seed, delay.Round(time.Millisecond))

	out, snaps := t.TempDir(), t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(wasmsr, execArgs(instrumented, out, snaps)...)
	cmd.Stderr = &stderr
	killed, err := extest.KillAfterFile(cmd, filepath.Join(snaps, "snapshot-000001.wsm"), delay)
	if err != nil {
		t.Fatalf("wasmsr exec: %v\n%s", err, stderr.String())
	}
	if !killed {
		t.Fatalf("the transcode ended before the kill: this machine is faster than the clip is long; lengthen it\n%s", stderr.String())
	}
	lines := extest.SnapshotLines(stderr.String())
	for _, l := range lines {
		t.Log(l)
	}
	if partial, err := os.Stat(filepath.Join(out, "a.avi")); err == nil {
		t.Logf("killed with a.avi at %d of %d bytes", partial.Size(), len(want))
	}

	stderr.Reset()
	resume := exec.Command(wasmsr, "resume", snaps, "--mount", out+":/out")
	resume.Stderr = &stderr
	start := time.Now()
	if err := resume.Run(); err != nil {
		t.Fatalf("wasmsr resume: %v\n%s", err, stderr.String())
	}
	t.Logf("resumed from the newest snapshot in %v", time.Since(start).Round(time.Millisecond))
	got, err := os.ReadFile(filepath.Join(out, "a.avi"))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, "a.avi after kill and resume", got, want)
}
