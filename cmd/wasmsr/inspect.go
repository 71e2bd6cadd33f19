package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/wasm"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "describe a module: sections, imports, exports, limits, largest functions",
		ArgsUsage: "FILE.wasm",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the description as JSON"},
			&cli.IntFlag{Name: "top", Value: 10, Usage: "how many of the largest functions to list"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: expected one FILE.wasm argument, got %d", c.NArg())
			}
			path := c.Args().First()
			data, err := readFile(path)
			if err != nil {
				return err
			}
			rep, err := describeModule(data, c.Int("top"))
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

func describeModule(data []byte, top int) (*moduleReport, error) {
	m, err := wasm.Decode(data)
	if err != nil {
		return nil, err
	}
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
		rep.Functions = append(rep.Functions, funcReport{Index: fn, Name: m.FuncName(fn), BodySize: b.Size, Type: typeString(ti)})
	}
	slices.SortStableFunc(rep.Functions, func(a, b funcReport) int { return cmp.Compare(b.BodySize, a.BodySize) })
	rep.Functions = rep.Functions[:min(max(top, 0), len(rep.Functions))]
	return rep, nil
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
	return tw.Flush()
}
