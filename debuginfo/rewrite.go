package debuginfo

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/wasmsr/wasmsr/wasm"
)

// addressFree are the DWARF sections that hold no code address and no
// offset into a section the rewrite changes the size of: they are kept
// as they are.
var addressFree = map[string]bool{
	".debug_abbrev": true, ".debug_str": true, ".debug_pubnames": true, ".debug_pubtypes": true,
	".debug_gnu_pubnames": true, ".debug_gnu_pubtypes": true, ".debug_macinfo": true,
	".debug_line_str": true, ".debug_str_offsets": true,
}

// Rewrite maps the code addresses in the module's DWARF through m. It
// returns the new contents of the DWARF sections to keep, by name, and a
// line for each that it could not map and left out. When the DWARF
// cannot be mapped at all, it returns no section and one line saying why.
func Rewrite(mod *wasm.Module, m *Map) (map[string][]byte, []string) {
	s := sections(mod)
	out, dropped, err := rewrite(s, m)
	if err != nil {
		var names []string
		for n := range s {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, []string{fmt.Sprintf("DWARF not mapped through the rewrite (%v): dropped %s", err, strings.Join(names, ", "))}
	}
	return out, dropped
}

func rewrite(s map[string][]byte, m *Map) (map[string][]byte, []string, error) {
	if s[".debug_info"] == nil {
		return nil, nil, fmt.Errorf("no .debug_info")
	}
	p := &patcher{m: m, info: slices.Clone(s[".debug_info"]), abbrevs: s[".debug_abbrev"],
		ranges: slices.Clone(s[".debug_ranges"]), loc: slices.Clone(s[".debug_loc"]),
		rangesDone: newOffsetSet(len(s[".debug_ranges"])), locDone: newOffsetSet(len(s[".debug_loc"])),
		addr: s[".debug_addr"], codeAddrs: map[int]int{},
		rnglists: newListSection(".debug_rnglists", s[".debug_rnglists"], false),
		loclists: newListSection(".debug_loclists", s[".debug_loclists"], true)}
	if err := p.walkInfo(); err != nil {
		return nil, nil, err
	}
	out := map[string][]byte{".debug_info": p.info}
	if p.ranges != nil {
		out[".debug_ranges"] = p.ranges
	}
	if p.loc != nil {
		out[".debug_loc"] = p.loc
	}
	var dropped []string
	for _, l := range []*listSection{&p.rnglists, &p.loclists} {
		if l.data == nil {
			continue
		}
		data, err := p.rewriteLists(l)
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("%s not mapped through the rewrite (%v): dropped", l.name, err))
			continue
		}
		out[l.name] = data
	}
	if p.addr != nil {
		// After the lists, which read entries of it as code addresses too.
		out[".debug_addr"] = p.mapAddrs()
	}
	if s[".debug_line"] != nil {
		line, err := p.rewriteLines(s[".debug_line"])
		if err != nil {
			return nil, nil, fmt.Errorf(".debug_line: %w", err)
		}
		out[".debug_line"] = line
	}
	for name, data := range s {
		switch {
		case out[name] != nil, name == p.rnglists.name && p.rnglists.data != nil, name == p.loclists.name && p.loclists.data != nil:
		case addressFree[name]:
			out[name] = data
		case name == ".debug_aranges":
			if a, err := rewriteAranges(data, m); err == nil {
				out[name] = a
			} else {
				dropped = append(dropped, fmt.Sprintf("%s not mapped through the rewrite (%v): dropped", name, err))
			}
		default:
			dropped = append(dropped, fmt.Sprintf("%s not mapped through the rewrite (wasmsr does not read it): dropped", name))
		}
	}
	slices.Sort(dropped)
	return out, dropped, nil
}

// rewriteLines writes a new .debug_line: each unit's line program with
// its header as it was and its rows through the map, and patches the
// units' DW_AT_stmt_list. The programs are written on as many cores as
// there are, and put one after another in their units' order.
func (p *patcher) rewriteLines(data []byte) ([]byte, error) {
	type program struct {
		off int64 // in data
		w   *lineWriter
		err error
	}
	var programs []*program
	seen := map[int64]bool{}
	for _, u := range p.units {
		if u.stmtList < 0 || seen[u.stmtList] {
			continue
		}
		seen[u.stmtList] = true
		h, err := readLineHeader(data, u.stmtList)
		if err != nil {
			return nil, fmt.Errorf("at 0x%x: %w", u.stmtList, err)
		}
		if h.addrSize != 0 && h.addrSize != u.addrSize {
			return nil, fmt.Errorf("at 0x%x: address size %d, its unit's %d", u.stmtList, h.addrSize, u.addrSize)
		}
		programs = append(programs, &program{off: u.stmtList, w: &lineWriter{h: h, addrSize: u.addrSize}})
	}
	readers := make([]lineReader, workers(len(programs)))
	parallel(len(programs), func(worker, i int) {
		pr := programs[i]
		seqs, err := readers[worker].read(data, pr.w.h)
		if err != nil {
			pr.err = err
			return
		}
		pr.w.reset()
		for i := range seqs {
			pr.w.writeSequence(p.m, &seqs[i])
		}
	})
	newOffset := make(map[int64]int64, len(programs))
	size := 0
	for _, pr := range programs {
		if pr.err != nil {
			return nil, fmt.Errorf("at 0x%x: %w", pr.off, pr.err)
		}
		size += len(pr.w.h.raw) + len(pr.w.out)
	}
	out := make([]byte, 0, size)
	for _, pr := range programs {
		newOffset[pr.off] = int64(len(out))
		unitStart := len(out)
		out = append(out, pr.w.h.raw...)
		out = append(out, pr.w.out...)
		binary.LittleEndian.PutUint32(out[unitStart:], uint32(len(out)-unitStart-4))
	}
	for _, v := range p.stmtLists {
		binary.LittleEndian.PutUint32(p.info[v.pos:], uint32(newOffset[int64(v.v)]))
	}
	return out, nil
}

// rewriteAranges maps .debug_aranges in place: per unit, pairs of an
// address and a length.
func rewriteAranges(data []byte, m *Map) ([]byte, error) {
	out := slices.Clone(data)
	b := buf{data: out}
	for b.pos < len(out) {
		start := b.pos
		length := b.u32()
		end := b.pos + int(length)
		if length >= 0xfffffff0 || !b.need(int(length)) {
			return nil, errTruncated
		}
		if v := b.u16(); v != 2 {
			return nil, fmt.Errorf("version %d", v)
		}
		b.u32()
		size := int(b.u8())
		if size != 4 || b.u8() != 0 {
			return nil, fmt.Errorf("address size %d", size)
		}
		if pad := (b.pos - start) % (2 * size); pad != 0 {
			b.skip(2*size - pad)
		}
		for b.pos+8 <= end {
			pos := b.pos
			a, n := uint64(b.u32()), uint64(b.u32())
			if a == 0 && n == 0 {
				break
			}
			if _, in := m.find(a); in {
				na := m.addr(a)
				binary.LittleEndian.PutUint32(out[pos:], uint32(na))
				binary.LittleEndian.PutUint32(out[pos+4:], uint32(m.addr(a+n)-na))
			}
		}
		if b.err != nil {
			return nil, b.err
		}
		b.pos = end
	}
	return out, nil
}
