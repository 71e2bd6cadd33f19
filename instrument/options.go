package instrument

import (
	"fmt"
	"strings"
)

// Safepoints says where, besides calls, an instrumented module checks
// whether the host asked it to pause.
type Safepoints byte

const (
	// SafepointsLoops checks at every loop header, and at the entry of
	// functions that may recurse, so a program stuck in pure computation can
	// be paused at any time.
	SafepointsLoops Safepoints = iota
	// SafepointsCalls pauses only at calls that may unwind.
	SafepointsCalls
	// SafepointsNone is SafepointsCalls without the pause requests: the
	// module unwinds only when an import starts it, as with Binaryen.
	SafepointsNone
)

var safepointNames = [...]string{"loops", "calls", "none"}

func (s Safepoints) String() string {
	if int(s) < len(safepointNames) {
		return safepointNames[s]
	}
	return fmt.Sprintf("safepoints(%d)", s)
}

// ParseSafepoints parses "loops", "calls" or "none".
func ParseSafepoints(s string) (Safepoints, error) {
	for i, name := range safepointNames {
		if s == name {
			return Safepoints(i), nil
		}
	}
	return 0, fmt.Errorf("unknown safepoint mode %q (want loops, calls or none)", s)
}

// Options select what is instrumented. The zero value instruments like
// wasm-opt --asyncify (every import may unwind, indirect calls may unwind)
// and adds safepoints at loop headers.
type Options struct {
	// Imports lists the imports that may unwind, as "module.name" patterns
	// where * matches any run of characters. Nil means every import.
	Imports []string
	// IgnoreImports assumes no import unwinds.
	IgnoreImports bool
	// IgnoreIndirect assumes indirect calls (call_indirect, call_ref) never unwind.
	IgnoreIndirect bool
	Safepoints     Safepoints
	// Only, when non-nil, limits instrumentation to the functions whose
	// names match; all others are assumed never to unwind.
	Only []string
	// Remove names functions that are never instrumented.
	Remove []string
	// Add names functions that are always instrumented.
	Add []string
	// Force passes an already instrumented module through unchanged
	// instead of refusing it (for pipelines that may see either).
	Force bool
	// StripDebug drops the module's DWARF (.debug_* sections) instead of
	// mapping its code addresses through the rewrite.
	StripDebug bool
	// Wasm1 keeps a module that uses nothing beyond WebAssembly 1.0 within
	// it, for engines that know nothing newer: the restores then load one
	// local per helper call instead of a run of them (multi-value).
	Wasm1 bool
	// SiteDetails writes the sites' details (abi.Site: a call's target,
	// the instruction, the stack's locals, the locals saved) in the
	// abi.SitesSectionName section, for wasmsr inspect and debuggers; a
	// module that keeps its DWARF gets them anyway, being built for
	// debugging. No host needs them to run, pause or restore the module,
	// and on C++ they are most of the wasmsr sections' bytes. They change
	// no code, so String leaves them out.
	SiteDetails bool
}

// String renders the options as the command-line flags that select them,
// canonically, for the custom section and messages.
func (o *Options) String() string {
	var flags []string
	if o.Imports != nil {
		flags = append(flags, "--imports="+strings.Join(o.Imports, ","))
	}
	if o.IgnoreImports {
		flags = append(flags, "--ignore-imports")
	}
	if o.IgnoreIndirect {
		flags = append(flags, "--ignore-indirect")
	}
	flags = append(flags, "--safepoints="+o.Safepoints.String())
	if o.Wasm1 {
		flags = append(flags, "--wasm1")
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"only", o.Only}, {"remove", o.Remove}, {"add", o.Add}} {
		if l.list != nil {
			flags = append(flags, "--"+l.name+"="+strings.Join(l.list, ","))
		}
	}
	return strings.Join(flags, " ")
}

// matchAny reports whether name matches one of the patterns, where * stands
// for any run of characters (including dots and slashes, unlike path.Match).
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, name) {
			return true
		}
	}
	return false
}

func wildcardMatch(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(name, part)
		if i < 0 {
			return false
		}
		name = name[i+len(part):]
	}
	return strings.HasSuffix(name, last)
}

// importName is how patterns name an import.
func importName(module, name string) string { return module + "." + name }
