package instrument_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestStages with what the stages make now")

// TestStages runs every stage of the rewrite on each hand-written module
// of testdata/wat and compares what it makes, as text, with the golden
// files testdata/stages/MODULE/STAGE (see instrument.StageText): a change
// of the code a stage writes shows as a diff there, to be read by eye and
// accepted with `go test ./instrument -run TestStages -update`.
func TestStages(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "wat", "*.wat"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs in testdata/wat: %v", err)
	}
	type stageCase struct {
		name, file string
		opts       instrument.Options
	}
	var cases []stageCase
	for _, in := range inputs {
		file := filepath.Base(in)
		cases = append(cases, stageCase{strings.TrimSuffix(file, ".wat"), file, instrument.Options{}})
	}
	// Go's code is dispatch loops: they are shown in calls mode too.
	cases = append(cases, stageCase{"dispatch_loop.calls", "dispatch_loop.wat", instrument.Options{Safepoints: instrument.SafepointsCalls}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, err := instrument.StageText(watFile(t, "wat/"+c.file, "--debug-names"), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "stages", c.name)
			for _, stage := range instrument.Stages {
				golden := filepath.Join(dir, stage)
				if *update {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(text[stage]), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to write it)", err)
				}
				if got := text[stage]; got != string(want) {
					t.Errorf("stage %s differs from %s (-update accepts it):\n%s", stage, golden, lineDiff(string(want), got))
				}
			}
		})
	}
}

// lineDiff shows the first lines where got differs from want, with their
// line numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 12; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
			shown++
		}
	}
	return b.String()
}
