package main

// End-to-end tests of exec, resume and inspect: they run the wasmsr binary
// (built once by TestMain) in separate processes, as a user would, on the
// guests of testdata/crash and testdata/e2e (built by `make testdata`):
//
//   - TestCrashRecovery kills a run with SIGKILL at random moments and
//     resumes it from the newest snapshot each time;
//   - TestCrossProcess stops a run mid-loop or mid-recursion while it holds
//     files open and resumes it in another process, also after the files
//     are gone (--snapshot-files);
//   - TestBadSnapshots feeds resume and inspect broken snapshots;
//   - TestFirstStdin and TestFirstStdinOncePerProcess snapshot a program
//     when it first reads stdin (--snapshot-on first-stdin), and
//     TestSnapshotOnSignal on SIGUSR1, on the guest testdata/e2e/echo.c;
//     TestExecEnv checks --env.
//
// Every check is exact: outputs byte for byte, errors line for line.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/internal/s3test"
)

// e2e holds what TestMain prepares for the end-to-end tests.
var e2e struct {
	bin   string // the wasmsr binary
	dir   string // its temporary directory
	cache string // WASMSR_CACHE of every run, shared so each module compiles once
	err   error  // why the binary could not be built
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "wasmsr-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		e2e.dir, e2e.cache, e2e.bin = dir, filepath.Join(dir, "cache"), filepath.Join(dir, "wasmsr")
		cmd := exec.Command(goTool(), "build", "-o", e2e.bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			e2e.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		return s3test.Run(m)
	}()
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// wasmsrBin returns the built binary, failing the test if it could not be
// built.
func wasmsrBin(t *testing.T) string {
	t.Helper()
	if e2e.err != nil {
		t.Fatal(e2e.err)
	}
	return e2e.bin
}

// command prepares a run of the binary.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(wasmsrBin(t), args...)
	cmd.Env = append(os.Environ(), "WASMSR_CACHE="+e2e.cache)
	return cmd
}

// runCLI runs the binary to the end and returns its stdout, stderr and exit
// code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := command(t, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	code = exitCode(t, cmd.Run(), &errOut)
	return out.String(), errOut.String(), code
}

func exitCode(t *testing.T, err error, stderr *bytes.Buffer) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
		return ee.ExitCode()
	}
	t.Fatalf("wasmsr: %v; stderr:\n%s", err, stderr)
	return -1
}

// crashGuest is one of the programs of testdata/crash, and the arguments
// that make it spend its time in one phase.
type crashGuest struct {
	name string // "c" or "go"
	wasm string // under build/testdata
	// fillArgs keep the program in its loop phase and recurseArgs in its
	// recursion phase for most of a block (of two); tree is the depth of
	// recurseArgs' tree.
	fillArgs, recurseArgs []string
	tree                  int
	// fillFunc and recurseFunc are the functions' names in the name section.
	fillFunc, recurseFunc string
	// crashArgs make a run of about 6 s for TestCrashRecovery.
	crashArgs []string
	// inOffset is where the input file stands after one block: C's stdio
	// reads ahead, Go's io.ReadFull does not. outMode is how the output
	// file is open (os.Create opens it read-write).
	inOffset int64
	outMode  string
	// wholeStack: every call of the recursion is a frame on the wasm
	// stack. Go's wasm port unwinds the wasm stack itself when it grows a
	// goroutine's stack or switches goroutines, so there only the frames
	// since then are.
	wholeStack bool
}

var crashGuests = []crashGuest{
	{name: "c", wasm: "crash/crash-c.wasm",
		crashArgs: []string{"-", "600"}, fillArgs: []string{"2", "6000", "2"}, recurseArgs: []string{"2", "1", "15"}, tree: 15,
		fillFunc: "fill", recurseFunc: "recurse", inOffset: 1039, outMode: "write", wholeStack: true},
	{name: "go", wasm: "crash/crash-go.wasm",
		crashArgs: []string{"-", "400"}, fillArgs: []string{"2", "5000", "2"}, recurseArgs: []string{"2", "1", "15"}, tree: 15,
		fillFunc: "main.fill", recurseFunc: "main.recurse", inOffset: 16, outMode: "read-write"},
}

var instrumented struct {
	sync.Mutex
	paths map[string]string
}

// instrumentedGuest instruments a built guest with `wasmsr instrument`,
// once per test binary, and returns the instrumented module's path.
func instrumentedGuest(t *testing.T, rel string) string {
	t.Helper()
	src := corpus.Built(t, rel)
	instrumented.Lock()
	defer instrumented.Unlock()
	if p, ok := instrumented.paths[rel]; ok {
		return p
	}
	out := filepath.Join(e2e.dir, strings.ReplaceAll(strings.TrimSuffix(rel, ".wasm"), "/", "-")+".sr.wasm")
	if _, stderr, code := runCLI(t, "instrument", "--site-details", src, "-o", out); code != 0 {
		t.Fatalf("instrument %s: exit %d: %s", rel, code, stderr)
	}
	if instrumented.paths == nil {
		instrumented.paths = map[string]string{}
	}
	instrumented.paths[rel] = out
	return out
}

// reference is the outcome of an uninterrupted run.
type reference struct {
	stdout, file []byte
}

var references struct {
	sync.Mutex
	m map[string]*reference
}

// referenceRun runs module with args to the end, without snapshots, once
// per module and arguments: stdout and the file it writes at /out/data.bin.
// in is the directory mounted at /in.
func referenceRun(t *testing.T, module, in string, args ...string) *reference {
	t.Helper()
	key := module + "\x00" + strings.Join(args, "\x00")
	references.Lock()
	defer references.Unlock()
	if r, ok := references.m[key]; ok {
		return r
	}
	out := t.TempDir()
	execArgs := []string{"exec", "--mount", out + ":/out"}
	if in != "" {
		execArgs = append(execArgs, "--mount", in+":/in:ro")
	}
	stdout, stderr, code := runCLI(t, append(append(execArgs, module, "--"), args...)...)
	if code != 0 || stderr != "" {
		t.Fatalf("reference run: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.HasSuffix(stdout, "\ndone\n") {
		t.Fatalf("reference run: stdout does not end with done:\n%s", tailOf(stdout))
	}
	file, err := os.ReadFile(filepath.Join(out, "data.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("\nfile: %d bytes, ", len(file)); !strings.Contains(stdout, want) {
		t.Fatalf("reference run: stdout does not report the file's size (%q):\n%s", want, tailOf(stdout))
	}
	r := &reference{stdout: []byte(stdout), file: file}
	if references.m == nil {
		references.m = map[string]*reference{}
	}
	references.m[key] = r
	return r
}

func tailOf(s string) string {
	if len(s) > 400 {
		return "..." + s[len(s)-400:]
	}
	return s
}

// sameBytes fails the test unless got and want are identical, showing
// where they part.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	show := func(b []byte) string { return fmt.Sprintf("%q", b[max(0, i-40):min(len(b), i+40)]) }
	t.Errorf("%s: %d bytes, want %d; first difference at offset %d:\ngot  %s\nwant %s", what, len(got), len(want), i, show(got), show(want))
}

// process is a running wasmsr.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has ended
	err  error         // how it ended
}

// startProcess starts wasmsr with the given output files; the test kills
// it if it is still running at the end.
func startProcess(t *testing.T, stdout, stderr *os.File, args ...string) *process {
	t.Helper()
	p := &process{cmd: command(t, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited waits up to d for the process to end and reports whether it has.
func (p *process) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// crashSeed is the seed of the kill moments: WASMSR_CRASH_SEED, or the
// time.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("WASMSR_CRASH_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WASMSR_CRASH_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// newestSeq is the sequence number of the newest snapshot in dir, 0 if none.
func newestSeq(dir string) uint64 {
	path, err := hostrt.Newest(dir)
	if err != nil {
		return 0
	}
	number := strings.TrimPrefix(path[strings.LastIndexByte(path, '/')+1:], "snapshot-")
	seq, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSuffix(number, ".wsr"), ".wsm"), 10, 64)
	return seq
}

// TestCrashRecovery runs each crash guest through crashAndResume, its
// snapshots in a directory.
func TestCrashRecovery(t *testing.T) {
	seed := crashSeed(t)
	t.Logf("kill moments from seed %d (set WASMSR_CRASH_SEED=%d to repeat them)", seed, seed)
	for i, g := range crashGuests {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			crashAndResume(t, g, seed, i, "")
		})
	}
}

// TestCrashRecoveryS3 is TestCrashRecovery's first guest with its
// snapshots in an S3 bucket (a versitygw on loopback): kills land while
// chunks and manifests are uploaded too.
func TestCrashRecoveryS3(t *testing.T) {
	seed := crashSeed(t)
	t.Logf("kill moments from seed %d (set WASMSR_CRASH_SEED=%d to repeat them)", seed, seed)
	crashAndResume(t, crashGuests[0], seed, 0, s3test.Start(t))
}

// crashAndResume runs guest g with a snapshot every 200ms into the store
// snaps (a new directory if empty), kills it with SIGKILL at random
// moments (each after a snapshot newer than the one it was resumed from,
// so that every round makes progress) and resumes it from the newest
// snapshot each time, with stdout appended to the same file. In the end
// the file the program wrote and its stdout must be byte-identical to an
// uninterrupted run's.
func crashAndResume(t *testing.T, g crashGuest, seed uint64, i int, snaps string) {
	const kills, minKills = 4, 3
	module := instrumentedGuest(t, g.wasm)
	args := append([]string{"/out/data.bin"}, g.crashArgs...)
	ref := referenceRun(t, module, "", args...)
	rng := rand.New(rand.NewPCG(seed, uint64(i)))

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if snaps == "" {
		snaps = filepath.Join(dir, "snaps")
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	stdoutPath, stderrPath := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	// As the shell's >>: a resume cuts the file back to where the
	// snapshot left it.
	openOutput := func(path string) *os.File {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	flags := []string{"--snapshot-every", "200ms", "--mount", out + ":/out"}
	start := func(args ...string) *process {
		stdout, stderr := openOutput(stdoutPath), openOutput(stderrPath)
		defer stdout.Close()
		defer stderr.Close()
		return startProcess(t, stdout, stderr, args...)
	}
	stderrTail := func() string {
		b, _ := os.ReadFile(stderrPath)
		return tailOf(string(b))
	}
	p := start(append(append(append([]string{"exec", "--snapshot-dir", snaps}, flags...), module, "--"), args...)...)
	var from uint64 // the snapshot the running process was resumed from
	for kill := 1; kill <= kills; kill++ {
		// Wait for a snapshot newer than the one resumed from, then
		// a random moment.
		for newestSeq(snaps) <= from && !p.exited(5*time.Millisecond) {
		}
		delay := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
		if p.exited(delay) {
			// Snapshots that take long to reach the disk make rounds
			// long; a few kills are still enough.
			if kill <= minKills {
				t.Fatalf("the program ended (%v) before kill %d: make it run longer. stderr:\n%s", p.err, kill, stderrTail())
			}
			t.Logf("the program ended before kill %d", kill)
			break
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		from = newestSeq(snaps)
		size := int64(0)
		if fi, err := os.Stat(filepath.Join(out, "data.bin")); err == nil {
			size = fi.Size()
		}
		t.Logf("kill %d: %v after a snapshot; resuming from snapshot %d (data.bin at %d bytes)", kill, delay.Round(time.Millisecond), from, size)
		p = start(append(append([]string{"resume", "--truncate-output"}, flags...), snaps)...)
	}
	<-p.done
	if p.err != nil {
		t.Fatalf("last resume: %v; stderr:\n%s", p.err, stderrTail())
	}
	stdout, err := os.ReadFile(stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(out, "data.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "stdout", stdout, ref.stdout)
	sameBytes(t, "data.bin", file, ref.file)
	// inspect shows the store's newest snapshot.
	newest, err := hostrt.Newest(snaps)
	if err != nil {
		t.Fatal(err)
	}
	text, stderr, code := runCLI(t, "inspect", snaps)
	if want := newest + ": wasmsr snapshot "; code != 0 || !strings.HasPrefix(text, want) {
		t.Errorf("inspect %s: exit %d, stdout %q, stderr %q; want it to begin %q", snaps, code, tailOf(text), stderr, want)
	}
}

// snapshotJSON is the part of `inspect --json` about a snapshot that the
// tests look at.
type snapshotJSON struct {
	Args  []string `json:"args"`
	Files []struct {
		FD     uint32 `json:"fd"`
		Kind   string `json:"kind"`
		Path   string `json:"path"`
		Mode   string `json:"mode"`
		Offset int64  `json:"offset"`
		Saved  bool   `json:"contents_saved"`
	} `json:"open_files"`
	Stack []struct {
		Name string `json:"name"`
		At   string `json:"at"`
	} `json:"stack"`
}

// stopAt runs `wasmsr exec` with a snapshot on SIGTERM, sends the signal
// once the program has printed marker, and returns what the program wrote
// to stdout until it stopped.
func stopAt(t *testing.T, marker string, args ...string) []byte {
	t.Helper()
	cmd := command(t, append([]string{"exec", "--snapshot-on", "SIGTERM"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	r := bufio.NewReader(pipe)
	signalled := false
	for {
		line, err := r.ReadString('\n')
		stdout.WriteString(line)
		if !signalled && line == marker+"\n" {
			// The marker starts a phase that lasts about a second; the
			// request must find the program inside it, not still on
			// its way back from the write of the marker, which a loaded
			// machine can stretch.
			time.Sleep(100 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if code := exitCode(t, cmd.Wait(), &stderr); code != exitPreempted {
		t.Fatalf("exec: exit %d, want %d; stderr:\n%s", code, exitPreempted, stderr.String())
	}
	if !signalled {
		t.Fatalf("the program never printed %q; stdout:\n%s", marker, tailOf(stdout.String()))
	}
	if !strings.Contains(stderr.String(), "wasmsr: stopped by SIGTERM after a snapshot, exit status 75; continue with: wasmsr resume ") {
		t.Fatalf("exec did not stop after a snapshot; stderr:\n%s", stderr.String())
	}
	return stdout.Bytes()
}

// inspectSnapshot describes the newest snapshot in dir with `inspect --json`.
func inspectSnapshot(t *testing.T, dir string) snapshotJSON {
	t.Helper()
	path, err := hostrt.Newest(dir)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "inspect", "--json", path)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var s snapshotJSON
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// inputFile makes the directory mounted at /in, with the input file.
func inputFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCrossProcess stops each crash guest with a snapshot, while it holds
// its output file (open for writing, one block written) and its input file
// (open for reading) open, in its loop phase or deep in its recursion, and
// resumes it with `wasmsr resume` in another process: the two processes'
// stdout together, and the file, must be the uninterrupted run's. With
// --snapshot-files the resume happens after the output directory is gone,
// from a snapshot directory moved elsewhere, the module's original path
// gone too.
func TestCrossProcess(t *testing.T) {
	for _, g := range crashGuests {
		tests := []struct {
			name string
			args []string
			// marker is the line after which the snapshot is asked for.
			marker string
			// snapshotFiles embeds the output file and deletes the original.
			snapshotFiles bool
			// where checks where the program paused.
			where func(t *testing.T, s snapshotJSON)
		}{
			{name: "mid-loop", args: g.fillArgs, marker: "block 1: fill", where: func(t *testing.T, s snapshotJSON) {
				top := s.Stack[len(s.Stack)-1]
				if top.Name != g.fillFunc || !strings.HasPrefix(top.At, "safepoint at loop") {
					t.Errorf("paused in %s at %q, want %s at a loop safepoint", top.Name, top.At, g.fillFunc)
				}
			}},
			{name: "mid-recursion", args: g.recurseArgs, marker: "block 1: recurse", where: func(t *testing.T, s snapshotJSON) {
				// The leaves do the work, in a loop: the whole tree's depth
				// is on the stack.
				n := 0
				for _, f := range s.Stack {
					if f.Name == g.recurseFunc {
						n++
					}
				}
				top := s.Stack[len(s.Stack)-1]
				if top.Name != g.recurseFunc || !strings.HasPrefix(top.At, "safepoint at loop") {
					t.Errorf("paused in %s at %q, want %s at a loop safepoint", top.Name, top.At, g.recurseFunc)
				}
				switch {
				case g.wholeStack && n != g.tree+1:
					t.Errorf("%d frames of %s on the stack, want %d", n, g.recurseFunc, g.tree+1)
				case !g.wholeStack && n < 2:
					t.Errorf("%d frames of %s on the stack, want at least 2", n, g.recurseFunc)
				}
				t.Logf("%d frames of %s on the stack", n, g.recurseFunc)
			}},
			{name: "snapshot-files", args: g.fillArgs, marker: "block 1: fill", snapshotFiles: true},
		}
		for _, tc := range tests {
			t.Run(g.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				module := instrumentedGuest(t, g.wasm)
				in := inputFile(t)
				args := append([]string{"/out/data.bin", "/in/in.bin"}, tc.args...)
				ref := referenceRun(t, module, in, args...)

				dir := t.TempDir()
				out, snaps := filepath.Join(dir, "out"), filepath.Join(dir, "snaps")
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
				execModule := module
				flags := []string{"--snapshot-dir", snaps, "--mount", out + ":/out", "--mount", in + ":/in:ro"}
				if tc.snapshotFiles {
					flags = append(flags, "--snapshot-files")
					// A copy of the module that will be gone at the resume.
					execModule = filepath.Join(dir, "crash.sr.wasm")
					copyFile(t, module, execModule)
				}
				stdout1 := stopAt(t, tc.marker, append(append(flags, execModule, "--"), args...)...)

				s := inspectSnapshot(t, snaps)
				files := map[string]string{}
				for _, f := range s.Files {
					if f.Kind == "file" {
						files[f.Path] = fmt.Sprintf("%s at %d, saved %v", f.Mode, f.Offset, f.Saved)
					}
				}
				want := map[string]string{
					"/out/data.bin": fmt.Sprintf("%s at %d, saved %v", g.outMode, 64<<10, tc.snapshotFiles),
					"/in/in.bin":    fmt.Sprintf("read at %d, saved false", g.inOffset),
				}
				if fmt.Sprint(files) != fmt.Sprint(want) {
					t.Errorf("open files %v, want %v", files, want)
				}
				if tc.where != nil {
					tc.where(t, s)
				}

				resumeOut, resumeSnaps := out, snaps
				if tc.snapshotFiles {
					// Another machine: the output directory, the module and
					// the snapshot directory's old place are gone.
					if err := os.RemoveAll(out); err != nil {
						t.Fatal(err)
					}
					if err := os.Remove(execModule); err != nil {
						t.Fatal(err)
					}
					resumeOut, resumeSnaps = filepath.Join(dir, "elsewhere", "out"), filepath.Join(dir, "elsewhere", "snaps")
					if err := os.MkdirAll(resumeOut, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(snaps, resumeSnaps); err != nil {
						t.Fatal(err)
					}
				}
				// On the same machine the resume is asked to mount the
				// directories the snapshot recorded; elsewhere they are
				// given.
				resumeArgs := []string{"resume", resumeSnaps, "--reuse-mounts"}
				if resumeOut != out {
					resumeArgs = []string{"resume", resumeSnaps, "--mount", resumeOut + ":/out", "--mount", in + ":/in:ro"}
				}
				cmd := command(t, resumeArgs...)
				var stdout2, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout2, &stderr
				if code := exitCode(t, cmd.Run(), &stderr); code != 0 || stderr.String() != "" {
					t.Fatalf("resume: exit %d, stderr:\n%s", code, stderr.String())
				}
				sameBytes(t, "stdout of exec and resume", append(stdout1, stdout2.Bytes()...), ref.stdout)
				file, err := os.ReadFile(filepath.Join(resumeOut, "data.bin"))
				if err != nil {
					t.Fatal(err)
				}
				sameBytes(t, "data.bin", file, ref.file)
			})
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sectionSpan is where a section of a snapshot file lies.
type sectionSpan struct {
	id           byte
	header, data int // offsets of its header and of its stored bytes
	stored       int
}

// snapshot file layout (hostrt/snapshot): a 52-byte header, then sections
// of a 24-byte header and the stored bytes.
const (
	fileHeaderSize    = 52
	sectionHeaderSize = 24
)

func sections(t *testing.T, data []byte) []sectionSpan {
	t.Helper()
	var spans []sectionSpan
	for off := fileHeaderSize; off < len(data); {
		stored := int(binary.LittleEndian.Uint64(data[off+4:]))
		spans = append(spans, sectionSpan{id: data[off], header: off, data: off + sectionHeaderSize, stored: stored})
		off += sectionHeaderSize + stored
	}
	if len(spans) != 4 {
		t.Fatalf("snapshot has %d sections, want 4", len(spans))
	}
	return spans
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fixHeaderCRC recomputes the header's checksum after an edit.
func fixHeaderCRC(data []byte) {
	binary.LittleEndian.PutUint32(data[fileHeaderSize-4:], crc32.Checksum(data[:fileHeaderSize-4], castagnoli))
}

// replaceSection replaces a section's raw length and stored bytes and
// recomputes its checksum.
func replaceSection(data []byte, s sectionSpan, rawLen uint64, stored []byte) []byte {
	out := append([]byte(nil), data[:s.header]...)
	h := append([]byte(nil), data[s.header:s.header+sectionHeaderSize-4]...)
	binary.LittleEndian.PutUint64(h[4:], uint64(len(stored)))
	binary.LittleEndian.PutUint64(h[12:], rawLen)
	out = append(out, h...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Update(crc32.Checksum(h, castagnoli), castagnoli, stored))
	out = append(out, stored...)
	return append(out, data[s.data+s.stored:]...)
}

func flipBit(data []byte, off int) []byte {
	out := append([]byte(nil), data...)
	out[off] ^= 0x10
	return out
}

// TestBadSnapshots gives resume (and inspect) broken, foreign and
// unfindable snapshots: each is refused with exit status 1 and one line,
// "wasmsr: FILE: what is wrong", and nothing on stdout.
func TestBadSnapshots(t *testing.T) {
	module := instrumentedGuest(t, "crash/crash-c.wasm")
	other := instrumentedGuest(t, "crash/crash-go.wasm")
	dir := t.TempDir()
	out, snaps := filepath.Join(dir, "out"), filepath.Join(dir, "snaps")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mount := out + ":/out"
	stopAt(t, "block 1: fill", "--snapshot-dir", snaps, "--mount", mount, module, "--", "/out/data.bin", "-", "2", "6000", "2")
	good, err := hostrt.Newest(snaps)
	if err != nil {
		t.Fatal(err)
	}
	// The crafted files are whole snapshots (format version 2), made
	// from the manifest exec wrote and its chunks.
	var whole bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&whole, loadWhole(t, good)); err != nil {
		t.Fatal(err)
	}
	data := whole.Bytes()
	secs := sections(t, data)
	meta, memory, wasi := secs[0], secs[1], secs[3]
	moduleSum, otherSum := fileSHA256(t, module), fileSHA256(t, other)
	moduleCopy := filepath.Join(snaps, hostrt.ModuleFileName(moduleSum))

	// A zstd frame that decompresses to more than the memory section may hold.
	memLimit := int(binary.LittleEndian.Uint64(data[memory.header+12:]))
	bitmap := (memLimit/65536 + 7) / 8
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	bomb := zw.EncodeAll(make([]byte, bitmap+memLimit+1<<20), nil)

	versioned := func(v uint32) []byte {
		b := append([]byte(nil), data...)
		binary.LittleEndian.PutUint32(b[8:], v)
		fixHeaderCRC(b)
		return b
	}
	foreign := append([]byte(nil), data...)
	copy(foreign[16:48], otherSum[:])
	fixHeaderCRC(foreign)

	// A snapshot whose metadata names a module path that is gone, away
	// from the module's copy.
	moved := func(t *testing.T, data []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(data[meta.data:meta.data+meta.stored], &m); err != nil {
			t.Fatal(err)
		}
		m["module"] = moduleCopy + ".moved"
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return replaceSection(data, meta, uint64(len(raw)), raw)
	}

	bad := "not a valid wasmsr snapshot: "
	tests := []struct {
		name string
		data []byte // written to DIR/NAME.wsr; nil: args only
		args []string
		want string // the message after "wasmsr: FILE: "
		// noInspect: inspect takes a file without the snapshot magic for a module.
		noInspect bool
	}{
		{name: "empty", data: []byte{}, want: bad + "truncated header (0 bytes)", noInspect: true},
		{name: "truncated in the header", data: data[:30], want: bad + "truncated header (30 bytes)"},
		{name: "truncated after the header", data: data[:fileHeaderSize], want: bad + "truncated: section 1 of 4 is missing"},
		{name: "truncated in the metadata", data: data[:meta.data+meta.stored/2],
			want: bad + fmt.Sprintf("truncated: section 1 needs %d bytes, %d left", meta.stored, meta.stored/2)},
		{name: "truncated in the memory", data: data[:memory.data+100],
			want: bad + fmt.Sprintf("truncated: section 2 needs %d bytes, 100 left", memory.stored)},
		{name: "truncated between sections", data: data[:wasi.header], want: bad + "truncated: section 4 of 4 is missing"},
		{name: "truncated by one byte", data: data[:len(data)-1],
			want: bad + fmt.Sprintf("truncated: section 4 needs %d bytes, %d left", wasi.stored, wasi.stored-1)},
		{name: "bytes after the end", data: append(append([]byte(nil), data...), 0), want: bad + "1 bytes after the last section"},
		{name: "bit flip in the magic", data: flipBit(data, 0), want: bad + "bad magic", noInspect: true},
		{name: "bit flip in the module hash", data: flipBit(data, 20), want: bad + "header checksum mismatch"},
		{name: "bit flip in the metadata", data: flipBit(data, meta.data+5), want: bad + "section 1 checksum mismatch"},
		{name: "bit flip in a section header", data: flipBit(data, memory.header+13), want: bad + "section 2 checksum mismatch"},
		{name: "bit flip in the memory", data: flipBit(data, memory.data+memory.stored/2), want: bad + "section 2 checksum mismatch"},
		{name: "bit flip in the last byte", data: flipBit(data, len(data)-1), want: bad + "section 4 checksum mismatch"},
		{name: "version 5", data: versioned(5), want: bad + "format version 5, this wasmsr reads versions 1 to 4"},
		{name: "version 0", data: versioned(0), want: bad + "format version 0, this wasmsr reads versions 1 to 4"},
		{name: "memory beyond the module's limit", data: replaceSection(data, memory, 8<<30, data[memory.data:memory.data+memory.stored]),
			want: bad + "memory of 8589934592 bytes is more than the module's limit of 4294967296"},
		{name: "memory that decompresses too far", data: replaceSection(data, memory, uint64(memLimit), bomb),
			want: bad + "memory: more bytes than the pages its bitmap names"},
		{name: "WASI state declared beyond its bound", data: replaceSection(data, wasi, 1<<30+1, data[wasi.data:wasi.data+wasi.stored]),
			want: bad + "section 4 (WASI state) declares 1073741825 bytes, more than the 16777216 it may hold"},
		{name: "snapshot of another module", args: []string{"--module", other, good},
			want: fmt.Sprintf("%s: not the snapshot's module (sha256 %x, the snapshot's is %x)", other, otherSum[:8], moduleSum[:8])},
		// Found through the path its metadata records, and refused.
		{name: "header naming another module", data: foreign,
			want: fmt.Sprintf("cannot find the snapshot's module (sha256 %x): %s: no such file or directory; %s: not the snapshot's module (sha256 %x, the snapshot's is %x); pass --module",
				otherSum[:8], filepath.Join(dir, hostrt.ModuleFileName(otherSum)), moduleCopy, moduleSum[:8], otherSum[:8])},
		{name: "module not found", data: moved(t, data),
			want: fmt.Sprintf("cannot find the snapshot's module (sha256 %x): %s: no such file or directory; %s: no such file or directory; pass --module",
				moduleSum[:8], filepath.Join(dir, hostrt.ModuleFileName(moduleSum)), moduleCopy+".moved")},
		{name: "missing --module", args: []string{"--module", filepath.Join(dir, "missing.wasm"), good},
			want: filepath.Join(dir, "missing.wasm") + ": no such file or directory"},
		{name: "a module, not a snapshot", args: []string{module}, want: bad + "bad magic", noInspect: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := good
			args := tc.args
			if tc.data != nil {
				file = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".wsr")
				if err := os.WriteFile(file, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, file)
			} else {
				file = args[len(args)-1]
			}
			want := "wasmsr: " + file + ": " + tc.want + "\n"
			stdout, stderr, code := runCLI(t, append([]string{"resume", "--mount", mount}, args...)...)
			if code != 1 || stdout != "" || stderr != want {
				t.Errorf("resume: exit %d, stdout %q, stderr %q\nwant exit 1, stderr %q", code, stdout, stderr, want)
			}
			if tc.noInspect || len(tc.args) > 0 {
				return
			}
			stdout, stderr, code = runCLI(t, "inspect", file)
			if code != 1 || stdout != "" || stderr != want {
				t.Errorf("inspect: exit %d, stdout %q, stderr %q\nwant exit 1, stderr %q", code, stdout, stderr, want)
			}
		})
	}

	// Restores that fail after the snapshot is read: one line too, naming
	// the snapshot as given.
	t.Run("resume without the mount", func(t *testing.T) {
		// A resume mounts only what its command line gives: the snapshot's
		// record of the directories is shown, not used.
		_, stderr, code := runCLI(t, "resume", snaps)
		want := fmt.Sprintf("wasmsr: %s: the program uses guest path \"/out\": pass --mount HOST:/out (when the snapshot was taken: %q; --reuse-mounts mounts it again)\n", snaps, out+":/out")
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr %q, want exit 1 and %q", code, stderr, want)
		}
	})
	t.Run("resume with the output file gone", func(t *testing.T) {
		empty := t.TempDir()
		_, stderr, code := runCLI(t, "resume", "--mount", empty+":/out", snaps)
		if want := "wasmsr: " + snaps + ": wasip1: restore fd 4: data.bin is missing from mount \"/out\"\n"; code != 1 || stderr != want {
			t.Errorf("exit %d, stderr %q, want exit 1 and %q", code, stderr, want)
		}
	})
	t.Run("a directory without snapshots", func(t *testing.T) {
		empty := t.TempDir()
		_, stderr, code := runCLI(t, "resume", empty)
		if want := "wasmsr: " + empty + ": no snapshots (snapshot-*.wsm or snapshot-*.wsr)\n"; code != 1 || stderr != want {
			t.Errorf("exit %d, stderr %q, want exit 1 and %q", code, stderr, want)
		}
	})
}

func fileSHA256(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// echoLines is the input the tests give testdata/e2e/echo.c.
const echoLines = "one\ntwo, with a comma\n\nfour\n"

// echoBanner is what echo prints before it reads stdin.
const echoBanner = "echo: ready\n"

// echoReference is echo's stdout when run to the end, uninstrumented, on
// wazero's own WASI, with the given arguments and input.
func echoReference(t *testing.T, input string, args ...string) string {
	t.Helper()
	p := corpus.Program{Name: "e2e/echo", Path: corpus.Built(t, "e2e/echo.wasm"), Args: args, Stdin: []byte(input)}
	stdout, exit := p.Run(t, p.Wasm(t))
	if exit != 0 || !strings.HasPrefix(string(stdout), echoBanner) {
		t.Fatalf("reference run: exit %d, stdout %q", exit, stdout)
	}
	return string(stdout)
}

// stdinSource is how a test gives a run its stdin.
type stdinSource int

const (
	noStdin   stdinSource = iota // /dev/null
	pipeStdin                    // a pipe the input is written to
	fileStdin                    // a regular file holding the input
)

// runCLIWithStdin runs the binary to the end with input on its stdin.
func runCLIWithStdin(t *testing.T, src stdinSource, input string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := command(t, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	switch src {
	case pipeStdin:
		cmd.Stdin = strings.NewReader(input)
	case fileStdin:
		path := filepath.Join(t.TempDir(), "stdin")
		if err := os.WriteFile(path, []byte(input), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	code = exitCode(t, cmd.Run(), &errOut)
	return out.String(), errOut.String(), code
}

// snapshotNames lists the snapshot files in dir.
func snapshotNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "snapshot-*.ws[mr]"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// pausedSnapshot is what the stdin tests check in `inspect --json`.
type pausedSnapshot struct {
	Meta struct {
		Seq    uint64 `json:"seq"`
		Reason string `json:"reason"`
	} `json:"meta"`
	Pending int `json:"pending_stdin_bytes"`
	Stack   []struct {
		Name string `json:"name"`
		At   string `json:"at"`
	} `json:"stack"`
}

// inspectPaused describes a snapshot file with `inspect --json`.
func inspectPaused(t *testing.T, path string) pausedSnapshot {
	t.Helper()
	stdout, stderr, code := runCLI(t, "inspect", "--json", path)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var s pausedSnapshot
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Stack) == 0 {
		t.Fatalf("inspect: no stack in %s", path)
	}
	return s
}

// checkPausedIn fails the test unless the snapshot is paused in the WASI
// call call (fd_read, poll_oneoff), as wasi-libc makes it: the top frame
// is libc's wrapper, at its call to the import.
func checkPausedIn(t *testing.T, s pausedSnapshot, call string) {
	t.Helper()
	top := s.Stack[len(s.Stack)-1]
	if want := "call __imported_wasi_snapshot_preview1_" + call + ", instruction "; top.Name != "__wasi_"+call || !strings.HasPrefix(top.At, want) {
		t.Errorf("paused in %s at %q, want __wasi_%s at %q...", top.Name, top.At, call, want)
	}
}

// TestFirstStdin snapshots echo (uninstrumented, or instrumented on the
// fly) with --snapshot-on first-stdin when it first reads stdin, in
// fd_read or in poll_oneoff, and stops it there or lets it go on; `wasmsr
// resume` in another process then performs the read. The two processes'
// stdout together must be the uninterrupted, uninstrumented run's byte for
// byte: no input byte lost or read twice. A resume's stdin is read from
// where the snapshot left it when it is the same regular file; a pipe
// goes on after what the snapshot holds (with stdin /dev/null, nothing).
func TestFirstStdin(t *testing.T) {
	tests := []struct {
		name string
		// instrument runs the uninstrumented module with --instrument.
		instrument bool
		args       []string // the guest's
		stop       bool     // --stop-after-snapshot
		// How exec and resume get their stdin (echoLines).
		execIn, resumeIn stdinSource
		call             string // where the snapshot pauses
	}{
		{name: "fd_read, stopped, input piped to resume", stop: true, execIn: noStdin, resumeIn: pipeStdin, call: "fd_read"},
		{name: "fd_read, stopped, the same input file", stop: true, execIn: fileStdin, resumeIn: fileStdin, call: "fd_read"},
		{name: "poll_oneoff, stopped", args: []string{"-poll"}, stop: true, execIn: noStdin, resumeIn: pipeStdin, call: "poll_oneoff"},
		{name: "instrumented on the fly", instrument: true, stop: true, execIn: noStdin, resumeIn: pipeStdin, call: "fd_read"},
		{name: "fd_read, continued", execIn: fileStdin, resumeIn: fileStdin, call: "fd_read"},
		{name: "poll_oneoff, continued", args: []string{"-poll"}, execIn: fileStdin, resumeIn: fileStdin, call: "poll_oneoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ref := echoReference(t, echoLines, tc.args...)
			module := instrumentedGuest(t, "e2e/echo.wasm")
			flags := []string{"exec", "-q", "--snapshot-on", "first-stdin"}
			if tc.instrument {
				module = corpus.Built(t, "e2e/echo.wasm")
				flags = append(flags, "--instrument")
			}
			if tc.stop {
				flags = append(flags, "--stop-after-snapshot")
			}
			snaps := filepath.Join(t.TempDir(), "snaps")
			flags = append(flags, "--snapshot-dir", snaps, module, "--")
			stdout1, stderr, code := runCLIWithStdin(t, tc.execIn, echoLines, append(flags, tc.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exec: exit %d, stderr %q", code, stderr)
			}
			if want := echoBanner; !tc.stop {
				if want = ref; stdout1 != want {
					t.Errorf("exec: stdout %q, want %q", stdout1, want)
				}
			} else if stdout1 != want {
				t.Errorf("exec: stdout %q, want %q", stdout1, want)
			}
			if got := snapshotNames(t, snaps); fmt.Sprint(got) != "[snapshot-000001.wsm]" {
				t.Fatalf("snapshots %v, want [snapshot-000001.wsm]", got)
			}
			s := inspectPaused(t, filepath.Join(snaps, "snapshot-000001.wsm"))
			if s.Meta.Seq != 1 || s.Meta.Reason != "first-stdin" {
				t.Errorf("snapshot %d (%s), want 1 (first-stdin)", s.Meta.Seq, s.Meta.Reason)
			}
			checkPausedIn(t, s, tc.call)

			stdout2, stderr, code := runCLIWithStdin(t, tc.resumeIn, echoLines, "resume", snaps)
			if code != 0 || stderr != "" {
				t.Fatalf("resume: exit %d, stderr %q", code, stderr)
			}
			if tc.stop {
				sameBytes(t, "stdout of exec and resume", []byte(stdout1+stdout2), []byte(ref))
			} else {
				sameBytes(t, "stdout of the resume", []byte(stdout2), []byte(strings.TrimPrefix(ref, echoBanner)))
			}
		})
	}
}

// TestFirstStdinOncePerProcess: first-stdin fires once per process. A
// resume asked for it again pauses again at its first read, the one it
// resumes into (and takes no input); a resume not asked for it does not.
func TestFirstStdinOncePerProcess(t *testing.T) {
	ref := echoReference(t, echoLines)
	module := instrumentedGuest(t, "e2e/echo.wasm")
	snaps := filepath.Join(t.TempDir(), "snaps")
	stopFlags := []string{"-q", "--snapshot-on", "first-stdin", "--stop-after-snapshot"}
	var stdout strings.Builder
	steps := []struct {
		args []string
		in   stdinSource
		// snapshots after the step.
		snapshots string
	}{
		{append(append([]string{"exec"}, stopFlags...), "--snapshot-dir", snaps, module), noStdin, "[snapshot-000001.wsm]"},
		{append(append([]string{"resume"}, stopFlags...), snaps), fileStdin, "[snapshot-000001.wsm snapshot-000002.wsm]"},
		// Snapshots on a signal only: none is taken.
		{[]string{"resume", "-q", "--snapshot-on", "SIGUSR2", snaps}, fileStdin, "[snapshot-000001.wsm snapshot-000002.wsm]"},
	}
	for i, step := range steps {
		out, stderr, code := runCLIWithStdin(t, step.in, echoLines, step.args...)
		if code != 0 || stderr != "" {
			t.Fatalf("step %d: exit %d, stderr %q", i, code, stderr)
		}
		stdout.WriteString(out)
		if got := snapshotNames(t, snaps); fmt.Sprint(got) != step.snapshots {
			t.Fatalf("step %d: snapshots %v, want %s", i, got, step.snapshots)
		}
		if i == 1 && out != "" {
			t.Errorf("the resume that paused again wrote %q", out)
		}
	}
	s := inspectPaused(t, filepath.Join(snaps, "snapshot-000002.wsm"))
	if s.Meta.Seq != 2 || s.Meta.Reason != "first-stdin" {
		t.Errorf("snapshot %d (%s), want 2 (first-stdin)", s.Meta.Seq, s.Meta.Reason)
	}
	checkPausedIn(t, s, "fd_read")
	sameBytes(t, "stdout of the three processes", []byte(stdout.String()), []byte(ref))
}

// waitIdle waits until process pid has used no CPU time for a while: a
// program that has printed a prompt is then blocked in its read, not still
// on its way there (which a loaded machine can stretch to milliseconds).
func waitIdle(t *testing.T, pid int) {
	t.Helper()
	cpu := func() string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// utime and stime: the 12th and 13th fields after the command's ")".
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		return f[11] + " " + f[12]
	}
	last, still := cpu(), 0
	for deadline := time.Now().Add(10 * time.Second); still < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if now := cpu(); now == last {
			still++
		} else {
			last, still = now, 0
		}
	}
	if still < 5 {
		t.Fatalf("process %d never went idle", pid)
	}
}

// TestSnapshotOnSignal sends SIGUSR1 to a job waiting for input: it
// snapshots and goes on (its blocked read is re-issued), ends with exit 0
// and the uninterrupted run's output, and the snapshot resumes in another
// process.
func TestSnapshotOnSignal(t *testing.T) {
	ref := echoReference(t, echoLines)
	module := instrumentedGuest(t, "e2e/echo.wasm")
	snaps := filepath.Join(t.TempDir(), "snaps")
	cmd := command(t, "exec", "--snapshot-on", "SIGUSR1", "--snapshot-dir", snaps, module)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout, stderr := bufio.NewReader(stdoutPipe), bufio.NewReader(stderrPipe)
	if line, err := stdout.ReadString('\n'); err != nil || line != echoBanner {
		t.Fatalf("first line %q (%v), want %q", line, err, echoBanner)
	}
	// The program has written its banner; the signal must find it in the
	// read that follows, not on its way there.
	waitIdle(t, cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	line, err := stderr.ReadString('\n')
	wantPrefix := "wasmsr: snapshot 1 -> " + filepath.Join(snaps, "snapshot-000001.wsm") + " ("
	if err != nil || !strings.HasPrefix(line, wantPrefix) || !strings.HasSuffix(line, ", user defined signal 1)\n") {
		t.Fatalf("stderr line %q (%v), want %q...%q", line, err, wantPrefix, ", user defined signal 1)\n")
	}
	io.WriteString(stdin, echoLines)
	stdin.Close()
	rest, err := io.ReadAll(stdout)
	if err != nil {
		t.Fatal(err)
	}
	restErr, err := io.ReadAll(stderr)
	if err != nil {
		t.Fatal(err)
	}
	var errBuf bytes.Buffer
	if code := exitCode(t, cmd.Wait(), &errBuf); code != 0 || len(restErr) != 0 {
		t.Fatalf("exec: exit %d, more stderr %q", code, restErr)
	}
	sameBytes(t, "stdout of exec", append([]byte(echoBanner), rest...), []byte(ref))

	if got := snapshotNames(t, snaps); fmt.Sprint(got) != "[snapshot-000001.wsm]" {
		t.Fatalf("snapshots %v, want [snapshot-000001.wsm]", got)
	}
	s := inspectPaused(t, filepath.Join(snaps, "snapshot-000001.wsm"))
	if s.Meta.Reason != "user defined signal 1" {
		t.Errorf("snapshot reason %q", s.Meta.Reason)
	}
	checkPausedIn(t, s, "fd_read")
	out, errOut, code := runCLIWithStdin(t, pipeStdin, echoLines, "resume", snaps)
	if code != 0 || errOut != "" {
		t.Fatalf("resume: exit %d, stderr %q", code, errOut)
	}
	sameBytes(t, "stdout of the resume", []byte(out), []byte(strings.TrimPrefix(ref, echoBanner)))
}

// TestExecEnv: --env reaches the program exactly, in order; a malformed
// one is refused with one line before anything runs.
func TestExecEnv(t *testing.T) {
	module := instrumentedGuest(t, "e2e/echo.wasm")
	tests := []struct {
		env        []string
		code       int
		stdout     string
		stderrLine string
	}{
		{env: nil, stdout: echoBanner + "echo: 0 lines\n"},
		{env: []string{"A=1", "B=x=y", "EMPTY="}, stdout: "env: A=1\nenv: B=x=y\nenv: EMPTY=\n" + echoBanner + "echo: 0 lines\n"},
		{env: []string{"A=1", "NOVALUE"}, code: 1, stderrLine: `wasmsr: exec: --env "NOVALUE": want NAME=VALUE`},
		{env: []string{"=x"}, code: 1, stderrLine: `wasmsr: exec: --env "=x": want NAME=VALUE`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.env, ","), func(t *testing.T) {
			args := []string{"exec"}
			for _, e := range tc.env {
				args = append(args, "--env", e)
			}
			stdout, stderr, code := runCLI(t, append(args, module, "--", "-env")...)
			want := ""
			if tc.stderrLine != "" {
				want = tc.stderrLine + "\n"
			}
			if code != tc.code || stdout != tc.stdout || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr %q", code, stdout, stderr, tc.code, tc.stdout, want)
			}
		})
	}
}
