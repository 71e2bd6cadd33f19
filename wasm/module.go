// Package wasm reads and writes WebAssembly binary modules: a model of a
// module whose instructions are flat structs, a decoder and an encoder
// that round-trip exactly (with errors that give the byte offset), a type
// tracker that knows the operand stack before every instruction, and a
// validator of whole modules.
package wasm

// SectionID is a section's id byte.
type SectionID byte

// Section ids, in the binary format's numbering.
const (
	SectionCustom    SectionID = 0
	SectionType      SectionID = 1
	SectionImport    SectionID = 2
	SectionFunction  SectionID = 3
	SectionTable     SectionID = 4
	SectionMemory    SectionID = 5
	SectionGlobal    SectionID = 6
	SectionExport    SectionID = 7
	SectionStart     SectionID = 8
	SectionElement   SectionID = 9
	SectionCode      SectionID = 10
	SectionData      SectionID = 11
	SectionDataCount SectionID = 12
	SectionTag       SectionID = 13
)

// sectionOrder is the order non-custom sections must appear in.
var sectionOrder = [...]SectionID{
	SectionType, SectionImport, SectionFunction, SectionTable, SectionMemory, SectionTag,
	SectionGlobal, SectionExport, SectionStart, SectionElement, SectionDataCount, SectionCode, SectionData,
}

// sectionRank maps a section id to its position in sectionOrder, plus one;
// 0 means the id is unknown.
var sectionRank = func() (r [14]int) {
	for i, id := range sectionOrder {
		r[id] = i + 1
	}
	return r
}()

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "data count", "tag"}

func (id SectionID) String() string {
	if int(id) < len(sectionNames) {
		return sectionNames[id]
	}
	return "unknown"
}

// Module is a decoded WebAssembly module. Index spaces (functions, tables,
// memories, globals, tags) count imports first, as in the binary format.
type Module struct {
	Types []FuncType
	// RecGroups lists the explicit recursion groups of the type section
	// (typed function references / GC encoding), in order; types outside
	// them form groups of one.
	RecGroups []RecGroup
	Imports   []Import
	// Funcs holds the type index of each function the module defines; its
	// bodies are in Code, in the same order.
	Funcs    []uint32
	Tables   []TableType
	Memories []Limits
	Tags     []Tag
	Globals  []Global
	Exports  []Export
	// Start is the start function's index, or nil.
	Start    *uint32
	Elements []Element
	// DataCount is the data count section's value, or nil when the section is absent.
	DataCount *uint32
	Code      []Code
	Data      []Data
	// Customs are the custom sections in input order, each anchored after the
	// section it followed. When the name section decodes, its entry here keeps
	// its place with nil Data and its content lives in Names.
	Customs []CustomSection
	Names   *NameSection
	// Offsets are where the entries of the decoded input start, when the
	// decoder kept them (Decoder.KeepSource), for messages about them;
	// nil otherwise. Like Code.Source, they describe the input, not later
	// changes.
	Offsets *Offsets
}

// Offsets are the byte offsets of a decoded module's entries.
type Offsets struct {
	// Entries[id][k] is where the k-th entry of section id starts (a type,
	// an import, a function's type index, a table...), and for the start
	// and data count sections where their value is. The code section's
	// are in Code.SourceOffset.
	Entries [SectionTag + 1][]int
	// Code is where the code section's content starts: DWARF's code
	// addresses count from there.
	Code int
}

// Entry returns the offset of the k-th entry of section id, or -1 when it
// is not known.
func (o *Offsets) Entry(id SectionID, k int) int {
	if o == nil || int(id) >= len(o.Entries) || k < 0 || k >= len(o.Entries[id]) {
		return -1
	}
	return o.Entries[id][k]
}

// RecGroup is a recursion group: Count types starting at type index First.
type RecGroup struct {
	First, Count uint32
}

// Type section forms.
const (
	funcTypeForm = 0x60
	recGroupForm = 0x4E
)

// ExternKind is the kind of an import or export.
type ExternKind byte

// Import and export kinds.
const (
	KindFunc   ExternKind = 0
	KindTable  ExternKind = 1
	KindMemory ExternKind = 2
	KindGlobal ExternKind = 3
	KindTag    ExternKind = 4
)

var kindNames = [...]string{"func", "table", "memory", "global", "tag"}

func (k ExternKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Import is one import. Which of the descriptor fields applies depends on Kind:
// TypeIndex for functions and tags, Table, Memory or Global otherwise.
type Import struct {
	Module, Name string
	Kind         ExternKind
	TypeIndex    uint32
	Table        TableType
	Memory       Limits
	Global       GlobalType
}

// Export is one export.
type Export struct {
	Name  string
	Kind  ExternKind
	Index uint32
}

// Global is a global the module defines.
type Global struct {
	Type GlobalType
	// Init is the initialiser, a constant expression ending with end.
	Init []Instr
}

// SegmentMode says when an element or data segment is used.
type SegmentMode byte

// Segment modes.
const (
	SegmentActive SegmentMode = iota
	SegmentPassive
	SegmentDeclarative
)

// Element is an element segment.
type Element struct {
	Mode SegmentMode
	// Table and Offset place an active segment.
	Table  uint32
	Offset []Instr
	// ExplicitTable keeps the encoding that names the table (and the
	// element kind) even when it is table 0 holding funcref.
	ExplicitTable bool
	Type          ValType
	// The items are either function indices (Exprs nil) or constant
	// expressions (Funcs nil, UsesExprs true).
	Funcs     []uint32
	Exprs     [][]Instr
	UsesExprs bool
}

// ItemType returns the type of the segment's items: for function indices
// (ref func), which matches tables of funcref and of (ref func) alike.
func (e *Element) ItemType() ValType {
	if e.UsesExprs {
		return e.Type
	}
	return RefType(false, HeapFunc)
}

// Len returns the number of items in the segment.
func (e *Element) Len() int {
	if e.UsesExprs {
		return len(e.Exprs)
	}
	return len(e.Funcs)
}

// Data is a data segment.
type Data struct {
	Mode SegmentMode // SegmentActive or SegmentPassive
	// Memory and Offset place an active segment.
	Memory         uint32
	Offset         []Instr
	ExplicitMemory bool
	Init           []byte
}

// LocalGroup declares Count locals of one type, as the code section does.
type LocalGroup struct {
	Count uint32
	Type  ValType
}

// Code is a function body: its locals (after the parameters) and its
// instructions, the last being the end of the function.
type Code struct {
	Locals []LocalGroup
	Body   []Instr
	// Source is the body's encoding (locals and instructions) in the input,
	// kept when the decoder's KeepSource is set. The encoder then copies it
	// verbatim, so bodies nobody changed keep their exact bytes even where
	// the input used overlong integers. Code that changes Locals or Body
	// must set Source to nil. After Compact, Source alone stands for the
	// body and Body is nil.
	Source []byte
	// SourceOffset is the offset of Source in the decoded module.
	SourceOffset int
}

// NumLocals returns the number of declared locals, parameters excluded.
func (c *Code) NumLocals() uint64 {
	var n uint64
	for _, g := range c.Locals {
		n += uint64(g.Count)
	}
	return n
}

// CustomSection is a custom section, kept byte for byte.
type CustomSection struct {
	Name string
	Data []byte
	// After is the id of the non-custom section it followed in the input
	// (SectionCustom if none); the encoder puts it back at the same place.
	After SectionID
	// Later, when set, gives Data when the encoder reaches the section:
	// a section made while the sections before it are encoded.
	Later func() []byte
}

// NumImported returns how many imports of the given kind the module has.
func (m *Module) NumImported(kind ExternKind) int {
	n := 0
	for i := range m.Imports {
		if m.Imports[i].Kind == kind {
			n++
		}
	}
	return n
}

// FuncTypeIndex returns the type index of function funcIndex (imports
// first), and false when there is no such function.
func (m *Module) FuncTypeIndex(funcIndex uint32) (uint32, bool) {
	for i := range m.Imports {
		if m.Imports[i].Kind != KindFunc {
			continue
		}
		if funcIndex == 0 {
			return m.Imports[i].TypeIndex, true
		}
		funcIndex--
	}
	if int(funcIndex) < len(m.Funcs) {
		return m.Funcs[funcIndex], true
	}
	return 0, false
}

// FuncName returns the function's name from the name section, or "".
func (m *Module) FuncName(funcIndex uint32) string {
	if m.Names == nil {
		return ""
	}
	return m.Names.Functions.Lookup(funcIndex)
}
