package main

import (
	"fmt"
	"path/filepath"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/debuginfo"
	"github.com/wasmsr/wasmsr/wasm"
)

// debugView is what inspect shows of a module's names and DWARF: function
// names (the name section, else DWARF, else func[N]; C++ and Rust names
// demangled), the source line
// where a paused frame resumes, and locals by their DWARF names. m must
// be decoded with wasm.Decoder.KeepSource.
type debugView struct {
	m          *wasm.Module
	dwarf      *debuginfo.Info // nil without DWARF
	dwarfNames map[uint32]string
}

func newDebugView(m *wasm.Module) *debugView {
	v := &debugView{m: m}
	if debuginfo.HasDWARF(m) {
		if in, err := debuginfo.Read(m); err == nil {
			v.dwarf = in
			v.dwarfNames = in.FuncNames(debuginfo.BodyStarts(m))
		}
	}
	return v
}

// name is the function's name, demangled, "" when it has none.
func (v *debugView) name(fn uint32) string {
	if n := v.m.FuncName(fn); n != "" {
		return debuginfo.Demangle(n)
	}
	return debuginfo.Demangle(v.dwarfNames[fn])
}

// label is the function's name, else an import's module.name, else
// func[N].
func (v *debugView) label(fn uint32) string {
	if n := v.name(fn); n != "" {
		return n
	}
	k := uint32(0)
	for _, im := range v.m.Imports {
		if im.Kind == wasm.KindFunc {
			if k == fn {
				return im.Module + "." + im.Name
			}
			k++
		}
	}
	return fmt.Sprintf("func[%d]", fn)
}

// bodyStart is the code address of function fn's body; false for an
// import or a function the module does not define.
func (v *debugView) bodyStart(fn uint32) (uint64, bool) {
	k := int(fn) - v.m.NumImported(wasm.KindFunc)
	if k < 0 || k >= len(v.m.Code) {
		return 0, false
	}
	return uint64(v.m.Code[k].SourceOffset - v.m.Offsets.Code), true
}

// resumeAddr is the code address where frame f resumes: that of its
// site's check for an unwind (i32.const SITE before global.get $state;
// br_if, or br for a safepoint), which the rewrite gives the line of the
// call or loop it belongs to; else the function's start.
func (v *debugView) resumeAddr(f *abi.Frame, g abi.Globals) (uint64, bool) {
	start, ok := v.bodyStart(f.Func)
	if !ok {
		return 0, false
	}
	code := v.m.Code[int(f.Func)-v.m.NumImported(wasm.KindFunc)]
	offsets, err := code.InstrOffsets()
	if err != nil {
		return start, true
	}
	site := wasm.I32Const(int32(f.Site)).Imm
	body := code.Body
	for i := 0; i+1 < len(body); i++ {
		if body[i].Op != wasm.OpI32Const || body[i].Imm != site {
			continue
		}
		next := body[i+1]
		if next.Op == wasm.OpBr || next.Op == wasm.OpGlobalGet && next.X == g.State && i+2 < len(body) && body[i+2].Op == wasm.OpBrIf {
			return uint64(offsets[i] - v.m.Offsets.Code), true
		}
	}
	return start, true
}

// resumeLine is the source position ("lines.c:15") where frame f
// resumes, "" when the DWARF does not say.
func (v *debugView) resumeLine(f *abi.Frame, g abi.Globals) string {
	if v.dwarf == nil {
		return ""
	}
	pc, ok := v.resumeAddr(f, g)
	if !ok {
		return ""
	}
	l, ok := v.dwarf.LineAt(pc)
	if !ok {
		// A safepoint at the function's entry: the function's first line.
		start, _ := v.bodyStart(f.Func)
		if l, ok = v.dwarf.LineAt(start); !ok {
			return ""
		}
	}
	return fmt.Sprintf("%s:%d", filepath.Base(l.File), l.Line)
}

// localNames maps locals of frame f's function to the DWARF names of the
// variables that live in them where it resumes (localName prefers the
// name section's).
func (v *debugView) localNames(f *abi.Frame, g abi.Globals) map[uint32]string {
	names := map[uint32]string{}
	if v.dwarf == nil {
		return names
	}
	start, ok := v.bodyStart(f.Func)
	pc, found := v.resumeAddr(f, g)
	if !ok || !found {
		return names
	}
	for _, l := range v.dwarf.Locals(start, pc) {
		if _, dup := names[l.Local]; !dup {
			names[l.Local] = l.Name
		}
	}
	return names
}

// localName is local l of function fn's name, "" when it has none.
func (v *debugView) localName(names map[uint32]string, fn, l uint32) string {
	if v.m.Names != nil {
		if n := v.m.Names.LocalName(fn, l); n != "" {
			return n
		}
	}
	return names[l]
}
