package debuginfo

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// DWARF 5's address table and range and location lists. An entry of
// .debug_addr has the unit's address size, so it is mapped in place;
// the lists hold lengths and offsets as ULEB128s, whose size the mapping
// changes, so their sections are written anew, list by list, and the
// offsets that point into them (the offset tables at the start of each
// unit's lists, DW_FORM_sec_offset values and DW_AT_rnglists_base and
// DW_AT_loclists_base in .debug_info) follow.

// Kinds of list entries: DW_RLE_*, and DW_LLE_* but for default_location,
// after which DW_LLE_'s numbers are one more than DW_RLE_'s.
const (
	leEndOfList        = 0x00
	leBaseAddressx     = 0x01
	leStartxEndx       = 0x02
	leStartxLength     = 0x03
	leOffsetPair       = 0x04
	leBaseAddress      = 0x05
	leStartEnd         = 0x06
	leStartLength      = 0x07
	lleDefaultLocation = 0x05
)

// listCtx is what reading a list needs from the unit that refers to it.
type listCtx struct {
	addrBase int64 // DW_AT_addr_base, -1 for none
	addrSize int
	base     uint64 // the unit's base address
}

func (u *unit) listCtx() listCtx {
	return listCtx{addrBase: u.addrBase, addrSize: u.addrSize, base: u.base}
}

// listSection is .debug_rnglists or .debug_loclists, and what the walk of
// .debug_info found pointing into it.
type listSection struct {
	name string
	data []byte
	loc  bool
	// lists are the lists the units refer to, by offset; owners the units
	// whose DW_AT_*_base names a table, by the table's offset (for the
	// lists no entry names, which are read as that unit's).
	lists, owners map[uint64]listCtx
	// offsets and bases are the places in .debug_info of the
	// DW_FORM_sec_offset values that point at lists, and of the
	// DW_AT_*_base values that point at tables.
	offsets, bases []int
}

func newListSection(name string, data []byte, loc bool) listSection {
	return listSection{name: name, data: data, loc: loc, lists: map[uint64]listCtx{}, owners: map[uint64]listCtx{}}
}

// refer notes that unit u reads the list at off; pos is where .debug_info
// holds the offset, -1 when an index into the table names it.
func (s *listSection) refer(off uint64, pos int, u *unit) error {
	ctx := u.listCtx()
	if c, seen := s.lists[off]; seen && c != ctx {
		return fmt.Errorf("%s at 0x%x: read by units with different bases", s.name, off)
	}
	s.lists[off] = ctx
	if pos >= 0 {
		s.offsets = append(s.offsets, pos)
	}
	return nil
}

// tableAt notes that unit u's DW_AT_*_base, at pos in .debug_info,
// names its table of lists at base.
func (s *listSection) tableAt(pos int, base uint64, u *unit) {
	ctx := u.listCtx()
	if c, seen := s.owners[base]; seen && c != ctx {
		ctx = listCtx{} // two owners: none
	}
	s.owners[base] = ctx
	s.bases = append(s.bases, pos)
}

// indexed returns the offset of the list that entry idx of the offset
// table at base names (DW_FORM_rnglistx, DW_FORM_loclistx).
func (s *listSection) indexed(base int64, idx uint64) (uint64, error) {
	if base < 0 {
		return 0, fmt.Errorf("a list index without the unit's %s base", s.name)
	}
	// offset_entry_count is the header's last field.
	if base < 4 || base > int64(len(s.data)) {
		return 0, fmt.Errorf("%s base 0x%x out of range", s.name, base)
	}
	if count := binary.LittleEndian.Uint32(s.data[base-4:]); idx >= uint64(count) {
		return 0, fmt.Errorf("%s index %d of %d", s.name, idx, count)
	}
	pos := uint64(base) + 4*idx
	if pos+4 > uint64(len(s.data)) {
		return 0, fmt.Errorf("%s index %d out of range", s.name, idx)
	}
	return uint64(base) + uint64(binary.LittleEndian.Uint32(s.data[pos:])), nil
}

// addrEntry returns entry idx of the .debug_addr table at ctx.addrBase,
// and notes in code that it is a code address, and its size.
func (p *patcher) addrEntry(ctx listCtx, idx uint64, code map[int]int) (uint64, error) {
	off, a, err := addrAt(p.addr, ctx, idx)
	if err == nil {
		code[off] = ctx.addrSize
	}
	return a, err
}

// addrAt returns the offset and value of entry idx of the .debug_addr
// table at ctx.addrBase.
func addrAt(addr []byte, ctx listCtx, idx uint64) (int, uint64, error) {
	if ctx.addrBase < 0 {
		return 0, 0, fmt.Errorf("an address index without the unit's DW_AT_addr_base")
	}
	size := uint64(ctx.addrSize)
	off := uint64(ctx.addrBase) + idx*size
	if idx > uint64(len(addr)) || off > uint64(len(addr)) || size > uint64(len(addr))-off {
		return 0, 0, fmt.Errorf(".debug_addr: index %d from 0x%x out of range", idx, ctx.addrBase)
	}
	b := buf{data: addr, pos: int(off)}
	return int(off), b.addr(ctx.addrSize), nil
}

// locationAt5 returns the expression of the entry of the DWARF 5
// location list at off that covers pc (or its default location), for a
// unit whose address table and base address ctx gives.
func locationAt5(loclists, addr []byte, off uint64, ctx listCtx, pc uint64) []byte {
	if off > uint64(len(loclists)) {
		return nil
	}
	b := buf{data: loclists, pos: int(off)}
	w := listWalker{base: ctx.base, addr: func(i uint64) (uint64, error) {
		_, a, err := addrAt(addr, ctx, i)
		return a, err
	}}
	var byDefault []byte
	for {
		e, err := readListEntry(&b, true, ctx.addrSize)
		if err != nil || e.kind == leEndOfList {
			return byDefault
		}
		start, end, isRange, err := w.step(&e)
		switch {
		case err != nil:
			return nil
		case e.kind == leDefaultLocation:
			byDefault = e.expr
		case isRange && start <= pc && pc < end:
			return e.expr
		}
	}
}

// codeAddr returns entry idx of unit u's address table, a code address.
func (p *patcher) codeAddr(u *unit, idx uint64) (uint64, error) {
	return p.addrEntry(u.listCtx(), idx, p.codeAddrs)
}

// mapAddrs returns .debug_addr with its code addresses mapped.
func (p *patcher) mapAddrs() []byte {
	out := slices.Clone(p.addr)
	for off, size := range p.codeAddrs {
		b := buf{data: p.addr, pos: off}
		putAddr(out[off:], p.m.addr(b.addr(size)), size)
	}
	return out
}

// rewriteLists writes the list section s anew, each unit's lists
// through the map, and on success points the offsets in .debug_info at
// the new lists and notes the address entries they read as code.
func (p *patcher) rewriteLists(s *listSection) ([]byte, error) {
	out := make([]byte, 0, len(s.data)+len(s.data)/4)
	newList := map[uint64]uint64{}  // by old offset
	newTable := map[uint64]uint64{} // by old offset
	code := map[int]int{}
	b := buf{data: s.data}
	for b.pos < len(s.data) {
		start := b.pos
		length := b.u32()
		if length >= 0xfffffff0 {
			return nil, fmt.Errorf("at 0x%x: 64-bit DWARF is not mapped", start)
		}
		if !b.need(int(length)) {
			return nil, fmt.Errorf("at 0x%x: runs past the section", start)
		}
		end := b.pos + int(length)
		version, addrSize, segSize, count := b.u16(), int(b.u8()), b.u8(), b.u32()
		switch {
		case b.err != nil || b.pos > end:
			return nil, fmt.Errorf("at 0x%x: header runs past its end", start)
		case version != 5:
			return nil, fmt.Errorf("at 0x%x: version %d", start, version)
		case addrSize != 4 && addrSize != 8 || segSize != 0:
			return nil, fmt.Errorf("at 0x%x: address size %d, segment selector size %d", start, addrSize, segSize)
		case uint64(count)*4 > uint64(end-b.pos):
			return nil, fmt.Errorf("at 0x%x: %d offsets run past its end", start, count)
		}
		table := b.pos
		newStart := len(out)
		newTable[uint64(table)] = uint64(newStart + table - start)
		b.pos += 4 * int(count)
		out = append(out, s.data[start:b.pos]...)
		lb := buf{data: s.data[:end], pos: b.pos}
		for lb.pos < end {
			off := uint64(lb.pos)
			ctx, ok := s.lists[off]
			if !ok {
				ctx = s.owners[uint64(table)]
			}
			if ctx.addrSize != addrSize {
				return nil, fmt.Errorf("at 0x%x: no unit says how to read the list", off)
			}
			newList[off] = uint64(len(out))
			var err error
			if out, err = p.rewriteList(out, &lb, ctx, s.loc, code); err != nil {
				return nil, fmt.Errorf("at 0x%x: %w", off, err)
			}
		}
		newBase := newTable[uint64(table)]
		for i := range int(count) {
			at := table + 4*i
			n, ok := newList[uint64(table)+uint64(binary.LittleEndian.Uint32(s.data[at:]))]
			if !ok {
				return nil, fmt.Errorf("at 0x%x: offset %d names no list", start, i)
			}
			binary.LittleEndian.PutUint32(out[newStart+at-start:], uint32(n-newBase))
		}
		binary.LittleEndian.PutUint32(out[newStart:], uint32(len(out)-newStart-4))
		b.pos = end
	}
	for off := range s.lists {
		if _, ok := newList[off]; !ok {
			return nil, fmt.Errorf("no list starts at 0x%x", off)
		}
	}
	for _, pos := range s.bases {
		if _, ok := newTable[uint64(binary.LittleEndian.Uint32(p.info[pos:]))]; !ok {
			return nil, fmt.Errorf("no table of lists starts at 0x%x", binary.LittleEndian.Uint32(p.info[pos:]))
		}
	}
	if uint64(len(out)) > 0xffffffff {
		return nil, fmt.Errorf("grows past 4 GiB")
	}
	for _, pos := range s.offsets {
		binary.LittleEndian.PutUint32(p.info[pos:], uint32(newList[uint64(binary.LittleEndian.Uint32(p.info[pos:]))]))
	}
	for _, pos := range s.bases {
		binary.LittleEndian.PutUint32(p.info[pos:], uint32(newTable[uint64(binary.LittleEndian.Uint32(p.info[pos:]))]))
	}
	maps.Copy(p.codeAddrs, code)
	return out, nil
}

// listEntry is an entry of a DWARF 5 range or location list.
type listEntry struct {
	raw  byte // its kind as written
	kind byte // le*: DW_LLE_'s numbers as DW_RLE_'s, and leDefaultLocation
	// x and y are its operands: address indices, offsets, addresses or
	// lengths, as its kind says.
	x, y uint64
	expr []byte // a location list entry's expression
}

const leDefaultLocation = 0xff

func (e *listEntry) hasExpr() bool {
	return e.kind != leEndOfList && e.kind != leBaseAddressx && e.kind != leBaseAddress
}

// readListEntry reads the entry b is at, of a location list with loc.
func readListEntry(b *buf, loc bool, addrSize int) (listEntry, error) {
	e := listEntry{raw: b.u8()}
	e.kind = e.raw
	switch {
	case loc && e.kind == lleDefaultLocation:
		e.kind = leDefaultLocation
	case loc && e.kind > lleDefaultLocation:
		e.kind--
	}
	switch e.kind {
	case leEndOfList, leDefaultLocation:
	case leBaseAddressx:
		e.x = b.uleb()
	case leStartxEndx, leStartxLength, leOffsetPair:
		e.x, e.y = b.uleb(), b.uleb()
	case leBaseAddress:
		e.x = b.addr(addrSize)
	case leStartEnd:
		e.x, e.y = b.addr(addrSize), b.addr(addrSize)
	case leStartLength:
		e.x = b.addr(addrSize)
		e.y = b.uleb()
	default:
		return e, fmt.Errorf("list entry kind 0x%x is not mapped", e.raw)
	}
	if loc && e.hasExpr() {
		n := b.uleb()
		if b.need(int(min(n, uint64(len(b.data))+1))) {
			e.expr = b.data[b.pos : b.pos+int(n)]
			b.pos += int(n)
		}
	}
	return e, b.err
}

// appendListEntry appends e as readListEntry reads it.
func appendListEntry(out []byte, e *listEntry, loc bool, addrSize int) []byte {
	out = append(out, e.raw)
	switch e.kind {
	case leBaseAddressx:
		out = appendULEB(out, e.x)
	case leStartxEndx, leStartxLength, leOffsetPair:
		out = appendULEB(appendULEB(out, e.x), e.y)
	case leBaseAddress:
		out = appendAddr(out, e.x, addrSize)
	case leStartEnd:
		out = appendAddr(appendAddr(out, e.x, addrSize), e.y, addrSize)
	case leStartLength:
		out = appendULEB(appendAddr(out, e.x, addrSize), e.y)
	}
	if loc && e.hasExpr() {
		out = append(appendULEB(out, uint64(len(e.expr))), e.expr...)
	}
	return out
}

// listWalker follows a list's base address, and the range each entry
// covers.
type listWalker struct {
	base uint64
	// addr returns entry i of the unit's address table.
	addr func(i uint64) (uint64, error)
}

// step returns the range of code addresses entry e covers, false for an
// entry that covers none (the end, a base address, a default location);
// a base address entry changes the base.
func (w *listWalker) step(e *listEntry) (start, end uint64, isRange bool, err error) {
	switch e.kind {
	case leBaseAddressx:
		w.base, err = w.addr(e.x)
	case leBaseAddress:
		w.base = e.x
	case leStartxEndx:
		if start, err = w.addr(e.x); err == nil {
			end, err = w.addr(e.y)
		}
		isRange = true
	case leStartxLength:
		start, err = w.addr(e.x)
		end, isRange = start+e.y, true
	case leOffsetPair:
		start, end, isRange = w.base+e.x, w.base+e.y, true
	case leStartEnd:
		start, end, isRange = e.x, e.y, true
	case leStartLength:
		start, end, isRange = e.x, e.x+e.y, true
	}
	return start, end, isRange, err
}

// rewriteList appends the list b is at, through the map, to out, and
// notes in code the address entries it reads.
func (p *patcher) rewriteList(out []byte, b *buf, ctx listCtx, loc bool, code map[int]int) ([]byte, error) {
	w := listWalker{base: ctx.base, addr: func(i uint64) (uint64, error) { return p.addrEntry(ctx, i, code) }}
	newBase := p.m.addr(w.base)
	for {
		e, err := readListEntry(b, loc, ctx.addrSize)
		if err != nil {
			return nil, err
		}
		start, end, isRange, err := w.step(&e)
		if err != nil {
			return nil, err
		}
		switch {
		case e.kind == leBaseAddress:
			e.x = p.m.addr(e.x)
			newBase = e.x
		case e.kind == leBaseAddressx:
			newBase = p.m.addr(w.base) // in .debug_addr
		case isRange && e.kind != leStartxEndx: // whose indices stay
			// A range outside every body keeps its addresses, even where
			// the base moved.
			newStart, newEnd, _ := p.m.mapRange(start, end)
			if newEnd < newStart || e.kind == leOffsetPair && newStart < newBase {
				return nil, fmt.Errorf("a range ends before it starts, or before its base")
			}
			switch e.kind {
			case leStartxLength:
				e.y = newEnd - newStart
			case leOffsetPair:
				e.x, e.y = newStart-newBase, newEnd-newBase
			case leStartEnd:
				e.x, e.y = newStart, newEnd
			case leStartLength:
				e.x, e.y = newStart, newEnd-newStart
			}
		}
		out = appendListEntry(out, &e, loc, ctx.addrSize)
		if e.kind == leEndOfList {
			return out, nil
		}
	}
}
