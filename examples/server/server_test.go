package server_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
	"github.com/wasmsr/wasmsr/instrument"
)

// Built once by TestMain.
var hostBin, module string

func TestMain(m *testing.M) { extest.Main(m, "server", build) }

// build makes the guest, instruments it with the library and builds the host.
func build(dir string) error {
	plain := filepath.Join(dir, "server.wasm")
	if err := extest.GoBuild(plain, "./examples/server/guest", true); err != nil {
		return err
	}
	b, err := os.ReadFile(plain)
	if err != nil {
		return err
	}
	out, _, err := instrument.Instrument(b, instrument.Options{})
	if err != nil {
		return err
	}
	module = filepath.Join(dir, "server.sr.wasm")
	if err := os.WriteFile(module, out, 0o644); err != nil {
		return err
	}
	hostBin = filepath.Join(dir, "host")
	return extest.GoBuild(hostBin, "./examples/server/host", false)
}

// session runs the host in dir with keys on a pipe.
func session(t *testing.T, dir, keys string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(hostBin, append([]string{"--module", module}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(keys)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("host %q with keys %q: %v\nstdout:\n%s\nstderr:\n%s", args, keys, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// The seed prototype's scenario: three requests, a snapshot, then a new
// process restored from the snapshot serves the fourth request.
func TestCounterContinuesAfterRestore(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr := session(t, dir, "r r r s")
	if want := "counter 1\ncounter 2\ncounter 3\n"; stdout != want {
		t.Fatalf("before the snapshot: stdout %q, want %q\nstderr:\n%s", stdout, want, stderr)
	}
	if !strings.Contains(stderr, "host: snapshot 1 written to snapshot.bin (") {
		t.Errorf("stderr does not report the snapshot:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshot.bin")); err != nil {
		t.Fatal(err)
	}

	stdout, stderr = session(t, dir, "r", "--from-snapshot", "snapshot.bin")
	if want := "counter 4\n"; stdout != want {
		t.Fatalf("after the restore: stdout %q, want %q\nstderr:\n%s", stdout, want, stderr)
	}
	if !strings.Contains(stderr, "host: restored the guest from snapshot.bin (snapshot 1,") {
		t.Errorf("stderr does not report the restore:\n%s", stderr)
	}

	// The file holds the state, not the process: restoring it again starts
	// from 3 again, and a snapshot of the restored guest continues from there.
	stdout, _ = session(t, dir, "rrs", "--from-snapshot", "snapshot.bin")
	if want := "counter 4\ncounter 5\n"; stdout != want {
		t.Fatalf("second restore: stdout %q, want %q", stdout, want)
	}
	stdout, _ = session(t, dir, "r", "--from-snapshot", "snapshot.bin")
	if want := "counter 6\n"; stdout != want {
		t.Fatalf("restore of a restored guest: stdout %q, want %q", stdout, want)
	}
}

// Keys from a pipe behave as at a terminal: q quits at once, other keys
// are reported and ignored, and the end of the keys quits too.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr := session(t, dir, "rx\nrqrrr")
	if want := "counter 1\ncounter 2\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	for _, want := range []string{
		"host: key 'x' does nothing (r = request, s = snapshot, q = quit)\n",
		"host: the guest exited with status 0\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshot.bin")); err == nil {
		t.Error("snapshot.bin was written without key s")
	}
}

// A snapshot of another module is refused with a message.
func TestWrongModule(t *testing.T) {
	dir := t.TempDir()
	session(t, dir, "rs")
	other := filepath.Join(dir, "other.sr.wasm")
	b, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	// Another module: the same one with a custom section appended.
	if err := os.WriteFile(other, append(b, 0, 3, 1, 'x', 0), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hostBin, "--module", other, "--from-snapshot", "snapshot.bin")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("r")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), other+": not the snapshot's module") {
		t.Errorf("restoring into another module: err %v, output:\n%s", err, out)
	}
}
