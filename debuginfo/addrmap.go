package debuginfo

import (
	"fmt"
	"slices"
	"sort"

	"github.com/wasmsr/wasmsr/wasm"
)

// Func says where the body of one function of the input went.
type Func struct {
	// Old and New are the body (its local declarations and instructions,
	// after its size) in the input and the output, as code addresses.
	Old, New Range
	// For a body the rewrite changed, oldInstrs and newInstrs are where
	// each instruction of the input and of the output starts, from the
	// body's start, and origin says for each instruction of the output
	// which of the input's it comes from (-1: added). Entry 0 of each
	// stands for the local declarations. nil for a body copied unchanged.
	oldInstrs, newInstrs []uint32
	origin               []int32
	// first is, for each instruction of the input, the first of the
	// output that comes from it (-1: none). Made with the rest, so that
	// a Map is only read once made, from any number of goroutines.
	first []int32
}

// Range is a half-open range of code addresses.
type Range struct{ Start, End uint64 }

func (r Range) contains(a uint64) bool { return r.Start <= a && a < r.End }

// Moved is a body copied unchanged from old to new.
func Moved(old, new Range) Func { return Func{Old: old, New: new} }

// Rewritten is a body the rewrite changed: oldBody and newBody are its
// encodings (locals and instructions) in the input and the output, and
// origin says, for each instruction of the output, the index of the
// input's instruction it comes from, or -1 for code the rewrite added.
func Rewritten(old, new Range, oldBody, newBody []byte, origin []int32) (Func, error) {
	f := Func{Old: old, New: new}
	// The input has at least as many instructions as the output names,
	// and at most a byte each.
	oldCount := 0
	for _, o := range origin {
		oldCount = max(oldCount, int(o)+1)
	}
	oldInstrs, err := wasm.BodyInstrOffsets(oldBody, 0, min(oldCount, len(oldBody)))
	if err != nil {
		return f, err
	}
	newInstrs, err := wasm.BodyInstrOffsets(newBody, 0, len(origin))
	if err != nil {
		return f, err
	}
	if len(newInstrs) != len(origin) {
		return f, fmt.Errorf("internal error: %d instructions written, %d origins", len(newInstrs), len(origin))
	}
	nOld, nNew := len(oldInstrs)+1, len(newInstrs)+1
	offsets, indices := make([]uint32, nOld+nNew), make([]int32, nNew+nOld)
	f.oldInstrs, f.newInstrs = offsets[:nOld:nOld], offsets[nOld:]
	f.origin, f.first = indices[:nNew:nNew], indices[nNew:]
	for i, o := range oldInstrs {
		f.oldInstrs[i+1] = uint32(o)
		f.first[i+1] = -1
	}
	for i, o := range newInstrs {
		f.newInstrs[i+1] = uint32(o)
	}
	for k, o := range origin {
		if o >= 0 {
			if int(o) >= len(oldInstrs) {
				return f, fmt.Errorf("internal error: origin %d of %d instructions", o, len(oldInstrs))
			}
			o++
			if f.first[o] < 0 {
				f.first[o] = int32(k + 1)
			}
		}
		f.origin[k+1] = o
	}
	return f, nil
}

// Map is where every function of the input went, in input order.
type Map struct {
	Funcs []Func
}

// find returns the function whose input body holds address a.
func (m *Map) find(a uint64) (*Func, bool) {
	k := sort.Search(len(m.Funcs), func(i int) bool { return m.Funcs[i].Old.End > a })
	if k < len(m.Funcs) && m.Funcs[k].Old.contains(a) {
		return &m.Funcs[k], true
	}
	return nil, false
}

// addr maps a code address of the input: an instruction's start to where
// that instruction went (or, if the rewrite dropped it, the next one
// that survived), the end of a body to the end of the new body, the middle
// of an instruction as its start. Addresses outside every body (0, the
// tombstones a linker writes for discarded functions) stay.
func (m *Map) addr(a uint64) uint64 {
	if f, ok := m.find(a); ok {
		return f.New.Start + f.offset(a-f.Old.Start)
	}
	k := sort.Search(len(m.Funcs), func(i int) bool { return m.Funcs[i].Old.End >= a })
	if k < len(m.Funcs) && m.Funcs[k].Old.End == a {
		return m.Funcs[k].New.End
	}
	return a
}

// mapRange maps the range [start, end) of the input, and says whether
// it starts in a body: when it does not (0, a linker's tombstone), it
// stays as it is, whatever its end.
func (m *Map) mapRange(start, end uint64) (uint64, uint64, bool) {
	f, in := m.find(start)
	if !in {
		return start, end, false
	}
	newStart := f.New.Start + f.offset(start-f.Old.Start)
	switch {
	case f.Old.contains(end):
		return newStart, f.New.Start + f.offset(end-f.Old.Start), true
	case end == f.Old.End:
		return newStart, f.New.End, true
	}
	return newStart, m.addr(end), true
}

// offset maps an offset in the function's old body to the new body.
func (f *Func) offset(o uint64) uint64 {
	if f.origin == nil {
		return o
	}
	i := sort.Search(len(f.oldInstrs), func(i int) bool { return uint64(f.oldInstrs[i]) > o }) - 1
	for ; i < len(f.first); i++ {
		if f.first[i] >= 0 {
			return uint64(f.newInstrs[f.first[i]])
		}
	}
	return f.New.End - f.New.Start
}

// Instr returns where the input's instruction at code address a went,
// and false when a is not where an instruction of a body starts, or the
// rewrite dropped it.
func (m *Map) Instr(a uint64) (uint64, bool) {
	f, ok := m.find(a)
	if !ok {
		return 0, false
	}
	o := a - f.Old.Start
	if f.origin == nil {
		return f.New.Start + o, true
	}
	i, found := slices.BinarySearch(f.oldInstrs, uint32(o))
	if !found || i == 0 || f.first[i] < 0 {
		return 0, false
	}
	return f.New.Start + uint64(f.newInstrs[f.first[i]]), true
}
