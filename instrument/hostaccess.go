package instrument

import (
	"fmt"
	"slices"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// A snapshot must capture all of an instance's state, and wazero's API
// reaches only exported memories and globals (and a global's low 64 bits at
// that). The instrumenter therefore exports what the host cannot see
// otherwise: every mutable global, accessors for v128 globals and for the
// tables that can change, the function references behind funcref values,
// and which passive segments the program dropped, with a way to drop them
// again in a fresh instance.

// hostAccess adds the host-access exports (abi.ExportGlobalGetPrefix and
// the rest); export adds one export.
func (r *rewriter) hostAccess(export func(name string, kind wasm.ExternKind, index uint32) error, info *abi.Info) error {
	m := r.m
	exported := map[[2]uint32]string{}
	for _, e := range m.Exports {
		key := [2]uint32{uint32(e.Kind), e.Index}
		if _, ok := exported[key]; !ok {
			exported[key] = e.Name
		}
	}
	ours := map[uint32]bool{}
	// Owned and OwnBuffer are the program's state: where its memory ends
	// for it.
	for _, g := range []uint32{r.g.State, r.g.Data, r.g.Request, r.g.Overflow, r.reentry} {
		ours[g] = true
	}
	for _, s := range r.refSpills {
		ours[s.top] = true
	}
	needFuncRefs := false
	isFuncRef := func(t wasm.ValType) bool { return t.IsRef() && (t.Heap() == wasm.HeapFunc || t.Heap() >= 0) }

	// Globals.
	numImportedGlobals := uint32(m.NumImported(wasm.KindGlobal))
	globalType := func(i uint32) wasm.GlobalType {
		if i < numImportedGlobals {
			n := uint32(0)
			for _, im := range m.Imports {
				if im.Kind == wasm.KindGlobal {
					if n == i {
						return im.Global
					}
					n++
				}
			}
		}
		return m.Globals[i-numImportedGlobals].Type
	}
	numGlobals := numImportedGlobals + uint32(len(m.Globals))
	for i := range numGlobals {
		gt := globalType(i)
		if !gt.Mutable || ours[i] {
			continue
		}
		name, ok := exported[[2]uint32{uint32(wasm.KindGlobal), i}]
		if !ok {
			name = fmt.Sprintf("%s%d", abi.ExportGlobalPrefix, i)
			if err := export(name, wasm.KindGlobal, i); err != nil {
				return err
			}
		}
		info.Mutable = append(info.Mutable, abi.MutableGlobal{Index: i, Type: gt.Type, Export: name})
		needFuncRefs = needFuncRefs || isFuncRef(gt.Type)
		if gt.Type == wasm.V128 {
			get := r.addFunc(fmt.Sprintf("%s%d", abi.ExportGlobalGetPrefix, i), wasm.FuncType{Results: []wasm.ValType{wasm.V128}}, nil,
				wasm.Indexed(wasm.OpGlobalGet, i))
			set := r.addFunc(fmt.Sprintf("%s%d", abi.ExportGlobalSetPrefix, i), wasm.FuncType{Params: []wasm.ValType{wasm.V128}}, nil,
				wasm.Indexed(wasm.OpLocalGet, 0), wasm.Indexed(wasm.OpGlobalSet, i))
			if err := export(fmt.Sprintf("%s%d", abi.ExportGlobalGetPrefix, i), wasm.KindFunc, get); err != nil {
				return err
			}
			if err := export(fmt.Sprintf("%s%d", abi.ExportGlobalSetPrefix, i), wasm.KindFunc, set); err != nil {
				return err
			}
		}
	}

	// Tables. Accessors need reference types; a module that does not use
	// them already keeps its feature set, and then only the host or another
	// module can change its tables (see RATIONALE.md).
	var tables []uint32
	if usesReferenceTypes(m) {
		tables = r.changingTables(exported)
	}
	for _, t := range tables {
		elem := r.tableElem(t)
		needFuncRefs = needFuncRefs || isFuncRef(elem)
		i32 := []wasm.ValType{wasm.I32}
		lget := getLocal
		accessors := []struct {
			prefix string
			ft     wasm.FuncType
			body   []wasm.Instr
		}{
			{abi.ExportTableGetPrefix, wasm.FuncType{Params: i32, Results: []wasm.ValType{elem}}, []wasm.Instr{lget(0), wasm.Indexed(wasm.OpTableGet, t)}},
			{abi.ExportTableSetPrefix, wasm.FuncType{Params: []wasm.ValType{wasm.I32, elem}}, []wasm.Instr{lget(0), lget(1), wasm.Indexed(wasm.OpTableSet, t)}},
			{abi.ExportTableSizePrefix, wasm.FuncType{Results: i32}, []wasm.Instr{wasm.Indexed(wasm.OpTableSize, t)}},
			{abi.ExportTableGrowPrefix, wasm.FuncType{Params: []wasm.ValType{elem, wasm.I32}, Results: i32}, []wasm.Instr{lget(0), lget(1), wasm.Indexed(wasm.OpTableGrow, t)}},
		}
		for _, a := range accessors {
			name := fmt.Sprintf("%s%d", a.prefix, t)
			if err := export(name, wasm.KindFunc, r.addFunc(name, a.ft, nil, a.body...)); err != nil {
				return err
			}
		}
	}
	info.Tables = tables

	if needFuncRefs {
		if err := export(abi.ExportFuncRef, wasm.KindFunc, r.addFuncRefs()); err != nil {
			return err
		}
		info.FuncRefs = uint32(m.NumImported(wasm.KindFunc) + len(m.Funcs))
	}
	return r.trackDrops(export, info)
}

// tableElem returns the element type of table t.
func (r *rewriter) tableElem(t uint32) wasm.ValType {
	n := uint32(0)
	for _, im := range r.m.Imports {
		if im.Kind == wasm.KindTable {
			if n == t {
				return im.Table.Elem
			}
			n++
		}
	}
	return r.m.Tables[t-n].Elem
}

// changingTables lists the tables whose contents can differ from what
// instantiation puts in them: those the code writes to, and those another
// module or the host can reach (imported or exported).
func (r *rewriter) changingTables(exported map[[2]uint32]string) []uint32 {
	m := r.m
	numTables := uint32(m.NumImported(wasm.KindTable) + len(m.Tables))
	changes := make([]bool, numTables)
	mark := func(t uint32) {
		if t < numTables {
			changes[t] = true
		}
	}
	n := uint32(0)
	for _, im := range m.Imports {
		if im.Kind == wasm.KindTable {
			mark(n)
			n++
		}
	}
	for key := range exported {
		if wasm.ExternKind(key[0]) == wasm.KindTable {
			mark(key[1])
		}
	}
	for k := range m.Code {
		for _, in := range m.Code[k].Body {
			switch in.Op {
			case wasm.OpTableSet, wasm.OpTableGrow, wasm.OpTableFill, wasm.OpTableCopy:
				mark(in.X)
			case wasm.OpTableInit:
				mark(in.Y)
			}
		}
	}
	var list []uint32
	for t, c := range changes {
		if c {
			list = append(list, uint32(t))
		}
	}
	return list
}

// addFuncRefs adds a table holding every function, in index order, and
// the function reading it.
func (r *rewriter) addFuncRefs() uint32 {
	m := r.m
	// The reader is added first so that the table covers it too.
	table := uint32(m.NumImported(wasm.KindTable) + len(m.Tables))
	read := r.addFunc(abi.ExportFuncRef, wasm.FuncType{Params: []wasm.ValType{wasm.I32}, Results: []wasm.ValType{wasm.FuncRef}}, nil,
		wasm.Indexed(wasm.OpLocalGet, 0), wasm.Indexed(wasm.OpTableGet, table))
	n := uint32(m.NumImported(wasm.KindFunc) + len(m.Funcs))
	m.Tables = append(m.Tables, wasm.TableType{Elem: wasm.FuncRef, Limits: wasm.Limits{Min: n, Max: n, HasMax: true}})
	funcs := make([]uint32, n)
	for i := range funcs {
		funcs[i] = uint32(i)
	}
	m.Elements = append(m.Elements, wasm.Element{Mode: wasm.SegmentActive, Table: table, ExplicitTable: true,
		Offset: []wasm.Instr{wasm.I32Const(0), wasm.Plain(wasm.OpEnd)}, Type: wasm.FuncRef, Funcs: funcs})
	return read
}

// trackDrops makes every data.drop and elem.drop also set a global the
// host can read, and adds the functions that drop a segment again.
func (r *rewriter) trackDrops(export func(name string, kind wasm.ExternKind, index uint32) error, info *abi.Info) error {
	m := r.m
	type segment struct {
		elem  bool
		index uint32
	}
	flags := map[segment]uint32{}
	var order []segment
	for k := range m.Code {
		for _, in := range m.Code[k].Body {
			if in.Op != wasm.OpDataDrop && in.Op != wasm.OpElemDrop {
				continue
			}
			s := segment{in.Op == wasm.OpElemDrop, in.X}
			if _, ok := flags[s]; !ok {
				m.Globals = append(m.Globals, wasm.Global{
					Type: wasm.GlobalType{Type: wasm.I32, Mutable: true},
					Init: []wasm.Instr{wasm.I32Const(0), wasm.Plain(wasm.OpEnd)},
				})
				flags[s] = uint32(m.NumImported(wasm.KindGlobal) + len(m.Globals) - 1)
				order = append(order, s)
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	// Set the flag after each drop.
	for k := range m.Code {
		c := &m.Code[k]
		if !slices.ContainsFunc(c.Body, func(in wasm.Instr) bool { return in.Op == wasm.OpDataDrop || in.Op == wasm.OpElemDrop }) {
			continue
		}
		fn := uint32(r.a.numImports + k)
		var from, origin []int32 // the DWARF's (debug.go): the flag's code has its drop's line
		if r.dbg != nil {
			from = r.dbg.originsOf(fn, len(c.Body))
		}
		body := make([]wasm.Instr, 0, len(c.Body)+4)
		for i, in := range c.Body {
			body = append(body, in)
			n := 1
			if in.Op == wasm.OpDataDrop || in.Op == wasm.OpElemDrop {
				body = append(body, wasm.I32Const(1), wasm.Indexed(wasm.OpGlobalSet, flags[segment{in.Op == wasm.OpElemDrop, in.X}]))
				n = 3
			}
			for range n {
				if from != nil {
					origin = append(origin, from[i])
				}
			}
		}
		c.Body, c.Source = body, nil
		if r.dbg != nil {
			r.dbg.origins[fn] = origin
		}
	}
	slices.SortFunc(order, func(a, b segment) int {
		if a.elem != b.elem {
			if a.elem {
				return 1
			}
			return -1
		}
		return int(a.index) - int(b.index)
	})
	for _, s := range order {
		dropped, drop, op := abi.ExportDroppedDataPrefix, abi.ExportDropDataPrefix, wasm.OpDataDrop
		if s.elem {
			dropped, drop, op = abi.ExportDroppedElemPrefix, abi.ExportDropElemPrefix, wasm.OpElemDrop
			info.DroppedElems = append(info.DroppedElems, s.index)
		} else {
			info.DroppedData = append(info.DroppedData, s.index)
		}
		if err := export(fmt.Sprintf("%s%d", dropped, s.index), wasm.KindGlobal, flags[s]); err != nil {
			return err
		}
		name := fmt.Sprintf("%s%d", drop, s.index)
		fn := r.addFunc(name, wasm.FuncType{}, nil, wasm.Indexed(op, s.index), wasm.I32Const(1), wasm.Indexed(wasm.OpGlobalSet, flags[s]))
		if err := export(name, wasm.KindFunc, fn); err != nil {
			return err
		}
	}
	return nil
}

// usesReferenceTypes reports whether a module already relies on the
// reference types proposal: several tables, reference-typed values other
// than a funcref table's elements, the instructions on references and
// tables, or element segments only reference types can encode.
func usesReferenceTypes(m *wasm.Module) bool {
	if m.NumImported(wasm.KindTable)+len(m.Tables) > 1 {
		return true
	}
	hasRef := func(ts []wasm.ValType) bool { return slices.ContainsFunc(ts, wasm.ValType.IsRef) }
	for _, ft := range m.Types {
		if hasRef(ft.Params) || hasRef(ft.Results) {
			return true
		}
	}
	for _, im := range m.Imports {
		if im.Kind == wasm.KindGlobal && im.Global.Type.IsRef() {
			return true
		}
	}
	for _, g := range m.Globals {
		if g.Type.Type.IsRef() {
			return true
		}
	}
	for i := range m.Elements {
		if e := &m.Elements[i]; e.Mode != wasm.SegmentActive || e.UsesExprs || e.ExplicitTable {
			return true
		}
	}
	for k := range m.Code {
		for _, g := range m.Code[k].Locals {
			if g.Type.IsRef() {
				return true
			}
		}
		for _, in := range m.Code[k].Body {
			switch in.Op {
			case wasm.OpTableGet, wasm.OpTableSet, wasm.OpTableSize, wasm.OpTableGrow, wasm.OpTableFill,
				wasm.OpRefNull, wasm.OpRefFunc, wasm.OpRefIsNull, wasm.OpSelectT:
				return true
			}
		}
	}
	return false
}

// usesPostMVP reports whether a module relies on anything beyond
// WebAssembly 1.0. With Options.Wasm1 the instrumenter keeps an MVP
// module within MVP (its runtime may support nothing more); otherwise,
// and for any other module, the output may use multi-value helpers.
func usesPostMVP(m *wasm.Module) bool {
	for _, ft := range m.Types {
		if len(ft.Results) > 1 {
			return true
		}
	}
	if m.DataCount != nil || usesReferenceTypes(m) {
		return true
	}
	for k := range m.Code {
		for _, in := range m.Code[k].Body {
			switch op := in.Op; {
			case op > wasm.OpF64ReinterpretI64,
				op >= wasm.OpTry && op <= wasm.OpThrowRef,
				op >= wasm.OpReturnCall && op <= wasm.OpReturnCallRef,
				op == wasm.OpDelegate, op == wasm.OpCatchAll, op == wasm.OpTryTable:
				return true
			}
		}
	}
	return false
}
