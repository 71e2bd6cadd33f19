package instrument_test

// The DWARF of a module through the rewrite (issue 17), checked with
// LLVM's own reader: llvm-dwarfdump.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestDWARFLines instruments C programs built with -g (at -O0 and -O2,
// in DWARF 4 and 5): every instruction of the input that is still in the
// output has, by llvm-dwarfdump's reading of the line tables, the same
// file and line there as in the input, and llvm-dwarfdump --verify finds
// nothing new. The DWARF 5 programs have their DWARF 5 sections (whose
// lines.c unit's subprograms, ranges and location lists go through
// .debug_addr, .debug_rnglists and .debug_loclists) all kept.
func TestDWARFLines(t *testing.T) {
	dump := lookTool(t, "llvm-dwarfdump", "llvm")
	dwarf5 := []string{".debug_addr", ".debug_rnglists", ".debug_line_str", ".debug_str_offsets"}
	for _, name := range []string{"lines-g", "lines-O2", "lines-g-dwarf5", "lines-O2-dwarf5"} {
		for _, sp := range []instrument.Safepoints{instrument.SafepointsLoops, instrument.SafepointsCalls} {
			t.Run(name+"/"+sp.String(), func(t *testing.T) {
				inPath := corpus.Built(t, "debug/"+name+".wasm")
				input, err := os.ReadFile(inPath)
				if err != nil {
					t.Fatal(err)
				}
				out, report, err := instrument.Instrument(input, instrument.Options{Safepoints: sp})
				if err != nil {
					t.Fatal(err)
				}
				if len(report.Warnings) > 0 {
					t.Errorf("warnings: %q", report.Warnings)
				}
				if strings.HasSuffix(name, "-dwarf5") {
					want := append(dwarf5[:len(dwarf5):len(dwarf5)], ".debug_loclists")
					if name == "lines-g-dwarf5" {
						want = dwarf5 // -O0 keeps every variable in memory: no lists
					}
					for _, section := range want {
						if !slices.Contains(customSections(t, input), section) || !slices.Contains(customSections(t, out), section) {
							t.Errorf("%s: not in both the input and the output", section)
						}
					}
				}
				outPath := filepath.Join(t.TempDir(), name+".sr.wasm")
				if err := os.WriteFile(outPath, out, 0o644); err != nil {
					t.Fatal(err)
				}
				mp := instrument.DebugMap(report)
				if mp == nil {
					t.Fatal("no DWARF map")
				}
				inLines, outLines := readLineTables(t, dump, inPath), readLineTables(t, dump, outPath)
				inLocs, outLocs := readLocationLists(t, dump, inPath), readLocationLists(t, dump, outPath)
				if len(inLocs) == 0 && name != "lines-g-dwarf5" {
					t.Fatal("no location lists in the input")
				}
				m, err := (&wasm.Decoder{KeepSource: true}).Decode(input)
				if err != nil {
					t.Fatal(err)
				}
				inCode, outCode := codeSectionStart(t, input), codeSectionStart(t, out)
				var kept, all, moved, bad int
				var samples [][2]uint64
				for k := range m.Code {
					offsets, err := m.Code[k].InstrOffsets()
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range offsets {
						all++
						a := uint64(o - inCode)
						na, ok := mp.Instr(a)
						if !ok {
							continue
						}
						kept++
						if na != a {
							moved++
						}
						// memory.size and memory.grow become calls (memory.go).
						if op := out[int(na)+outCode]; input[o] != op && !(op == byte(wasm.OpCall) && (input[o] == byte(wasm.OpMemorySize) || input[o] == byte(wasm.OpMemoryGrow))) {
							t.Fatalf("instruction at 0x%x (opcode 0x%02x) mapped to 0x%x, which holds opcode 0x%02x", a, input[o], na, out[int(na)+outCode])
						}
						want, got := inLines.lookup(a), outLines.lookup(na)
						if want != got {
							if bad++; bad <= 10 {
								t.Errorf("instruction at 0x%x: line %q in the input, at 0x%x in the output line %q", a, want, na, got)
							}
						}
						for key, list := range inLocs {
							if want, got := list.at(a), outLocs[key].at(na); want != got {
								if bad++; bad <= 10 {
									t.Errorf("instruction at 0x%x: %s is %q in the input, at 0x%x in the output %q", a, key, want, na, got)
								}
							}
						}
						if kept%97 == 0 {
							samples = append(samples, [2]uint64{a, na})
						}
					}
				}
				if bad > 0 {
					t.Errorf("%d changes of lines or variables' locations in %d instructions", bad, kept)
				}
				// Most instructions survive (the rewrite drops only dead code)
				// and most move.
				if kept < all*9/10 || moved < kept/2 {
					t.Errorf("%d of %d instructions kept, %d moved", kept, all, moved)
				}
				// llvm-dwarfdump --lookup, which goes through .debug_info and
				// the unit's ranges to the unit, then its entries' low and
				// high pc to the innermost scope, on a sample.
				for _, s := range samples {
					if want, got := lookup(t, dump, inPath, s[0]), lookup(t, dump, outPath, s[1]); want != got {
						t.Errorf("--lookup=0x%x on the input: %q; --lookup=0x%x on the output: %q", s[0], want, s[1], got)
					}
				}
				if want, got := verifyErrors(t, dump, inPath), verifyErrors(t, dump, outPath); got != want {
					t.Errorf("llvm-dwarfdump --verify: %q on the input, %q on the output", want, got)
				}
			})
		}
	}
}

// TestStripDebug: --strip-debug leaves no DWARF section.
func TestStripDebug(t *testing.T) {
	input, err := os.ReadFile(corpus.Built(t, "debug/lines-g.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := instrument.Instrument(input, instrument.Options{StripDebug: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(customSections(t, out), " "), "name producers wasmsr"; got != want {
		t.Errorf("custom sections %q, want %q", got, want)
	}
}

func codeSectionStart(t *testing.T, module []byte) int {
	l, err := wasm.ReadLayout(module)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Sections {
		if s.ID == wasm.SectionCode {
			return s.Offset
		}
	}
	t.Fatal("no code section")
	return 0
}

// lineTables are the rows of a module's line tables as llvm-dwarfdump
// prints them.
type lineTables struct {
	seqs []lineSeq
}

type lineSeq struct {
	start, end uint64
	rows       []lineRow
}

type lineRow struct {
	addr uint64
	pos  string // file:line, "" for line 0
}

var lineRowRE = regexp.MustCompile(`^0x([0-9a-f]{16})\s+(\d+)\s+\d+\s+(\d+)\s+\d+\s+\d+\s*(.*)$`)
var fileNameRE = regexp.MustCompile(`^\s+name: "(.*)"$`)
var fileIndexRE = regexp.MustCompile(`^file_names\[\s*(\d+)\]:$`)

func readLineTables(t *testing.T, dump, path string) *lineTables {
	out, err := exec.Command(dump, "--debug-line", path).Output()
	if err != nil {
		t.Fatalf("llvm-dwarfdump --debug-line %s: %v", path, err)
	}
	lt := &lineTables{}
	files := map[string]string{}
	var cur lineSeq
	fileIndex := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "debug_line[") {
			files = map[string]string{}
			continue
		}
		if m := fileIndexRE.FindStringSubmatch(line); m != nil {
			fileIndex = m[1]
			continue
		}
		if m := fileNameRE.FindStringSubmatch(line); m != nil && fileIndex != "" {
			files[fileIndex], fileIndex = m[1], ""
			continue
		}
		m := lineRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		addr, _ := strconv.ParseUint(m[1], 16, 64)
		if strings.Contains(m[4], "end_sequence") {
			cur.end = addr
			if len(cur.rows) > 0 {
				cur.start = cur.rows[0].addr
				lt.seqs = append(lt.seqs, cur)
			}
			cur = lineSeq{}
			continue
		}
		pos := ""
		if m[2] != "0" {
			pos = files[m[3]] + ":" + m[2]
		}
		cur.rows = append(cur.rows, lineRow{addr, pos})
	}
	sort.SliceStable(lt.seqs, func(i, j int) bool { return lt.seqs[i].start < lt.seqs[j].start })
	return lt
}

// lookup returns the position of the row that covers addr in the
// sequence that starts last at or before it.
func (lt *lineTables) lookup(addr uint64) string {
	for k := len(lt.seqs) - 1; k >= 0; k-- {
		s := &lt.seqs[k]
		if s.start <= addr && addr < s.end {
			i := sort.Search(len(s.rows), func(i int) bool { return s.rows[i].addr > addr }) - 1
			return s.rows[i].pos
		}
	}
	return ""
}

// locationList is a location list as llvm-dwarfdump prints it: the
// ranges of code addresses, and their expressions.
type locationList []locationEntry

type locationEntry struct {
	start, end uint64
	expr       string
}

// at returns the expression of the first entry that covers addr, "" for
// none.
func (l locationList) at(addr uint64) string {
	for _, e := range l {
		if e.start <= addr && addr < e.end {
			return e.expr
		}
	}
	return ""
}

var (
	dieRE      = regexp.MustCompile(`^(0x[0-9a-f]+):\s+DW_TAG_`)
	attrRE     = regexp.MustCompile(`^\s+(DW_AT_\w+)\t`)
	locEntryRE = regexp.MustCompile(`^\s+\[0x([0-9a-f]+), 0x([0-9a-f]+)\): (.*)$`)
)

// readLocationLists returns the location lists of a module's DWARF, by
// the offset of their entry in .debug_info (which the rewrite keeps) and
// attribute, from llvm-dwarfdump --debug-info: what DW_AT_location and
// its kind say through .debug_loc or .debug_loclists (and .debug_addr).
func readLocationLists(t *testing.T, dump, path string) map[string]locationList {
	out, err := exec.Command(dump, "--debug-info", path).Output()
	if err != nil {
		t.Fatalf("llvm-dwarfdump --debug-info %s: %v", path, err)
	}
	lists := map[string]locationList{}
	die, attr := "", ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := dieRE.FindStringSubmatch(line); m != nil {
			die = m[1]
			continue
		}
		if m := attrRE.FindStringSubmatch(line); m != nil {
			attr = m[1]
			continue
		}
		if m := locEntryRE.FindStringSubmatch(line); m != nil {
			start, _ := strconv.ParseUint(m[1], 16, 64)
			end, _ := strconv.ParseUint(m[2], 16, 64)
			key := die + " " + attr
			expr := m[3]
			if strings.HasSuffix(expr, ")") && strings.Count(expr, "(") < strings.Count(expr, ")") {
				expr = expr[:len(expr)-1] // the list's end
			}
			lists[key] = append(lists[key], locationEntry{start, end, expr})
		}
	}
	return lists
}

// lookupRE matches what llvm-dwarfdump --lookup says of an address: the
// entries (by their offsets in .debug_info, which the rewrite keeps)
// from the unit down to the innermost scope that covers it, and its
// source position.
var lookupRE = regexp.MustCompile(`(?m)^0x[0-9a-f]+:\s+(Compile Unit|DW_TAG_\w+)|^Line info: .*$`)

func lookup(t *testing.T, dump, path string, addr uint64) string {
	// It exits with 1 for an address no unit covers.
	out, err := exec.Command(dump, fmt.Sprintf("--lookup=0x%x", addr), path).Output()
	if exit, ok := err.(*exec.ExitError); err != nil && !(ok && exit.ExitCode() == 1) {
		t.Fatalf("llvm-dwarfdump --lookup %s: %v", path, err)
	}
	return strings.Join(lookupRE.FindAllString(string(out), -1), "\n")
}

// verifyErrors is llvm-dwarfdump --verify's verdict: its error lines, or
// "No errors.".
func verifyErrors(t *testing.T, dump, path string) string {
	out, _ := exec.Command(dump, "--verify", path).CombinedOutput()
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "error:") || strings.Contains(line, "No errors.") {
			errs = append(errs, strings.ReplaceAll(line, path, "FILE"))
		}
	}
	return strings.Join(errs, "\n")
}

// TestDWARFTrapLine: wazero's stack trace of a trap in an instrumented
// function names the source line of the trapping instruction, which it
// reads from the DWARF.
func TestDWARFTrapLine(t *testing.T) {
	input, err := os.ReadFile(corpus.Built(t, "debug/lines-g.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := instrument.Instrument(input, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	_, err = r.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithArgs("lines", "trap", "10"))
	if err == nil {
		t.Fatal("no trap")
	}
	// The division of line 20, in work, called by main.
	msg := err.Error()
	want := regexp.MustCompile(`(?m)^\t\.work\(i32\) i32\n\t\t0x[0-9a-f]+: .*/testdata/debug/lines\.c:20:\d+$`)
	if !strings.Contains(msg, "integer divide by zero") || !want.MatchString(msg) {
		t.Errorf("trap:\n%s\nwant the division by zero in work at lines.c:20", msg)
	}
}

// TestDWARFUnmapped: what cannot be mapped is dropped with one warning
// line, never kept stale: a section wasmsr does not read alone, and all
// of the DWARF when .debug_info itself cannot be read.
func TestDWARFUnmapped(t *testing.T) {
	withFrame := func(m *wasm.Module) {
		m.Customs = append(m.Customs, wasm.CustomSection{Name: ".debug_frame", Data: []byte{1, 2, 3}, After: wasm.SectionData})
	}
	// set returns a change that writes b at offset off of section name.
	set := func(name string, off int, b ...byte) func(*wasm.Module) {
		return func(m *wasm.Module) {
			for i := range m.Customs {
				if m.Customs[i].Name == name {
					data := bytes.Clone(m.Customs[i].Data)
					copy(data[off:], b)
					m.Customs[i].Data = data
				}
			}
		}
	}
	const (
		dwarf4 = ".debug_info .debug_loc .debug_ranges .debug_abbrev .debug_line .debug_str name producers wasmsr wasmsr.sites"
		dwarf5 = ".debug_info .debug_loclists .debug_loc .debug_line_str .debug_ranges .debug_abbrev .debug_str_offsets .debug_rnglists .debug_line .debug_str .debug_addr name producers wasmsr wasmsr.sites"
	)
	without := func(name string) string { return strings.Replace(dwarf5, name+" ", "", 1) }
	for _, tc := range []struct {
		name, module string
		change       func(*wasm.Module)
		warning      string
		left         string
	}{
		{"frame", "lines-g", withFrame, ".debug_frame not mapped through the rewrite (wasmsr does not read it): dropped", dwarf4},
		{"version 6", "lines-g", set(".debug_info", 4, 6), "DWARF not mapped through the rewrite (.debug_info at 0x0: DWARF version 6 is not mapped): dropped .debug_abbrev, .debug_info, .debug_line, .debug_loc, .debug_ranges, .debug_str",
			"name producers wasmsr wasmsr.sites"},
		{"64-bit", "lines-O2-dwarf5", set(".debug_info", 0, 0xff, 0xff, 0xff, 0xff), "DWARF not mapped through the rewrite (.debug_info at 0x0: 64-bit DWARF is not mapped): dropped .debug_abbrev, .debug_addr, .debug_info, .debug_line, .debug_line_str, .debug_loc, .debug_loclists, .debug_ranges, .debug_rnglists, .debug_str, .debug_str_offsets",
			"name producers wasmsr wasmsr.sites"},
		{"split unit", "lines-O2-dwarf5", set(".debug_info", 0x55+6, 5), "DWARF not mapped through the rewrite (.debug_info at 0x55: unit type 5 is not mapped): dropped .debug_abbrev, .debug_addr, .debug_info, .debug_line, .debug_line_str, .debug_loc, .debug_loclists, .debug_ranges, .debug_rnglists, .debug_str, .debug_str_offsets",
			"name producers wasmsr wasmsr.sites"},
		{"rnglists version", "lines-O2-dwarf5", set(".debug_rnglists", 4, 6), ".debug_rnglists not mapped through the rewrite (at 0x0: version 6): dropped", without(".debug_rnglists")},
		{"loclists kind", "lines-O2-dwarf5", set(".debug_loclists", 0x30, 0x30), ".debug_loclists not mapped through the rewrite (at 0x30: list entry kind 0x30 is not mapped): dropped",
			without(".debug_loclists")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			input, err := os.ReadFile(corpus.Built(t, "debug/"+tc.module+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := (&wasm.Decoder{KeepSource: true}).Decode(input)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(m)
			changed, err := wasm.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			out, report, err := instrument.Instrument(changed, instrument.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(report.Warnings, "\n"); got != tc.warning {
				t.Errorf("warnings:\n%s\nwant:\n%s", got, tc.warning)
			}
			customs := customSections(t, out)
			if got := strings.Join(customs, " "); got != tc.left {
				t.Errorf("custom sections %q, want %q", got, tc.left)
			}
		})
	}
}

// TestDWARFNames: without a name section, the rewrite names functions
// by their DWARF subprograms (in its report and messages, and for --only).
func TestDWARFNames(t *testing.T) {
	unnamed := corpus.BuiltWithoutNames(t, "debug/lines-g.wasm")
	_, report, err := instrument.Instrument(unnamed, instrument.Options{Only: []string{"work", "main"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range report.Functions {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, " "), "work main"; got != want {
		t.Errorf("instrumented %q, want %q", got, want)
	}
}

// customSections lists the names of a module's custom sections, in order.
func customSections(t *testing.T, module []byte) []string {
	t.Helper()
	l, err := wasm.ReadLayout(module)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range l.Sections {
		if s.ID == wasm.SectionCustom {
			names = append(names, s.Name)
		}
	}
	return names
}
