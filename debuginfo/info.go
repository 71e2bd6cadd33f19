package debuginfo

import (
	"encoding/binary"
	"fmt"
	"slices"
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
	atStartScope         = 0x2c
	atAddrBase           = 0x73
	atRnglistsBase       = 0x74
	atLoclistsBase       = 0x8c

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
	// new in DWARF 5
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
)

// DWARF 5 unit types mapped.
const (
	utCompile  = 0x01
	utType     = 0x02
	utPartial  = 0x03
	utSkeleton = 0x04
)

// isAddrx reports whether a form is an index into .debug_addr.
func isAddrx(form uint64) bool {
	return form == formAddrx || formAddrx1 <= form && form <= formAddrx4
}

// isRangesAttr reports whether a section offset or index in this
// attribute points at a range list.
func isRangesAttr(at uint64) bool { return at == atRanges || at == atStartScope }

// isLocationAttr reports whether a section offset or index in this
// attribute points at a location list.
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
	attrs    []attrSpec
	// mapped is set when an entry of this kind may hold something the
	// rewrite changes (see patchDIE): the others are only skipped.
	mapped bool
}

type attrSpec struct {
	at, form uint64
	implicit int64 // the value of a DW_FORM_implicit_const
}

// abbrevTable is an abbreviation table by code. Compilers number the
// codes from 1 up, which index a slice; any other code goes to a map.
type abbrevTable struct {
	dense []abbrev // code i+1
	other map[uint64]*abbrev
}

func (t *abbrevTable) get(code uint64) *abbrev {
	if code-1 < uint64(len(t.dense)) {
		return &t.dense[code-1]
	}
	return t.other[code]
}

// abbrevScratch is where readAbbrevs reads a table before it copies it
// into slices of the table's size: kept from one table to the next.
type abbrevScratch struct {
	entries []abbrevEntry
	specs   []attrSpec
}

type abbrevEntry struct {
	code       uint64
	a          abbrev
	start, end int // its attributes in specs
}

// readAbbrevs reads the abbreviation table at off.
func readAbbrevs(data []byte, off uint32, scratch *abbrevScratch) (*abbrevTable, error) {
	b := buf{data: data, pos: int(off)}
	if int(off) > len(data) {
		return nil, fmt.Errorf(".debug_abbrev: offset 0x%x out of range", off)
	}
	entries, specs := scratch.entries[:0], scratch.specs[:0]
	defer func() { scratch.entries, scratch.specs = entries, specs }()
	for {
		code := b.uleb()
		if b.err != nil {
			return nil, fmt.Errorf(".debug_abbrev at 0x%x: %w", b.pos, b.err)
		}
		if code == 0 {
			break
		}
		e := abbrevEntry{code: code, a: abbrev{tag: b.uleb(), children: b.u8() != 0}, start: len(specs)}
		for {
			at, form := b.uleb(), b.uleb()
			if b.err != nil {
				return nil, fmt.Errorf(".debug_abbrev at 0x%x: %w", b.pos, b.err)
			}
			if at == 0 && form == 0 {
				break
			}
			spec := attrSpec{at: at, form: form}
			if form == formImplicitConst {
				spec.implicit = b.sleb()
			}
			specs = append(specs, spec)
			switch {
			case form == formAddr, isAddrx(form), form == formIndirect, at == atHighPC, at == atStmtList, isRangesAttr(at), isLocationAttr(at):
				e.a.mapped = true
			}
		}
		e.end = len(specs)
		entries = append(entries, e)
	}
	t := &abbrevTable{dense: make([]abbrev, 0, len(entries))}
	attrs := slices.Clone(specs)
	for i := range entries {
		e := &entries[i]
		e.a.attrs = attrs[e.start:e.end:e.end]
		if e.code == uint64(len(t.dense))+1 && len(t.other) == 0 {
			t.dense = append(t.dense, e.a)
		} else {
			if t.other == nil {
				t.other = map[uint64]*abbrev{}
			}
			a := e.a
			t.other[e.code] = &a
		}
	}
	return t, nil
}

// unit is a unit of .debug_info, as the rewrite needs it.
type unit struct {
	version  uint16
	addrSize int
	// stmtList is the offset of its line program, -1 for none.
	stmtList int64
	// base is its base address for its range and location lists: the
	// DW_AT_low_pc of its first entry.
	base uint64
	// addrBase, rnglistsBase and loclistsBase are its DWARF 5
	// DW_AT_addr_base, DW_AT_rnglists_base and DW_AT_loclists_base: where
	// its tables in .debug_addr, .debug_rnglists and .debug_loclists
	// start (-1: none).
	addrBase, rnglistsBase, loclistsBase int64
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
	ranges, loc         []byte // copies being patched (DWARF 2 to 4)
	rangesDone, locDone offsetSet
	// stmtLists are the places of DW_AT_stmt_list values, to be patched
	// once the new line programs' offsets are known.
	stmtLists []value
	// DWARF 5: addr is .debug_addr as read, and codeAddrs the offsets of
	// its entries that something reads as a code address (the others
	// are the addresses in memory of variables, DW_OP_addrx's). The list
	// sections are written anew once every list is known.
	addr               []byte
	codeAddrs          map[int]int // offset: size
	rnglists, loclists listSection
}

// walkInfo maps the code addresses in .debug_info and in the range and
// location lists it points at.
func (p *patcher) walkInfo() error {
	b := buf{data: p.info}
	abbrevCache := map[uint32]*abbrevTable{}
	var scratch abbrevScratch
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
		u := unit{version: b.u16(), stmtList: -1, addrBase: -1, rnglistsBase: -1, loclistsBase: -1}
		var abbrevOff uint32
		switch u.version {
		case 2, 3, 4:
			abbrevOff = b.u32()
			u.addrSize = int(b.u8())
		case 5:
			unitType := b.u8()
			u.addrSize = int(b.u8())
			abbrevOff = b.u32()
			switch unitType {
			case utCompile, utPartial:
			case utSkeleton:
				b.skip(8) // dwo_id
			case utType:
				b.skip(8 + 4) // type_signature, type_offset
			default:
				return fmt.Errorf(".debug_info at 0x%x: unit type %d is not mapped", start, unitType)
			}
		default:
			return fmt.Errorf(".debug_info at 0x%x: DWARF version %d is not mapped", start, u.version)
		}
		if u.addrSize != 4 && u.addrSize != 8 {
			return fmt.Errorf(".debug_info at 0x%x: address size %d", start, u.addrSize)
		}
		if b.err != nil || b.pos > end {
			return fmt.Errorf(".debug_info at 0x%x: unit header runs past the unit", start)
		}
		table, ok := abbrevCache[abbrevOff]
		if !ok {
			var err error
			if table, err = readAbbrevs(p.abbrevs, abbrevOff, &scratch); err != nil {
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

func (p *patcher) walkUnit(b *buf, u *unit, table *abbrevTable) error {
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
		a := table.get(code)
		if a == nil {
			return fmt.Errorf("abbreviation %d not in its table", code)
		}
		if !a.mapped && !first {
			for _, spec := range a.attrs {
				if _, err := skipForm(b, spec.form, u); err != nil {
					return err
				}
			}
			if b.err != nil {
				return b.err
			}
			continue
		}
		vals = vals[:0]
		for _, spec := range a.attrs {
			form := spec.form
			if form == formIndirect {
				form = b.uleb()
			}
			v := value{at: spec.at, form: form, pos: b.pos}
			var err error
			if v.v, err = skipForm(b, form, u); err != nil {
				return err
			}
			if b.err != nil {
				return b.err
			}
			if spec.form == formImplicitConst {
				v.v = uint64(spec.implicit)
			}
			v.len = b.pos - v.pos
			vals = append(vals, v)
		}
		if first {
			if err := p.readUnitEntry(vals, u); err != nil {
				return err
			}
			first = false
		}
		if err := p.patchDIE(vals, u); err != nil {
			return err
		}
	}
	return nil
}

// readUnitEntry reads what the rest of a unit needs from its first
// entry: its base address and, in DWARF 5, where its tables in
// .debug_addr, .debug_rnglists and .debug_loclists start.
func (p *patcher) readUnitEntry(vals []value, u *unit) error {
	for _, v := range vals {
		if u.version < 5 || v.form != formSecOffset {
			continue
		}
		switch v.at {
		case atAddrBase:
			u.addrBase = int64(v.v)
		case atRnglistsBase:
			u.rnglistsBase = int64(v.v)
		case atLoclistsBase:
			u.loclistsBase = int64(v.v)
		}
	}
	for _, v := range vals {
		if v.at == atLowPC {
			var err error
			if u.base, _, err = p.lowPC(&v, u); err != nil {
				return err
			}
		}
	}
	for _, v := range vals {
		switch {
		case v.at == atRnglistsBase && u.rnglistsBase >= 0:
			p.rnglists.tableAt(v.pos, uint64(u.rnglistsBase), u)
		case v.at == atLoclistsBase && u.loclistsBase >= 0:
			p.loclists.tableAt(v.pos, uint64(u.loclistsBase), u)
		}
	}
	return nil
}

// lowPC returns a DW_AT_low_pc's value, false when it has none.
func (p *patcher) lowPC(v *value, u *unit) (uint64, bool, error) {
	switch {
	case v.form == formAddr:
		return v.v, true, nil
	case isAddrx(v.form):
		a, err := p.codeAddr(u, v.v)
		return a, err == nil, err
	}
	return 0, false, nil
}

// skipForm reads past one value and returns it when it is a number (or
// an offset, or an index).
func skipForm(b *buf, form uint64, u *unit) (uint64, error) {
	switch form {
	case formAddr:
		return b.addr(u.addrSize), nil
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		return uint64(b.u8()), nil
	case formData2, formRef2, formStrx2, formAddrx2:
		return uint64(b.u16()), nil
	case formStrx3, formAddrx3:
		lo := uint64(b.u16())
		return lo | uint64(b.u8())<<16, nil
	case formData4, formRef4, formStrp, formSecOffset, formLineStrp, formStrpSup, formRefSup4, formStrx4, formAddrx4:
		return uint64(b.u32()), nil
	case formRefAddr:
		if u.version == 2 {
			b.skip(u.addrSize)
		} else {
			b.skip(4)
		}
	case formData8, formRef8, formRefSig8, formRefSup8:
		return b.addr(8), nil
	case formData16:
		b.skip(16)
	case formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx:
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
	case formFlagPresent, formImplicitConst:
	default:
		return 0, fmt.Errorf("form 0x%x is not mapped", form)
	}
	return 0, nil
}

// patchDIE maps one entry's addresses.
func (p *patcher) patchDIE(vals []value, u *unit) error {
	var low *value
	for i := range vals {
		if vals[i].at == atLowPC {
			low = &vals[i]
		}
	}
	for i := range vals {
		v := &vals[i]
		switch {
		case v.form == formAddr:
			putAddr(p.info[v.pos:], p.m.addr(v.v), u.addrSize)
		case isAddrx(v.form):
			if _, err := p.codeAddr(u, v.v); err != nil {
				return err
			}
		case v.at == atHighPC && low != nil:
			// A length from low_pc.
			lowPC, ok, err := p.lowPC(low, u)
			if err != nil || !ok {
				return err
			}
			start, end, _ := p.m.mapRange(lowPC, lowPC+v.v)
			if err := p.putData(v, end-start); err != nil {
				return err
			}
		case v.at == atStmtList && (v.form == formSecOffset || v.form == formData4):
			u.stmtList = int64(v.v)
			p.stmtLists = append(p.stmtLists, *v)
		case isRangesAttr(v.at):
			if err := p.referRanges(v, u); err != nil {
				return err
			}
		case isLocationAttr(v.at):
			if err := p.referLocations(v, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// referRanges maps (DWARF 2 to 4) or notes (DWARF 5) the range list an
// attribute points at.
func (p *patcher) referRanges(v *value, u *unit) error {
	switch {
	case u.version < 5 && (v.form == formSecOffset || v.form == formData4):
		if err := p.patchList(p.ranges, p.rangesDone, v.v, u, false); err != nil {
			return fmt.Errorf(".debug_ranges at 0x%x: %w", v.v, err)
		}
	case u.version >= 5 && v.form == formSecOffset:
		return p.rnglists.refer(v.v, v.pos, u)
	case v.form == formRnglistx:
		off, err := p.rnglists.indexed(u.rnglistsBase, v.v)
		if err != nil {
			return err
		}
		return p.rnglists.refer(off, -1, u)
	}
	return nil
}

// referLocations maps (DWARF 2 to 4) or notes (DWARF 5) the location
// list an attribute points at.
func (p *patcher) referLocations(v *value, u *unit) error {
	switch {
	case u.version < 5 && (v.form == formSecOffset || u.version < 4 && (v.form == formData4 || v.form == formData8)):
		if err := p.patchList(p.loc, p.locDone, v.v, u, true); err != nil {
			return fmt.Errorf(".debug_loc at 0x%x: %w", v.v, err)
		}
	case u.version >= 5 && v.form == formSecOffset:
		return p.loclists.refer(v.v, v.pos, u)
	case v.form == formLoclistx:
		off, err := p.loclists.indexed(u.loclistsBase, v.v)
		if err != nil {
			return err
		}
		return p.loclists.refer(off, -1, u)
	}
	return nil
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
		if x > 0xffffffff {
			return fmt.Errorf("DW_AT_high_pc 0x%x does not fit its form", x)
		}
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
// list) of DWARF 2 to 4 at off, in place: pairs of addresses relative
// to the base, which a base address selection entry changes.
func (p *patcher) patchList(data []byte, done offsetSet, off uint64, u *unit, loc bool) error {
	if !done.add(off) {
		return nil
	}
	if off > uint64(len(data)) {
		return errTruncated
	}
	b := buf{data: data, pos: int(off)}
	size := u.addrSize
	maxAddr := uint64(1)<<(8*size) - 1
	base := u.base
	newBase := p.m.addr(base)
	for {
		pos := b.pos
		start, end := b.addr(size), b.addr(size)
		if b.err != nil {
			return b.err
		}
		if start == 0 && end == 0 {
			return nil
		}
		if start == maxAddr {
			base = end
			newBase = p.m.addr(base)
			putAddr(data[pos+size:], newBase, size)
			continue
		}
		// A range outside every body keeps its addresses, even where the
		// base moved.
		newStart, newEnd, _ := p.m.mapRange(base+start, base+end)
		putAddr(data[pos:], (newStart-newBase)&maxAddr, size)
		putAddr(data[pos+size:], (newEnd-newBase)&maxAddr, size)
		if loc {
			b.skip(int(b.u16()))
			if b.err != nil {
				return b.err
			}
		}
	}
}
