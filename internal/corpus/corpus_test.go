package corpus

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden stdout files from the programs' actual output")

func TestRoot(t *testing.T) {
	root := Root(t)
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if got := modulePath(data); got != Module {
		t.Fatalf("module %q, want %q", got, Module)
	}
}

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"module github.com/wasmsr/wasmsr\n\ngo 1.26\n": Module,
		"// comment\nmodule \"example.com/x\"\n":       "example.com/x",
		"go 1.26\n":                                    "",
	} {
		if got := modulePath([]byte(in)); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPrograms runs every built guest program under wazero and compares its
// stdout and exit code with the golden ones. With -update it rewrites the
// golden files instead (check the diff before committing).
func TestPrograms(t *testing.T) {
	for _, p := range Programs(t) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			stdout, exit := p.Run(t, p.Wasm(t))
			t.Logf("%s: %d bytes of wasm, ran in %v (including compilation)", p.Name, fileSize(t, p.Path), time.Since(start).Round(time.Millisecond))
			if *update {
				if exit != p.WantExit {
					t.Errorf("exit code %d, want %d (exit codes are in the specs table, not golden files)", exit, p.WantExit)
				}
				if err := os.WriteFile(p.Golden, stdout, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			p.Verify(t, stdout, exit)
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestProgramsComplete(t *testing.T) {
	names := map[string]bool{}
	for _, p := range Programs(t) {
		if names[p.Name] {
			t.Errorf("duplicate program %s", p.Name)
		}
		names[p.Name] = true
		if !filepath.IsAbs(p.Path) {
			t.Errorf("%s: path %s is not absolute", p.Name, p.Path)
		}
		if p.WantStdout == nil {
			t.Errorf("%s: no golden stdout file %s", p.Name, p.Golden)
		}
	}
	for name := range specs {
		if !names[name] {
			t.Errorf("specs has an entry for %s, which is not a program", name)
		}
	}
	for _, want := range []string{"c/recursion", "c/files", "c/simd", "go/goroutines", "go/compute"} {
		if !names[want] {
			t.Errorf("program %s missing", want)
		}
	}
	if names["go/gofmt"] {
		t.Errorf("GoPrograms includes gofmt")
	}
}

// TestFilesScratchDir checks that files.c really used the mounted directory:
// the scratch directory is fresh for every run, so running twice gives the
// same output.
func TestFilesScratchDir(t *testing.T) {
	for _, p := range CPrograms(t) {
		if p.Name != "c/files" {
			continue
		}
		wasm := p.Wasm(t)
		p.Check(t, wasm)
		p.Check(t, wasm)
		q := p
		q.NeedsDir = false
		r := q.Exec(t, wasm)
		if r.Err != nil || r.Exit == 0 {
			t.Errorf("files without a mounted dir: exit %d, err %v; want a non-zero exit", r.Exit, r.Err)
		}
		return
	}
	t.Fatal("no c/files program")
}

func TestExecTrap(t *testing.T) {
	// (module (func (export "_start") unreachable))
	wasm := []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
		0x03, 0x02, 0x01, 0x00, // function section
		0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export _start
		0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // code: unreachable
	}
	r := Program{Name: "test/trap"}.Exec(t, wasm)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "unreachable") {
		t.Fatalf("Exec of a trapping module: err %v, want an unreachable trap", r.Err)
	}
}

func TestGofmt(t *testing.T) {
	src := "package main\nimport \"fmt\"\nfunc main(){\nx:=[]int{1,2,\n3}\nfmt.Println( x )}\n"
	want := "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tx := []int{1, 2,\n\t\t3}\n\tfmt.Println(x)\n}\n"
	p := Program{Name: "go/gofmt", Path: Gofmt(t), Stdin: []byte(src), WantStdout: []byte(want)}
	p.Check(t, p.Wasm(t))

	p = Program{Name: "go/gofmt", Path: p.Path, Stdin: []byte("package main\nfunc {\n")}
	stdout, exit := p.Run(t, p.Wasm(t))
	if exit != 2 || len(stdout) != 0 {
		t.Errorf("gofmt of a syntax error: exit %d, stdout %q; want exit 2 and no output", exit, stdout)
	}
}

func TestWazeroPrograms(t *testing.T) {
	dir := WazeroDir(t)
	if dir != WazeroDir(t) {
		t.Fatal("WazeroDir is not stable")
	}
	paths := WazeroPrograms(t)
	if !sort.StringsAreSorted(paths) {
		t.Error("not sorted")
	}
	want := map[string]bool{
		"imports/wasi_snapshot_preview1/example/testdata/tinygo/cat.wasm":     false,
		"imports/wasi_snapshot_preview1/example/testdata/cargo-wasi/cat.wasm": false,
		"imports/wasi_snapshot_preview1/testdata/zig-cc/wasi.wasm":            false,
	}
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		if strings.Contains("/"+rel, "/spectest/") {
			t.Errorf("%s is in a spectest dir", rel)
		}
		if _, ok := want[rel]; ok {
			want[rel] = true
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("\x00asm")) {
			t.Errorf("%s does not start with the wasm magic", rel)
		}
	}
	for rel, found := range want {
		if !found {
			t.Errorf("%s not returned", rel)
		}
	}
	t.Logf("%d wazero programs", len(paths))
}

func TestBuiltMissing(t *testing.T) {
	t.Setenv(RequireEnv, "0")
	skipped := false
	ok := t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Built(t, "c/no-such-program.wasm")
		t.Error("Built returned for a missing file")
	})
	if !ok || !skipped {
		t.Errorf("Built of a missing file without %s=1: ok %v, skipped %v; want a skip", RequireEnv, ok, skipped)
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct{ want, got, has string }{
		{"a\nb\nc\n", "a\nb\nc\n", "no line differs"},
		{"a\nb\nc\n", "a\nB\nc\n", `line 2 (want 6 bytes in 4 lines, got 6 bytes in 4 lines):` + "\nwant: \"b\\n\"\ngot:  \"B\\n\""},
		{"a\nb\n", "a\n", "line 2"},
		{"a\n", "a\nextra", "line 2"},
	} {
		if got := diff([]byte(c.want), []byte(c.got)); !strings.Contains(got, c.has) {
			t.Errorf("diff(%q, %q) = %q, want it to contain %q", c.want, c.got, got, c.has)
		}
	}
}
