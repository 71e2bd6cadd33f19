package wasm

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// Limits of the index spaces and sizes Validate enforces beyond the
// format's own: those of 32-bit memories, and those where wazero, which
// runs what wasmsr makes, is stricter than the specification.
const (
	// MaxMemoryPages is the size of the largest 32-bit memory, 4 GiB.
	MaxMemoryPages = 65536
	// MaxMemories is wazero's limit: it has no multi-memory.
	MaxMemories = 1
	// MaxTableSize bounds a table's initial size, as wazero does (its
	// MaximumFunctionIndex, 2^27).
	MaxTableSize = 1 << 27
)

// ValidationError is a part of a module that is not valid: which part,
// where it is in the input and what is wrong with it.
type ValidationError struct {
	// Where names the part: "function 3", "memory 0", `export "run"`...
	// (for a body whose instruction offsets are not known, with the
	// instruction's index).
	Where string
	// Func is the function whose body is invalid, or -1.
	Func int64
	// Offset is where the part, or the invalid instruction in a body,
	// starts in the decoded input; -1 when not known (a module not decoded
	// with Decoder.KeepSource, or changed since).
	Offset int
	Msg    string
}

func (e *ValidationError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%s at offset 0x%x: %s", e.Where, e.Offset, e.Msg)
	}
	return e.Where + ": " + e.Msg
}

// Validate checks that m is valid: every index of every index space
// (types, functions, tables, memories, globals, tags, element and data
// segments, locals, labels) in range, every body and constant expression
// well typed, limits in range, export names unique, the start function
// without parameters or results; and that wazero can compile it: at most
// one memory, table sizes within wazero's. It accepts the union of what
// wazero's features offer (WebAssembly 2.0, threads, tail calls, extended
// constant expressions, exception handling, typed function references),
// as the instrumenter does. The first problem found is returned as a
// *ValidationError, with the offset of the part in the input when m was
// decoded with Decoder.KeepSource.
func Validate(m *Module) error {
	v := &validator{m: m, tr: NewTypeTracker(m)}
	for _, check := range []func() error{v.types, v.imports, v.functions, v.tables, v.memories, v.tags,
		v.globals, v.exports, v.start, v.elements, v.dataSegments, v.code} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

type validator struct {
	m  *Module
	tr *TypeTracker
}

// fail returns the error for entry k of section id (of the module's own,
// imports not counted), named where.
func (v *validator) fail(id SectionID, k int, where, format string, args ...any) error {
	return &ValidationError{Where: where, Func: -1, Offset: v.m.Offsets.Entry(id, k), Msg: fmt.Sprintf(format, args...)}
}

// valType checks the type index a reference type may name.
func (v *validator) valType(t ValType) error {
	if h := t.Heap(); t.IsRef() && h >= 0 && int(h) >= len(v.m.Types) {
		return fmt.Errorf("%s names type %d, the module has %d", t, h, len(v.m.Types))
	}
	return nil
}

// types checks that each type names only the types before it, or those of
// its own recursion group.
func (v *validator) types() error {
	visible := make([]int, len(v.m.Types))
	for k := range visible {
		visible[k] = k
	}
	for _, g := range v.m.RecGroups {
		for k := g.First; k < g.First+g.Count && int(k) < len(visible); k++ {
			visible[k] = int(g.First + g.Count)
		}
	}
	for k, ft := range v.m.Types {
		for _, t := range append(ft.Params[:len(ft.Params):len(ft.Params)], ft.Results...) {
			if h := t.Heap(); t.IsRef() && h >= 0 && int(h) >= visible[k] {
				return v.fail(SectionType, k, fmt.Sprintf("type %d", k), "%s names type %d, which is not defined before it", t, h)
			}
		}
	}
	return nil
}

// typeIndex checks a type index and returns the type.
func (v *validator) typeIndex(ti uint32) (FuncType, error) {
	if int(ti) >= len(v.m.Types) {
		return FuncType{}, fmt.Errorf("type %d, the module has %d", ti, len(v.m.Types))
	}
	return v.m.Types[ti], nil
}

func (v *validator) tagType(ti uint32) error {
	ft, err := v.typeIndex(ti)
	if err == nil && len(ft.Results) > 0 {
		err = fmt.Errorf("a tag's type %d has results", ti)
	}
	return err
}

func (v *validator) imports() error {
	counts := map[ExternKind]int{}
	for k := range v.m.Imports {
		im := &v.m.Imports[k]
		index := counts[im.Kind]
		counts[im.Kind]++
		var err error
		switch im.Kind {
		case KindFunc:
			_, err = v.typeIndex(im.TypeIndex)
		case KindTable:
			err = v.tableType(&im.Table)
		case KindMemory:
			err = v.memoryType(index, im.Memory)
		case KindGlobal:
			err = v.valType(im.Global.Type)
		case KindTag:
			err = v.tagType(im.TypeIndex)
		}
		if err != nil {
			return v.fail(SectionImport, k, fmt.Sprintf("import %q %q", im.Module, im.Name), "%v", err)
		}
	}
	return nil
}

func (v *validator) functions() error {
	base := v.tr.numImported
	for k, ti := range v.m.Funcs {
		if _, err := v.typeIndex(ti); err != nil {
			return v.fail(SectionFunction, k, fmt.Sprintf("function %d", base+k), "%v", err)
		}
	}
	return nil
}

func (v *validator) tableType(t *TableType) error {
	if err := v.valType(t.Elem); err != nil {
		return err
	}
	l := t.Limits
	switch {
	case l.Shared:
		return errors.New("a table cannot be shared")
	case l.Min > MaxTableSize:
		return fmt.Errorf("%d elements, more than wazero's limit of %d", l.Min, MaxTableSize)
	case l.HasMax && l.Min > l.Max:
		return fmt.Errorf("minimum size %d is larger than the maximum %d", l.Min, l.Max)
	case !t.Elem.Nullable() && t.Init == nil:
		return fmt.Errorf("a table of %s needs an initialiser", t.Elem)
	}
	return nil
}

func (v *validator) tables() error {
	base := v.m.NumImported(KindTable)
	for k := range v.m.Tables {
		t := &v.m.Tables[k]
		where := fmt.Sprintf("table %d", base+k)
		if err := v.tableType(t); err != nil {
			return v.fail(SectionTable, k, where, "%v", err)
		}
		if t.Init != nil {
			// The table section comes before the global section: only
			// imported globals exist yet.
			if err := v.constExpr(t.Init, t.Elem, v.m.NumImported(KindGlobal)); err != nil {
				return v.fail(SectionTable, k, where, "%v", err)
			}
		}
	}
	return nil
}

// memoryType checks the limits of memory index.
func (v *validator) memoryType(index int, l Limits) error {
	switch {
	case index >= MaxMemories:
		return fmt.Errorf("wazero supports %d memory, the module has %d", MaxMemories, v.tr.numMemories)
	case l.Min > MaxMemoryPages:
		return fmt.Errorf("minimum of %d pages, more than 4 GiB (%d pages)", l.Min, MaxMemoryPages)
	case l.HasMax && l.Max > MaxMemoryPages:
		return fmt.Errorf("maximum of %d pages, more than 4 GiB (%d pages)", l.Max, MaxMemoryPages)
	case l.HasMax && l.Min > l.Max:
		return fmt.Errorf("minimum of %d pages is larger than the maximum of %d", l.Min, l.Max)
	case l.Shared && !l.HasMax:
		return errors.New("a shared memory needs a maximum")
	}
	return nil
}

func (v *validator) memories() error {
	base := v.m.NumImported(KindMemory)
	for k, l := range v.m.Memories {
		if err := v.memoryType(base+k, l); err != nil {
			return v.fail(SectionMemory, k, fmt.Sprintf("memory %d", base+k), "%v", err)
		}
	}
	return nil
}

func (v *validator) tags() error {
	base := v.m.NumImported(KindTag)
	for k, tag := range v.m.Tags {
		if err := v.tagType(tag.TypeIndex); err != nil {
			return v.fail(SectionTag, k, fmt.Sprintf("tag %d", base+k), "%v", err)
		}
	}
	return nil
}

func (v *validator) globals() error {
	base := v.m.NumImported(KindGlobal)
	for k := range v.m.Globals {
		g := &v.m.Globals[k]
		err := v.valType(g.Type.Type)
		if err == nil {
			// Extended constant expressions may read the globals defined
			// before this one.
			err = v.constExpr(g.Init, g.Type.Type, base+k)
		}
		if err != nil {
			return v.fail(SectionGlobal, k, fmt.Sprintf("global %d", base+k), "%v", err)
		}
	}
	return nil
}

func (v *validator) exports() error {
	seen := make(map[string]bool, len(v.m.Exports))
	for k, e := range v.m.Exports {
		var n int
		switch e.Kind {
		case KindFunc:
			n = len(v.tr.funcTypes)
		case KindTable:
			n = len(v.tr.tables)
		case KindMemory:
			n = v.tr.numMemories
		case KindGlobal:
			n = len(v.tr.globals)
		case KindTag:
			n = len(v.tr.tags)
		}
		where := fmt.Sprintf("export %q", e.Name)
		if int(e.Index) >= n {
			return v.fail(SectionExport, k, where, "%s %d, the module has %d", e.Kind, e.Index, n)
		}
		if seen[e.Name] {
			return v.fail(SectionExport, k, where, "the name is exported twice")
		}
		seen[e.Name] = true
	}
	return nil
}

func (v *validator) start() error {
	if v.m.Start == nil {
		return nil
	}
	fn := *v.m.Start
	fail := func(format string, args ...any) error {
		return v.fail(SectionStart, 0, "start function", format, args...)
	}
	ti, ok := v.tr.funcTypeIndex(fn)
	if !ok {
		return fail("function %d, the module has %d", fn, len(v.tr.funcTypes))
	}
	if ft := v.m.Types[ti]; len(ft.Params) > 0 || len(ft.Results) > 0 {
		return fail("function %d has the type %s, not () -> ()", fn, ft)
	}
	return nil
}

func (v *validator) elements() error {
	for k := range v.m.Elements {
		e := &v.m.Elements[k]
		if err := v.element(e); err != nil {
			return v.fail(SectionElement, k, fmt.Sprintf("element segment %d", k), "%v", err)
		}
	}
	return nil
}

func (v *validator) element(e *Element) error {
	if err := v.valType(e.Type); err != nil {
		return err
	}
	allGlobals := len(v.tr.globals)
	if e.Mode == SegmentActive {
		if int(e.Table) >= len(v.tr.tables) {
			return fmt.Errorf("table %d, the module has %d", e.Table, len(v.tr.tables))
		}
		if elem := v.tr.tables[e.Table]; !v.tr.Matches(e.ItemType(), elem) {
			return fmt.Errorf("%s items in table %d of %s", e.ItemType(), e.Table, elem)
		}
		if err := v.constExpr(e.Offset, I32, allGlobals); err != nil {
			return fmt.Errorf("offset: %w", err)
		}
	}
	for _, f := range e.Funcs {
		if int(f) >= len(v.tr.funcTypes) {
			return fmt.Errorf("function %d, the module has %d", f, len(v.tr.funcTypes))
		}
	}
	for j, expr := range e.Exprs {
		if err := v.constExpr(expr, e.Type, allGlobals); err != nil {
			return fmt.Errorf("item %d: %w", j, err)
		}
	}
	return nil
}

func (v *validator) dataSegments() error {
	if c := v.m.DataCount; c != nil && int(*c) != len(v.m.Data) {
		return v.fail(SectionDataCount, 0, "data count section", "%d segments, the data section has %d", *c, len(v.m.Data))
	}
	for k := range v.m.Data {
		d := &v.m.Data[k]
		if d.Mode != SegmentActive {
			continue
		}
		var err error
		if int(d.Memory) >= v.tr.numMemories {
			err = fmt.Errorf("memory %d, the module has %d", d.Memory, v.tr.numMemories)
		} else if err = v.constExpr(d.Offset, I32, len(v.tr.globals)); err != nil {
			err = fmt.Errorf("offset: %w", err)
		}
		if err != nil {
			return v.fail(SectionData, k, fmt.Sprintf("data segment %d", k), "%v", err)
		}
	}
	return nil
}

// constExpr checks a constant expression whose value has type want, which
// may read the first numGlobals globals (if they are immutable).
func (v *validator) constExpr(expr []Instr, want ValType, numGlobals int) error {
	if len(expr) == 0 {
		return errors.New("no constant expression")
	}
	tr := v.tr
	tr.StartExpr(want)
	for i := range expr {
		in := &expr[i]
		switch in.Op {
		case OpI32Const, OpI64Const, OpF32Const, OpF64Const, OpV128Const, OpRefNull, OpRefFunc, OpEnd,
			OpI32Add, OpI32Sub, OpI32Mul, OpI64Add, OpI64Sub, OpI64Mul: // the last ones: extended-const
		case OpGlobalGet:
			if int(in.X) >= numGlobals {
				return fmt.Errorf("global.get %d: a constant expression reads only the imported globals and those defined before it (%d here)", in.X, numGlobals)
			}
			if tr.globals[in.X].Mutable {
				return fmt.Errorf("global.get %d: a constant expression cannot read a mutable global", in.X)
			}
		default:
			return fmt.Errorf("%s is not a constant instruction", in.Op)
		}
		if err := tr.Step(i, in); err != nil {
			if te := (*TypeError)(nil); errors.As(err, &te) {
				return errors.New(te.Msg)
			}
			return err
		}
	}
	if len(tr.frames) != 0 {
		return errors.New("the constant expression does not end")
	}
	return nil
}

func (v *validator) code() error {
	m := v.m
	if len(m.Code) != len(m.Funcs) {
		return &ValidationError{Where: "code section", Func: -1, Offset: -1,
			Msg: fmt.Sprintf("%d bodies for %d functions", len(m.Code), len(m.Funcs))}
	}
	// Bodies are checked on every core, each worker a range of them with
	// its own tracker; the first error in the section's order is the one
	// returned, as checking them in turn would.
	workers := min(runtime.GOMAXPROCS(0), max(1, len(m.Code)/parallelBodies))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		tr := v.tr
		if w > 0 {
			tr = NewTypeTracker(m)
		}
		lo, hi := w*len(m.Code)/workers, (w+1)*len(m.Code)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := lo; k < hi; k++ {
				if errs[w] = v.body(tr, k); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// body checks the body of the module's function k (imports not counted)
// with tr.
func (v *validator) body(tr *TypeTracker, k int) error {
	fn := uint32(tr.numImported + k)
	code := &v.m.Code[k]
	for _, g := range code.Locals {
		if err := v.valType(g.Type); err != nil {
			return bodyError(code, &TypeError{Func: int64(fn), Instr: -1, Msg: "local of " + err.Error()})
		}
	}
	if err := tr.Walk(fn, nil); err != nil {
		te := &TypeError{Func: int64(fn), Instr: -1, Msg: err.Error()}
		errors.As(err, &te)
		return bodyError(code, te)
	}
	return nil
}

// bodyError places a TypeError in the input.
func bodyError(code *Code, te *TypeError) *ValidationError {
	e := &ValidationError{Where: fmt.Sprintf("function %d", te.Func), Func: te.Func, Offset: -1, Msg: te.Msg}
	if te.Instr < 0 {
		if code.Source != nil {
			e.Offset = code.SourceOffset
		}
		return e
	}
	if offsets, err := code.InstrOffsets(); err == nil {
		e.Offset = offsets[te.Instr]
	} else {
		e.Where += fmt.Sprintf(", instruction %d (%s)", te.Instr, te.Op)
	}
	return e
}
