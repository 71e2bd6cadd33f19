package main

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt/blob"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/wasm"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "describe a module (sections, imports, exports, limits, largest functions, frames) or a snapshot (open files, paused stack)",
		ArgsUsage: "FILE.wasm|SNAPSHOT|STORE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the description as JSON"},
			&cli.IntFlag{Name: "top", Value: 10, Usage: "how many of the largest functions to list"},
			&cli.IntFlag{Name: "frames", Value: 20, Usage: "for an instrumented module, how many frame layouts to list (-1: all)"},
			&cli.StringFlag{Name: "snapshot-key", Usage: "check a snapshot's signature with the keys in `FILE`, and refuse it unless it is signed with one of them"},
			encryptKeyFlag("decrypt an encrypted snapshot with the keys in `FILE`"),
			&cli.StringFlag{Name: "max-memory", Usage: "refuse a snapshot whose memory is larger than `SIZE` (default: half of this machine's memory, at most 4GiB)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: expected one FILE.wasm, SNAPSHOT or STORE argument, got %d", c.NArg())
			}
			path := c.Args().First()
			// A store (a directory, or in object storage) shows its newest.
			isSnapshot := blob.IsRemote(path)
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				isSnapshot = true
			}
			var err error
			if !isSnapshot {
				if isSnapshot, err = hasMagic(path, snapshot.Magic); err != nil {
					return err
				}
			}
			if !isSnapshot {
				if isSnapshot, err = hasMagic(path, snapshot.EnvelopeMagic); err != nil {
					return err
				}
			}
			if isSnapshot {
				opts, err := readOptions(c)
				if err != nil {
					return err
				}
				rep, err := describeSnapshot(path, opts)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(c.App.Writer)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				return rep.write(c.App.Writer)
			}
			data, err := readFile(path)
			if err != nil {
				return err
			}
			rep, err := describeModule(data, c.Int("top"), c.Int("frames"))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rep.File = path
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.write(c.App.Writer)
		},
	}
}

// moduleReport is what inspect tells about a module; its JSON form is for scripts.
type moduleReport struct {
	File      string          `json:"file"`
	Size      int             `json:"size"`
	Sections  []sectionReport `json:"sections"`
	Counts    countsReport    `json:"counts"`
	Memories  []limitsReport  `json:"memories"`
	Tables    []tableReport   `json:"tables"`
	Imports   []importReport  `json:"imports"`
	Exports   []exportReport  `json:"exports"`
	Functions []funcReport    `json:"largest_functions"`
	// Instrumented describes the wasmsr section of an instrumented module.
	Instrumented *instrumentedReport `json:"instrumented,omitempty"`
}

type instrumentedReport struct {
	Version     uint32        `json:"format_version"`
	InputSHA256 string        `json:"input_sha256"`
	Options     string        `json:"options"`
	Exports     []string      `json:"added_exports"`
	Functions   int           `json:"instrumented_functions"`
	Sites       int           `json:"unwind_points"`
	Details     bool          `json:"site_details"`
	Frames      []frameReport `json:"frames"`
	MoreFrames  int           `json:"more_frames,omitempty"`
}

type frameReport struct {
	Index  uint32       `json:"index"`
	Name   string       `json:"name,omitempty"`
	Size   uint32       `json:"frame_bytes"`
	Locals []string     `json:"saved_locals"`
	Sites  []siteReport `json:"unwind_points"`
}

type siteReport struct {
	Kind string `json:"kind"`
	// The rest is known when the module has the sites' details
	// (--site-details).
	Target string    `json:"target,omitempty"`
	Instr  *int32    `json:"instruction,omitempty"`
	Stack  []uint32  `json:"stack_locals,omitempty"`
	Saved  *[]uint32 `json:"saved_locals,omitempty"`
	// AllSaved: the site saves every local of the frame (the text says so
	// rather than list them again).
	AllSaved bool `json:"-"`
}

type sectionReport struct {
	ID     byte   `json:"id"`
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Size   int    `json:"size"`
}

type countsReport struct {
	Types           int `json:"types"`
	ImportedFuncs   int `json:"imported_functions"`
	DefinedFuncs    int `json:"defined_functions"`
	Globals         int `json:"globals"`
	Tables          int `json:"tables"`
	Memories        int `json:"memories"`
	Tags            int `json:"tags"`
	ElementSegments int `json:"element_segments"`
	DataSegments    int `json:"data_segments"`
	Instructions    int `json:"instructions"`
}

type limitsReport struct {
	Imported bool    `json:"imported"`
	Min      uint32  `json:"min"`
	Max      *uint32 `json:"max,omitempty"`
	Shared   bool    `json:"shared,omitempty"`
}

type tableReport struct {
	limitsReport
	Elem string `json:"elem"`
}

type importReport struct {
	Module string `json:"module"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Type   string `json:"type"`
}

type exportReport struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Index uint32 `json:"index"`
}

type funcReport struct {
	Index    uint32 `json:"index"`
	Name     string `json:"name,omitempty"`
	BodySize int    `json:"body_size"`
	Type     string `json:"type"`
}

func describeModule(data []byte, top, frames int) (*moduleReport, error) {
	m, err := (&wasm.Decoder{KeepSource: true}).Decode(data)
	if err != nil {
		return nil, err
	}
	view := newDebugView(m)
	layout, err := wasm.ReadLayout(data)
	if err != nil {
		return nil, err
	}
	rep := &moduleReport{Size: len(data)}
	for _, s := range layout.Sections {
		name := s.ID.String()
		if s.ID == wasm.SectionCustom {
			name = "custom " + s.Name
		}
		rep.Sections = append(rep.Sections, sectionReport{ID: byte(s.ID), Name: name, Offset: s.Offset, Size: s.Size})
	}
	numFuncImports := m.NumImported(wasm.KindFunc)
	rep.Counts = countsReport{
		Types:           len(m.Types),
		ImportedFuncs:   numFuncImports,
		DefinedFuncs:    len(m.Funcs),
		Globals:         m.NumImported(wasm.KindGlobal) + len(m.Globals),
		Tables:          m.NumImported(wasm.KindTable) + len(m.Tables),
		Memories:        m.NumImported(wasm.KindMemory) + len(m.Memories),
		Tags:            m.NumImported(wasm.KindTag) + len(m.Tags),
		ElementSegments: len(m.Elements),
		DataSegments:    len(m.Data),
	}
	for i := range m.Code {
		rep.Counts.Instructions += len(m.Code[i].Body)
	}
	typeString := func(ti uint32) string {
		if int(ti) < len(m.Types) {
			return m.Types[ti].String()
		}
		return fmt.Sprintf("type %d (missing)", ti)
	}
	for _, im := range m.Imports {
		ir := importReport{Module: im.Module, Name: im.Name, Kind: im.Kind.String()}
		switch im.Kind {
		case wasm.KindFunc, wasm.KindTag:
			ir.Type = typeString(im.TypeIndex)
		case wasm.KindTable:
			ir.Type = im.Table.Elem.String()
			rep.Tables = append(rep.Tables, tableReport{limitsReport: limits(im.Table.Limits, true), Elem: im.Table.Elem.String()})
		case wasm.KindMemory:
			rep.Memories = append(rep.Memories, limits(im.Memory, true))
		case wasm.KindGlobal:
			ir.Type = globalType(im.Global)
		}
		rep.Imports = append(rep.Imports, ir)
	}
	for _, l := range m.Memories {
		rep.Memories = append(rep.Memories, limits(l, false))
	}
	for _, t := range m.Tables {
		rep.Tables = append(rep.Tables, tableReport{limitsReport: limits(t.Limits, false), Elem: t.Elem.String()})
	}
	for _, e := range m.Exports {
		rep.Exports = append(rep.Exports, exportReport{Name: e.Name, Kind: e.Kind.String(), Index: e.Index})
	}
	for i, b := range layout.Bodies {
		fn := uint32(numFuncImports + i)
		ti, _ := m.FuncTypeIndex(fn)
		rep.Functions = append(rep.Functions, funcReport{Index: fn, Name: view.name(fn), BodySize: b.Size, Type: typeString(ti)})
	}
	slices.SortStableFunc(rep.Functions, func(a, b funcReport) int { return cmp.Compare(b.BodySize, a.BodySize) })
	rep.Functions = rep.Functions[:min(max(top, 0), len(rep.Functions))]
	info, err := abi.ReadInfo(m)
	switch {
	case errors.Is(err, abi.ErrNotInstrumented):
	case err != nil:
		return nil, err
	default:
		rep.Instrumented = describeInstrumented(m, view, info, frames)
	}
	return rep, nil
}

// describeInstrumented reports the wasmsr section: what was added and the
// frame each instrumented function saves.
func describeInstrumented(m *wasm.Module, view *debugView, info *abi.Info, frames int) *instrumentedReport {
	r := &instrumentedReport{Version: info.Version, InputSHA256: hex.EncodeToString(info.InputSHA256[:]),
		Options: info.Options, Exports: info.Exports, Functions: len(info.Funcs), Details: info.Details}
	name := view.label
	for k, f := range info.Funcs {
		r.Sites += len(f.Sites)
		if frames >= 0 && k >= frames {
			r.MoreFrames++
			continue
		}
		fr := frameReport{Index: f.Func, Name: view.name(f.Func), Size: f.FrameSize}
		for j, l := range f.Locals {
			fr.Locals = append(fr.Locals, fmt.Sprintf("%d:%s", l, f.Types[j]))
		}
		for _, s := range f.Sites {
			sr := siteReport{Kind: s.Kind.String()}
			if !info.Details {
				fr.Sites = append(fr.Sites, sr)
				continue
			}
			saved := append([]uint32{}, s.Saved...)
			sr.Instr, sr.Stack, sr.Saved, sr.AllSaved = &s.Instr, s.Stack, &saved, len(s.Saved) == len(f.Locals)
			switch s.Kind {
			case abi.SiteCall:
				sr.Target = name(s.Target)
			case abi.SiteIndirect:
				if int(s.Target) < len(m.Types) {
					sr.Target = m.Types[s.Target].String()
				}
			}
			fr.Sites = append(fr.Sites, sr)
		}
		r.Frames = append(r.Frames, fr)
	}
	return r
}

func limits(l wasm.Limits, imported bool) limitsReport {
	r := limitsReport{Imported: imported, Min: l.Min, Shared: l.Shared}
	if l.HasMax {
		r.Max = &l.Max
	}
	return r
}

func globalType(g wasm.GlobalType) string {
	if g.Mutable {
		return "mut " + g.Type.String()
	}
	return g.Type.String()
}

func (l limitsReport) String() string {
	s := fmt.Sprintf("min %d", l.Min)
	if l.Max != nil {
		s += fmt.Sprintf(", max %d", *l.Max)
	} else {
		s += ", no maximum"
	}
	if l.Shared {
		s += ", shared"
	}
	if l.Imported {
		s += " (imported)"
	}
	return s
}

func (r *moduleReport) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: %d bytes\n\n", r.File, r.Size)
	fmt.Fprintln(tw, "SECTION\tOFFSET\tSIZE")
	for _, s := range r.Sections {
		fmt.Fprintf(tw, "%s\t0x%x\t%d\n", s.Name, s.Offset, s.Size)
	}
	c := r.Counts
	fmt.Fprintf(tw, "\nfunctions: %d imported, %d defined (%d instructions)\n", c.ImportedFuncs, c.DefinedFuncs, c.Instructions)
	fmt.Fprintf(tw, "types %d, globals %d, tables %d, memories %d, tags %d, element segments %d, data segments %d\n",
		c.Types, c.Globals, c.Tables, c.Memories, c.Tags, c.ElementSegments, c.DataSegments)
	for i, m := range r.Memories {
		fmt.Fprintf(tw, "memory %d (64 KiB pages): %s\n", i, m)
	}
	for i, t := range r.Tables {
		fmt.Fprintf(tw, "table %d: %s, %s\n", i, t.Elem, t.limitsReport)
	}
	if len(r.Imports) > 0 {
		fmt.Fprintf(tw, "\nIMPORT\tKIND\tTYPE\n")
		for _, im := range r.Imports {
			fmt.Fprintf(tw, "%s.%s\t%s\t%s\n", im.Module, im.Name, im.Kind, im.Type)
		}
	}
	if len(r.Exports) > 0 {
		fmt.Fprintf(tw, "\nEXPORT\tKIND\tINDEX\n")
		for _, e := range r.Exports {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", e.Name, e.Kind, e.Index)
		}
	}
	if len(r.Functions) > 0 {
		fmt.Fprintf(tw, "\nLARGEST FUNCTION\tBODY BYTES\tTYPE\n")
		for _, f := range r.Functions {
			name := f.Name
			if name == "" {
				name = fmt.Sprintf("func[%d]", f.Index)
			} else {
				name = fmt.Sprintf("%s [%d]", strings.TrimSpace(name), f.Index)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", name, f.BodySize, f.Type)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Instrumented != nil {
		return r.Instrumented.write(w)
	}
	return nil
}

func (r *instrumentedReport) write(w io.Writer) error {
	fmt.Fprintf(w, "\ninstrumented by wasmsr (section format %d) from input sha256 %s\n", r.Version, r.InputSHA256)
	fmt.Fprintf(w, "options: %s\n", r.Options)
	fmt.Fprintf(w, "added exports: %s\n", strings.Join(r.Exports, ", "))
	fmt.Fprintf(w, "%d functions instrumented, %d unwind points\n", r.Functions, r.Sites)
	if !r.Details {
		fmt.Fprintln(w, "where each unwind point is: not recorded (instrument with --site-details)")
	}
	for _, f := range r.Frames {
		name := f.Name
		if name == "" {
			name = fmt.Sprintf("func[%d]", f.Index)
		}
		fmt.Fprintf(w, "\n%s [%d]: frame %d bytes, locals %s\n", strings.TrimSpace(name), f.Index, f.Size, strings.Join(f.Locals, " "))
		for k, s := range f.Sites {
			if s.Instr == nil {
				fmt.Fprintf(w, "  %d: %s\n", k, s.Kind)
				continue
			}
			at := fmt.Sprintf("instruction %d", *s.Instr)
			if *s.Instr < 0 {
				at = "entry"
			}
			line := fmt.Sprintf("  %d: %s at %s", k, s.Kind, at)
			if s.Target != "" {
				line += " -> " + s.Target
			}
			if len(s.Stack) > 0 {
				line += fmt.Sprintf(", stack in locals %v", s.Stack)
			}
			if !s.AllSaved {
				line += fmt.Sprintf(", saves locals %v", *s.Saved)
			}
			fmt.Fprintln(w, line)
		}
	}
	if r.MoreFrames > 0 {
		fmt.Fprintf(w, "\n... %d more (--frames -1 lists all)\n", r.MoreFrames)
	}
	return nil
}
