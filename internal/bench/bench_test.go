package bench_test

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/bench"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]bench.Mount{
		dir:                 {Host: dir, Guest: dir},
		dir + ":/src":       {Host: dir, Guest: "/src"},
		dir + ":/src:ro":    {Host: dir, Guest: "/src", ReadOnly: true},
		dir + ":ro":         {Host: dir, Guest: dir, ReadOnly: true},
		dir + "/.:/a/b:ro":  {Host: dir + "/.", Guest: "/a/b", ReadOnly: true},
		dir + "/:/work/dir": {Host: dir + "/", Guest: "/work/dir"},
	} {
		got, err := bench.ParseMount(in)
		if err != nil || got != want {
			t.Errorf("ParseMount(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":/src", dir + ":", file + ":/f", filepath.Join(dir, "missing") + ":/m"} {
		if m, err := bench.ParseMount(in); err == nil {
			t.Errorf("ParseMount(%q) = %+v, want an error", in, m)
		}
	}
}

// TestRun runs the corpus program that uses stdin and a mounted directory,
// twice with the same cache: the second run must load the compiled code
// and behave the same.
func TestRun(t *testing.T) {
	var files corpus.Program
	for _, p := range corpus.CPrograms(t) {
		if p.Name == "c/files" {
			files = p
		}
	}
	if !files.NeedsDir {
		t.Fatal("c/files: no longer the corpus program with a mounted directory")
	}
	cache := t.TempDir()
	for run := range 2 {
		var stdout, stderr bytes.Buffer
		exit, err := bench.Run(context.Background(), bench.Command{
			Wasm:     files.Wasm(t),
			Args:     append([]string{path.Base(files.Name)}, files.Args...),
			Mounts:   []bench.Mount{{Host: t.TempDir(), Guest: corpus.DirMount}},
			CacheDir: cache,
			Stdin:    bytes.NewReader(files.Stdin),
			Stdout:   &stdout,
			Stderr:   &stderr,
		})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, stderr.Bytes())
		}
		files.Verify(t, stdout.Bytes(), exit)
		if entries, err := os.ReadDir(cache); err != nil || len(entries) == 0 {
			t.Fatalf("run %d: nothing in the compilation cache (%v)", run, err)
		}
	}
}

func TestRunExitCode(t *testing.T) {
	for _, p := range corpus.CPrograms(t) {
		if p.Name != "c/exitcode" {
			continue
		}
		exit, err := bench.Run(context.Background(), bench.Command{Wasm: p.Wasm(t), Args: []string{"exitcode"}})
		if err != nil || exit != p.WantExit {
			t.Fatalf("exit %d, %v; want exit %d", exit, err, p.WantExit)
		}
		return
	}
	t.Fatal("no c/exitcode program")
}

func TestMeasureGrowth(t *testing.T) {
	in := corpus.CPrograms(t)[0].Wasm(t)
	out, report, err := instrument.Instrument(in, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := bench.MeasureGrowth(in, out)
	if err != nil {
		t.Fatal(err)
	}
	if g.Before != len(in) || g.After != len(out) {
		t.Errorf("sizes %d -> %d, want %d -> %d", g.Before, g.After, len(in), len(out))
	}
	if len(g.Funcs) != len(report.Functions) || len(g.Funcs) == 0 {
		t.Errorf("%d functions, want the %d instrumented ones", len(g.Funcs), len(report.Functions))
	}
	for k, f := range g.Funcs {
		if f.After <= f.Before || f.Sites == 0 {
			t.Errorf("%s: %d -> %d bytes with %d unwind points", f.Name, f.Before, f.After, f.Sites)
		}
		if k > 0 && f.After-f.Before > g.Funcs[k-1].After-g.Funcs[k-1].Before {
			t.Errorf("functions not sorted by growth at %d", k)
		}
	}
	var wasmsr bool
	for _, s := range g.Sections {
		wasmsr = wasmsr || s.Name == "custom "+abi.SectionName && s.Before == 0 && s.After > 0
	}
	if !wasmsr {
		t.Errorf("no new wasmsr section among %+v", g.Sections)
	}
	var md strings.Builder
	if err := g.WriteMarkdown(&md, 3); err != nil {
		t.Fatal(err)
	}
	if name := g.Funcs[0].Name; !strings.Contains(md.String(), "| "+name+" [") {
		t.Errorf("markdown does not list %q, the function that grew most:\n%s", name, md.String())
	}

	if _, err := bench.MeasureGrowth(in, in); err == nil {
		t.Error("MeasureGrowth accepted a module wasmsr did not instrument")
	}
}
