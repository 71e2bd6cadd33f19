// Package debuginfo reads a WebAssembly module's DWARF (its .debug_*
// custom sections) for names, source lines and local variables, and
// rewrites the code addresses in it through a map of where each
// instruction of the input went in a rewritten module.
//
// In DWARF for WebAssembly a code address is an offset from the start of
// the code section's content (its function count), and a function's
// DW_AT_low_pc is where its body starts (its local declarations, after the
// body's size). Entries are read with Go's debug/dwarf; line programs,
// range and location lists with this package's own decoders, which the
// rewrite shares; writing is its own, for 32-bit DWARF of versions 2 to 5
// (clang and rustc emit 4 for wasm32 by default, clang 5 with
// -gdwarf-5).
package debuginfo

import (
	"debug/dwarf"
	"errors"
	"sort"
	"strings"

	"github.com/wasmsr/wasmsr/wasm"
)

// Prefix starts the name of every DWARF section.
const Prefix = ".debug_"

// IsDebug reports whether a custom section is a DWARF section.
func IsDebug(name string) bool { return strings.HasPrefix(name, Prefix) }

// HasDWARF reports whether the module carries DWARF sections.
func HasDWARF(m *wasm.Module) bool {
	for i := range m.Customs {
		if IsDebug(m.Customs[i].Name) {
			return true
		}
	}
	return false
}

// sections returns the module's DWARF sections by name; the first of two
// with one name wins, as for readers that look a section up by name.
func sections(m *wasm.Module) map[string][]byte {
	s := map[string][]byte{}
	for i := range m.Customs {
		c := &m.Customs[i]
		if _, dup := s[c.Name]; IsDebug(c.Name) && !dup {
			s[c.Name] = c.Data
		}
	}
	return s
}

// Info is a module's DWARF, read.
type Info struct {
	d    *dwarf.Data
	loc  []byte // .debug_loc
	line []byte // .debug_line
	// DWARF 5's
	addr, loclists []byte
	infoLen        int // the size of .debug_info
	units          []unitVersion
}

type unitVersion struct {
	start, end uint64
	version    uint16
	addrSize   int
}

// reader is a dwarf.Reader that reads at most as many entries as
// .debug_info has bytes (each takes one at least): at a ULEB128 that
// never ends, Go's reader returns an empty entry, and no error, forever.
type reader struct {
	*dwarf.Reader
	left int
}

var errTooManyEntries = errors.New("more DWARF entries than bytes")

func (in *Info) reader() *reader { return &reader{Reader: in.d.Reader(), left: in.infoLen + 1} }

func (r *reader) Next() (*dwarf.Entry, error) {
	if r.left--; r.left < 0 {
		return nil, errTooManyEntries
	}
	return r.Reader.Next()
}

// ErrNoDWARF is returned by Read for a module without DWARF.
var ErrNoDWARF = errors.New("the module has no DWARF")

// Read opens the module's DWARF.
func Read(m *wasm.Module) (*Info, error) {
	s := sections(m)
	if s[".debug_info"] == nil {
		return nil, ErrNoDWARF
	}
	d, err := dwarf.New(s[".debug_abbrev"], s[".debug_aranges"], nil, s[".debug_info"], s[".debug_line"], nil, s[".debug_ranges"], s[".debug_str"])
	if err != nil {
		return nil, err
	}
	for _, name := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists", ".debug_loclists"} {
		if s[name] != nil {
			if err := d.AddSection(name, s[name]); err != nil {
				return nil, err
			}
		}
	}
	return &Info{d: d, loc: s[".debug_loc"], line: s[".debug_line"], addr: s[".debug_addr"], loclists: s[".debug_loclists"], infoLen: len(s[".debug_info"]), units: unitVersions(s[".debug_info"])}, nil
}

// unitVersions lists the units of .debug_info with their versions and
// address sizes, which Go's reader does not tell.
func unitVersions(info []byte) []unitVersion {
	var units []unitVersion
	b := buf{data: info}
	for b.pos < len(info) {
		start := b.pos
		length := uint64(b.u32())
		if length >= 0xfffffff0 {
			length = b.addr(8) // 64-bit DWARF
		}
		if b.err != nil || length > uint64(len(info)-b.pos) {
			break
		}
		end := b.pos + int(length)
		u := unitVersion{start: uint64(start), end: uint64(end), version: b.u16()}
		if u.version >= 5 {
			b.u8() // unit_type
			u.addrSize = int(b.u8())
		} else {
			b.u32() // abbreviations, in 32-bit DWARF
			u.addrSize = int(b.u8())
		}
		units = append(units, u)
		b.pos = end
	}
	return units
}

// unitAt returns the unit that holds offset off.
func (in *Info) unitAt(off dwarf.Offset) unitVersion {
	k := sort.Search(len(in.units), func(i int) bool { return in.units[i].end > uint64(off) })
	if k < len(in.units) && in.units[k].start <= uint64(off) {
		return in.units[k]
	}
	return unitVersion{}
}

// FuncNames names the functions whose DWARF subprogram starts where their
// body does: bodyStarts maps a body's code address to its function index.
// A subprogram's DW_AT_name comes first (C++ and Rust put the plain name
// there), then its DW_AT_linkage_name, then those of the declaration or
// abstract instance it refers to.
func (in *Info) FuncNames(bodyStarts map[uint64]uint32) map[uint32]string {
	names := map[uint32]string{}
	r := in.reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return names
		}
		if e.Tag != dwarf.TagSubprogram {
			continue
		}
		low, ok := e.Val(dwarf.AttrLowpc).(uint64)
		if !ok {
			continue
		}
		fn, ok := bodyStarts[low]
		if !ok {
			continue
		}
		if _, named := names[fn]; named {
			continue
		}
		if n := in.entryName(e, 4); n != "" {
			names[fn] = n
		}
	}
}

// entryName is a DIE's name, following DW_AT_specification and
// DW_AT_abstract_origin at most depth times.
func (in *Info) entryName(e *dwarf.Entry, depth int) string {
	for _, a := range []dwarf.Attr{dwarf.AttrName, dwarf.AttrLinkageName} {
		if n, ok := e.Val(a).(string); ok && n != "" {
			return n
		}
	}
	if depth == 0 {
		return ""
	}
	for _, a := range []dwarf.Attr{dwarf.AttrSpecification, dwarf.AttrAbstractOrigin} {
		if off, ok := e.Val(a).(dwarf.Offset); ok {
			r := in.reader()
			r.Seek(off)
			if t, err := r.Next(); err == nil && t != nil {
				if n := in.entryName(t, depth-1); n != "" {
					return n
				}
			}
		}
	}
	return ""
}

// Line is a source position.
type Line struct {
	File string
	Line int
}

// LineAt returns the source line of the instruction at a code address;
// false when the line table has none (or says line 0: code a compiler, or
// wasmsr, added).
func (in *Info) LineAt(addr uint64) (Line, bool) {
	// Every unit's line table, read whole, rather than
	// dwarf.Reader.SeekPC and dwarf.LineReader.SeekPC: those give up on
	// the sequences and range lists wasm-ld leaves at tombstone addresses
	// for the functions it discarded.
	r := in.reader()
	var lr lineReader
	for {
		cu, err := r.Next()
		if err != nil || cu == nil {
			return Line{}, false
		}
		r.SkipChildren()
		off, ok := cu.Val(dwarf.AttrStmtList).(int64)
		if !ok {
			continue
		}
		h, err := readLineHeader(in.line, off)
		if err != nil {
			continue
		}
		seqs, err := lr.read(in.line, h)
		if err != nil {
			continue
		}
		for k := range seqs {
			s := &seqs[k]
			if s.rows[0].addr <= addr && addr < s.end {
				e := &s.rows[s.covering(addr)]
				if e.line == 0 || e.file < 0 {
					return Line{}, false
				}
				// Go's reader, for the names in the file table.
				names, err := in.d.LineReader(cu)
				if err != nil || names == nil || e.file >= len(names.Files()) || names.Files()[e.file] == nil {
					return Line{}, false
				}
				return Line{File: names.Files()[e.file].Name, Line: e.line}, true
			}
		}
	}
}

// Local is a variable of a function that lives in a wasm local.
type Local struct {
	Name  string
	Local uint32
}

// Locals lists the variables and parameters of the subprogram that
// starts at code address lowPC (inner scopes included) whose location,
// at code address pc, is one wasm local (DW_OP_WASM_location 0x0 N):
// for the whole function, or by a location list entry that covers pc.
func (in *Info) Locals(lowPC, pc uint64) []Local {
	r := in.reader()
	var u unitLists
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return nil
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			u = in.unitLists(e)
			continue // look inside
		}
		if e.Tag == dwarf.TagSubprogram {
			if low, ok := e.Val(dwarf.AttrLowpc).(uint64); ok && low == lowPC && e.Children {
				return in.localsUnder(r, &u, pc)
			}
		}
		r.SkipChildren()
	}
}

// localsUnder collects the wasm-local variables among the children of
// the entry just read, to the end of its children.
func (in *Info) localsUnder(r *reader, u *unitLists, pc uint64) []Local {
	var out []Local
	for depth := 1; depth > 0; {
		e, err := r.Next()
		if err != nil || e == nil {
			return out
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		switch e.Tag {
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			var expr []byte
			if f := e.AttrField(dwarf.AttrLocation); f != nil {
				expr = in.location(f, u, pc)
			}
			if l, ok := wasmLocal(expr); ok {
				if name := in.entryName(e, 2); name != "" {
					out = append(out, Local{Name: name, Local: l})
				}
			}
		}
		if e.Children {
			if e.Tag == dwarf.TagLexDwarfBlock || e.Tag == dwarf.TagInlinedSubroutine {
				depth++
			} else {
				r.SkipChildren()
			}
		}
	}
	return out
}

// unitLists is what reading a unit's location lists needs.
type unitLists struct {
	version      uint16
	ctx          listCtx // its address table and base address
	loclistsBase int64   // DWARF 5's DW_AT_loclists_base, -1 for none
}

func (in *Info) unitLists(cu *dwarf.Entry) unitLists {
	u := unitLists{ctx: listCtx{addrBase: -1}, loclistsBase: -1}
	uv := in.unitAt(cu.Offset)
	u.version, u.ctx.addrSize = uv.version, uv.addrSize
	u.ctx.base, _ = cu.Val(dwarf.AttrLowpc).(uint64)
	if v, ok := cu.Val(dwarf.AttrAddrBase).(int64); ok {
		u.ctx.addrBase = v
	}
	if v, ok := cu.Val(dwarf.AttrLoclistsBase).(int64); ok {
		u.loclistsBase = v
	}
	return u
}

// location returns the expression of a location attribute at pc: its
// own, or that of the entry of its location list that covers pc.
func (in *Info) location(f *dwarf.Field, u *unitLists, pc uint64) []byte {
	switch v := f.Val.(type) {
	case []byte:
		return v
	case int64: // an offset
		if u.version < 5 {
			return in.locationAt(uint64(v), u.ctx.base, pc)
		}
		return locationAt5(in.loclists, in.addr, uint64(v), u.ctx, pc)
	case uint64: // DW_FORM_loclistx
		off, err := (&listSection{name: ".debug_loclists", data: in.loclists}).indexed(u.loclistsBase, v)
		if err != nil {
			return nil
		}
		return locationAt5(in.loclists, in.addr, off, u.ctx, pc)
	}
	return nil
}

// locationAt returns the expression of the entry of the location list
// at off in .debug_loc (DWARF 2 to 4, 4-byte addresses) that covers pc.
func (in *Info) locationAt(off, base, pc uint64) []byte {
	if off > uint64(len(in.loc)) {
		return nil
	}
	b := buf{data: in.loc, pos: int(off)}
	for b.err == nil {
		start, end := uint64(b.u32()), uint64(b.u32())
		switch {
		case b.err != nil || start == 0 && end == 0:
			return nil
		case start == 0xffffffff:
			base = end
			continue
		}
		n := int(b.u16())
		if !b.need(n) {
			return nil
		}
		expr := b.data[b.pos : b.pos+n]
		b.pos += n
		if base+start <= pc && pc < base+end {
			return expr
		}
	}
	return nil
}

// wasmLocal decodes an expression that is only DW_OP_WASM_location 0x0 N
// (and DW_OP_stack_value): the value is local N.
func wasmLocal(expr []byte) (uint32, bool) {
	if len(expr) < 3 || expr[0] != opWasmLocation || expr[1] != 0 {
		return 0, false
	}
	b := buf{data: expr, pos: 2}
	n := b.uleb()
	if b.err != nil || n > 0xFFFFFFFF {
		return 0, false
	}
	if rest := expr[b.pos:]; len(rest) == 0 || len(rest) == 1 && rest[0] == opStackValue {
		return uint32(n), true
	}
	return 0, false
}

// DWARF expression opcodes read here.
const (
	opWasmLocation = 0xED
	opStackValue   = 0x9F
)

// FuncNames names the module's functions from its DWARF, by function
// index (see Info.FuncNames); nil when it has none. The module must have
// been decoded with wasm.Decoder.KeepSource, for where its bodies start.
func FuncNames(m *wasm.Module) map[uint32]string {
	if m.Offsets == nil || !HasDWARF(m) {
		return nil
	}
	in, err := Read(m)
	if err != nil {
		return nil
	}
	return in.FuncNames(BodyStarts(m))
}

// BodyStarts maps the code address of each body of a module decoded with
// wasm.Decoder.KeepSource to its function index.
func BodyStarts(m *wasm.Module) map[uint64]uint32 {
	starts := make(map[uint64]uint32, len(m.Code))
	numImports := m.NumImported(wasm.KindFunc)
	for k := range m.Code {
		starts[uint64(m.Code[k].SourceOffset-m.Offsets.Code)] = uint32(numImports + k)
	}
	return starts
}
