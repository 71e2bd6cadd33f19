package instrument

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/wasmsr/wasmsr/debuginfo"
	"github.com/wasmsr/wasmsr/wasm"
)

// debugTrack follows, for a module whose DWARF the rewrite keeps, where
// each instruction of the input goes: for every body the rewrite
// changes, which instruction of the input each instruction of the output
// comes from (-1 for added code). Bodies not in origins are copied as
// they were. After encoding, mapDebug turns this into the map that
// debuginfo.Rewrite moves the DWARF's code addresses through.
type debugTrack struct {
	input   []byte
	origins map[uint32][]int32 // by function index
}

// originsOf returns the origins of function fn's current body, one per
// instruction, for a change to it to update: an unchanged body's own
// instructions.
func (t *debugTrack) originsOf(fn uint32, bodyLen int) []int32 {
	if o, ok := t.origins[fn]; ok {
		return o
	}
	o := make([]int32, bodyLen)
	for i := range o {
		o[i] = int32(i)
	}
	return o
}

// prepended records that n added instructions now start fn's body.
func (t *debugTrack) prepended(fn uint32, n, bodyLen int) {
	if t != nil {
		t.origins[fn] = append(make([]int32, n, n+bodyLen), t.originsOf(fn, bodyLen)...)
		for i := range n {
			t.origins[fn][i] = -1
		}
	}
}

// finishDebug gives the output the DWARF it should have: none with
// --strip-debug; else the input's with every code address mapped to
// where its instruction went, without the sections that cannot be
// mapped (one warning each). out is the encoded module; the result is
// it again with the new sections.
func (r *rewriter) finishDebug(out []byte, strip bool, report *Report) ([]byte, error) {
	m := r.m
	if strip {
		return spliceDebug(out, nil)
	}
	mp, err := r.debugMap(out)
	if err != nil {
		return nil, err
	}
	report.debugMap = mp
	sections, notes := debuginfo.Rewrite(m, mp)
	report.Warnings = append(report.Warnings, notes...)
	return spliceDebug(out, sections)
}

// spliceDebug returns the encoded module out with its DWARF sections'
// contents replaced by sections, and those not in it left out: the
// bytes wasm.Encode would write for the module with them, for the cost
// of a copy.
func spliceDebug(out []byte, sections map[string][]byte) ([]byte, error) {
	l, err := wasm.ReadLayout(out)
	if err != nil {
		return nil, err
	}
	res := make([]byte, 0, len(out))
	res = append(res, out[:8]...) // magic and version
	start := 8                    // where the section's header starts
	for _, s := range l.Sections {
		end := s.Offset + s.Size
		if s.ID != wasm.SectionCustom || !debuginfo.IsDebug(s.Name) {
			res = append(res, out[start:end]...)
			start = end
			continue
		}
		start = end
		data, ok := sections[s.Name]
		if !ok {
			continue
		}
		delete(sections, s.Name) // a second section of one name goes
		name := binary.AppendUvarint(nil, uint64(len(s.Name)))
		name = append(name, s.Name...)
		res = append(res, byte(wasm.SectionCustom))
		res = binary.AppendUvarint(res, uint64(len(name)+len(data)))
		res = append(append(res, name...), data...)
	}
	return res, nil
}

// debugMap says where each function of the input went in out.
func (r *rewriter) debugMap(out []byte) (*debuginfo.Map, error) {
	in, err := wasm.ReadLayout(r.dbg.input)
	if err != nil {
		return nil, err
	}
	outLayout, err := wasm.ReadLayout(out)
	if err != nil {
		return nil, err
	}
	inCode, outCode := codeStart(in), codeStart(outLayout)
	if len(in.Bodies) > len(outLayout.Bodies) {
		return nil, fmt.Errorf("internal error: %d bodies in, %d out", len(in.Bodies), len(outLayout.Bodies))
	}
	// A rewritten body is decoded again, in the input and the output, for
	// where its instructions start: on all cores.
	return debuginfo.NewMap(len(in.Bodies), func(k int) (debuginfo.Func, error) {
		b, nb := in.Bodies[k], outLayout.Bodies[k]
		old := debuginfo.Range{Start: uint64(b.Offset - inCode), End: uint64(b.Offset + b.Size - inCode)}
		moved := debuginfo.Range{Start: uint64(nb.Offset - outCode), End: uint64(nb.Offset + nb.Size - outCode)}
		origin, changed := r.dbg.origins[uint32(r.a.numImports+k)]
		if !changed {
			if !bytes.Equal(r.dbg.input[b.Offset:b.Offset+b.Size], out[nb.Offset:nb.Offset+nb.Size]) {
				return debuginfo.Func{}, fmt.Errorf("internal error: function %s changed, and no one said how", r.a.describe(r.a.numImports+k))
			}
			return debuginfo.Moved(old, moved), nil
		}
		f, err := debuginfo.Rewritten(old, moved, r.dbg.input[b.Offset:b.Offset+b.Size], out[nb.Offset:nb.Offset+nb.Size], origin)
		if err != nil {
			return f, fmt.Errorf("function %s: %w", r.a.describe(r.a.numImports+k), err)
		}
		return f, nil
	})
}

// codeStart is where the code section's content starts: DWARF's code
// addresses count from there.
func codeStart(l *wasm.Layout) int {
	for _, s := range l.Sections {
		if s.ID == wasm.SectionCode {
			return s.Offset
		}
	}
	return 0
}
