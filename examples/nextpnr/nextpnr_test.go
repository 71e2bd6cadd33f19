package nextpnr_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
)

// What scripts/fetch-corpus.sh puts in build/corpus/nextpnr (make
// corpus-nextpnr): the program, its chip database and the netlist.
const (
	corpusDir = "build/corpus/nextpnr"
	// Written by fetch-corpus.sh --allow-offline when npm cannot reach its
	// registry: the one reason to skip under make test.
	unavailableFile = "build/corpus/nextpnr.unavailable"
)

// nextpnr's result for testdata/corpus/ice40-mul32 with nextpnrArgs:
// deterministic, the same instrumented or not (testdata/corpus/README.md).
const (
	wantASCSize   = 11495338
	wantASCSHA256 = "d6118a1b67397154e168c5e4fabe21dc50c3cdcf1d8bad401e563ec93c4b63cc"
)

var nextpnrArgs = []string{"--hx8k", "--package", "ct256", "--json", "/in/top.json", "--asc", "/out/top.asc", "--seed", "7", "--freq", "3", "-q"}

// Set by TestMain; skip says why the tests cannot run.
var (
	wasmsr, instrumented, shareDir, inDir string
	skip                                  string
)

func TestMain(m *testing.M) { extest.Main(m, "nextpnr", setup) }

func setup(dir string) error {
	root, err := extest.Root()
	if err != nil {
		return err
	}
	corpus := filepath.Join(root, corpusDir)
	plain := filepath.Join(corpus, "nextpnr-ice40.core.wasm")
	shareDir, inDir = filepath.Join(corpus, "share"), filepath.Join(corpus, "in")
	if _, err := os.Stat(plain); err != nil {
		if reason, err := os.ReadFile(filepath.Join(root, unavailableFile)); err == nil {
			skip = "nextpnr-ice40 is not available: " + strings.TrimSpace(string(reason))
			return nil
		}
		skip = fmt.Sprintf("%s is missing: fetch it with `make corpus-nextpnr` (scripts/fetch-corpus.sh nextpnr: npm pack, cached after)", corpusDir)
		if os.Getenv("WASMSR_REQUIRE_NPM") == "1" {
			return errors.New("WASMSR_REQUIRE_NPM=1: " + skip)
		}
		return nil
	}
	if wasmsr, err = extest.BuildWasmsr(dir); err != nil {
		return err
	}
	instrumented = filepath.Join(dir, "nextpnr-ice40.sr.wasm")
	start := time.Now()
	if b, err := exec.Command(wasmsr, "instrument", plain, "-o", instrumented).CombinedOutput(); err != nil {
		return fmt.Errorf("wasmsr instrument %s: %v\n%s", plain, err, b)
	}
	fmt.Fprintf(os.Stderr, "nextpnr: instrumented %s with the default options in %v\n", filepath.Join(corpusDir, "nextpnr-ice40.core.wasm"), time.Since(start).Round(time.Millisecond))
	return nil
}

func needNextpnr(t *testing.T) {
	if skip != "" {
		t.Skip(skip)
	}
}

// mounts are the --mount options of a run writing into out.
func mounts(out string) []string {
	return []string{"--mount", shareDir + ":/share:ro", "--mount", inDir + ":/in:ro", "--mount", out + ":/out"}
}

// execArgs is `wasmsr exec` of the instrumented nextpnr with a snapshot
// every second into snaps, the newest keep kept.
func execArgs(out, snaps string, keep int) []string {
	args := []string{"exec", instrumented, "--snapshot-every", "1s", "--keep", strconv.Itoa(keep), "--snapshot-dir", snaps}
	args = append(append(args, mounts(out)...), "--")
	return append(args, nextpnrArgs...)
}

// checkASC compares out/top.asc with the known result.
func checkASC(t *testing.T, what, out string) {
	t.Helper()
	asc, err := os.ReadFile(filepath.Join(out, "top.asc"))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	sum := sha256.Sum256(asc)
	if got := hex.EncodeToString(sum[:]); len(asc) != wantASCSize || got != wantASCSHA256 {
		t.Fatalf("%s: top.asc has %d bytes, sha256 %s; want %d bytes, sha256 %s", what, len(asc), got, wantASCSize, wantASCSHA256)
	}
	t.Logf("%s: top.asc is nextpnr's known result (%d bytes, sha256 %s)", what, len(asc), wantASCSHA256)
}

// The two tests run side by side: each is a whole place and route of a
// few tens of seconds of CPU, and the machine has two cores.

// With a snapshot every second, all through placing and routing, the
// instrumented nextpnr writes exactly the uninstrumented one's bitstream.
func TestSnapshotsEvery1s(t *testing.T) {
	needNextpnr(t)
	t.Parallel()
	out, snaps := t.TempDir(), t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(wasmsr, execArgs(out, snaps, 1)...)
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("wasmsr exec: %v\n%s", err, stderr.String())
	}
	lines := extest.SnapshotLines(stderr.String())
	t.Logf("instrumented, a snapshot every 1 s: %v, %d snapshots", time.Since(start).Round(time.Millisecond), len(lines))
	for _, l := range lines {
		t.Log(l)
	}
	// Placing and routing take tens of seconds: a run with fewer snapshots
	// did not take them while it worked.
	if len(lines) < 3 {
		t.Errorf("%d snapshots, want at least 3:\n%s", len(lines), stderr.String())
	}
	checkASC(t, "with snapshots", out)
}

// SIGKILL at a random moment in the first 15 s after the first snapshot
// (reading the netlist, packing, placing; a shorter window where nextpnr
// finishes sooner), then `wasmsr resume` from the
// newest snapshot in a new process: the bitstream is nextpnr's known one.
// WASMSR_SEED=N repeats a moment.
func TestKillAndResume(t *testing.T) {
	needNextpnr(t)
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WASMSR_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("WASMSR_SEED=%q: %v", s, err)
		}
	}
	rng := mrand.New(mrand.NewPCG(seed, 0))
	// The window shrinks when nextpnr finishes before the kill, so that
	// a machine faster than this one still kills it mid-run.
	var out, snaps string
	var stderr bytes.Buffer
	for window, attempt := 15*time.Second, 1; ; window, attempt = window/2, attempt+1 {
		delay := time.Duration(rng.Int64N(int64(window)))
		t.Logf("seed %d (WASMSR_SEED=%d repeats it): kill %v after the first snapshot", seed, seed, delay.Round(time.Millisecond))
		out, snaps = t.TempDir(), t.TempDir()
		stderr.Reset()
		cmd := exec.Command(wasmsr, execArgs(out, snaps, 2)...)
		cmd.Stderr = &stderr
		killed, err := extest.KillAfterFile(cmd, filepath.Join(snaps, "snapshot-000001.wsm"), delay)
		if err != nil {
			t.Fatalf("wasmsr exec: %v\n%s", err, stderr.String())
		}
		if killed {
			break
		}
		if attempt == 4 {
			t.Fatalf("nextpnr finished before the kill %d times, the last within %v of its first snapshot\n%s", attempt, window, stderr.String())
		}
		t.Logf("nextpnr finished before the kill; again, within %v", window/2)
	}
	lines := extest.SnapshotLines(stderr.String())
	if len(lines) == 0 {
		t.Fatalf("killed with no snapshot reported, though %s has one:\n%s", snaps, stderr.String())
	}
	t.Logf("killed after %d snapshots; the newest: %s", len(lines), lines[len(lines)-1])

	stderr.Reset()
	resume := exec.Command(wasmsr, append([]string{"resume", snaps}, mounts(out)...)...)
	resume.Stderr = &stderr
	start := time.Now()
	if err := resume.Run(); err != nil {
		t.Fatalf("wasmsr resume: %v\n%s", err, stderr.String())
	}
	t.Logf("resumed from the newest snapshot and finished in %v", time.Since(start).Round(time.Millisecond))
	checkASC(t, "after kill and resume", out)
}
