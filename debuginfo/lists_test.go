package debuginfo

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/wasm"
)

// cuHeader is the unit's header after its length: version 5, a compile
// unit, 4-byte addresses, abbreviations at 0.
var cuHeader = []byte{5, 0, 1, 4, 0, 0, 0, 0}

// dwarf5Module is a module's DWARF 5, written by hand: one unit whose
// range list (by DW_FORM_rnglistx) and location lists (by
// DW_FORM_loclistx and DW_FORM_sec_offset) hold an entry of every kind,
// and a subprogram whose DW_AT_low_pc is an address index and whose
// DW_AT_high_pc a length.
func dwarf5Module() *wasm.Module {
	le32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	uleb := appendULEB
	// withLength prepends a 32-bit unit length.
	withLength := func(b []byte) []byte { return append(le32(nil, uint32(len(b))), b...) }

	abbrev := []byte{
		1, 0x11, 1, // compile_unit, children
		0x11, formAddr, 0x73, formSecOffset, 0x74, formSecOffset, 0x8c, 0x01, formSecOffset, 0x55, formRnglistx, 0, 0,
		2, 0x2e, 1, // subprogram, children
		0x11, formAddrx1, 0x12, formData4, 0, 0,
		3, 0x34, 0, // variable
		0x02, formLoclistx, 0, 0,
		4, 0x34, 0, // variable
		0x02, formSecOffset, 0, 0,
		0,
	}
	// .debug_addr: code addresses but for entry 3, a variable's in memory.
	addr := []byte{5, 0, 4, 0}
	for _, a := range []uint32{0x11, 0x12, 0x70, 0x75, 0x10} {
		addr = le32(addr, a)
	}
	addr = withLength(addr)

	listHeader := []byte{5, 0, 4, 0, 1, 0, 0, 0, 4, 0, 0, 0} // one offset: 4
	var rng []byte
	rng = append(rng, leBaseAddressx, 0, leOffsetPair, 0, 1)
	rng = append(rng, leStartxEndx, 0, 1)
	rng = append(rng, leStartxLength, 2, 5)
	rng = append(le32(append(rng, leBaseAddress), 0x70), leOffsetPair, 1, 3)
	rng = le32(le32(append(rng, leStartEnd), 0x11), 0x13)
	rng = append(le32(append(rng, leStartLength), 0x10), 3)
	// From 0x10 into the moved body, and to where no body is.
	rng = append(rng, leBaseAddressx, 4, leOffsetPair, 0x60, 0x65, leOffsetPair, 0x70, 0x71)
	rng = append(rng, leEndOfList)
	// The same in a location list, each with an expression (DW_OP_lit<n>).
	loc := []byte{lleDefaultLocation, 1, 0x30}
	lit := byte(0x31)
	for i := 0; i < len(rng)-1; {
		e, _ := readListEntry(&buf{data: rng, pos: i}, false, 4)
		n := len(appendListEntry(nil, &e, false, 4))
		kind := rng[i]
		if kind >= lleDefaultLocation {
			kind++
		}
		loc = append(append(loc, kind), rng[i+1:i+n]...)
		if e.hasExpr() {
			loc = append(loc, 1, lit)
			lit++
		}
		i += n
	}
	loc = append(loc, leEndOfList)
	secondList := len(listHeader) + len(loc) + 4 // from the section's start
	loc = append(le32(le32(append(loc, lleDefaultLocation+2), 0x70), 0x80), 1, 0x3f, leEndOfList)

	cu := append(cuHeader[:len(cuHeader):len(cuHeader)], 1)
	cu = le32(cu, 0x10)            // low_pc
	cu = le32(cu, 8)               // addr_base
	cu = le32(cu, 12)              // rnglists_base
	cu = le32(cu, 12)              // loclists_base
	cu = uleb(cu, 0)               // ranges: list 0
	cu = le32(append(cu, 2, 4), 3) // subprogram: low_pc index 4, high_pc 3
	cu = append(cu, 3, 0)          // variable: location list 0
	cu = le32(append(cu, 4), uint32(secondList))
	cu = append(cu, 0, 0)

	m := &wasm.Module{}
	for _, s := range []struct {
		name string
		data []byte
	}{
		{".debug_info", withLength(cu)}, {".debug_abbrev", abbrev}, {".debug_addr", addr},
		{".debug_rnglists", withLength(append(listHeader, rng...))},
		{".debug_loclists", withLength(append(listHeader, loc...))},
	} {
		m.Customs = append(m.Customs, wasm.CustomSection{Name: s.name, Data: s.data})
	}
	return m
}

// TestDWARF5Lists maps a unit of DWARF 5 through a body that grows by an
// instruction ([0x10, 0x13): locals, nop, end; an added nop after the
// nop) and one that moves by 0x90 ([0x70, 0x80)): every kind of range
// and location list entry, the address entries read as code (and not
// the one that is a variable's address), the high pc of a subprogram
// whose low pc is an index. The list of the last range grows (its offset
// pair needs 2-byte ULEB128s), so the second location list moves, and
// the offset that names it follows.
func TestDWARF5Lists(t *testing.T) {
	rewritten, err := Rewritten(Range{0x10, 0x13}, Range{0x20, 0x24}, []byte{0, 0x01, 0x0b}, []byte{0, 0x01, 0x01, 0x0b}, []int32{0, -1, 1})
	if err != nil {
		t.Fatal(err)
	}
	mp := &Map{Funcs: []Func{rewritten, Moved(Range{0x70, 0x80}, Range{0x100, 0x110})}}
	in := dwarf5Module()
	out, notes := Rewrite(in, mp)
	if len(notes) > 0 {
		t.Fatalf("warnings: %q", notes)
	}
	if got, want := fmt.Sprintf("%#x", out[".debug_addr"][8:]), fmt.Sprintf("%#x", []byte{
		0x21, 0, 0, 0, 0x23, 0, 0, 0, 0, 1, 0, 0, 0x75, 0, 0, 0, 0x20, 0, 0, 0}); got != want {
		t.Errorf(".debug_addr entries %s, want %s", got, want)
	}
	m := &wasm.Module{}
	for name, data := range out {
		m.Customs = append(m.Customs, wasm.CustomSection{Name: name, Data: data})
	}
	p := &patcher{m: &Map{}, info: out[".debug_info"], abbrevs: out[".debug_abbrev"], addr: out[".debug_addr"], codeAddrs: map[int]int{},
		rnglists: newListSection(".debug_rnglists", out[".debug_rnglists"], false),
		loclists: newListSection(".debug_loclists", out[".debug_loclists"], true)}
	if err := p.walkInfo(); err != nil {
		t.Fatal(err)
	}
	// The subprogram's high_pc, after its code and low_pc's index.
	if got := binary.LittleEndian.Uint32(out[".debug_info"][4+len(cuHeader)+20:]); got != 4 {
		t.Errorf("high_pc %d, want 4", got)
	}
	ranges := "[0x21,0x23) [0x21,0x23) [0x100,0x105) [0x101,0x103) [0x21,0x24) [0x20,0x24) [0x100,0x105) [0x80,0x81)"
	locs := "default:30 [0x21,0x23):31 [0x21,0x23):32 [0x100,0x105):33 [0x101,0x103):34 [0x21,0x24):35 [0x20,0x24):36 [0x100,0x105):37 [0x80,0x81):38"
	for _, tc := range []struct {
		name string
		s    *listSection
		want []string
	}{
		{".debug_rnglists", &p.rnglists, []string{ranges}},
		{".debug_loclists", &p.loclists, []string{locs, "[0x100,0x110):3f"}},
	} {
		var got []string
		for off, ctx := range tc.s.lists {
			got = append(got, fmt.Sprintf("%d:%s", off, listRanges(t, tc.s.data, p.addr, off, ctx, tc.s.loc)))
		}
		if strings.Join(got, "\n") == "" || len(got) != len(tc.want) {
			t.Errorf("%s: lists %q", tc.name, got)
		}
		for _, want := range tc.want {
			found := false
			for _, g := range got {
				found = found || strings.HasSuffix(g, ":"+want)
			}
			if !found {
				t.Errorf("%s: no list %s in %q", tc.name, want, got)
			}
		}
	}
}

// listRanges reads a list back: each entry's range and expression.
func listRanges(t *testing.T, data, addr []byte, off uint64, ctx listCtx, loc bool) string {
	b := buf{data: data, pos: int(off)}
	w := listWalker{base: ctx.base, addr: func(i uint64) (uint64, error) {
		_, a, err := addrAt(addr, ctx, i)
		return a, err
	}}
	var out []string
	for {
		e, err := readListEntry(&b, loc, ctx.addrSize)
		if err != nil {
			t.Fatal(err)
		}
		if e.kind == leEndOfList {
			return strings.Join(out, " ")
		}
		start, end, isRange, err := w.step(&e)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		switch {
		case isRange:
			s = fmt.Sprintf("[%#x,%#x)", start, end)
		case e.kind == leDefaultLocation:
			s = "default"
		default:
			continue
		}
		if loc {
			s += fmt.Sprintf(":%x", e.expr)
		}
		out = append(out, s)
	}
}
