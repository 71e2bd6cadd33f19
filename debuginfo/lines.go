package debuginfo

import (
	"errors"
	"fmt"
	"sort"
)

// lineHeader is what reading and writing a line program needs of its
// header.
type lineHeader struct {
	raw         []byte // from unit_length to the end of the header
	version     uint16
	addrSize    int // from version 5, 0 before
	defaultStmt bool
	lineBase    int8
	lineRange   byte
	opcodeBase  byte
	// stdLengths are the numbers of ULEB128 operands of the standard
	// opcodes, from 1.
	stdLengths []byte
	// numFiles is the number of files the header declares: file indices
	// are 1 to numFiles before version 5, 0 to numFiles-1 from it.
	numFiles     int
	programStart int // offset of the program in the section
	end          int // offset of the unit's end
}

func readLineHeader(data []byte, off int64) (*lineHeader, error) {
	if off < 0 || off > int64(len(data)) {
		return nil, fmt.Errorf("offset 0x%x out of range", off)
	}
	b := buf{data: data, pos: int(off)}
	length := b.u32()
	if length >= 0xfffffff0 {
		return nil, errors.New("64-bit DWARF is not mapped")
	}
	if !b.need(int(length)) {
		return nil, errTruncated
	}
	end := b.pos + int(length)
	b.data = data[:end]
	h := &lineHeader{version: b.u16(), end: end}
	if h.version < 2 || h.version > 5 {
		return nil, fmt.Errorf("line table version %d is not mapped", h.version)
	}
	if h.version >= 5 {
		h.addrSize = int(b.u8())
		if segSize := b.u8(); segSize != 0 {
			return nil, fmt.Errorf("segment selector size %d", segSize)
		}
	}
	headerLength := b.u32()
	h.programStart = b.pos + int(headerLength)
	minInstLength := b.u8()
	maxOps := byte(1)
	if h.version >= 4 {
		maxOps = b.u8()
	}
	h.defaultStmt = b.u8() != 0
	h.lineBase = int8(b.u8())
	h.lineRange = b.u8()
	h.opcodeBase = b.u8()
	if h.opcodeBase > 0 && b.need(int(h.opcodeBase)-1) {
		h.stdLengths = data[b.pos : b.pos+int(h.opcodeBase)-1]
		b.pos += int(h.opcodeBase) - 1
	}
	if h.version < 5 {
		for b.err == nil && b.u8() != 0 { // include_directories
			b.cstring()
		}
		for b.err == nil && b.u8() != 0 { // file_names
			b.cstring()
			b.uleb() // directory
			b.uleb() // modification time
			b.uleb() // length
			h.numFiles++
		}
	} else {
		u := &unit{version: h.version, addrSize: h.addrSize}
		if err := skipEntries(&b, u); err != nil { // directories
			return nil, err
		}
		// The file names' formats, and their count.
		for range b.u8() {
			b.uleb()
			b.uleb()
		}
		n := b.uleb()
		if n > uint64(len(data)) {
			return nil, errTruncated
		}
		h.numFiles = int(n)
	}
	switch {
	case b.err != nil || h.programStart > end || h.programStart < int(off):
		return nil, errTruncated
	case minInstLength != 1 || maxOps != 1:
		return nil, fmt.Errorf("minimum instruction length %d, maximum operations per instruction %d", minInstLength, maxOps)
	case h.lineRange == 0 || h.opcodeBase == 0:
		return nil, fmt.Errorf("line range %d, opcode base %d", h.lineRange, h.opcodeBase)
	}
	h.raw = data[off:h.programStart]
	return h, nil
}

// skipEntries reads past a version 5 line header's entry formats and
// the entries in those formats.
func skipEntries(b *buf, u *unit) error {
	forms := make([]uint64, b.u8())
	for i := range forms {
		b.uleb() // content type
		forms[i] = b.uleb()
	}
	n := b.uleb()
	if n > uint64(len(b.data)) {
		return errTruncated
	}
	for range n {
		for _, form := range forms {
			if _, err := skipForm(b, form, u); err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
	}
	return nil
}

// lineRow is a row of a line table.
type lineRow struct {
	addr uint64
	// file is the file's index, -1 when the header declares none there
	// (code without a line keeps the file of the row before it).
	file                                           int
	line                                           int
	column, isa, discriminator                     uint64
	isStmt, basicBlock, prologueEnd, epilogueBegin bool
}

// lineSeq is the rows of one sequence of a line program, and its end.
type lineSeq struct {
	rows []lineRow
	end  uint64
}

// covering returns the index of the row that covers address a, -1 if a
// lies before the first.
func (s *lineSeq) covering(a uint64) int {
	return sort.Search(len(s.rows), func(i int) bool { return s.rows[i].addr > a }) - 1
}

// lineReader decodes line programs into buffers it reuses from one
// program to the next.
type lineReader struct {
	rows []lineRow
	seqs []lineSeq
}

// read returns the sequences of h's program in data (rows after the
// last end_sequence are left out), valid until the next call.
func (lr *lineReader) read(data []byte, h *lineHeader) ([]lineSeq, error) {
	lr.rows, lr.seqs = lr.rows[:0], lr.seqs[:0]
	b := buf{data: data[:h.end], pos: h.programStart}
	var st lineRow
	setFile := func(i uint64) {
		st.file = -1
		if h.version >= 5 && i < uint64(h.numFiles) || h.version < 5 && i >= 1 && i <= uint64(h.numFiles) {
			st.file = int(i)
		}
	}
	reset := func() {
		st = lineRow{line: 1, isStmt: h.defaultStmt}
		setFile(1)
	}
	reset()
	first := 0 // the current sequence's first row
	emit := func() {
		lr.rows = append(lr.rows, st)
		st.discriminator, st.basicBlock, st.prologueEnd, st.epilogueBegin = 0, false, false, false
	}
	for b.pos < len(b.data) {
		op := b.u8()
		switch {
		case op >= h.opcodeBase: // special
			adjusted := op - h.opcodeBase
			st.addr += uint64(adjusted / h.lineRange)
			st.line += int(h.lineBase) + int(adjusted%h.lineRange)
			emit()
		case op == 0: // extended
			n := b.uleb()
			if !b.need(int(min(n, uint64(len(b.data))+1))) || n == 0 {
				return nil, errTruncated
			}
			next := b.pos + int(n)
			switch sub := b.u8(); sub {
			case 0x01: // DW_LNE_end_sequence
				// Appending to rows may move it, but not the rows of the
				// sequences already cut from it.
				if len(lr.rows) > first {
					lr.seqs = append(lr.seqs, lineSeq{rows: lr.rows[first:len(lr.rows):len(lr.rows)], end: st.addr})
				}
				first = len(lr.rows)
				reset()
			case 0x02: // DW_LNE_set_address
				if n-1 != 4 && n-1 != 8 {
					return nil, fmt.Errorf("an address of %d bytes", n-1)
				}
				st.addr = b.addr(int(n - 1))
			case 0x03:
				return nil, errors.New("DW_LNE_define_file is not mapped")
			case 0x04: // DW_LNE_set_discriminator
				st.discriminator = b.uleb()
			}
			b.pos = next
		default: // standard
			switch op {
			case 0x01: // DW_LNS_copy
				emit()
			case 0x02: // DW_LNS_advance_pc
				st.addr += b.uleb()
			case 0x03: // DW_LNS_advance_line
				st.line += int(b.sleb())
			case 0x04: // DW_LNS_set_file
				setFile(b.uleb())
			case 0x05: // DW_LNS_set_column
				st.column = b.uleb()
			case 0x06: // DW_LNS_negate_stmt
				st.isStmt = !st.isStmt
			case 0x07: // DW_LNS_set_basic_block
				st.basicBlock = true
			case 0x08: // DW_LNS_const_add_pc
				st.addr += uint64((255 - h.opcodeBase) / h.lineRange)
			case 0x09: // DW_LNS_fixed_advance_pc
				st.addr += uint64(b.u16())
			case 0x0a: // DW_LNS_set_prologue_end
				st.prologueEnd = true
			case 0x0b: // DW_LNS_set_epilogue_begin
				st.epilogueBegin = true
			case 0x0c: // DW_LNS_set_isa
				st.isa = b.uleb()
			default:
				for range h.stdLengths[op-1] {
					b.uleb()
				}
			}
		}
		if b.err != nil {
			return nil, b.err
		}
	}
	return lr.seqs, nil
}

// lineWriter writes a line program with standard and extended opcodes
// only.
type lineWriter struct {
	out        []byte
	h          *lineHeader
	addrSize   int
	inSequence bool
	// buffers writeFunc reuses
	rowOfOld []int32
	seen     []uint32
	pass     uint32
	// the state machine's registers that carry over between rows
	addr       uint64
	file, line int
	column     uint64
	isStmt     bool
}

func (w *lineWriter) reset() {
	w.inSequence, w.file, w.line, w.column, w.isStmt = false, 1, 1, 0, w.h.defaultStmt
}

func (w *lineWriter) extended(op byte, payload []byte) {
	w.out = append(w.out, 0)
	w.out = appendULEB(w.out, uint64(1+len(payload)))
	w.out = append(append(w.out, op), payload...)
}

func (w *lineWriter) moveTo(a uint64) {
	switch {
	case !w.inSequence || a < w.addr:
		var p [8]byte
		w.extended(0x02, appendAddr(p[:0], a, w.addrSize)) // DW_LNE_set_address
		w.inSequence = true
	case a > w.addr:
		w.out = appendULEB(append(w.out, 0x02), a-w.addr) // DW_LNS_advance_pc
	}
	w.addr = a
}

// row appends a row of the table at address a, with e's source position
// and flags.
func (w *lineWriter) row(a uint64, e *lineRow, first bool) {
	w.moveTo(a)
	if e.file >= 0 && e.file != w.file {
		w.out = appendULEB(append(w.out, 0x04), uint64(e.file)) // DW_LNS_set_file
		w.file = e.file
	}
	if e.column != w.column {
		w.out = appendULEB(append(w.out, 0x05), e.column) // DW_LNS_set_column
		w.column = e.column
	}
	if e.isStmt != w.isStmt {
		w.out = append(w.out, 0x06) // DW_LNS_negate_stmt
		w.isStmt = e.isStmt
	}
	if e.line != w.line {
		w.out = appendSLEB(append(w.out, 0x03), int64(e.line-w.line)) // DW_LNS_advance_line
		w.line = e.line
	}
	if e.discriminator != 0 {
		var p [10]byte
		w.extended(0x04, appendULEB(p[:0], e.discriminator)) // DW_LNE_set_discriminator
	}
	if first {
		if e.basicBlock {
			w.out = append(w.out, 0x07) // DW_LNS_set_basic_block
		}
		if w.h.opcodeBase >= 13 {
			if e.prologueEnd {
				w.out = append(w.out, 0x0a)
			}
			if e.epilogueBegin {
				w.out = append(w.out, 0x0b)
			}
		}
	}
	if w.h.opcodeBase >= 13 && e.isa != 0 {
		w.out = appendULEB(append(w.out, 0x0c), e.isa)
	}
	w.out = append(w.out, 0x01) // DW_LNS_copy
}

func (w *lineWriter) endSequence(a uint64) {
	w.moveTo(a)
	w.extended(0x01, nil) // DW_LNE_end_sequence
	w.reset()
}

// noLine is the row of code the rewrite added: line 0, not a statement,
// in the file of the row before.
var noLine = lineRow{file: -1}

// writeSequence writes the rows of sequence s through the map: each
// function it covers becomes a sequence of its own; rows outside every
// function (a discarded function's, at a tombstone address) are copied.
func (w *lineWriter) writeSequence(m *Map, s *lineSeq) {
	start := s.rows[0].addr
	lo := sort.Search(len(m.Funcs), func(i int) bool { return m.Funcs[i].Old.End > start })
	if lo == len(m.Funcs) || m.Funcs[lo].Old.Start >= s.end {
		for i := range s.rows {
			w.row(s.rows[i].addr, &s.rows[i], true)
		}
		w.endSequence(s.end)
		return
	}
	for k := lo; k < len(m.Funcs) && m.Funcs[k].Old.Start < s.end; k++ {
		w.writeFunc(&m.Funcs[k], s)
	}
}

// writeFunc writes the part of sequence s that lies in function f.
func (w *lineWriter) writeFunc(f *Func, s *lineSeq) {
	seqStart := s.rows[0].addr
	from, to := max(f.Old.Start, seqStart), min(f.Old.End, s.end)
	if f.origin == nil {
		delta := f.New.Start - f.Old.Start
		first := s.covering(from)
		if first < 0 {
			first = 0
		}
		for i := first; i < len(s.rows) && s.rows[i].addr < to; i++ {
			w.row(max(s.rows[i].addr, from)+delta, &s.rows[i], true)
		}
		w.endSequence(to + delta)
		return
	}
	// Row per run of output instructions from one row of the input. The
	// row of each input instruction, in one walk of both (in order).
	const outside = -2
	rowOfOld := w.rowOfOld[:0]
	r := -1
	for _, o := range f.oldInstrs {
		a := f.Old.Start + uint64(o)
		if a < from || a >= to {
			rowOfOld = append(rowOfOld, outside)
			continue
		}
		for r+1 < len(s.rows) && s.rows[r+1].addr <= a {
			r++
		}
		rowOfOld = append(rowOfOld, int32(r))
	}
	w.rowOfOld = rowOfOld
	rowOf := func(k int) int {
		if o := f.origin[k]; o >= 0 {
			return int(rowOfOld[o])
		}
		return -1
	}
	firstK, lastK := -1, -1
	for k := range f.origin {
		if rowOf(k) >= 0 {
			if firstK < 0 {
				firstK = k
			}
			lastK = k
		}
	}
	if firstK < 0 {
		return
	}
	// A row's flags that mark its start (basic block, prologue end...) go
	// with its first run only: seen[r] == w.pass when it has had one.
	w.pass++
	if len(w.seen) < len(s.rows) {
		w.seen = make([]uint32, len(s.rows))
		w.pass = 1
	}
	prev := outside - 1
	for k := firstK; k <= lastK; k++ {
		r := rowOf(k)
		if r == outside {
			r = -1
		}
		if r == prev {
			continue
		}
		prev = r
		a := f.New.Start + uint64(f.newInstrs[k])
		if r < 0 {
			w.row(a, &noLine, false)
		} else {
			w.row(a, &s.rows[r], w.seen[r] != w.pass)
			w.seen[r] = w.pass
		}
	}
	end := f.New.End
	if lastK+1 < len(f.newInstrs) {
		end = f.New.Start + uint64(f.newInstrs[lastK+1])
	}
	if to < f.Old.End {
		end = min(end, f.New.Start+f.offset(to-f.Old.Start))
	}
	w.endSequence(end)
}
