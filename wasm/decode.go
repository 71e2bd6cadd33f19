package wasm

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

var magic = []byte{0x00, 'a', 's', 'm'}

const version = 1

// Decode decodes a binary module. Malformed input gives a *DecodeError.
func Decode(data []byte) (*Module, error) {
	var d Decoder
	return d.Decode(data)
}

// Decoder decodes binary modules. The zero value is ready to use.
type Decoder struct {
	// NonCanonical is set by Decode when the input used an encoding the
	// encoder writes differently (an overlong LEB128, a memarg naming memory
	// 0 explicitly), so re-encoding it will not give the same bytes.
	NonCanonical bool
	// KeepSource makes every Code keep its encoded bytes in Source, and the
	// module the offsets of its other entries in Offsets.
	KeepSource bool

	m *Module
	// numFuncImports offsets code-section indices into the function index space.
	numFuncImports int
	usesDataCount  bool
	// scratch receives a body's instructions before they are copied to slab,
	// which holds the bodies of many functions in one allocation.
	scratch []Instr
	slab    []Instr
	// slabHint estimates how many instructions are still to come, so small
	// modules do not get a large slab.
	slabHint int
}

// header reads the module's magic number and version.
func (r *reader) header() {
	if !bytes.HasPrefix(r.buf, magic) {
		if len(r.buf) < len(magic) && bytes.HasPrefix(magic, r.buf) {
			r.truncated()
		} else {
			r.fail("magic header not detected")
		}
		return
	}
	r.pos = len(magic)
	v := r.bytes(4)
	if r.err == nil && (v[0] != version || v[1] != 0 || v[2] != 0 || v[3] != 0) {
		r.failAt(4, "unknown binary version")
	}
}

// Decode decodes data, which the module keeps no reference to except through
// custom section and data segment contents (these alias data).
func (d *Decoder) Decode(data []byte) (*Module, error) {
	*d = Decoder{KeepSource: d.KeepSource, scratch: d.scratch[:0]}
	d.m = &Module{}
	if d.KeepSource {
		d.m.Offsets = &Offsets{}
	}
	r := &reader{buf: data, section: sectionNone, fn: -1}
	if r.header(); r.err != nil {
		return nil, r.err
	}

	lastRank := 0
	after := SectionCustom
	for r.pos < len(r.buf) && r.err == nil {
		idPos := r.pos
		id := SectionID(r.byte())
		size := r.u32()
		if r.err != nil {
			return nil, r.err
		}
		if int64(size) > int64(r.remaining()) {
			r.section = id
			r.truncated()
			return nil, r.err
		}
		sr := &reader{buf: r.buf[r.pos : r.pos+int(size)], base: r.base + r.pos, section: id, fn: -1}
		r.pos += int(size)
		if id == SectionCustom {
			d.custom(sr, after)
		} else {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				r.failAt(idPos, "malformed section id %d", id)
				return nil, r.err
			}
			if sectionRank[id] <= lastRank {
				r.failAt(idPos, "unexpected %s section: sections out of order or repeated", id)
				return nil, r.err
			}
			lastRank = sectionRank[id]
			after = id
			d.section(sr, id)
		}
		if sr.err != nil {
			return nil, sr.err
		}
		if sr.pos != len(sr.buf) {
			sr.fail("section size mismatch")
			return nil, sr.err
		}
		d.NonCanonical = d.NonCanonical || sr.nonCanonical
	}
	if r.err != nil {
		return nil, r.err
	}
	d.NonCanonical = d.NonCanonical || r.nonCanonical
	if len(d.m.Funcs) != len(d.m.Code) {
		r.section = SectionCode
		r.fail("function and code section have inconsistent lengths (%d and %d)", len(d.m.Funcs), len(d.m.Code))
		return nil, r.err
	}
	if d.m.DataCount != nil && int(*d.m.DataCount) != len(d.m.Data) {
		r.section = SectionData
		r.fail("data count and data section have inconsistent lengths (%d and %d)", *d.m.DataCount, len(d.m.Data))
		return nil, r.err
	}
	if d.usesDataCount && d.m.DataCount == nil {
		r.section = SectionCode
		r.fail("data count section required")
		return nil, r.err
	}
	m := d.m
	d.m = nil
	return m, nil
}

// section decodes the content of a non-custom section.
func (d *Decoder) section(r *reader, id SectionID) {
	m := d.m
	switch id {
	case SectionType:
		n := r.count(1)
		m.Types = make([]FuncType, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			if r.pos < len(r.buf) && r.buf[r.pos] == recGroupForm {
				r.pos++
				g := RecGroup{First: uint32(len(m.Types)), Count: uint32(r.count(3))}
				m.RecGroups = append(m.RecGroups, g)
				for j := uint32(0); j < g.Count && r.err == nil; j++ {
					d.mark(r, SectionType)
					m.Types = append(m.Types, r.funcType())
				}
				continue
			}
			d.mark(r, SectionType)
			m.Types = append(m.Types, r.funcType())
		}
	case SectionImport:
		n := r.count(4)
		m.Imports = make([]Import, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionImport)
			m.Imports = append(m.Imports, r.importEntry())
		}
		d.numFuncImports = m.NumImported(KindFunc)
	case SectionFunction:
		n := r.count(1)
		m.Funcs = make([]uint32, n)
		for i := range m.Funcs {
			d.mark(r, SectionFunction)
			m.Funcs[i] = r.u32()
		}
	case SectionTable:
		n := r.count(3)
		m.Tables = make([]TableType, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionTable)
			m.Tables = append(m.Tables, d.tableType(r))
		}
	case SectionMemory:
		n := r.count(2)
		m.Memories = make([]Limits, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionMemory)
			m.Memories = append(m.Memories, r.limits(true))
		}
	case SectionTag:
		n := r.count(2)
		m.Tags = make([]Tag, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionTag)
			m.Tags = append(m.Tags, r.tag())
		}
	case SectionGlobal:
		n := r.count(3)
		m.Globals = make([]Global, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionGlobal)
			t := r.globalType()
			m.Globals = append(m.Globals, Global{Type: t, Init: d.constExpr(r)})
		}
	case SectionExport:
		n := r.count(3)
		m.Exports = make([]Export, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionExport)
			e := Export{Name: r.name()}
			kindPos := r.pos
			e.Kind = ExternKind(r.byte())
			if e.Kind > KindTag && r.err == nil {
				r.failAt(kindPos, "malformed export kind %d", e.Kind)
			}
			e.Index = r.u32()
			m.Exports = append(m.Exports, e)
		}
	case SectionStart:
		d.mark(r, SectionStart)
		start := r.u32()
		m.Start = &start
	case SectionElement:
		n := r.count(2)
		m.Elements = make([]Element, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionElement)
			m.Elements = append(m.Elements, d.element(r))
		}
	case SectionDataCount:
		d.mark(r, SectionDataCount)
		count := r.u32()
		m.DataCount = &count
	case SectionCode:
		if o := d.m.Offsets; o != nil {
			o.Code = r.offset()
		}
		d.code(r)
	case SectionData:
		n := r.count(2)
		m.Data = make([]Data, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			d.mark(r, SectionData)
			m.Data = append(m.Data, d.data(r))
		}
	}
}

// mark records that an entry of section id starts at r's position.
func (d *Decoder) mark(r *reader, id SectionID) {
	if o := d.m.Offsets; o != nil {
		o.Entries[id] = append(o.Entries[id], r.offset())
	}
}

func (d *Decoder) custom(r *reader, after SectionID) {
	name := r.name()
	if r.err != nil {
		return
	}
	cs := CustomSection{Name: name, Data: r.bytes(r.remaining()), After: after}
	if name == "name" && d.m.Names == nil {
		if names, nonCanonical, ok := decodeNames(cs.Data); ok {
			d.m.Names = names
			d.NonCanonical = d.NonCanonical || nonCanonical
			cs.Data = nil
		}
	}
	d.m.Customs = append(d.m.Customs, cs)
}

func (r *reader) funcType() FuncType {
	formPos := r.pos
	if form := r.byte(); form != funcTypeForm {
		if r.err == nil {
			r.failAt(formPos, "unsupported type form 0x%x (only function types are supported)", form)
		}
		return FuncType{}
	}
	return FuncType{Params: r.valTypes(), Results: r.valTypes()}
}

func (r *reader) valTypes() []ValType {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	ts := make([]ValType, n)
	for i := range ts {
		ts[i] = r.valType()
	}
	return ts
}

func (r *reader) valType() ValType {
	pos := r.pos
	b := r.byte()
	switch ValType(b) {
	case I32, I64, F32, F64, V128, FuncRef, ExternRef, ExnRef:
		return ValType(b)
	}
	if b == codeRefNull || b == codeRef {
		return RefType(b == codeRefNull, r.heapType())
	}
	if r.err == nil {
		r.failAt(pos, "malformed value type 0x%x", b)
	}
	return 0
}

func (r *reader) heapType() HeapType {
	pos := r.pos
	h := HeapType(r.s33())
	if h < 0 && h != HeapFunc && h != HeapExtern && h != HeapExn && r.err == nil {
		r.failAt(pos, "malformed heap type %d", h)
	}
	return h
}

func (r *reader) refType() ValType {
	pos := r.pos
	t := r.valType()
	if r.err == nil && !t.IsRef() {
		r.failAt(pos, "malformed reference type %s", t)
	}
	return t
}

func (r *reader) importEntry() Import {
	im := Import{Module: r.name(), Name: r.name()}
	kindPos := r.pos
	im.Kind = ExternKind(r.byte())
	switch im.Kind {
	case KindFunc:
		im.TypeIndex = r.u32()
	case KindTable:
		im.Table = TableType{Elem: r.refType(), Limits: r.limits(false)}
	case KindMemory:
		im.Memory = r.limits(true)
	case KindGlobal:
		im.Global = r.globalType()
	case KindTag:
		im.TypeIndex = r.tag().TypeIndex
	default:
		if r.err == nil {
			r.failAt(kindPos, "malformed import kind %d", im.Kind)
		}
	}
	return im
}

func (r *reader) tag() Tag {
	pos := r.pos
	if attr := r.byte(); attr != 0 && r.err == nil {
		r.failAt(pos, "malformed tag attribute %d", attr)
	}
	return Tag{TypeIndex: r.u32()}
}

// limits reads a limits flag and bounds. Memories may be shared (threads);
// 64-bit memories and tables are not supported.
func (r *reader) limits(memory bool) Limits {
	pos := r.pos
	flags := r.byte()
	maxFlags := byte(1)
	if memory {
		maxFlags = 3
	}
	if flags > maxFlags {
		if r.err == nil {
			if flags&4 != 0 && flags < 8 {
				r.failAt(pos, "64-bit memories and tables are not supported")
			} else {
				r.failAt(pos, "malformed limits flags 0x%x", flags)
			}
		}
		return Limits{}
	}
	l := Limits{Min: r.u32(), HasMax: flags&1 != 0, Shared: flags&2 != 0}
	if l.HasMax {
		l.Max = r.u32()
	}
	return l
}

func (d *Decoder) tableType(r *reader) TableType {
	if r.remaining() >= 2 && r.buf[r.pos] == 0x40 {
		pos := r.pos
		r.pos++
		if r.byte() != 0 {
			r.failAt(pos, "malformed table type")
			return TableType{}
		}
		t := TableType{Elem: r.refType(), Limits: r.limits(false)}
		t.Init = d.constExpr(r)
		return t
	}
	return TableType{Elem: r.refType(), Limits: r.limits(false)}
}

func (r *reader) globalType() GlobalType {
	t := GlobalType{Type: r.valType()}
	pos := r.pos
	switch r.byte() {
	case 0:
	case 1:
		t.Mutable = true
	default:
		if r.err == nil {
			r.failAt(pos, "malformed mutability")
		}
	}
	return t
}

func (d *Decoder) element(r *reader) Element {
	pos := r.pos
	flags := r.u32()
	if flags > 7 {
		if r.err == nil {
			r.failAt(pos, "malformed elements segment kind %d", flags)
		}
		return Element{}
	}
	e := Element{Type: FuncRef, UsesExprs: flags&4 != 0}
	switch {
	case flags&1 == 0:
		e.Mode = SegmentActive
		if flags&2 != 0 {
			e.ExplicitTable = true
			e.Table = r.u32()
		}
		e.Offset = d.constExpr(r)
	case flags&2 == 0:
		e.Mode = SegmentPassive
	default:
		e.Mode = SegmentDeclarative
	}
	if flags&3 != 0 {
		if e.UsesExprs {
			e.Type = r.refType()
		} else {
			kindPos := r.pos
			if kind := r.byte(); kind != 0 && r.err == nil {
				r.failAt(kindPos, "malformed element kind %d", kind)
			}
		}
	}
	if e.UsesExprs {
		n := r.count(1)
		e.Exprs = make([][]Instr, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			e.Exprs = append(e.Exprs, d.constExpr(r))
		}
	} else {
		n := r.count(1)
		e.Funcs = make([]uint32, n)
		for i := range e.Funcs {
			e.Funcs[i] = r.u32()
		}
	}
	return e
}

func (d *Decoder) data(r *reader) Data {
	pos := r.pos
	var s Data
	switch flags := r.u32(); flags {
	case 0:
		s.Offset = d.constExpr(r)
	case 1:
		s.Mode = SegmentPassive
	case 2:
		s.ExplicitMemory = true
		s.Memory = r.u32()
		s.Offset = d.constExpr(r)
	default:
		if r.err == nil {
			r.failAt(pos, "malformed data segment kind %d", flags)
		}
		return s
	}
	s.Init = r.bytes(int(r.u32()))
	return s
}

func (d *Decoder) code(r *reader) {
	n := r.count(2)
	d.m.Code = make([]Code, n)
	bodies := make([]reader, 0, n)
	for i := range d.m.Code {
		if r.err != nil {
			break
		}
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			break
		}
		bodies = append(bodies, reader{buf: body, base: r.base + r.pos - len(body), section: SectionCode, fn: int64(d.numFuncImports + i)})
	}
	// The bodies are decoded on every core: on clang's 75 MB that is 3.6
	// s of CPU before anything else can start. The first error in the
	// section's order is the one reported, as decoding them in turn would
	// (an error reading the sizes comes after every body read).
	d.decodeBodies(bodies)
	for i := range bodies {
		br := &bodies[i]
		if br.err != nil {
			r.err = br.err
			return
		}
		r.nonCanonical = r.nonCanonical || br.nonCanonical
	}
}

// parallelBodies is how many functions a code section needs before its
// bodies are decoded on more than one core.
const parallelBodies = 256

// decodeBodies decodes the bodies read by code into d.m.Code, on up to
// GOMAXPROCS goroutines, each with its own scratch and slab.
func (d *Decoder) decodeBodies(bodies []reader) {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(bodies)/parallelBodies))
	// Instructions average more than two bytes.
	total := 0
	for i := range bodies {
		total += len(bodies[i].buf)
	}
	share := total / 2 / workers
	var wg sync.WaitGroup
	var usesDataCount atomic.Bool
	for w := range workers {
		part := &Decoder{m: d.m, numFuncImports: d.numFuncImports, slabHint: share}
		if w == 0 {
			part.scratch = d.scratch
		}
		lo, hi := w*len(bodies)/workers, (w+1)*len(bodies)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				br := &bodies[i]
				d.m.Code[i] = part.body(br)
				if d.KeepSource {
					d.m.Code[i].Source, d.m.Code[i].SourceOffset = br.buf, br.base
				}
				if br.err != nil {
					break
				}
			}
			if part.usesDataCount {
				usesDataCount.Store(true)
			}
		}()
	}
	wg.Wait()
	d.usesDataCount = d.usesDataCount || usesDataCount.Load()
}

func (d *Decoder) body(r *reader) Code {
	var c Code
	groups := r.count(2)
	if groups > 0 {
		c.Locals = make([]LocalGroup, groups)
	}
	var total uint64
	for i := range c.Locals {
		pos := r.pos
		c.Locals[i] = LocalGroup{Count: r.u32(), Type: r.valType()}
		total += uint64(c.Locals[i].Count)
		if total > 0xFFFFFFFF && r.err == nil {
			r.failAt(pos, "too many locals")
		}
	}
	if r.err != nil {
		return c
	}
	c.Body = d.instrs(r)
	if r.err == nil && r.pos != len(r.buf) {
		r.fail("section size mismatch: bytes after the function's end")
	}
	return c
}

// InstrOffsets returns the offset in the decoded module of each
// instruction of the body: offsets[i] is where Body[i] starts. It reads
// Source again, so it needs a Code decoded with KeepSource and unchanged
// since; it is meant for messages about particular instructions.
func (c *Code) InstrOffsets() ([]int, error) {
	if c.Source == nil {
		return nil, errors.New("the body's source was not kept (Decoder.KeepSource)")
	}
	offsets, err := BodyInstrOffsets(c.Source, c.SourceOffset, len(c.Body))
	if err != nil {
		return nil, err
	}
	if len(offsets) != len(c.Body) {
		return nil, fmt.Errorf("the body's source has %d instructions, the body %d", len(offsets), len(c.Body))
	}
	return offsets, nil
}

// BodyInstrOffsets returns where each instruction of an encoded body
// (its locals, then its instructions) starts, counting from base, the
// offset of the body's first byte. sizeHint is the expected number of
// instructions (0 when unknown).
func BodyInstrOffsets(body []byte, base, sizeHint int) ([]int, error) {
	r := &reader{buf: body, base: base, section: SectionCode, fn: -1}
	for range r.count(2) {
		r.u32()
		r.valType()
	}
	var d Decoder
	offsets := make([]int, 0, sizeHint)
	for depth := 1; depth > 0 && r.err == nil && r.pos < len(r.buf); {
		offsets = append(offsets, r.offset())
		switch r.instr(&d).Op {
		case OpBlock, OpLoop, OpIf, OpTry, OpTryTable:
			depth++
		case OpEnd, OpDelegate:
			depth--
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return offsets, nil
}

// constExpr reads a constant expression up to and including its end.
func (d *Decoder) constExpr(r *reader) []Instr {
	return d.instrs(r)
}

// instrs reads instructions up to and including the end that closes the
// outermost level, and returns them as a slice of the slab.
func (d *Decoder) instrs(r *reader) []Instr {
	out := d.scratch[:0]
	depth := 1
	for r.err == nil {
		if r.pos >= len(r.buf) {
			r.truncated()
			break
		}
		in := r.instr(d)
		out = append(out, in)
		switch in.Op {
		case OpBlock, OpLoop, OpIf, OpTry, OpTryTable:
			depth++
		case OpEnd, OpDelegate:
			depth--
			if depth == 0 {
				if in.Op == OpDelegate {
					r.fail("delegate outside of try")
				}
				d.scratch = out
				return d.keep(out)
			}
		}
	}
	d.scratch = out
	return nil
}

// keep copies a decoded sequence into the slab, so bodies share few large
// allocations and the scratch buffer can be reused.
func (d *Decoder) keep(ins []Instr) []Instr {
	const maxSlab = 1 << 14
	if cap(d.slab)-len(d.slab) < len(ins) {
		d.slab = make([]Instr, 0, max(min(d.slabHint, maxSlab), len(ins), 64))
	}
	d.slabHint -= len(ins)
	start := len(d.slab)
	d.slab = append(d.slab, ins...)
	return d.slab[start:len(d.slab):len(d.slab)]
}

// instr reads one instruction.
func (r *reader) instr(d *Decoder) Instr {
	pos := r.pos
	b := r.buf[r.pos]
	r.pos++
	op := Opcode(b)
	if b >= 0xFC && b <= 0xFE {
		sub := r.u32()
		if sub > 0xFFFF {
			sub = 0xFFFF // no such opcode; reported below
		}
		op = Opcode(b)<<16 | Opcode(sub)
	}
	info := op.info()
	if info == nil {
		if r.err == nil {
			r.failAt(pos, "illegal opcode %s", op)
		}
		return Instr{}
	}
	in := Instr{Op: op}
	switch info.imm {
	case immNone:
	case immBlockType:
		in.Imm = uint64(r.blockType())
	case immLabel, immFunc, immType, immLocal, immGlobal, immTable, immTag, immElem:
		in.X = r.u32()
	case immData:
		in.X = r.u32()
		d.usesDataCount = true
	case immBrTable:
		n := r.count(1)
		labels := make([]uint32, n)
		for i := range labels {
			labels[i] = r.u32()
		}
		in.Ext = &Extra{Labels: labels}
		in.X = r.u32()
	case immCallIndirect:
		in.X = r.u32()
		in.Y = r.u32()
	case immMemArg, immMemArgLane:
		align := r.u32()
		if align&0x40 != 0 {
			align &^= 0x40
			in.Y = r.u32()
			if in.Y == 0 {
				r.nonCanonical = true
			}
		}
		in.X = align
		in.Imm = uint64(r.u32())
		if info.imm == immMemArgLane {
			in.Lane = r.byte()
		}
	case immMemory:
		in.X = r.u32()
	case immMemoryCopy, immTableInit, immTableCopy:
		in.X = r.u32()
		in.Y = r.u32()
	case immMemoryInit:
		in.X = r.u32()
		in.Y = r.u32()
		d.usesDataCount = true
	case immI32:
		in.Imm = uint64(uint32(r.s32()))
	case immI64:
		in.Imm = uint64(r.s64())
	case immF32:
		if b := r.bytes(4); b != nil {
			in.Imm = uint64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		}
	case immF64:
		if b := r.bytes(8); b != nil {
			for i := 7; i >= 0; i-- {
				in.Imm = in.Imm<<8 | uint64(b[i])
			}
		}
	case immV128, immShuffle:
		if b := r.bytes(16); b != nil {
			in.setV128([16]byte(b))
		}
	case immLane:
		in.Lane = r.byte()
	case immSelectT:
		in.Ext = &Extra{Types: r.valTypes()}
	case immHeapType:
		in.Imm = uint64(r.heapType())
	case immTryTable:
		in.Imm = uint64(r.blockType())
		n := r.count(2)
		catches := make([]Catch, n)
		for i := range catches {
			kindPos := r.pos
			c := Catch{Kind: CatchKind(r.byte())}
			switch c.Kind {
			case CatchTag, CatchTagRef:
				c.Tag = r.u32()
			case CatchAll, CatchAllRef:
			default:
				if r.err == nil {
					r.failAt(kindPos, "malformed catch clause kind %d", c.Kind)
				}
			}
			c.Label = r.u32()
			catches[i] = c
		}
		in.Ext = &Extra{Catches: catches}
	case immFence:
		if r.byte() != 0 && r.err == nil {
			r.failAt(r.pos-1, "zero byte expected")
		}
	default:
		r.failAt(pos, "internal error: no decoder for the immediates of %s", op)
	}
	return in
}

func (r *reader) blockType() BlockType {
	if r.pos < len(r.buf) {
		if b := r.buf[r.pos]; b >= 0x40 && b < 0x80 {
			if b == 0x40 {
				r.pos++
				return BlockEmpty
			}
			return BlockType(r.valType())
		}
	}
	pos := r.pos
	idx := r.s33()
	if idx < 0 && r.err == nil {
		r.failAt(pos, "malformed block type")
	}
	return BlockTypeIndex(uint32(idx))
}
