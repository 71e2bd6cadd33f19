package debuginfo

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// lineHeader is what writing a line program needs of its header.
type lineHeader struct {
	raw          []byte // from unit_length to the end of the header
	version      uint16
	addrSize     int // from version 5, 0 before
	defaultStmt  bool
	opcodeBase   byte
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
	end := b.pos + int(length)
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
	if h.version >= 4 {
		b.u8() // maximum operations per instruction
	}
	h.defaultStmt = b.u8() != 0
	b.u8() // line_base
	b.u8() // line_range
	h.opcodeBase = b.u8()
	if b.err != nil || end > len(data) || h.programStart > end {
		return nil, errTruncated
	}
	if minInstLength != 1 {
		return nil, fmt.Errorf("minimum instruction length %d", minInstLength)
	}
	h.raw = data[off:h.programStart]
	return h, nil
}

// lineWriter writes a line program with standard and extended opcodes
// only.
type lineWriter struct {
	out        []byte
	h          *lineHeader
	addrSize   int
	fileIndex  map[*dwarf.LineFile]int
	numFiles   int
	inSequence bool
	// buffers writeFunc reuses
	rowOfOld []int32
	seen     []uint32
	pass     uint32
	// the state machine's registers that carry over between rows
	addr               uint64
	file, line, column int
	isStmt             bool
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
		p := make([]byte, w.addrSize)
		if w.addrSize == 4 {
			binary.LittleEndian.PutUint32(p, uint32(a))
		} else {
			binary.LittleEndian.PutUint64(p, a)
		}
		w.extended(0x02, p) // DW_LNE_set_address
		w.inSequence = true
	case a > w.addr:
		w.out = appendULEB(append(w.out, 0x02), a-w.addr) // DW_LNS_advance_pc
	}
	w.addr = a
}

// row appends a row of the table at address a, with e's source position
// and flags.
func (w *lineWriter) row(a uint64, e *dwarf.LineEntry, first bool) error {
	w.moveTo(a)
	file := w.file // code without a line keeps the file
	if e.File != nil {
		var ok bool
		if file, ok = w.fileIndex[e.File]; !ok || file >= w.numFiles {
			return errors.New("a file the header does not declare (DW_LNE_define_file) is not mapped")
		}
	}
	if file != w.file {
		w.out = appendULEB(append(w.out, 0x04), uint64(file)) // DW_LNS_set_file
		w.file = file
	}
	if e.Column != w.column {
		w.out = appendULEB(append(w.out, 0x05), uint64(e.Column)) // DW_LNS_set_column
		w.column = e.Column
	}
	if e.IsStmt != w.isStmt {
		w.out = append(w.out, 0x06) // DW_LNS_negate_stmt
		w.isStmt = e.IsStmt
	}
	if e.Line != w.line {
		w.out = appendSLEB(append(w.out, 0x03), int64(e.Line-w.line)) // DW_LNS_advance_line
		w.line = e.Line
	}
	if e.Discriminator != 0 {
		w.extended(0x04, appendULEB(nil, uint64(e.Discriminator))) // DW_LNE_set_discriminator
	}
	if first {
		if e.BasicBlock {
			w.out = append(w.out, 0x07) // DW_LNS_set_basic_block
		}
		if w.h.opcodeBase >= 13 {
			if e.PrologueEnd {
				w.out = append(w.out, 0x0a)
			}
			if e.EpilogueBegin {
				w.out = append(w.out, 0x0b)
			}
		}
	}
	if w.h.opcodeBase >= 13 && e.ISA != 0 {
		w.out = appendULEB(append(w.out, 0x0c), uint64(e.ISA))
	}
	w.out = append(w.out, 0x01) // DW_LNS_copy
	return nil
}

func (w *lineWriter) endSequence(a uint64) {
	w.moveTo(a)
	w.extended(0x01, nil) // DW_LNE_end_sequence
	w.reset()
}

// sequence is the rows of one sequence of a line program, and its end.
type sequence struct {
	rows []dwarf.LineEntry
	end  uint64
}

// sequenceReader reads the sequences of line programs into buffers it
// reuses from one program to the next.
type sequenceReader struct {
	rows []dwarf.LineEntry
	seqs []sequence
}

// read returns the sequences of lr's program, valid until the next call.
func (sr *sequenceReader) read(lr *dwarf.LineReader) ([]sequence, error) {
	sr.rows, sr.seqs = sr.rows[:0], sr.seqs[:0]
	first := 0 // the current sequence's first row
	for {
		sr.rows = append(sr.rows, dwarf.LineEntry{})
		e := &sr.rows[len(sr.rows)-1]
		err := lr.Next(e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.EndSequence {
			end := e.Address
			sr.rows = sr.rows[:len(sr.rows)-1]
			if len(sr.rows) > first {
				// Appending to rows may move it, but not the rows of the
				// sequences already cut from it.
				sr.seqs = append(sr.seqs, sequence{rows: sr.rows[first:len(sr.rows):len(sr.rows)], end: end})
			}
			first = len(sr.rows)
		}
	}
	return sr.seqs, nil
}

// noLine is the row of code the rewrite added: line 0, not a statement.
var noLine = dwarf.LineEntry{Line: 0}

// writeSequence writes the rows of sequence s through the map: each
// function it covers becomes a sequence of its own; rows outside every
// function (a discarded function's, at a tombstone address) are copied.
func (w *lineWriter) writeSequence(m *Map, s *sequence) error {
	start := s.rows[0].Address
	lo := sort.Search(len(m.Funcs), func(i int) bool { return m.Funcs[i].Old.End > start })
	if lo == len(m.Funcs) || m.Funcs[lo].Old.Start >= s.end {
		for i := range s.rows {
			if err := w.row(s.rows[i].Address, &s.rows[i], true); err != nil {
				return err
			}
		}
		w.endSequence(s.end)
		return nil
	}
	for k := lo; k < len(m.Funcs) && m.Funcs[k].Old.Start < s.end; k++ {
		if err := w.writeFunc(&m.Funcs[k], s); err != nil {
			return err
		}
	}
	return nil
}

// covering returns the index of the row that covers address a, -1 if a
// lies before the first.
func (s *sequence) covering(a uint64) int {
	return sort.Search(len(s.rows), func(i int) bool { return s.rows[i].Address > a }) - 1
}

// writeFunc writes the part of sequence s that lies in function f.
func (w *lineWriter) writeFunc(f *Func, s *sequence) error {
	seqStart := s.rows[0].Address
	from, to := max(f.Old.Start, seqStart), min(f.Old.End, s.end)
	if f.origin == nil {
		delta := f.New.Start - f.Old.Start
		first := s.covering(from)
		if first < 0 {
			first = 0
		}
		for i := first; i < len(s.rows) && s.rows[i].Address < to; i++ {
			if err := w.row(max(s.rows[i].Address, from)+delta, &s.rows[i], true); err != nil {
				return err
			}
		}
		w.endSequence(to + delta)
		return nil
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
		for r+1 < len(s.rows) && s.rows[r+1].Address <= a {
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
		return nil
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
		var err error
		if r < 0 {
			err = w.row(a, &noLine, false)
		} else {
			err = w.row(a, &s.rows[r], w.seen[r] != w.pass)
			w.seen[r] = w.pass
		}
		if err != nil {
			return err
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
	return nil
}
