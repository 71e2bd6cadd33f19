package wasip1

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// caseMount mounts a fixture directory: "dir" and "tons" are wazero's
// readdir fixtures, "example" is the cat example's testdata, "scratch" is
// a new empty directory for each run.
type caseMount struct {
	fixture, guest string
	readOnly       bool
}

// conformanceCase is a run of a WASI test program shipped with wazero.
type conformanceCase struct {
	name   string
	wasm   string // relative to imports/wasi_snapshot_preview1
	args   []string
	stdin  string // empty: no stdin
	mounts []caseMount
}

// conformanceCases are the runs of wazero's wasi_stdlib_test.go and of its
// cat example, for each toolchain the test runs. Left out, with reasons:
//   - tinygo "ls . repeat": TinyGo cannot seek a directory
//     (tinygo-org/tinygo#3823), wazero skips it too;
//   - "ls" of the Go program: wazero builds it only when a Go toolchain is
//     at hand, and its other commands need sockets;
//   - poll with a stdin that is never ready: wazero's test swaps in a file
//     that is internal to wazero, and a plain blocking reader is "always
//     ready" to wazero but not here;
//   - cargo-wasi "sock": without a listener it loops forever on accept's
//     error, under wazero as here; with one, sockets are unsupported here;
//   - zig-cc "nonblock": it prints a dot per 100 ms that the FIFO stays
//     empty, so its output depends on timing (TestNonblockingFIFO covers
//     it instead).
func conformanceCases() []conformanceCase {
	dirRO := []caseMount{{"dir", "/", true}}
	var cases []conformanceCase
	for _, tc := range []string{"cargo-wasi", "tinygo", "zig-cc", "zig"} {
		bin := "testdata/" + tc + "/wasi.wasm"
		cases = append(cases,
			conformanceCase{name: tc + "/ls empty directory", wasm: bin, args: []string{"wasi", "ls", "./a-"}, mounts: dirRO},
			conformanceCase{name: tc + "/ls not a directory", wasm: bin, args: []string{"wasi", "ls", "-"}, mounts: dirRO},
			conformanceCase{name: tc + "/ls directory with entries", wasm: bin, args: []string{"wasi", "ls", "."}, mounts: dirRO},
			conformanceCase{name: tc + "/ls tons of entries", wasm: bin, args: []string{"wasi", "ls", "."}, mounts: []caseMount{{"tons", "/", true}}},
			conformanceCase{name: tc + "/stat", wasm: bin, args: []string{"wasi", "stat"}, mounts: []caseMount{{"scratch", "/", false}}},
		)
		if tc != "tinygo" {
			cases = append(cases, conformanceCase{name: tc + "/ls read twice", wasm: bin, args: []string{"wasi", "ls", ".", "repeat"}, mounts: dirRO})
		}
		cat := "example/testdata/" + tc + "/cat.wasm"
		exampleMounts := []caseMount{{"example", "/", true}, {"example", "/testcases", true}}
		cases = append(cases, conformanceCase{name: tc + "/cat test.txt", wasm: cat, args: []string{"cat", "test.txt"}, mounts: exampleMounts})
		if tc != "zig" { // zig resolves paths in the first preopen only
			cases = append(cases, conformanceCase{name: tc + "/cat testcases/test.txt", wasm: cat, args: []string{"cat", "/testcases/test.txt"}, mounts: exampleMounts})
		}
		cases = append(cases, conformanceCase{name: tc + "/cat missing file", wasm: cat, args: []string{"cat", "missing.txt"}, mounts: exampleMounts})
	}
	zigcc := "testdata/zig-cc/wasi.wasm"
	return append(cases,
		conformanceCase{name: "zig/preopen", wasm: "testdata/zig/wasi.wasm", args: []string{"wasi", "preopen"},
			mounts: []caseMount{{"scratch", "/", false}, {"scratch", "/tmp", false}}},
		conformanceCase{name: "zig-cc/poll data ready", wasm: zigcc, args: []string{"wasi", "poll"}, stdin: "test"},
		conformanceCase{name: "zig-cc/poll data ready, .5sec", wasm: zigcc, args: []string{"wasi", "poll", "0", "500"}, stdin: "test"},
		conformanceCase{name: "zig-cc/poll at EOF, .5sec", wasm: zigcc, args: []string{"wasi", "poll", "0", "500"}},
		conformanceCase{name: "zig-cc/sleepmillis", wasm: zigcc, args: []string{"wasi", "sleepmillis", "100"}},
		conformanceCase{name: "zig-cc/open-rdonly", wasm: zigcc, args: []string{"wasi", "open-rdonly"}, mounts: []caseMount{{"scratch", "/", false}}},
		conformanceCase{name: "zig-cc/open-wronly", wasm: zigcc, args: []string{"wasi", "open-wronly"}, mounts: []caseMount{{"scratch", "/", false}}},
		conformanceCase{name: "zig-cc/sock without listener", wasm: zigcc, args: []string{"wasi", "sock"}},
		conformanceCase{name: "zig-cc/unknown command", wasm: zigcc, args: []string{"wasi", "frobnicate"}},
		conformanceCase{name: "wat/print_args", wasm: "testdata/print_args.wasm", args: []string{"print_args", "a", "bc", ""}},
		conformanceCase{name: "wat/print_prestat_dirname", wasm: "testdata/print_prestat_dirname.wasm", mounts: []caseMount{{"scratch", "/work", false}}},
		conformanceCase{name: "wat/exit_on_start", wasm: "testdata/exit_on_start.wasm"},
	)
}

// TestConformance runs wazero's WASI test programs under wazero's WASI and
// under this one and requires byte-identical stdout and stderr and the same
// exit code.
func TestConformance(t *testing.T) {
	wasiDir := filepath.Join(corpus.WazeroDir(t), "imports", "wasi_snapshot_preview1")
	fixtures := map[string]string{"example": filepath.Join(wasiDir, "example", "testdata")}
	fixtures["dir"], fixtures["tons"] = readdirFixtures(t)
	for _, tc := range conformanceCases() {
		t.Run(tc.name, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(wasiDir, filepath.FromSlash(tc.wasm)))
			if err != nil {
				t.Fatal(err)
			}
			mounts := func() []Mount {
				var ms []Mount
				for _, m := range tc.mounts {
					dir := fixtures[m.fixture]
					if m.fixture == "scratch" {
						dir = t.TempDir()
					}
					ms = append(ms, Mount{HostDir: dir, GuestPath: m.guest, ReadOnly: m.readOnly})
				}
				return ms
			}
			want := runWazero(t, wasm, tc.args, tc.stdin, mounts())
			cfg := Config{Args: tc.args, Mounts: mounts()}
			if tc.stdin != "" {
				cfg.Stdin = strings.NewReader(tc.stdin)
			}
			got := runOurs(t, wasm, cfg)
			if got != want {
				t.Errorf("differs from wazero\nwazero: %+v\nours:   %+v", want, got)
			}
			if want.failed {
				t.Errorf("the case fails under wazero: %s", want.stderr)
			}
		})
	}
}

// readdirFixtures writes the directories of wazero's readdir tests
// (internal/fstest): "dir" with "-", "a-" (an empty directory) and "ab-",
// and "tons" with 8096 empty files.
func readdirFixtures(t *testing.T) (dir, tons string) {
	root := t.TempDir()
	dir, tons = filepath.Join(root, "dir"), filepath.Join(root, "tons")
	for _, d := range []string{dir, filepath.Join(dir, "a-"), tons} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{filepath.Join(dir, "-"), filepath.Join(dir, "ab-")}
	for i := range 8096 {
		files = append(files, filepath.Join(tons, strconv.Itoa(i)))
	}
	for _, f := range files {
		if err := os.WriteFile(f, nil, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return dir, tons
}

// runWazero runs wasm's _start under wazero's own WASI, with its
// deterministic clocks and random source.
func runWazero(t *testing.T, wasm []byte, args []string, stdin string, mounts []Mount) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := newRuntime(ctx, true)
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	fsCfg := wazero.NewFSConfig()
	for _, m := range mounts {
		if m.ReadOnly {
			fsCfg = fsCfg.WithReadOnlyDirMount(m.HostDir, m.GuestPath)
		} else {
			fsCfg = fsCfg.WithDirMount(m.HostDir, m.GuestPath)
		}
	}
	cfg := wazero.NewModuleConfig().WithArgs(args...).WithStdout(&stdout).WithStderr(&stderr).WithFSConfig(fsCfg)
	if stdin != "" {
		cfg = cfg.WithStdin(strings.NewReader(stdin))
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.InstantiateModule(ctx, compiled, cfg)
	return outcome(err, &stdout, &stderr)
}

// TestCorpus runs this repository's C and Go test programs and checks
// their golden output.
func TestCorpus(t *testing.T) {
	for _, p := range corpus.Programs(t) {
		t.Run(p.Name, func(t *testing.T) {
			cfg := Config{Args: append([]string{path.Base(p.Name)}, p.Args...)}
			if p.Stdin != nil {
				cfg.Stdin = bytes.NewReader(p.Stdin)
			}
			if p.NeedsDir {
				cfg.Mounts = []Mount{{HostDir: t.TempDir(), GuestPath: corpus.DirMount}}
			}
			r := runOurs(t, p.Wasm(t), cfg)
			if r.failed {
				t.Fatalf("%s: %s", p.Name, r.stderr)
			}
			p.Verify(t, []byte(r.stdout), r.exit)
		})
	}
}

// TestGofmt formats a Go file through gofmt's stdin under both WASIs: a
// real Go program reading all of a large stdin.
func TestGofmt(t *testing.T) {
	wasm, err := os.ReadFile(corpus.Gofmt(t))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("fs.go")
	if err != nil {
		t.Fatal(err)
	}
	want := runWazero(t, wasm, []string{"gofmt"}, string(src), nil)
	got := runOurs(t, wasm, Config{Args: []string{"gofmt"}, Stdin: bytes.NewReader(src)})
	if got != want || got.stdout != string(src) {
		t.Errorf("gofmt differs from wazero's run or from its (formatted) input\nwazero: exit %d, %d bytes out, stderr %q\nours: exit %d, %d bytes out, stderr %q",
			want.exit, len(want.stdout), want.stderr, got.exit, len(got.stdout), got.stderr)
	}
}
