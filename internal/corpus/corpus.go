// Package corpus locates the test programs: those the Makefile builds into
// build/testdata and the compiled programs shipped in the wazero module.
//
// The guest programs' sources live in testdata/c/NAME.c and
// testdata/go/NAME/main.go, with their expected stdout in testdata/c/NAME.stdout
// and testdata/go/NAME/stdout. `make testdata` (testdata/testdata.mk) builds
// them into build/testdata/c/NAME.wasm and build/testdata/go/NAME.wasm. A
// Program describes one built program and how to run it (arguments, stdin, a
// scratch directory, expected stdout and exit code), so that tests can run the
// original and a transformed module the same way and compare the results:
//
//	for _, p := range corpus.CPrograms(t) {
//		p.Check(t, transform(t, p.Wasm(t)))
//	}
//
// Tests that need a built program call Built (or CPrograms, ...); when it is
// missing they are skipped, unless WASMSR_REQUIRE_CORPUS=1 (set by `make
// test`), in which case they fail.
package corpus

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wasmsr/wasmsr/wasm"
)

// Module is the module path of this repository.
const Module = "github.com/wasmsr/wasmsr"

// RequireEnv is the environment variable that, set to 1, turns a missing
// built program into a test failure instead of a skip.
const RequireEnv = "WASMSR_REQUIRE_CORPUS"

// DirMount is the guest path at which a fresh temporary directory is mounted
// for programs with NeedsDir.
const DirMount = "/work"

// Root returns the repository root (the dir holding go.mod with module
// github.com/wasmsr/wasmsr), found from the working directory.
func Root(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	for dir := wd; ; {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(data) == Module {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("corpus: no go.mod for module %s in %s or any parent directory", Module, wd)
		}
		dir = parent
	}
}

// modulePath returns the path from the module directive of a go.mod file.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`+"`")
		}
	}
	return ""
}

// Built returns the absolute path of build/testdata/<rel> (e.g.
// "c/recursion.wasm"). If the file is missing, it fails the test when
// WASMSR_REQUIRE_CORPUS=1 and skips it otherwise, telling to run `make
// testdata`.
func Built(tb testing.TB, rel string) string {
	tb.Helper()
	path := filepath.Join(Root(tb), "build", "testdata", filepath.FromSlash(rel))
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("corpus: %s is not built (%v); run `make testdata` in the repository root", rel, err)
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return path
}

// BuiltWithoutNames returns the built program rel (see Built) without its
// name section, its bodies byte for byte, so that its DWARF still fits
// them: a module that names its functions only in DWARF.
func BuiltWithoutNames(tb testing.TB, rel string) []byte {
	tb.Helper()
	input, err := os.ReadFile(Built(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := (&wasm.Decoder{KeepSource: true}).Decode(input)
	if err != nil {
		tb.Fatal(err)
	}
	m.Names = nil
	m.Customs = slices.DeleteFunc(m.Customs, func(c wasm.CustomSection) bool { return c.Name == "name" })
	unnamed, err := wasm.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	return unnamed
}

// Program describes a built guest program and how to run it.
type Program struct {
	// Name is "c/NAME" or "go/NAME".
	Name string
	// Path is the absolute path of the built .wasm file.
	Path string
	// Args are the arguments after argv[0]; argv[0] is the base of Name.
	// For programs with NeedsDir, paths under DirMount refer to the
	// scratch directory.
	Args []string
	// Stdin is the program's standard input.
	Stdin []byte
	// NeedsDir asks for a fresh temporary directory mounted at DirMount.
	NeedsDir bool
	// WantExit is the expected exit code.
	WantExit uint32
	// WantStdout is the exact expected standard output, read from Golden.
	// It is nil when the golden file does not exist.
	WantStdout []byte
	// Golden is the path of the golden stdout file.
	Golden string
}

// runSpec is how a program is run by tests, when it differs from the
// default (no arguments, no stdin, exit code 0).
type runSpec struct {
	args     []string
	stdin    string
	needsDir bool
	exit     uint32
}

// specs holds the run descriptions of programs that need one. Benchmark-like
// programs get small arguments here so that they stay fast under test.
var specs = map[string]runSpec{
	"c/files": {
		args:     []string{DirMount + "/out.txt", "-stdin"},
		stdin:    "first line of stdin\nsecond line\n\tthird, with a tab and no newline",
		needsDir: true,
	},
	"c/exitcode":  {exit: 3},
	"c/tightloop": {args: []string{"1000000"}},
	"c/fib":       {args: []string{"25"}},
}

func newProgram(tb testing.TB, name, wasmRel, golden string) Program {
	tb.Helper()
	p := Program{Name: name, Path: Built(tb, wasmRel), Golden: golden}
	if s, ok := specs[name]; ok {
		p.Args = s.args
		if s.stdin != "" {
			p.Stdin = []byte(s.stdin)
		}
		p.NeedsDir = s.needsDir
		p.WantExit = s.exit
	}
	if data, err := os.ReadFile(golden); err == nil {
		p.WantStdout = data
	} else if !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("corpus: %v", err)
	}
	return p
}

// CPrograms returns all C programs (one per testdata/c/*.c), built, with
// the arguments to run them with as tests.
func CPrograms(tb testing.TB) []Program {
	tb.Helper()
	root := Root(tb)
	srcs, err := filepath.Glob(filepath.Join(root, "testdata", "c", "*.c"))
	if err != nil || len(srcs) == 0 {
		tb.Fatalf("corpus: no C programs in %s (%v)", filepath.Join(root, "testdata", "c"), err)
	}
	sort.Strings(srcs)
	var ps []Program
	for _, src := range srcs {
		base := strings.TrimSuffix(filepath.Base(src), ".c")
		ps = append(ps, newProgram(tb, "c/"+base, "c/"+base+".wasm", strings.TrimSuffix(src, ".c")+".stdout"))
	}
	return ps
}

// GoPrograms returns all Go programs (one per testdata/go/NAME/main.go),
// built, with the arguments to run them with as tests. gofmt is not among
// them; see Gofmt.
func GoPrograms(tb testing.TB) []Program {
	tb.Helper()
	root := Root(tb)
	mains, err := filepath.Glob(filepath.Join(root, "testdata", "go", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		tb.Fatalf("corpus: no Go programs in %s (%v)", filepath.Join(root, "testdata", "go"), err)
	}
	sort.Strings(mains)
	var ps []Program
	for _, m := range mains {
		dir := filepath.Dir(m)
		base := filepath.Base(dir)
		ps = append(ps, newProgram(tb, "go/"+base, "go/"+base+".wasm", filepath.Join(dir, "stdout")))
	}
	return ps
}

// Programs returns CPrograms followed by GoPrograms.
func Programs(tb testing.TB) []Program {
	tb.Helper()
	return append(CPrograms(tb), GoPrograms(tb)...)
}

// Gofmt returns the path of gofmt compiled for wasip1 (build/testdata/go/gofmt.wasm).
// It formats its stdin to its stdout when run without arguments.
func Gofmt(tb testing.TB) string {
	tb.Helper()
	return Built(tb, "go/gofmt.wasm")
}

var wazeroDir struct {
	once sync.Once
	dir  string
	err  error
}

// WazeroDir returns the wazero module's directory (via `go list -m -f
// {{.Dir}} github.com/tetratelabs/wazero`, cached).
func WazeroDir(tb testing.TB) string {
	tb.Helper()
	root := Root(tb)
	wazeroDir.once.Do(func() {
		goCmd := "go"
		if _, err := exec.LookPath(goCmd); err != nil {
			if goroot := os.Getenv("GOROOT"); goroot != "" {
				goCmd = filepath.Join(goroot, "bin", "go")
			}
		}
		cmd := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero")
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		dir := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			wazeroDir.err = fmt.Errorf("go list -m github.com/tetratelabs/wazero: %v: %s", err, stderr.Bytes())
		case dir == "":
			wazeroDir.err = errors.New("go list -m github.com/tetratelabs/wazero: module not downloaded")
		default:
			wazeroDir.dir = dir
		}
	})
	if wazeroDir.err != nil {
		tb.Fatalf("corpus: %v", wazeroDir.err)
	}
	return wazeroDir.dir
}

// WazeroPrograms returns the absolute paths of every .wasm file shipped in
// the wazero module outside its spectest directories, sorted: compiled
// programs (TinyGo, Rust, Zig, zig-cc, Emscripten, AssemblyScript, Go
// binaries) as well as small hand-written modules and fuzzer-found cases.
// Some use post-MVP features (threads, exception handling, tail calls).
func WazeroPrograms(tb testing.TB) []string {
	tb.Helper()
	root := WazeroDir(tb)
	var paths []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "spectest" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".wasm") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	sort.Strings(paths)
	return paths
}
