package wasip1

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/internal/corpus"
)

// buildC compiles a C guest from testdata into a temporary directory. It
// skips the test when clang or wasi-libc is missing, unless
// WASMSR_REQUIRE_CORPUS=1.
func buildC(t *testing.T, name string) []byte {
	t.Helper()
	sysroot := os.Getenv("WASI_SYSROOT")
	if sysroot == "" {
		sysroot = "/usr"
	}
	clang, err := exec.LookPath("clang")
	if err == nil {
		_, err = os.Stat(filepath.Join(sysroot, "lib", "wasm32-wasi", "libc.a"))
	}
	if err != nil {
		msg := "building testdata/" + name + " needs clang and wasi-libc (Debian: clang lld wasi-libc libclang-rt-dev-wasm32): " + err.Error()
		if os.Getenv(corpus.RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".c")+".wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "--sysroot="+sysroot, "-O1", "-o", out, filepath.Join("testdata", name))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// TestSandbox runs testdata/sandbox.c, which tries to leave its mount by
// "..", absolute paths and symbolic links to /etc and to a directory next
// to the mount, to change a read-only mount, and to get around rights it
// dropped and a subdirectory renumbered over the mount. Every attempt must
// fail with an errno, and the files outside must stay as they were.
func TestSandbox(t *testing.T) {
	wasm := buildC(t, "sandbox.c")
	tmp := t.TempDir()
	mnt, outside, ro := filepath.Join(tmp, "mnt"), filepath.Join(tmp, "outside"), filepath.Join(tmp, "ro")
	secret := filepath.Join(outside, "secret.txt")
	for _, d := range []string{mnt, filepath.Join(mnt, "sub"), outside, ro} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, data := range map[string]string{secret: "secret", filepath.Join(mnt, "inside.txt"): "inside", filepath.Join(ro, "ro.txt"): "ro"} {
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"etc": "/etc", "up": "../outside", "hostfile": secret} {
		if err := os.Symlink(target, filepath.Join(mnt, link)); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Unix(1e9, 0)
	if err := os.Chtimes(secret, past, past); err != nil {
		t.Fatal(err)
	}

	r := runOurs(t, wasm, Config{Args: []string{"sandbox"}, Mounts: []Mount{
		{HostDir: mnt, GuestPath: "/sandbox"},
		{HostDir: ro, GuestPath: "/ro", ReadOnly: true},
	}})
	if r.failed || r.exit != 0 {
		t.Fatalf("sandbox failed: exit %d\n%s\n%s", r.exit, r.stdout, r.stderr)
	}
	const (
		eperm       = "63"
		erofs       = "69"
		exdev       = "75"
		enotcapable = "76"
		ok          = "0"
	)
	want := []struct{ line, errno string }{
		{"open ../outside/secret.txt", eperm},
		{"open /etc/passwd", eperm},
		{"open etc/passwd", eperm},
		{"open etc", eperm},
		{"open hostfile", eperm},
		{"open up/secret.txt", eperm},
		{"create up/new.txt", eperm},
		{"truncate up/secret.txt", eperm},
		{"truncate hostfile", eperm},
		{"stat up/secret.txt", eperm},
		{"stat etc/passwd", eperm},
		{"stat ../outside", eperm},
		{"mkdir up/newdir", eperm},
		{"unlink up/secret.txt", eperm},
		{"rename inside.txt up/moved.txt", eperm},
		{"rename up/secret.txt stolen.txt", eperm},
		{"link up/secret.txt linked.txt", eperm},
		{"settimes up/secret.txt", eperm},
		{"symlink /etc/passwd", eperm},
		{"symlink ../outside/secret.txt", ok}, // harmless until followed:
		{"open rellink", eperm},
		{"readlink etc", ok}, // the link's text, not what it points to
		{"etc links to /etc", ""},
		{"open sub", ok},
		{"open sub/../../outside/secret.txt", eperm},
		{"open sub/../inside.txt", eperm}, // as wasmtime: a directory's fd is a capability for its tree
		{"open inside.txt", ok},
		{"read inside.txt", ok},
		{"inside.txt holds inside", ""},
		{"ro: open ro.txt for writing", erofs},
		{"ro: create new.txt", erofs},
		{"ro: open ro.txt", ok},
		{"ro: mkdir d", erofs},
		{"ro: unlink ro.txt", erofs},
		{"ro: rename ro.txt", erofs},
		{"ro: rename across mounts", exdev},
		{"drop sub's right to open files for writing", ok},
		{"renumber sub over an open file", ok},
		{"restricted sub: create new.txt", enotcapable},
		{"restricted sub: open ../inside.txt for writing", eperm},
		{"restricted sub: raise its rights", enotcapable},
		{"renumber sub over the mount", ok},
		{"mount is sub: open ../inside.txt", eperm},
		{"mount is sub: open ../../outside/secret.txt", eperm},
		{"mount is sub: open ../up/secret.txt", eperm},
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, w := range want {
		line := w.line
		if w.errno != "" {
			line += ": " + w.errno
		}
		if lines[i] != line {
			t.Errorf("line %d: %q, want %q", i+1, lines[i], line)
		}
	}

	if data, err := os.ReadFile(secret); err != nil || string(data) != "secret" {
		t.Errorf("secret.txt now holds %q (%v)", data, err)
	}
	if fi, err := os.Stat(secret); err != nil || !fi.ModTime().Equal(past) {
		t.Errorf("secret.txt's time changed: %v (%v)", fi.ModTime(), err)
	}
	if names := dirNames(t, outside); strings.Join(names, ",") != "secret.txt" {
		t.Errorf("the directory next to the mount now holds %v", names)
	}
	if names := dirNames(t, ro); strings.Join(names, ",") != "ro.txt" {
		t.Errorf("the read-only mount now holds %v", names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
