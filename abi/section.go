package abi

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/wasmsr/wasmsr/internal/varint"
	"github.com/wasmsr/wasmsr/wasm"
)

// SectionName is the name of the custom section that describes an
// instrumented module.
const SectionName = "wasmsr"

// SitesSectionName is the name of the optional custom section that says
// where each unwind point is and what its frame holds (Info.Details).
const SitesSectionName = "wasmsr.sites"

// maxInfoSize bounds the decompressed section, so that a hostile module
// cannot make a reader allocate without limit.
const maxInfoSize = 256 << 20

// FormatVersion is the version of the custom section's format (and of the
// frame layout it describes, and of the module's protocol with its host).
// Version 3 added the flag under which the program declines to unwind
// (Globals.NoUnwind, UnwindNotNow): a host that reads only version 2
// would take wasmsr_start_unwind's "not now" for a start, so it must
// refuse these modules. Version 4 moved the sites' details (Site.Target,
// Instr, Stack, Saved) to the optional SitesSectionName section: no host
// needs them to run, pause or restore a module, and on C++ programs they
// were three quarters of the section (5 % of nextpnr's size). Version 5
// made safepoints store their frame before deciding, into a buffer the
// module keeps from the start (ExportPrepare), hidden from the program:
// a host must prepare the module before it asks for a pause.
const FormatVersion = 5

// Info is the content of the wasmsr custom section: what the host needs to
// drive the module and to read its saved frames.
type Info struct {
	Version     uint32
	InputSHA256 [32]byte
	// Options are the flags the module was instrumented with.
	Options string
	// Exports are the names the instrumenter added.
	Exports []string
	Globals Globals
	// Funcs are the frame layouts of the instrumented functions, by index.
	Funcs []FuncLayout
	// Mutable lists the program's mutable globals and their exports.
	Mutable []MutableGlobal
	// Tables lists the tables whose contents can change, spill tables
	// included; each has the wasmsr_table_* accessors.
	Tables []uint32
	// DroppedData and DroppedElems list the segments the code may drop.
	DroppedData, DroppedElems []uint32
	// FuncRefs is the number of functions wasmsr_func_ref reaches (all of
	// them), or 0 when the module has no funcref state and no such export.
	FuncRefs uint32
	// Details says that the sites' details are known (see Site): always
	// in the rewrite's own Info, and in one read from a module when it
	// has a SitesSectionName section (instrumented with --site-details)
	// or is of a format before 4, which kept them in this one.
	Details bool
}

// Globals are the indices of the globals the instrumenter adds.
type Globals struct {
	State, Data, Request, Overflow, Owned, OwnBuffer uint32
	// NoUnwind is raised by the functions that end in a trap: the program
	// declines to unwind under it.
	NoUnwind uint32
}

// MutableGlobal is a mutable global of the program and the export through
// which the host reads and writes it.
type MutableGlobal struct {
	Index  uint32
	Type   wasm.ValType
	Export string
}

// FuncLayout describes the frame an instrumented function saves: its
// locals in order, then the i32 function index and the i32 call index (the
// site it stopped at), so that frames can be read from the top down.
type FuncLayout struct {
	Func      uint32
	FrameSize uint32
	// Locals are the saved locals' indices and Types their types, at
	// consecutive offsets, each taking ValType.Size bytes.
	Locals []uint32
	Types  []wasm.ValType
	Sites  []Site
}

// SiteKind is the kind of an unwind point.
type SiteKind byte

// Unwind point kinds, as the section stores them.
const (
	// SiteCall is a direct call to a function that may unwind.
	SiteCall SiteKind = 0
	// SiteIndirect is call_indirect, call_ref or their tail forms.
	SiteIndirect SiteKind = 1
	// SiteSafepoint is a loop header, a dispatch loop's backward jump or
	// a recursive function's entry.
	SiteSafepoint SiteKind = 2
)

func (k SiteKind) String() string {
	switch k {
	case SiteCall:
		return "call"
	case SiteIndirect:
		return "indirect call"
	case SiteSafepoint:
		return "safepoint"
	}
	return fmt.Sprintf("site kind %d", k)
}

// Site is one unwind point of a function; its index is the call index.
// Only Kind is always known: without Info.Details, Target and Instr are 0,
// Stack is nil and Saved lists all of the frame's locals.
type Site struct {
	Kind SiteKind
	// Target is the callee of a call, the type index of an indirect call.
	Target uint32
	// Instr is the instruction's index in the original body (-1 for the
	// safepoint at function entry; for a loop's safepoint, the loop).
	Instr int32
	// Stack lists the locals that hold the operand-stack values at the
	// site, outermost first (values pushed by local.get or a constant just
	// before it are not among them: rewinding pushes them again).
	Stack []uint32
	// Saved lists the frame's locals, in the layout's order, that an unwind
	// at this site stores: those some resume point on its way reads. The
	// frame's other slots hold whatever the buffer held before.
	Saved []uint32
}

// Frame returns the layout of function fn, or nil.
func (info *Info) Frame(fn uint32) *FuncLayout {
	lo, hi := 0, len(info.Funcs)
	for lo < hi {
		mid := (lo + hi) / 2
		switch f := info.Funcs[mid].Func; {
		case f == fn:
			return &info.Funcs[mid]
		case f < fn:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return nil
}

// Encode returns the section's content: the format version followed by the
// rest DEFLATE-compressed (frame layouts are long runs of small integers,
// and the section would otherwise add 4 % to a Go program).
func (info *Info) Encode() []byte {
	return compressed(info.Version, info.encodeBody())
}

// EncodeSites returns the content of the SitesSectionName section, or nil
// when the module has none: without Details, or in a format before 4,
// where Encode writes them.
func (info *Info) EncodeSites() []byte {
	if !info.Details || info.Version < 4 {
		return nil
	}
	b := append([]byte(nil), info.InputSHA256[:]...)
	for _, f := range info.Funcs {
		b = appendSiteDetails(b, &f)
	}
	return compressed(info.Version, b)
}

func compressed(version uint32, body []byte) []byte {
	var out bytes.Buffer
	out.Write(binary.AppendUvarint(nil, uint64(version)))
	w, _ := flate.NewWriter(&out, flate.DefaultCompression) // the level is valid
	w.Write(body)
	w.Close()
	return out.Bytes()
}

func (info *Info) encodeBody() []byte {
	b := append([]byte(nil), info.InputSHA256[:]...)
	b = appendString(b, info.Options)
	b = binary.AppendUvarint(b, uint64(len(info.Exports)))
	for _, e := range info.Exports {
		b = appendString(b, e)
	}
	globals := []uint32{info.Globals.State, info.Globals.Data, info.Globals.Request, info.Globals.Overflow, info.Globals.Owned, info.Globals.OwnBuffer}
	if info.Version >= 3 {
		globals = append(globals, info.Globals.NoUnwind)
	}
	for _, g := range globals {
		b = binary.AppendUvarint(b, uint64(g))
	}
	b = binary.AppendUvarint(b, uint64(len(info.Mutable)))
	for _, g := range info.Mutable {
		b = binary.AppendUvarint(b, uint64(g.Index))
		b = binary.AppendUvarint(b, uint64(g.Type))
		b = appendString(b, g.Export)
	}
	for _, list := range [][]uint32{info.Tables, info.DroppedData, info.DroppedElems} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, x := range list {
			b = binary.AppendUvarint(b, uint64(x))
		}
	}
	b = binary.AppendUvarint(b, uint64(info.FuncRefs))
	b = binary.AppendUvarint(b, uint64(len(info.Funcs)))
	prev := uint32(0)
	for _, f := range info.Funcs {
		b = binary.AppendUvarint(b, uint64(f.Func-prev)) // ascending: store deltas
		prev = f.Func
		b = binary.AppendUvarint(b, uint64(f.FrameSize))
		b = binary.AppendUvarint(b, uint64(len(f.Locals)))
		for k, l := range f.Locals {
			b = binary.AppendUvarint(b, uint64(l))
			b = binary.AppendUvarint(b, uint64(f.Types[k]))
		}
		b = binary.AppendUvarint(b, uint64(len(f.Sites)))
		if info.Version >= 4 {
			for _, s := range f.Sites {
				b = append(b, byte(s.Kind))
			}
			continue
		}
		prevInstr := int32(-1)
		for _, s := range f.Sites {
			b = append(b, byte(s.Kind))
			b = appendSite(b, s, prevInstr)
			prevInstr = s.Instr
		}
		if info.Version >= 2 {
			b = appendSavedSets(b, &f)
		}
	}
	return b
}

// appendSiteDetails writes what format 4 keeps in the sites section for
// one function.
func appendSiteDetails(b []byte, f *FuncLayout) []byte {
	prevInstr := int32(-1)
	for _, s := range f.Sites {
		b = appendSite(b, s, prevInstr)
		prevInstr = s.Instr
	}
	return appendSavedSets(b, f)
}

// appendSite writes a site's target, instruction and stack locals; prev is
// the instruction of the site before (-1 for the first).
func appendSite(b []byte, s Site, prevInstr int32) []byte {
	b = binary.AppendUvarint(b, uint64(s.Target))
	b = binary.AppendVarint(b, int64(s.Instr-prevInstr)) // mostly ascending: small deltas
	b = binary.AppendUvarint(b, uint64(len(s.Stack)))
	for _, l := range s.Stack {
		b = binary.AppendUvarint(b, uint64(l))
	}
	return b
}

// appendSavedSets encodes the sites' Saved lists: the distinct lists (sites
// share a few), each as positions in the layout, then each site's list.
func appendSavedSets(b []byte, f *FuncLayout) []byte {
	// Positions by a slice indexed by local, not a map, and sites that
	// share a list's slice (as the instrumenter makes them) looked up by
	// it: on clang's module, content keys and map look-ups for every
	// saved local of every site took 3.4 of the 4.5 s the section took
	// to encode, on the one core that encodes it.
	var top uint32
	for _, l := range f.Locals {
		top = max(top, l)
	}
	pos := make([]int, top+1)
	for k, l := range f.Locals {
		pos[l] = k
	}
	type list struct {
		first *uint32
		n     int
	}
	bySlice := map[list]int{}
	byContent := map[string]int{}
	var sets [][]int
	which := make([]int, len(f.Sites))
	var key []byte
	for i, s := range f.Sites {
		id := list{n: len(s.Saved)}
		if id.n > 0 {
			id.first = &s.Saved[0]
		}
		x, ok := bySlice[id]
		if !ok {
			set := make([]int, len(s.Saved))
			key = key[:0]
			for k, l := range s.Saved {
				if l <= top {
					set[k] = pos[l]
				}
				key = binary.AppendUvarint(key, uint64(set[k]))
			}
			if x, ok = byContent[string(key)]; !ok {
				x = len(sets)
				byContent[string(key)] = x
				sets = append(sets, set)
			}
			bySlice[id] = x
		}
		which[i] = x
	}
	b = binary.AppendUvarint(b, uint64(len(sets)))
	for _, set := range sets {
		b = binary.AppendUvarint(b, uint64(len(set)))
		prev := -1
		for _, p := range set {
			b = binary.AppendUvarint(b, uint64(p-prev-1)) // ascending positions
			prev = p
		}
	}
	for _, x := range which {
		b = binary.AppendUvarint(b, uint64(x))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadInfo finds and decodes the wasmsr custom section of a module, and
// its sites section when it has one. It returns ErrNotInstrumented when
// there is none.
func ReadInfo(m *wasm.Module) (*Info, error) {
	var info *Info
	for _, c := range m.Customs {
		if c.Name == SectionName && info == nil {
			var err error
			if info, err = DecodeInfo(c.Data); err != nil {
				return nil, err
			}
		}
	}
	if info == nil {
		return nil, ErrNotInstrumented
	}
	for _, c := range m.Customs {
		if c.Name == SitesSectionName {
			if err := info.DecodeSites(c.Data); err != nil {
				return nil, err
			}
			break
		}
	}
	return info, nil
}

// ErrNotInstrumented is returned by ReadInfo for a module without the
// wasmsr custom section.
var ErrNotInstrumented = errors.New("module is not instrumented by wasmsr (no wasmsr custom section)")

// decompress reads a section's version and inflates the rest.
func decompress(name string, data []byte) (uint32, []byte, error) {
	version, n := binary.Uvarint(data)
	if n <= 0 {
		return 0, nil, fmt.Errorf("malformed %s section: truncated", name)
	}
	if version < 1 || version > FormatVersion {
		return 0, nil, fmt.Errorf("%s section format %d is not supported (this wasmsr reads 1 to %d)", name, version, FormatVersion)
	}
	body, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data[n:])), maxInfoSize+1))
	if err != nil {
		return 0, nil, fmt.Errorf("malformed %s section: %w", name, err)
	}
	if len(body) > maxInfoSize {
		return 0, nil, fmt.Errorf("malformed %s section: more than 256 MiB decompressed", name)
	}
	return uint32(version), body, nil
}

// DecodeInfo decodes the content of the wasmsr custom section.
func DecodeInfo(data []byte) (*Info, error) {
	version, body, err := decompress(SectionName, data)
	if err != nil {
		return nil, err
	}
	d := &infoDecoder{varint.Reader{B: body}}
	info := &Info{Version: version, Details: version < 4}
	copy(info.InputSHA256[:], d.Bytes(32))
	info.Options = d.str()
	info.Exports = make([]string, d.Count())
	for i := range info.Exports {
		info.Exports[i] = d.str()
	}
	info.Globals = Globals{State: d.U32(), Data: d.U32(), Request: d.U32(), Overflow: d.U32(), Owned: d.U32(), OwnBuffer: d.U32()}
	if version >= 3 {
		info.Globals.NoUnwind = d.U32()
	}
	info.Mutable = make([]MutableGlobal, d.Count())
	for i := range info.Mutable {
		info.Mutable[i] = MutableGlobal{Index: d.U32(), Type: wasm.ValType(d.Uvarint()), Export: d.str()}
	}
	for _, list := range []*[]uint32{&info.Tables, &info.DroppedData, &info.DroppedElems} {
		*list = make([]uint32, d.Count())
		for i := range *list {
			(*list)[i] = d.U32()
		}
	}
	info.FuncRefs = d.U32()
	info.Funcs = make([]FuncLayout, d.Count())
	prev := uint32(0)
	for i := range info.Funcs {
		f := &info.Funcs[i]
		f.Func = prev + d.U32()
		prev = f.Func
		f.FrameSize = d.U32()
		n := d.Count()
		f.Locals, f.Types = make([]uint32, n), make([]wasm.ValType, n)
		for k := range n {
			f.Locals[k] = d.U32()
			f.Types[k] = wasm.ValType(d.Uvarint())
		}
		f.Sites = make([]Site, d.Count())
		prevInstr := int32(-1)
		for k := range f.Sites {
			s := &f.Sites[k]
			s.Kind = SiteKind(d.Byte())
			if version < 4 {
				d.site(s, prevInstr)
				prevInstr = s.Instr
			}
		}
		if version == 2 || version == 3 {
			d.savedSets(f)
		} else {
			// Format 1 did not say which: all are reported, though
			// modules from its last versions stored only some. Format 4
			// says it in the sites section.
			for k := range f.Sites {
				f.Sites[k].Saved = f.Locals
			}
		}
		if d.Err != nil {
			break
		}
	}
	if d.Err != nil {
		return nil, fmt.Errorf("malformed wasmsr section: %w", d.Err)
	}
	return info, nil
}

// DecodeSites adds to info the sites' details from the content of the
// module's SitesSectionName section (see EncodeSites).
func (info *Info) DecodeSites(data []byte) error {
	version, body, err := decompress(SitesSectionName, data)
	if err != nil {
		return err
	}
	switch {
	case info.Details:
		return fmt.Errorf("malformed %s section: the %s section (format %d) has the details already", SitesSectionName, SectionName, info.Version)
	case version != info.Version:
		return fmt.Errorf("malformed %s section: format %d, the %s section's is %d", SitesSectionName, version, SectionName, info.Version)
	}
	d := &infoDecoder{varint.Reader{B: body}}
	if sum := d.Bytes(32); d.Err == nil && !bytes.Equal(sum, info.InputSHA256[:]) {
		return fmt.Errorf("malformed %s section: it describes another module", SitesSectionName)
	}
	// Decode into copies: a section that fails leaves info as it was.
	funcs := slices.Clone(info.Funcs)
	for i := range funcs {
		f := &funcs[i]
		f.Sites = slices.Clone(f.Sites)
		prevInstr := int32(-1)
		for k := range f.Sites {
			d.site(&f.Sites[k], prevInstr)
			prevInstr = f.Sites[k].Instr
		}
		d.savedSets(f)
		if d.Err != nil {
			break
		}
	}
	if d.Err == nil && len(d.B) > 0 {
		d.Fail("bytes past the last function")
	}
	if d.Err != nil {
		return fmt.Errorf("malformed %s section: %w", SitesSectionName, d.Err)
	}
	info.Funcs, info.Details = funcs, true
	return nil
}

// infoDecoder reads the section's body.
type infoDecoder struct{ varint.Reader }

// site reads what appendSite wrote.
func (d *infoDecoder) site(s *Site, prevInstr int32) {
	s.Target = d.U32()
	s.Instr = prevInstr + int32(d.Varint())
	s.Stack = make([]uint32, d.Count())
	for j := range s.Stack {
		s.Stack[j] = d.U32()
	}
}

func (d *infoDecoder) str() string { return string(d.Bytes(d.Count())) }

// savedSets reads what appendSavedSets wrote into f's sites.
func (d *infoDecoder) savedSets(f *FuncLayout) {
	sets := make([][]uint32, d.Count())
	for i := range sets {
		sets[i] = make([]uint32, d.Count())
		p := uint64(0)
		for k := range sets[i] {
			p += d.Uvarint() // one past the previous position
			if p >= uint64(len(f.Locals)) {
				d.Fail("a saved local beyond the frame's layout")
				return
			}
			sets[i][k] = f.Locals[p]
			p++
		}
	}
	for k := range f.Sites {
		x := d.Uvarint()
		if x >= uint64(len(sets)) {
			d.Fail("a site's saved locals out of range")
			return
		}
		f.Sites[k].Saved = sets[x]
	}
}
