package cat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
)

// Built once by TestMain.
var wasmsr, module string

func TestMain(m *testing.M) { extest.Main(m, "cat", build) }

func build(dir string) error {
	var err error
	if wasmsr, err = extest.BuildWasmsr(dir); err != nil {
		return err
	}
	plain := filepath.Join(dir, "cat.wasm")
	if err := extest.GoBuild(plain, "./examples/cat/guest", true); err != nil {
		return err
	}
	module = filepath.Join(dir, "cat.sr.wasm")
	if b, err := exec.Command(wasmsr, "instrument", plain, "-o", module).CombinedOutput(); err != nil {
		return fmt.Errorf("wasmsr instrument: %v\n%s", err, b)
	}
	return nil
}

const lines = 1000

// input writes the input file into dir and returns what cat -n makes of it.
func input(t *testing.T, dir string) (numbered string) {
	t.Helper()
	var in, want strings.Builder
	for i := 1; i <= lines; i++ {
		line := fmt.Sprintf("line %d: %s\n", i, strings.Repeat("abcdefghij", i%7))
		in.WriteString(line)
		fmt.Fprintf(&want, "%6d\t%s", i, line)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return want.String()
}

// The cat arguments: 2 ms per line, so that the copy lasts 2 s at least
// and the first snapshot, 200 ms in, comes half way.
func catArgs(out string) []string {
	args := []string{"--", "-n", "-delay", "2ms"}
	if out != "" {
		args = append(args, "-o", out)
	}
	return append(args, "/data/in.txt")
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(wasmsr, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("wasmsr %q: %v\n%s", args, err, out)
	}
	return string(out)
}

type openFile struct {
	FD     uint32 `json:"fd"`
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Offset int64  `json:"offset"`
	Saved  bool   `json:"contents_saved"`
}

func openFiles(t *testing.T, snapshot string) map[string]openFile {
	t.Helper()
	out, err := exec.Command(wasmsr, "inspect", "--json", snapshot).Output()
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Files []openFile `json:"open_files"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	files := map[string]openFile{}
	for _, f := range r.Files {
		if f.Kind == "file" {
			files[f.Path] = f
		}
	}
	return files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A copy stopped by a snapshot half way has both files open at their
// offsets; resumed, in place or in a directory holding only the input
// (--snapshot-files), it ends with exactly cat -n's output.
func TestCopyAcrossRestore(t *testing.T) {
	for _, elsewhere := range []bool{false, true} {
		t.Run(map[bool]string{false: "in place", true: "elsewhere"}[elsewhere], func(t *testing.T) {
			dir := t.TempDir()
			data, snaps := filepath.Join(dir, "data"), filepath.Join(dir, "snapshots")
			os.Mkdir(data, 0o755)
			want := input(t, data)
			args := []string{"exec", module, "--mount", data + ":/data", "--snapshot-every", "200ms", "--stop-after-snapshot", "--snapshot-dir", snaps}
			if elsewhere {
				args = append(args, "--snapshot-files")
			}
			run(t, append(args, catArgs("/data/out.txt")...)...)

			snap := filepath.Join(snaps, "snapshot-000001.wsm")
			files := openFiles(t, snap)
			in, out := files["/data/in.txt"], files["/data/out.txt"]
			partial := readFile(t, filepath.Join(data, "out.txt"))
			if in.Mode != "read" || in.Offset <= 0 || in.Offset > int64(len(readFile(t, filepath.Join(data, "in.txt")))) {
				t.Errorf("in.txt in the snapshot: %+v", in)
			}
			// Output is unbuffered: the file ends where the program is.
			if out.Mode != "read-write" || out.Offset != int64(len(partial)) || out.Saved != elsewhere {
				t.Errorf("out.txt in the snapshot: %+v; the file has %d bytes", out, len(partial))
			}
			if len(partial) == 0 || len(partial) >= len(want) || !strings.HasPrefix(want, partial) {
				t.Fatalf("out.txt at the snapshot: %d bytes of %d, a prefix: %v", len(partial), len(want), strings.HasPrefix(want, partial))
			}

			target := data
			if elsewhere {
				target = filepath.Join(dir, "elsewhere")
				os.Mkdir(target, 0o755)
				input(t, target)
			}
			stderr := run(t, "resume", snaps, "--mount", target+":/data")
			if got := readFile(t, filepath.Join(target, "out.txt")); got != want {
				t.Errorf("out.txt after the resume: %d bytes, want %d (cat -n)", len(got), len(want))
			}
			if w := fmt.Sprintf("cat: %d lines, %d bytes from 1 files\n", lines, len(want)); !strings.Contains(stderr, w) {
				t.Errorf("stderr %q lacks %q", stderr, w)
			}
		})
	}
}

// cat writing to stdout, a regular file, is killed with SIGKILL after its
// second snapshot; resumed with stdout appending to the same file (as
// `>> out.txt`), it cuts the file back to its length at the snapshot and
// ends with exactly cat -n's output.
func TestStdoutAcrossKill(t *testing.T) {
	dir := t.TempDir()
	data, snaps := filepath.Join(dir, "data"), filepath.Join(dir, "snapshots")
	os.Mkdir(data, 0o755)
	want := input(t, data)
	outPath := filepath.Join(dir, "out.txt")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(wasmsr, append([]string{"exec", module, "--mount", data + ":/data", "--snapshot-every", "200ms", "--snapshot-dir", snaps, "--keep", "0"}, catArgs("")...)...)
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	second := filepath.Join(snaps, "snapshot-000002.wsm")
	for {
		if _, err := os.Stat(second); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("wasmsr exec ended before its second snapshot: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(100 * time.Millisecond) // so that lines follow the snapshot
	cmd.Process.Signal(syscall.SIGKILL)
	err = <-exited
	out.Close()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("wasmsr exec was not killed: %v\n%s", err, stderr.String())
	}
	killed := readFile(t, outPath)
	if !strings.HasPrefix(want, killed) || len(killed) == len(want) {
		t.Fatalf("stdout when killed: %d bytes of %d, a prefix: %v", len(killed), len(want), strings.HasPrefix(want, killed))
	}

	// The newest snapshot: the third may have come before the kill.
	appendOut, err := os.OpenFile(outPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer appendOut.Close()
	stderr.Reset()
	resume := exec.Command(wasmsr, "resume", "--truncate-output", snaps, "--mount", data+":/data")
	resume.Stdout, resume.Stderr = appendOut, &stderr
	if err := resume.Run(); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr.String())
	}
	if got := readFile(t, outPath); got != want {
		t.Errorf("stdout after the resume: %d bytes, want %d (cat -n); killed at %d", len(got), len(want), len(killed))
	}
}
