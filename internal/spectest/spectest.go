// Package spectest loads the WebAssembly spec test suite that ships, already
// converted by wast2json, inside the wazero module, and runs its assertions
// on wazero, optionally through a module transform.
package spectest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Suite is one directory of the suite: a proposal or a spec version, with
// the wazero features it needs.
type Suite struct {
	Name     string
	Dir      string
	Features api.CoreFeatures
	Files    []*File
}

// File is one converted .wast file.
type File struct {
	Path     string
	Name     string
	Commands []Command
}

// Command is one command of a converted .wast file.
type Command struct {
	Type       string  `json:"type"`
	Line       int     `json:"line"`
	Name       string  `json:"name"`
	Filename   string  `json:"filename"`
	As         string  `json:"as"`
	Action     Action  `json:"action"`
	Expected   []Value `json:"expected"`
	ModuleType string  `json:"module_type"`
	Text       string  `json:"text"`
}

// Action is an invocation or a global read.
type Action struct {
	Type   string  `json:"type"`
	Module string  `json:"module"`
	Field  string  `json:"field"`
	Args   []Value `json:"args"`
}

// Value is an argument or expected result: Value is a string (or, for
// v128, one string per lane); floats are bit patterns or "nan:canonical" /
// "nan:arithmetic".
type Value struct {
	Type     string `json:"type"`
	LaneType string `json:"lane_type"`
	Value    any    `json:"value"`
}

// ModuleRef names a module file of a suite.
type ModuleRef struct {
	Suite   *Suite
	File    *File
	Command Command
	Path    string
}

// suiteFeatures lists the suites and what wazero must enable for them, as
// wazero's own spec tests do.
var suiteFeatures = []struct {
	name     string
	features api.CoreFeatures
}{
	{"v1", api.CoreFeaturesV1},
	{"v2", api.CoreFeaturesV2},
	{"tail-call", api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall},
	{"extended-const", api.CoreFeaturesV2 | experimental.CoreFeaturesExtendedConst},
	{"exception-handling", api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling |
		experimental.CoreFeaturesTailCall | experimental.CoreFeaturesTypedFunctionReferences},
	{"threads", api.CoreFeaturesV2 | experimental.CoreFeaturesThreads},
	{"typed-function-references", api.CoreFeaturesV2 | experimental.CoreFeaturesTypedFunctionReferences |
		experimental.CoreFeaturesTailCall},
}

var loaded struct {
	once   sync.Once
	suites []*Suite
	err    error
}

// Suites loads every suite (once per process).
func Suites() ([]*Suite, error) {
	loaded.once.Do(func() { loaded.suites, loaded.err = load() })
	return loaded.suites, loaded.err
}

// wazeroDir finds the wazero module in the module cache.
func wazeroDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	if err != nil {
		return "", fmt.Errorf("spectest: finding the wazero module: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func load() ([]*Suite, error) {
	dir, err := wazeroDir()
	if err != nil {
		return nil, err
	}
	var suites []*Suite
	for _, sf := range suiteFeatures {
		s := &Suite{Name: sf.name, Dir: filepath.Join(dir, "internal", "integration_test", "spectest", sf.name, "testdata"), Features: sf.features}
		paths, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
		if err != nil || len(paths) == 0 {
			return nil, fmt.Errorf("spectest: no json files in %s", s.Dir)
		}
		sort.Strings(paths)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			var f struct {
				Commands []Command `json:"commands"`
			}
			if err := json.Unmarshal(data, &f); err != nil {
				return nil, fmt.Errorf("spectest: %s: %w", p, err)
			}
			s.Files = append(s.Files, &File{Path: p, Name: strings.TrimSuffix(filepath.Base(p), ".json"), Commands: f.Commands})
		}
		suites = append(suites, s)
	}
	return suites, nil
}

// ModulePath returns the absolute path of a command's module file.
func (f *File) ModulePath(c Command) string { return filepath.Join(filepath.Dir(f.Path), c.Filename) }

// Modules lists the binary modules of the suite: those of module commands
// (valid), and those assert_malformed and assert_invalid name.
func (s *Suite) Modules() (valid, malformed, invalid []ModuleRef) {
	for _, f := range s.Files {
		for _, c := range f.Commands {
			if !strings.HasSuffix(c.Filename, ".wasm") {
				continue
			}
			ref := ModuleRef{Suite: s, File: f, Command: c, Path: f.ModulePath(c)}
			switch c.Type {
			case "module":
				valid = append(valid, ref)
			case "assert_malformed":
				malformed = append(malformed, ref)
			case "assert_invalid":
				invalid = append(invalid, ref)
			}
		}
	}
	return valid, malformed, invalid
}
