package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// Issue 12's reproductions, as an attacker makes them: a real snapshot
// decoded, changed, and encoded again with valid checksums. Each is refused
// with one line, or runs within its bounds: the peak memory of the
// process is at most 1.25 times the memory the snapshot really restores
// (its non-zero pages) plus 64 MiB.

// echoSnapshot takes a snapshot of echo paused before it reads stdin, and
// returns the decoded snapshot and the instrumented module's path.
func echoSnapshot(t *testing.T) (*snapshot.Snapshot, string) {
	t.Helper()
	module := instrumentedGuest(t, "e2e/echo.wasm")
	snaps := filepath.Join(t.TempDir(), "snaps")
	_, stderr, code := runCLIWithStdin(t, noStdin, "", "exec", "-q", "--snapshot-on", "first-stdin", "--stop-after-snapshot",
		"--snapshot-dir", snaps, module)
	if code != 0 || stderr != "" {
		t.Fatalf("exec: exit %d, stderr %q", code, stderr)
	}
	snap := loadWhole(t, filepath.Join(snaps, "snapshot-000001.wsm"))
	return snap, module
}

// loadWhole reads a snapshot (a manifest, with its chunks from its
// store) whole.
func loadWhole(t *testing.T, location string) *snapshot.Snapshot {
	t.Helper()
	loaded, err := hostrt.Load(location, hostrt.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if err := loaded.Snapshot.Load(); err != nil {
		t.Fatal(err)
	}
	return loaded.Snapshot
}

// writeCrafted encodes a changed snapshot as path, with valid checksums.
func writeCrafted(t *testing.T, path string, snap *snapshot.Snapshot) {
	t.Helper()
	var b bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&b, snap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// measured runs the binary with a deadline and returns its stderr, exit
// code and peak resident memory. The peak comes from GNU time, whose child
// is forked from time's own small process: the peak Go reports for a
// child it starts would include the test's own (Linux carries the
// high-water mark over an exec, and Go starts children with vfork).
func measured(t *testing.T, stdin string, args ...string) (stderr string, code int, peak int64) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "rss")
	var errOut bytes.Buffer
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", report, wasmsrBin(t)}, args...)...)
	cmd.Env = append(os.Environ(), "WASMSR_CACHE="+e2e.cache)
	cmd.Stdin, cmd.Stderr = strings.NewReader(stdin), &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("GNU time (Debian package time): %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("wasmsr %s: still running after a minute; stderr:\n%s", strings.Join(args, " "), errOut.String())
	}
	code = exitCode(t, err, &errOut)
	text, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatal(rerr)
	}
	// time adds a line to the report when the command failed.
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	kib, perr := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if perr != nil {
		t.Fatalf("GNU time's report %q: %v", text, perr)
	}
	return errOut.String(), code, kib << 10
}

// restoredBytes is the memory a snapshot really restores: its non-zero
// pages.
func restoredBytes(snap *snapshot.Snapshot) int64 {
	var n int64
	mem := snap.Instance.Memory
	for p := 0; p < len(mem); p += snapshot.PageSize {
		if !bytes.Equal(mem[p:p+snapshot.PageSize], make([]byte, snapshot.PageSize)) {
			n += snapshot.PageSize
		}
	}
	return n
}

func TestHostileSnapshots(t *testing.T) {
	base, module := echoSnapshot(t)
	dir := t.TempDir()
	moduleCopy := filepath.Join(dir, "module.wasm")
	data, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moduleCopy, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := func() *snapshot.Snapshot {
		s := *base
		inst := *base.Instance
		inst.Memory = append([]byte(nil), base.Instance.Memory...)
		s.Instance = &inst
		return &s
	}
	// grown is the snapshot with its memory grown to size bytes, one more
	// page not zero at the end.
	grown := func(size int) *snapshot.Snapshot {
		s := fresh()
		mem := make([]byte, size)
		copy(mem, s.Instance.Memory)
		mem[size-1] = 1
		s.Instance.Memory = mem
		return s
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	withModuleHint := func(hint string) *snapshot.Snapshot {
		s := fresh()
		s.Meta.Module = hint
		return s
	}
	wantModule := func(hint, why string) string {
		beside := filepath.Join(dir, hostrt.ModuleFileName(base.ModuleSHA256))
		return fmt.Sprintf("cannot find the snapshot's module (sha256 %x): %s: no such file or directory; %s: %s", base.ModuleSHA256[:8], beside, hint, why)
	}
	// withTopFrame is the snapshot with the innermost frame's function
	// (word -2 from the buffer's top) or call index (word -1) set to v.
	topPos := binary.LittleEndian.Uint32(base.Instance.Memory[base.Instance.Buffer:])
	topFunc := binary.LittleEndian.Uint32(base.Instance.Memory[topPos-8:])
	withTopFrame := func(word int, v uint32) *snapshot.Snapshot {
		s := fresh()
		binary.LittleEndian.PutUint32(s.Instance.Memory[int(topPos)+4*word:], v)
		return s
	}
	tests := []struct {
		name string
		snap *snapshot.Snapshot
		args []string // before the snapshot; --module is added unless the hint is tested
		// want is the one line of a refusal after "wasmsr: FILE: ", or ""
		// for a snapshot that runs: its stdout is then echo's output.
		want     string
		noModule bool
	}{
		{name: "paused in an export that does not exist", snap: func() *snapshot.Snapshot {
			s := fresh()
			s.Instance.Export = "_stavt"
			return s
		}(), want: `snapshot: the program is paused in "_stavt", not in _start`},
		{name: "paused in another export", snap: func() *snapshot.Snapshot {
			s := fresh()
			s.Instance.Export = "asyncify_start_unwind"
			return s
		}(), want: `snapshot: the program is paused in "asyncify_start_unwind", not in _start`},
		// The host reads every frame before the rewind: a bad one is named,
		// not left for the module to trap on.
		{name: "a frame with a call index out of range", snap: withTopFrame(-1, 0xFFFF),
			want: fmt.Sprintf("snapshot: the paused stack: unwind buffer: function %d has no unwind point 65535", topFunc)},
		{name: "a frame of a function not instrumented", snap: withTopFrame(-2, 0xFFFF),
			want: "snapshot: the paused stack: unwind buffer: frame of function 65535, which is not instrumented"},
		{name: "an unwind buffer position outside memory", snap: func() *snapshot.Snapshot {
			s := fresh()
			binary.LittleEndian.PutUint32(s.Instance.Memory[s.Instance.Buffer:], 0xFFFFFFF0)
			return s
		}(), want: "snapshot: the paused stack: unwind buffer position 0xfffffff0 outside "},
		{name: "1 GiB of memory in a small file", snap: grown(1 << 30)},
		{name: "4 GiB of memory, less a page", snap: grown(1<<32 - snapshot.PageSize), args: []string{"--max-memory", "4GiB"}},
		{name: "more memory than the host gives", snap: grown(1 << 30), args: []string{"--max-memory", "512MiB"},
			want: "the snapshot's memory of 1.0 GiB is more than the 512.0 MiB this host gives a program"},
		{name: "module hint naming /dev/zero", snap: withModuleHint("/dev/zero"), noModule: true,
			want: wantModule("/dev/zero", "not a regular file")},
		{name: "module hint naming a FIFO", snap: withModuleHint(fifo), noModule: true,
			want: wantModule(fifo, "not a regular file")},
		{name: "module hint naming another file", snap: withModuleHint("/etc/hostname"), noModule: true,
			want: wantModule("/etc/hostname", "not the snapshot's module (sha256 ")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.NewReplacer(" ", "-", "/", "-").Replace(tc.name)+".wsr")
			writeCrafted(t, file, tc.snap)
			if fi, err := os.Stat(file); err != nil || fi.Size() > 64<<10 {
				t.Fatalf("the crafted file is not small: %v, %v", fi.Size(), err)
			}
			moduleArgs := []string{"--module", moduleCopy}
			if tc.noModule {
				moduleArgs = nil
			}
			bound := restoredBytes(tc.snap)*5/4 + 64<<20
			for _, cmd := range [][]string{
				append(append(append([]string{"resume"}, moduleArgs...), tc.args...), file),
				append(append([]string{"inspect"}, tc.args...), file),
			} {
				stderr, code, peak := measured(t, "", cmd...)
				t.Logf("%s: exit %d, peak RSS %.1f MiB (bound %.1f MiB)", cmd[0], code, float64(peak)/(1<<20), float64(bound)/(1<<20))
				if peak > bound {
					t.Errorf("%s: peak RSS %d bytes, more than %d", cmd[0], peak, bound)
				}
				if cmd[0] == "inspect" && tc.want != "" && !strings.HasPrefix(tc.want, "cannot find") && !strings.HasPrefix(tc.want, "the snapshot's memory") {
					continue // inspect describes what resume refuses to run, or fails to
				}
				switch {
				case tc.want == "" && code != 0:
					t.Errorf("%s: exit %d, stderr %q", cmd[0], code, stderr)
				case tc.want != "" && (code != 1 || !strings.HasPrefix(stderr, "wasmsr: "+file+": "+tc.want) || strings.Count(stderr, "\n") != 1):
					t.Errorf("%s: exit %d, stderr %q\nwant exit 1 and one line: %q", cmd[0], code, stderr, "wasmsr: "+file+": "+tc.want)
				}
			}
		})
	}
}

// TestStaleTemps: a snapshot's temporary file left by a writer killed
// before its rename is removed by the next job on the directory.
func TestStaleTemps(t *testing.T) {
	module := instrumentedGuest(t, "e2e/echo.wasm")
	snaps := filepath.Join(t.TempDir(), "snaps")
	if err := os.MkdirAll(snaps, 0o755); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(snaps, fmt.Sprintf(".snapshot-000001.wsr.tmp-%d-1234", dead.Process.Pid))
	if err := os.WriteFile(stale, []byte("half a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, "exec", "-q", "--snapshot-on", "first-stdin", "--snapshot-dir", snaps, module)
	if code != 0 || stderr != "" {
		t.Fatalf("exec: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if _, err := hostrt.Newest(snaps); err != nil {
		t.Error(err)
	}
}

// TestSignedSnapshots: with --snapshot-key, exec signs its snapshots and
// resume takes only those signed with one of its keys: one byte changed
// anywhere, another key, or no signature, and the file is refused before
// anything in it is decoded. (hostrt/snapshot's TestSigned changes every
// byte; here a spread of them goes through the command.)
func TestSignedSnapshots(t *testing.T) {
	module := instrumentedGuest(t, "e2e/echo.wasm")
	dir := t.TempDir()
	key, other, rotated := filepath.Join(dir, "key"), filepath.Join(dir, "other"), filepath.Join(dir, "rotated")
	for _, k := range []string{key, other} {
		if _, stderr, code := runCLI(t, "keygen", k); code != 0 {
			t.Fatalf("keygen: exit %d, stderr %q", code, stderr)
		}
	}
	// Rotation: the new key first, the old one still verifying.
	keyData, _ := os.ReadFile(key)
	otherData, _ := os.ReadFile(other)
	if err := os.WriteFile(rotated, append(otherData, keyData...), 0o600); err != nil {
		t.Fatal(err)
	}
	snaps := filepath.Join(dir, "snaps")
	_, stderr, code := runCLIWithStdin(t, noStdin, "", "exec", "-q", "--snapshot-key", key, "--snapshot-on", "first-stdin",
		"--stop-after-snapshot", "--snapshot-dir", snaps, module)
	if code != 0 || stderr != "" {
		t.Fatalf("exec: exit %d, stderr %q", code, stderr)
	}
	signed := filepath.Join(snaps, "snapshot-000001.wsm")
	data, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	ref := echoReference(t, echoLines)
	for _, k := range []string{key, rotated} {
		stdout, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, "resume", "--snapshot-key", k, signed)
		if code != 0 || stderr != "" || stdout != strings.TrimPrefix(ref, echoBanner) {
			t.Errorf("resume with %s: exit %d, stdout %q, stderr %q", filepath.Base(k), code, stdout, stderr)
		}
	}
	text, _, _ := runCLI(t, "inspect", "--snapshot-key", key, signed)
	keys, err := snapshot.ReadKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\nsigned:   key " + keys.SigningKeyID() + ", verified\n"; !strings.Contains(text, want) {
		t.Errorf("inspect does not say %q:\n%s", want, text)
	}

	unsigned := filepath.Join(dir, "unsigned.wsr")
	writeCrafted(t, unsigned, loadWhole(t, signed))
	refusals := map[string][]string{
		"snapshot signature: signed with key " + keys.SigningKeyID() + ", which is not one of the keys given": {"--snapshot-key", other, signed},
		"snapshot signature: the file is not signed":                                                          {"--snapshot-key", key, unsigned},
	}
	for i := 0; i < len(data); i += len(data)/17 + 1 {
		changed := append([]byte(nil), data...)
		changed[i] ^= 0x04
		path := filepath.Join(dir, fmt.Sprintf("changed-%d.wsr", i))
		if err := os.WriteFile(path, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		refusals[fmt.Sprintf("byte %d", i)] = []string{"--snapshot-key", key, "--module", module, path}
	}
	for want, args := range refusals {
		file := args[len(args)-1]
		stdout, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, append([]string{"resume"}, args...)...)
		ok := code == 1 && stdout == "" && strings.Count(stderr, "\n") == 1 && strings.HasPrefix(stderr, "wasmsr: "+file+": ")
		if strings.HasPrefix(want, "byte ") {
			// Changed bytes in the header are format errors; in the
			// rest, the signature's.
			ok = ok && (strings.Contains(stderr, "snapshot signature") || strings.Contains(stderr, "not a valid wasmsr snapshot"))
		} else {
			ok = ok && stderr == "wasmsr: "+file+": "+want+"\n"
		}
		if !ok {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", want, code, stdout, stderr)
		}
	}
}

// TestChangedFiles: files that changed while the job was stopped are
// named, and the resume refused unless asked to go on: a shortened or
// rewritten input, a truncated output (which would get a hole of NULs),
// an input turned into a FIFO (which would block the resume for ever).
func TestChangedFiles(t *testing.T) {
	g := crashGuests[0]
	module := instrumentedGuest(t, g.wasm)
	tests := []struct {
		name   string
		change func(t *testing.T, in, out string)
		want   string // after "wasmsr: SNAPS: "
	}{
		{name: "input shortened", change: func(t *testing.T, in, out string) {
			if err := os.Truncate(filepath.Join(in, "in.bin"), 100); err != nil {
				t.Fatal(err)
			}
		}, want: `wasip1: restore fd 6: /in/in.bin changed since the snapshot: size 4096 -> 100, modified `},
		{name: "input rewritten", change: func(t *testing.T, in, out string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(in, "in.bin"), later, later); err != nil {
				t.Fatal(err)
			}
		}, want: `wasip1: restore fd 6: /in/in.bin changed since the snapshot: modified `},
		{name: "output truncated", change: func(t *testing.T, in, out string) {
			if err := os.Truncate(filepath.Join(out, "data.bin"), 10); err != nil {
				t.Fatal(err)
			}
		}, want: `wasip1: restore fd 5: /out/data.bin changed since the snapshot: size 65536 -> 10 (shorter than at the snapshot); pass --allow-changed-files to resume anyway`},
		{name: "input turned into a FIFO", change: func(t *testing.T, in, out string) {
			path := filepath.Join(in, "in.bin")
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: `wasip1: restore fd 6: /in/in.bin is no longer a regular file: it is a FIFO`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := inputFile(t)
			dir := t.TempDir()
			out, snaps := filepath.Join(dir, "out"), filepath.Join(dir, "snaps")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			mounts := []string{"--mount", out + ":/out", "--mount", in + ":/in:ro"}
			stopAt(t, "block 1: fill", append(append([]string{"--snapshot-dir", snaps}, mounts...), module, "--", "/out/data.bin", "/in/in.bin", "2", "6000", "2")...)
			tc.change(t, in, out)
			stderr, code, _ := measured(t, "", append(append([]string{"resume"}, mounts...), snaps)...)
			if want := "wasmsr: " + snaps + ": " + tc.want; code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("resume: exit %d, stderr %q\nwant exit 1 and one line starting %q", code, stderr, want)
			}
			if !strings.Contains(tc.want, "FIFO") {
				stderr, code, _ := measured(t, "", append(append([]string{"resume", "--allow-changed-files"}, mounts...), snaps)...)
				if code != 0 && strings.Contains(stderr, "changed since the snapshot") {
					t.Errorf("resume --allow-changed-files: exit %d, stderr %q", code, stderr)
				}
			}
		})
	}
}

// TestReadOnlyMountStaysUnwritten: a snapshot whose output file was moved
// into the read-only mount's preopen and marked not writable, its saved
// contents kept (issue 12, item 2), is refused, and nothing in the
// read-only directory changes: not the file, not a new one.
func TestReadOnlyMountStaysUnwritten(t *testing.T) {
	g := crashGuests[0]
	module := instrumentedGuest(t, g.wasm)
	in := inputFile(t)
	dir := t.TempDir()
	out, snaps := filepath.Join(dir, "out"), filepath.Join(dir, "snaps")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mounts := []string{"--mount", out + ":/out", "--mount", in + ":/in:ro"}
	stopAt(t, "block 1: fill", append(append([]string{"--snapshot-files", "--snapshot-dir", snaps}, mounts...), module, "--", "/out/data.bin", "/in/in.bin", "2", "6000", "2")...)
	snap := loadWhole(t, snaps)
	var ws wasip1.State
	if err := ws.UnmarshalBinary(snap.WASI); err != nil {
		t.Fatal(err)
	}
	inPreopen := -1
	for i, p := range ws.Preopens {
		if p.GuestPath == "/in" {
			inPreopen = i
		}
	}
	for _, target := range []string{"in.bin", "new.bin"} {
		crafted := ws
		crafted.FDs = append([]wasip1.FD(nil), ws.FDs...)
		found := false
		for i := range crafted.FDs {
			if fd := &crafted.FDs[i]; fd.Path == "data.bin" && fd.Content != nil {
				fd.Preopen, fd.Path, fd.Writable, fd.Version = uint32(inPreopen), target, false, nil
				found = true
			}
		}
		if !found || inPreopen < 0 {
			t.Fatalf("no output file with contents, or no /in preopen, in %+v", ws)
		}
		b, err := crafted.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		snap.WASI = b
		file := filepath.Join(dir, target+".wsr")
		writeCrafted(t, file, snap)
		before := treeDigest(t, in)
		stderr, code, _ := measured(t, "", append(append([]string{"resume", "--module", module}, mounts...), file)...)
		want := fmt.Sprintf("wasmsr: %s: wasip1: restore fd 5 (/in/%s): saved contents for a file that was not open for writing\n", file, target)
		if code != 1 || stderr != want {
			t.Errorf("%s: resume: exit %d, stderr %q, want %q", target, code, stderr, want)
		}
		if after := treeDigest(t, in); after != before {
			t.Errorf("%s: the read-only directory changed", target)
		}
	}
}

// treeDigest lists a directory's files and contents.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s\n", path)
		if d.Type().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%x\n", data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
