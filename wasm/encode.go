package wasm

import (
	"encoding/binary"
	"fmt"
)

// Encode returns the binary encoding of m. Integers are written in their
// shortest form, sections in the standard order with custom sections back
// where they were read; a section is written when its slice is non-nil, so
// empty sections of a decoded module survive.
func Encode(m *Module) ([]byte, error) {
	if len(m.Funcs) != len(m.Code) {
		return nil, fmt.Errorf("wasm: encode: %d functions but %d bodies", len(m.Funcs), len(m.Code))
	}
	e := &encoder{buf: make([]byte, 0, m.sizeHint())}
	e.buf = append(e.buf, magic...)
	e.buf = append(e.buf, version, 0, 0, 0)
	var sec encoder
	namesWritten := false
	customsAfter := func(id SectionID) {
		for i := range m.Customs {
			c := &m.Customs[i]
			if c.After != id {
				continue
			}
			data := c.Data
			if c.Later != nil {
				data = c.Later()
			}
			if c.Name == "name" && data == nil {
				if m.Names == nil || namesWritten {
					continue
				}
				data, namesWritten = m.Names.encode(), true
			}
			sec.name(c.Name)
			sec.buf = append(sec.buf, data...)
			e.subsection(byte(SectionCustom), sec.take())
		}
	}
	customsAfter(SectionCustom)
	for _, id := range sectionOrder {
		if m.encodeSection(id, &sec) {
			e.subsection(byte(id), sec.take())
		}
		if sec.err != nil {
			return nil, sec.err
		}
		customsAfter(id)
	}
	if m.Names != nil && !namesWritten {
		sec.name("name")
		sec.buf = append(sec.buf, m.Names.encode()...)
		e.subsection(byte(SectionCustom), sec.take())
	}
	return e.buf, nil
}

// sizeHint guesses the encoded size, to allocate the output once.
func (m *Module) sizeHint() int {
	n := 1024
	for i := range m.Code {
		if c := &m.Code[i]; c.Source != nil {
			n += 4 + len(c.Source)
		} else {
			n += 4 + 2*len(c.Body)
		}
	}
	for i := range m.Data {
		n += 8 + len(m.Data[i].Init)
	}
	for i := range m.Customs {
		n += 8 + len(m.Customs[i].Name) + len(m.Customs[i].Data)
	}
	return n
}

// encodeSection writes the content of section id into e and reports whether
// the module has that section.
func (m *Module) encodeSection(id SectionID, e *encoder) bool {
	switch id {
	case SectionType:
		if m.Types == nil {
			return false
		}
		groups := m.RecGroups
		entries := len(m.Types) + len(groups)
		for _, g := range groups {
			entries -= int(g.Count)
		}
		e.u32(uint32(entries))
		for i := 0; i <= len(m.Types); {
			if len(groups) > 0 && groups[0].First == uint32(i) {
				g := groups[0]
				groups = groups[1:]
				if uint64(g.First)+uint64(g.Count) > uint64(len(m.Types)) {
					e.fail("recursion group %d+%d out of range", g.First, g.Count)
					break
				}
				e.byte(recGroupForm)
				e.u32(g.Count)
				for _, t := range m.Types[i : i+int(g.Count)] {
					e.funcType(t)
				}
				i += int(g.Count)
				continue
			}
			if i < len(m.Types) {
				e.funcType(m.Types[i])
			}
			i++
		}
		if len(groups) > 0 {
			e.fail("recursion groups out of order")
		}
	case SectionImport:
		if m.Imports == nil {
			return false
		}
		e.u32(uint32(len(m.Imports)))
		for i := range m.Imports {
			im := &m.Imports[i]
			e.name(im.Module)
			e.name(im.Name)
			e.byte(byte(im.Kind))
			switch im.Kind {
			case KindFunc:
				e.u32(im.TypeIndex)
			case KindTable:
				e.tableType(&im.Table)
			case KindMemory:
				e.limits(im.Memory)
			case KindGlobal:
				e.globalType(im.Global)
			case KindTag:
				e.byte(0)
				e.u32(im.TypeIndex)
			default:
				e.fail("import %d has unknown kind %d", i, im.Kind)
			}
		}
	case SectionFunction:
		if m.Funcs == nil {
			return false
		}
		e.u32(uint32(len(m.Funcs)))
		for _, t := range m.Funcs {
			e.u32(t)
		}
	case SectionTable:
		if m.Tables == nil {
			return false
		}
		e.u32(uint32(len(m.Tables)))
		for i := range m.Tables {
			e.tableType(&m.Tables[i])
		}
	case SectionMemory:
		if m.Memories == nil {
			return false
		}
		e.u32(uint32(len(m.Memories)))
		for _, l := range m.Memories {
			e.limits(l)
		}
	case SectionTag:
		if m.Tags == nil {
			return false
		}
		e.u32(uint32(len(m.Tags)))
		for _, t := range m.Tags {
			e.byte(0)
			e.u32(t.TypeIndex)
		}
	case SectionGlobal:
		if m.Globals == nil {
			return false
		}
		e.u32(uint32(len(m.Globals)))
		for i := range m.Globals {
			e.globalType(m.Globals[i].Type)
			e.instrs(m.Globals[i].Init)
		}
	case SectionExport:
		if m.Exports == nil {
			return false
		}
		e.u32(uint32(len(m.Exports)))
		for _, x := range m.Exports {
			e.name(x.Name)
			e.byte(byte(x.Kind))
			e.u32(x.Index)
		}
	case SectionStart:
		if m.Start == nil {
			return false
		}
		e.u32(*m.Start)
	case SectionElement:
		if m.Elements == nil {
			return false
		}
		e.u32(uint32(len(m.Elements)))
		for i := range m.Elements {
			e.element(&m.Elements[i])
		}
	case SectionDataCount:
		if m.DataCount == nil {
			return false
		}
		e.u32(*m.DataCount)
	case SectionCode:
		if m.Code == nil {
			return false
		}
		e.u32(uint32(len(m.Code)))
		var body encoder
		for i := range m.Code {
			body.code(&m.Code[i])
			if body.err != nil {
				e.fail("function %d: %v", m.NumImported(KindFunc)+i, body.err)
			}
			b := body.take()
			e.u32(uint32(len(b)))
			e.buf = append(e.buf, b...)
		}
	case SectionData:
		if m.Data == nil {
			return false
		}
		e.u32(uint32(len(m.Data)))
		for i := range m.Data {
			e.data(&m.Data[i])
		}
	}
	return true
}

// encoder appends the binary format to buf with a sticky error.
type encoder struct {
	buf []byte
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("wasm: encode: "+format, args...)
	}
}

// take returns the bytes written so far and empties the encoder. The bytes
// stay valid until the encoder's next write: the buffer is reused.
func (e *encoder) take() []byte {
	b := e.buf
	e.buf = b[:0]
	return b
}

func (e *encoder) byte(b byte) { e.buf = append(e.buf, b) }

func (e *encoder) u32(v uint32) { e.u64(uint64(v)) }

func (e *encoder) u64(v uint64) {
	for v >= 0x80 {
		e.buf = append(e.buf, byte(v)|0x80)
		v >>= 7
	}
	e.buf = append(e.buf, byte(v))
}

func (e *encoder) s64(v int64) {
	for {
		b := byte(v & 0x7F)
		v >>= 7
		if v == 0 && b&0x40 == 0 || v == -1 && b&0x40 != 0 {
			e.buf = append(e.buf, b)
			return
		}
		e.buf = append(e.buf, b|0x80)
	}
}

func (e *encoder) name(s string) {
	e.u32(uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// subsection writes id, the size of content and content.
func (e *encoder) subsection(id byte, content []byte) {
	e.byte(id)
	e.u32(uint32(len(content)))
	e.buf = append(e.buf, content...)
}

func (e *encoder) valType(t ValType) {
	switch t.Code() {
	case codeRefNull, codeRef:
		e.byte(t.Code())
		e.s64(int64(t.Heap()))
	default:
		if t == ValUnknown {
			e.fail("cannot encode the unknown value type")
		}
		e.byte(t.Code())
	}
}

func (e *encoder) funcType(t FuncType) {
	e.byte(funcTypeForm)
	e.valTypes(t.Params)
	e.valTypes(t.Results)
}

func (e *encoder) valTypes(ts []ValType) {
	e.u32(uint32(len(ts)))
	for _, t := range ts {
		e.valType(t)
	}
}

func (e *encoder) limits(l Limits) {
	flags := byte(0)
	if l.HasMax {
		flags |= 1
	}
	if l.Shared {
		flags |= 2
	}
	e.byte(flags)
	e.u32(l.Min)
	if l.HasMax {
		e.u32(l.Max)
	}
}

func (e *encoder) tableType(t *TableType) {
	if t.Init != nil {
		e.byte(0x40)
		e.byte(0)
	}
	e.valType(t.Elem)
	e.limits(t.Limits)
	if t.Init != nil {
		e.instrs(t.Init)
	}
}

func (e *encoder) globalType(t GlobalType) {
	e.valType(t.Type)
	if t.Mutable {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

func (e *encoder) element(s *Element) {
	var flags uint32
	if s.UsesExprs {
		flags |= 4
	}
	explicit := s.ExplicitTable || s.Table != 0 || s.Type.canonical() != FuncRef
	switch s.Mode {
	case SegmentActive:
		if explicit {
			flags |= 2
		}
	case SegmentPassive:
		flags |= 1
	case SegmentDeclarative:
		flags |= 3
	}
	if !s.UsesExprs && s.Type.canonical() != FuncRef {
		e.fail("element segment of %s must use expressions", s.Type)
		return
	}
	e.u32(flags)
	if s.Mode == SegmentActive {
		if explicit {
			e.u32(s.Table)
		}
		e.instrs(s.Offset)
	}
	if flags&3 != 0 {
		if s.UsesExprs {
			e.valType(s.Type)
		} else {
			e.byte(0) // element kind funcref
		}
	}
	if s.UsesExprs {
		e.u32(uint32(len(s.Exprs)))
		for _, x := range s.Exprs {
			e.instrs(x)
		}
	} else {
		e.u32(uint32(len(s.Funcs)))
		for _, f := range s.Funcs {
			e.u32(f)
		}
	}
}

func (e *encoder) data(s *Data) {
	switch {
	case s.Mode == SegmentPassive:
		e.u32(1)
	case s.ExplicitMemory || s.Memory != 0:
		e.u32(2)
		e.u32(s.Memory)
		e.instrs(s.Offset)
	default:
		e.u32(0)
		e.instrs(s.Offset)
	}
	e.u32(uint32(len(s.Init)))
	e.buf = append(e.buf, s.Init...)
}

// Compact replaces a body's instructions with their encoding, in Source,
// for a program that holds many bodies it will not read again soon: an
// instruction takes 32 bytes decoded and 2 or 3 encoded. The encoder
// copies Source; Locals stay as they are; Expand decodes it again.
func (c *Code) Compact() error {
	if c.Source != nil {
		c.Body = nil
		return nil
	}
	var e encoder
	e.code(c)
	if e.err != nil {
		return e.err
	}
	c.Source, c.Body = e.buf, nil
	return nil
}

// Expand decodes the instructions of a body that Compact left in Source
// only. A body that has them already is left as it is.
func (c *Code) Expand() error {
	if c.Body != nil || c.Source == nil {
		return nil
	}
	var d Decoder
	r := &reader{buf: c.Source, base: c.SourceOffset, section: SectionCode}
	decoded := d.body(r)
	if r.err != nil {
		return r.err
	}
	c.Body = decoded.Body
	return nil
}

func (e *encoder) code(c *Code) {
	if c.Source != nil {
		e.buf = append(e.buf, c.Source...)
		return
	}
	e.u32(uint32(len(c.Locals)))
	for _, g := range c.Locals {
		e.u32(g.Count)
		e.valType(g.Type)
	}
	e.instrs(c.Body)
}

func (e *encoder) instrs(body []Instr) {
	for i := range body {
		e.instr(&body[i])
	}
}

func (e *encoder) blockType(bt BlockType) {
	if bt == BlockEmpty {
		e.byte(0x40)
	} else if idx, ok := bt.TypeIndex(); ok {
		e.s64(int64(idx))
	} else {
		e.valType(ValType(bt))
	}
}

func (e *encoder) instr(in *Instr) {
	info := in.Op.info()
	if info == nil {
		e.fail("unknown opcode %s", in.Op)
		return
	}
	if prefix := in.Op >> 16; prefix != 0 {
		e.buf = append(e.buf, byte(prefix))
		e.u32(uint32(in.Op & 0xFFFF))
	} else {
		e.buf = append(e.buf, byte(in.Op))
	}
	switch info.imm {
	case immNone:
	case immBlockType:
		e.blockType(in.BlockType())
	case immLabel, immFunc, immType, immLocal, immGlobal, immTable, immTag, immData, immElem, immMemory:
		e.u32(in.X)
	case immBrTable:
		if in.Ext == nil {
			e.fail("br_table without labels")
			return
		}
		e.u32(uint32(len(in.Ext.Labels)))
		for _, l := range in.Ext.Labels {
			e.u32(l)
		}
		e.u32(in.X)
	case immCallIndirect, immMemoryCopy, immMemoryInit, immTableInit, immTableCopy:
		e.u32(in.X)
		e.u32(in.Y)
	case immMemArg, immMemArgLane:
		if in.Y != 0 {
			e.u32(in.X | 0x40)
			e.u32(in.Y)
		} else {
			e.u32(in.X)
		}
		e.u64(in.Imm)
		if info.imm == immMemArgLane {
			e.byte(in.Lane)
		}
	case immI32:
		e.s64(int64(in.I32()))
	case immI64:
		e.s64(in.I64())
	case immF32:
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(in.Imm))
	case immF64:
		e.buf = binary.LittleEndian.AppendUint64(e.buf, in.Imm)
	case immV128, immShuffle:
		v := in.V128()
		e.buf = append(e.buf, v[:]...)
	case immLane:
		e.byte(in.Lane)
	case immSelectT:
		if in.Ext == nil {
			e.fail("typed select without types")
			return
		}
		e.valTypes(in.Ext.Types)
	case immHeapType:
		e.s64(int64(in.Imm))
	case immTryTable:
		e.blockType(in.BlockType())
		if in.Ext == nil {
			e.u32(0)
			return
		}
		e.u32(uint32(len(in.Ext.Catches)))
		for _, c := range in.Ext.Catches {
			e.byte(byte(c.Kind))
			if c.Kind == CatchTag || c.Kind == CatchTagRef {
				e.u32(c.Tag)
			}
			e.u32(c.Label)
		}
	case immFence:
		e.byte(0)
	}
}
