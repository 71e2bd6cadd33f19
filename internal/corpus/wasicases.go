package corpus

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// WASIMount mounts a fixture directory for a WASICase: "dir" and "tons" are
// wazero's readdir fixtures, "example" is the cat example's testdata (see
// WASIFixtures), "scratch" is a new empty directory for each run.
type WASIMount struct {
	Fixture, Guest string
	ReadOnly       bool
}

// WASICase is a run of a WASI test program shipped with wazero.
type WASICase struct {
	Name string
	// Wasm is relative to the wazero module's imports/wasi_snapshot_preview1.
	Wasm   string
	Args   []string
	Stdin  string // empty: no stdin
	Mounts []WASIMount
}

// WASIDir returns the wazero module's imports/wasi_snapshot_preview1
// directory, which WASICase.Wasm is relative to.
func WASIDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(WazeroDir(tb), "imports", "wasi_snapshot_preview1")
}

// WASICases are the runs of wazero's wasi_stdlib_test.go and of its cat
// example, for each toolchain the test runs: what hostrt/wasip1's and
// hostrt's conformance tests compare with wazero's own WASI. Left out,
// with reasons:
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
//     empty, so its output depends on timing (hostrt/wasip1's
//     TestNonblockingFIFO covers it instead).
func WASICases() []WASICase {
	dirRO := []WASIMount{{"dir", "/", true}}
	var cases []WASICase
	for _, tc := range []string{"cargo-wasi", "tinygo", "zig-cc", "zig"} {
		bin := "testdata/" + tc + "/wasi.wasm"
		cases = append(cases,
			WASICase{Name: tc + "/ls empty directory", Wasm: bin, Args: []string{"wasi", "ls", "./a-"}, Mounts: dirRO},
			WASICase{Name: tc + "/ls not a directory", Wasm: bin, Args: []string{"wasi", "ls", "-"}, Mounts: dirRO},
			WASICase{Name: tc + "/ls directory with entries", Wasm: bin, Args: []string{"wasi", "ls", "."}, Mounts: dirRO},
			WASICase{Name: tc + "/ls tons of entries", Wasm: bin, Args: []string{"wasi", "ls", "."}, Mounts: []WASIMount{{"tons", "/", true}}},
			WASICase{Name: tc + "/stat", Wasm: bin, Args: []string{"wasi", "stat"}, Mounts: []WASIMount{{"scratch", "/", false}}},
		)
		if tc != "tinygo" {
			cases = append(cases, WASICase{Name: tc + "/ls read twice", Wasm: bin, Args: []string{"wasi", "ls", ".", "repeat"}, Mounts: dirRO})
		}
		cat := "example/testdata/" + tc + "/cat.wasm"
		exampleMounts := []WASIMount{{"example", "/", true}, {"example", "/testcases", true}}
		cases = append(cases, WASICase{Name: tc + "/cat test.txt", Wasm: cat, Args: []string{"cat", "test.txt"}, Mounts: exampleMounts})
		if tc != "zig" { // zig resolves paths in the first preopen only
			cases = append(cases, WASICase{Name: tc + "/cat testcases/test.txt", Wasm: cat, Args: []string{"cat", "/testcases/test.txt"}, Mounts: exampleMounts})
		}
		cases = append(cases, WASICase{Name: tc + "/cat missing file", Wasm: cat, Args: []string{"cat", "missing.txt"}, Mounts: exampleMounts})
	}
	zigcc := "testdata/zig-cc/wasi.wasm"
	return append(cases,
		WASICase{Name: "zig/preopen", Wasm: "testdata/zig/wasi.wasm", Args: []string{"wasi", "preopen"},
			Mounts: []WASIMount{{"scratch", "/", false}, {"scratch", "/tmp", false}}},
		WASICase{Name: "zig-cc/poll data ready", Wasm: zigcc, Args: []string{"wasi", "poll"}, Stdin: "test"},
		WASICase{Name: "zig-cc/poll data ready, .5sec", Wasm: zigcc, Args: []string{"wasi", "poll", "0", "500"}, Stdin: "test"},
		WASICase{Name: "zig-cc/poll at EOF, .5sec", Wasm: zigcc, Args: []string{"wasi", "poll", "0", "500"}},
		WASICase{Name: "zig-cc/sleepmillis", Wasm: zigcc, Args: []string{"wasi", "sleepmillis", "100"}},
		WASICase{Name: "zig-cc/open-rdonly", Wasm: zigcc, Args: []string{"wasi", "open-rdonly"}, Mounts: []WASIMount{{"scratch", "/", false}}},
		WASICase{Name: "zig-cc/open-wronly", Wasm: zigcc, Args: []string{"wasi", "open-wronly"}, Mounts: []WASIMount{{"scratch", "/", false}}},
		WASICase{Name: "zig-cc/sock without listener", Wasm: zigcc, Args: []string{"wasi", "sock"}},
		WASICase{Name: "zig-cc/unknown command", Wasm: zigcc, Args: []string{"wasi", "frobnicate"}},
		WASICase{Name: "wat/print_args", Wasm: "testdata/print_args.wasm", Args: []string{"print_args", "a", "bc", ""}},
		WASICase{Name: "wat/print_prestat_dirname", Wasm: "testdata/print_prestat_dirname.wasm", Mounts: []WASIMount{{"scratch", "/work", false}}},
		WASICase{Name: "wat/exit_on_start", Wasm: "testdata/exit_on_start.wasm"},
	)
}

// WASIFixtures returns the host directories of the fixtures WASIMount
// names, but "scratch": "example" in the wazero module, and "dir" and
// "tons", the directories of wazero's readdir tests (internal/fstest)
// written under tb.TempDir(): "dir" with "-", "a-" (an empty directory)
// and "ab-", and "tons" with 8096 empty files.
func WASIFixtures(tb testing.TB) map[string]string {
	tb.Helper()
	root := tb.TempDir()
	dir, tons := filepath.Join(root, "dir"), filepath.Join(root, "tons")
	for _, d := range []string{dir, filepath.Join(dir, "a-"), tons} {
		if err := os.Mkdir(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	files := []string{filepath.Join(dir, "-"), filepath.Join(dir, "ab-")}
	for i := range 8096 {
		files = append(files, filepath.Join(tons, strconv.Itoa(i)))
	}
	for _, f := range files {
		if err := os.WriteFile(f, nil, 0o400); err != nil {
			tb.Fatal(err)
		}
	}
	return map[string]string{
		"example": filepath.Join(WASIDir(tb), "example", "testdata"),
		"dir":     dir,
		"tons":    tons,
	}
}
