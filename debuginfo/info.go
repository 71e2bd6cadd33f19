package debuginfo

import (
	"encoding/binary"
	"fmt"
)

// DWARF attributes and forms the walk of .debug_info looks at.
const (
	atLocation           = 0x02
	atStmtList           = 0x10
	atLowPC              = 0x11
	atHighPC             = 0x12
	atStringLength       = 0x19
	atReturnAddr         = 0x2a
	atDataMemberLocation = 0x38
	atFrameBase          = 0x40
	atSegment            = 0x46
	atStaticLink         = 0x48
	atUseLocation        = 0x4a
	atVtableElemLocation = 0x4d
	atRanges             = 0x55

	formAddr        = 0x01
	formBlock2      = 0x03
	formBlock4      = 0x04
	formData2       = 0x05
	formData4       = 0x06
	formData8       = 0x07
	formString      = 0x08
	formBlock       = 0x09
	formBlock1      = 0x0a
	formData1       = 0x0b
	formFlag        = 0x0c
	formSdata       = 0x0d
	formStrp        = 0x0e
	formUdata       = 0x0f
	formRefAddr     = 0x10
	formRef1        = 0x11
	formRef2        = 0x12
	formRef4        = 0x13
	formRef8        = 0x14
	formRefUdata    = 0x15
	formIndirect    = 0x16
	formSecOffset   = 0x17
	formExprloc     = 0x18
	formFlagPresent = 0x19
	formRefSig8     = 0x20
)

// isLocationAttr reports whether a section offset in this attribute
// points into .debug_loc (DWARF 2 to 4).
func isLocationAttr(at uint64) bool {
	switch at {
	case atLocation, atStringLength, atReturnAddr, atDataMemberLocation, atFrameBase, atSegment, atStaticLink, atUseLocation, atVtableElemLocation:
		return true
	}
	return false
}

type abbrev struct {
	tag      uint64
	children bool
	attrs    [][2]uint64 // attribute, form
	// mapped is set when an entry of this kind may hold something the
	// rewrite changes (see patchDIE): the others are only skipped.
	mapped bool
}

// readAbbrevs reads the abbreviation table at off.
func readAbbrevs(data []byte, off uint32) (map[uint64]*abbrev, error) {
	b := buf{data: data, pos: int(off)}
	if int(off) > len(data) {
		return nil, fmt.Errorf(".debug_abbrev: offset 0x%x out of range", off)
	}
	table := map[uint64]*abbrev{}
	for {
		code := b.uleb()
		if b.err != nil {
			return nil, fmt.Errorf(".debug_abbrev at 0x%x: %w", b.pos, b.err)
		}
		if code == 0 {
			return table, nil
		}
		a := &abbrev{tag: b.uleb(), children: b.u8() != 0}
		for {
			at, form := b.uleb(), b.uleb()
			if b.err != nil {
				return nil, fmt.Errorf(".debug_abbrev at 0x%x: %w", b.pos, b.err)
			}
			if at == 0 && form == 0 {
				break
			}
			a.attrs = append(a.attrs, [2]uint64{at, form})
			switch {
			case form == formAddr, form == formIndirect, at == atHighPC, at == atStmtList, at == atRanges, isLocationAttr(at):
				a.mapped = true
			}
		}
		table[code] = a
	}
}

// unit is a compilation unit of .debug_info, as the rewrite needs it.
type unit struct {
	version  uint16
	addrSize int
	// stmtList is the offset of its line program, -1 for none.
	stmtList int64
}

// value is one attribute value's place in .debug_info.
type value struct {
	at, form uint64
	pos, len int
	v        uint64
}

// patcher rewrites code addresses in a copy of .debug_info, and collects
// the lists and line programs its units point at.
type patcher struct {
	m                   *Map
	info                []byte // the copy being patched
	abbrevs             []byte
	units               []unit
	ranges, loc         []byte // copies being patched
	rangesDone, locDone map[uint64]bool
	// stmtLists are the places of DW_AT_stmt_list values, to be patched
	// once the new line programs' offsets are known.
	stmtLists []value
}

// walkInfo maps the code addresses in .debug_info and in the range and
// location lists it points at.
func (p *patcher) walkInfo() error {
	b := buf{data: p.info}
	abbrevCache := map[uint32]map[uint64]*abbrev{}
	for b.pos < len(b.data) {
		start := b.pos
		length := b.u32()
		if length >= 0xfffffff0 {
			return fmt.Errorf(".debug_info at 0x%x: 64-bit DWARF is not mapped", start)
		}
		end := b.pos + int(length)
		if !b.need(int(length)) {
			return fmt.Errorf(".debug_info at 0x%x: unit runs past the section", start)
		}
		u := unit{version: b.u16(), stmtList: -1}
		if u.version < 2 || u.version > 4 {
			return fmt.Errorf(".debug_info at 0x%x: DWARF version %d is not mapped", start, u.version)
		}
		abbrevOff := b.u32()
		u.addrSize = int(b.u8())
		if u.addrSize != 4 && u.addrSize != 8 {
			return fmt.Errorf(".debug_info at 0x%x: address size %d", start, u.addrSize)
		}
		table, ok := abbrevCache[abbrevOff]
		if !ok {
			var err error
			if table, err = readAbbrevs(p.abbrevs, abbrevOff); err != nil {
				return err
			}
			abbrevCache[abbrevOff] = table
		}
		ub := buf{data: p.info[:end], pos: b.pos}
		if err := p.walkUnit(&ub, &u, table); err != nil {
			return fmt.Errorf(".debug_info at 0x%x: %w", ub.pos, err)
		}
		p.units = append(p.units, u)
		b.pos = end
	}
	return nil
}

func (p *patcher) walkUnit(b *buf, u *unit, table map[uint64]*abbrev) error {
	var base uint64 // the unit's base address: its DW_AT_low_pc
	first := true
	var vals []value
	for b.pos < len(b.data) {
		code := b.uleb()
		if b.err != nil {
			return b.err
		}
		if code == 0 {
			continue
		}
		a := table[code]
		if a == nil {
			return fmt.Errorf("abbreviation %d not in its table", code)
		}
		if !a.mapped && !first {
			for _, af := range a.attrs {
				if _, err := skipForm(b, af[1], u); err != nil {
					return err
				}
			}
			if b.err != nil {
				return b.err
			}
			continue
		}
		vals = vals[:0]
		for _, af := range a.attrs {
			form := af[1]
			if form == formIndirect {
				form = b.uleb()
			}
			v := value{at: af[0], form: form, pos: b.pos}
			var err error
			if v.v, err = skipForm(b, form, u); err != nil {
				return err
			}
			if b.err != nil {
				return b.err
			}
			v.len = b.pos - v.pos
			vals = append(vals, v)
		}
		if first {
			for _, v := range vals {
				if v.at == atLowPC && v.form == formAddr {
					base = v.v
				}
			}
			first = false
		}
		if err := p.patchDIE(vals, u, base); err != nil {
			return err
		}
	}
	return nil
}

// skipForm reads past one value and returns it when it is a number.
func skipForm(b *buf, form uint64, u *unit) (uint64, error) {
	switch form {
	case formAddr:
		if u.addrSize == 4 {
			return uint64(b.u32()), nil
		}
		lo, hi := b.u32(), b.u32()
		return uint64(hi)<<32 | uint64(lo), nil
	case formData1, formRef1, formFlag:
		return uint64(b.u8()), nil
	case formData2, formRef2:
		return uint64(b.u16()), nil
	case formData4, formRef4, formStrp, formSecOffset:
		return uint64(b.u32()), nil
	case formRefAddr:
		if u.version == 2 {
			b.skip(u.addrSize)
		} else {
			b.skip(4)
		}
	case formData8, formRef8, formRefSig8:
		lo, hi := b.u32(), b.u32()
		return uint64(hi)<<32 | uint64(lo), nil
	case formUdata, formRefUdata:
		return b.uleb(), nil
	case formSdata:
		return uint64(b.sleb()), nil
	case formString:
		b.cstring()
	case formBlock1:
		b.skip(int(b.u8()))
	case formBlock2:
		b.skip(int(b.u16()))
	case formBlock4:
		b.skip(int(b.u32()))
	case formBlock, formExprloc:
		n := b.uleb()
		if n > uint64(len(b.data)) {
			return 0, errTruncated
		}
		b.skip(int(n))
	case formFlagPresent:
	default:
		return 0, fmt.Errorf("form 0x%x is not mapped", form)
	}
	return 0, nil
}

// patchDIE maps one entry's addresses.
func (p *patcher) patchDIE(vals []value, u *unit, base uint64) error {
	var low *value
	for i := range vals {
		if vals[i].at == atLowPC && vals[i].form == formAddr {
			low = &vals[i]
		}
	}
	for i := range vals {
		v := &vals[i]
		switch {
		case v.form == formAddr:
			p.putAddr(v, p.m.addr(v.v), u.addrSize)
		case v.at == atHighPC && low != nil:
			// A length from low_pc.
			end := p.m.addr(low.v + v.v)
			if err := p.putData(v, end-p.m.addr(low.v)); err != nil {
				return err
			}
		case v.at == atStmtList && (v.form == formSecOffset || v.form == formData4):
			u.stmtList = int64(v.v)
			p.stmtLists = append(p.stmtLists, *v)
		case v.at == atRanges && (v.form == formSecOffset || v.form == formData4):
			if err := p.patchList(p.ranges, p.rangesDone, v.v, u, base, false); err != nil {
				return fmt.Errorf(".debug_ranges at 0x%x: %w", v.v, err)
			}
		case isLocationAttr(v.at) && (v.form == formSecOffset || u.version < 4 && (v.form == formData4 || v.form == formData8)):
			if err := p.patchList(p.loc, p.locDone, v.v, u, base, true); err != nil {
				return fmt.Errorf(".debug_loc at 0x%x: %w", v.v, err)
			}
		}
	}
	return nil
}

func (p *patcher) putAddr(v *value, a uint64, size int) {
	if size == 4 {
		binary.LittleEndian.PutUint32(p.info[v.pos:], uint32(a))
	} else {
		binary.LittleEndian.PutUint64(p.info[v.pos:], a)
	}
}

// putData replaces a constant in place.
func (p *patcher) putData(v *value, x uint64) error {
	out := p.info[v.pos : v.pos+v.len]
	switch v.form {
	case formData1:
		if x > 0xff {
			return fmt.Errorf("DW_AT_high_pc 0x%x does not fit its form", x)
		}
		out[0] = byte(x)
	case formData2:
		if x > 0xffff {
			return fmt.Errorf("DW_AT_high_pc 0x%x does not fit its form", x)
		}
		binary.LittleEndian.PutUint16(out, uint16(x))
	case formData4:
		binary.LittleEndian.PutUint32(out, uint32(x))
	case formData8:
		binary.LittleEndian.PutUint64(out, x)
	case formUdata:
		if !putULEBPadded(out, x, len(out)) {
			return fmt.Errorf("DW_AT_high_pc 0x%x does not fit its form", x)
		}
	default:
		return fmt.Errorf("DW_AT_high_pc in form 0x%x is not mapped", v.form)
	}
	return nil
}

// patchList maps the entries of a range list (or, with loc, a location
// list) at off, in place: pairs of addresses relative to the base, which
// a base address selection entry changes.
func (p *patcher) patchList(data []byte, done map[uint64]bool, off uint64, u *unit, base uint64, loc bool) error {
	if done[off] {
		return nil
	}
	done[off] = true
	if off > uint64(len(data)) {
		return errTruncated
	}
	b := buf{data: data, pos: int(off)}
	size := u.addrSize
	read := func() uint64 {
		if size == 4 {
			return uint64(b.u32())
		}
		lo, hi := b.u32(), b.u32()
		return uint64(hi)<<32 | uint64(lo)
	}
	put := func(pos int, a uint64) {
		if size == 4 {
			binary.LittleEndian.PutUint32(data[pos:], uint32(a))
		} else {
			binary.LittleEndian.PutUint64(data[pos:], a)
		}
	}
	maxAddr := uint64(1)<<(8*size) - 1
	newBase := p.m.addr(base)
	for {
		pos := b.pos
		start, end := read(), read()
		if b.err != nil {
			return b.err
		}
		if start == 0 && end == 0 {
			return nil
		}
		if start == maxAddr {
			base = end
			newBase = p.m.addr(base)
			put(pos+size, newBase)
			continue
		}
		if _, in := p.m.find(base + start); in {
			put(pos, (p.m.addr(base+start)-newBase)&maxAddr)
			put(pos+size, (p.m.addr(base+end)-newBase)&maxAddr)
		}
		if loc {
			b.skip(int(b.u16()))
			if b.err != nil {
				return b.err
			}
		}
	}
}
