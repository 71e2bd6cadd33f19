package wasm

import (
	"encoding/binary"
	"fmt"
)

// TypeTracker follows a function body one instruction at a time and knows,
// before each instruction, the exact types on the operand stack and the
// enclosing control frames. It applies the validation algorithm of the
// specification's appendix, so it also rejects bodies whose stack
// discipline is wrong. Values popped from the polymorphic stack of
// unreachable code have type ValUnknown.
//
// A TypeTracker reuses its buffers from function to function; Stack and
// Frames return views that the next Step changes.
type TypeTracker struct {
	m         *Module
	funcTypes []uint32 // type index of every function, imports first
	// numImported counts the imported functions; functions the module
	// gains after NewTypeTracker are not tracked.
	numImported int
	globals     []GlobalType
	tables      []ValType // element type of every table
	tags        []uint32  // type index of every tag
	numMemories int
	// numData counts the data segments as the data count section declares
	// them (it must be present when a body names a segment).
	numData int
	elems   []ValType // element type of every element segment
	// declared marks the functions ref.func may name in a body: those that
	// the module names outside function bodies (exports, element
	// segments, initialisers).
	declared []bool
	// canon maps each type index to the first index of an equivalent type,
	// since references to equivalent types match.
	canon []uint32

	fn     int64
	locals []ValType
	// unset marks the locals that must be set before they are read (of a
	// non-nullable reference type); set lists those set since, innermost
	// frame last, which become unset again when their frame ends.
	unset   []bool
	set     []uint32
	results []ValType
	stack   []ValType
	frames  []Frame
	err     error
}

// Frame is a control frame: a block, loop, if (or its else), legacy try (or
// its catch), try_table, or the function body itself.
type Frame struct {
	// Op is the opcode that opened the frame: OpBlock, OpLoop, OpIf, OpElse,
	// OpTry, OpCatch, OpCatchAll or OpTryTable. The function body's frame
	// has OpBlock and Start -1.
	Op Opcode
	// Start is the index in the body of the instruction that opened the
	// construct (for OpElse and the catches, of the if or try).
	Start int
	// Params are the values the frame started with, Results those it ends with.
	Params, Results []ValType
	// Height is the operand-stack height below the frame's own values.
	Height int
	// setHeight is the length of TypeTracker.set when the frame opened.
	setHeight int
	// Unreachable is set after an instruction that never falls through.
	Unreachable bool
}

// LabelTypes returns the types a branch to this frame carries.
func (f *Frame) LabelTypes() []ValType {
	if f.Op == OpLoop {
		return f.Params
	}
	return f.Results
}

// NewTypeTracker prepares to follow the bodies of m's functions.
func NewTypeTracker(m *Module) *TypeTracker {
	t := &TypeTracker{m: m, fn: -1}
	for i := range m.Imports {
		im := &m.Imports[i]
		switch im.Kind {
		case KindFunc:
			t.funcTypes = append(t.funcTypes, im.TypeIndex)
		case KindGlobal:
			t.globals = append(t.globals, im.Global)
		case KindTable:
			t.tables = append(t.tables, im.Table.Elem)
		case KindTag:
			t.tags = append(t.tags, im.TypeIndex)
		case KindMemory:
			t.numMemories++
		}
	}
	t.numImported = len(t.funcTypes)
	t.funcTypes = append(t.funcTypes, m.Funcs...)
	for i := range m.Globals {
		t.globals = append(t.globals, m.Globals[i].Type)
	}
	for i := range m.Tables {
		t.tables = append(t.tables, m.Tables[i].Elem)
	}
	for _, tag := range m.Tags {
		t.tags = append(t.tags, tag.TypeIndex)
	}
	t.numMemories += len(m.Memories)
	t.numData = len(m.Data)
	if m.DataCount != nil {
		t.numData = int(*m.DataCount)
	}
	for i := range m.Elements {
		t.elems = append(t.elems, m.Elements[i].ItemType())
	}
	t.declared = declaredFunctions(m, len(t.funcTypes))
	t.canon = canonicalTypes(m)
	return t
}

// declaredFunctions marks the functions that a module names outside
// function bodies.
func declaredFunctions(m *Module, numFuncs int) []bool {
	declared := make([]bool, numFuncs)
	declare := func(f uint32) {
		if int(f) < numFuncs {
			declared[f] = true
		}
	}
	inExpr := func(expr []Instr) {
		for _, in := range expr {
			if in.Op == OpRefFunc {
				declare(in.X)
			}
		}
	}
	for _, e := range m.Exports {
		if e.Kind == KindFunc {
			declare(e.Index)
		}
	}
	for i := range m.Elements {
		for _, f := range m.Elements[i].Funcs {
			declare(f)
		}
		for _, expr := range m.Elements[i].Exprs {
			inExpr(expr)
		}
	}
	for i := range m.Globals {
		inExpr(m.Globals[i].Init)
	}
	for i := range m.Tables {
		inExpr(m.Tables[i].Init)
	}
	return declared
}

// canonicalTypes finds which function types are equivalent: structurally
// equal, with type indices inside compared by their own equivalence. Types
// of a recursion group with several members are only equivalent to
// themselves here, which is exact for every module without such groups.
func canonicalTypes(m *Module) []uint32 {
	canon := make([]uint32, len(m.Types))
	inGroup := make([]bool, len(m.Types))
	for _, g := range m.RecGroups {
		for i := g.First; g.Count > 1 && i < g.First+g.Count && int(i) < len(inGroup); i++ {
			inGroup[i] = true
		}
	}
	seen := map[string]uint32{}
	var key []byte
	for i, ft := range m.Types {
		canon[i] = uint32(i)
		if inGroup[i] {
			continue
		}
		key = key[:0]
		for _, ts := range [][]ValType{ft.Params, ft.Results} {
			for _, v := range ts {
				v = v.canonical()
				if h := v.Heap(); v.IsRef() && h >= 0 && int(h) < i {
					v = RefType(v.Nullable(), HeapType(canon[h]))
				}
				key = binary.LittleEndian.AppendUint64(key, uint64(v))
			}
			key = append(key, 0xFF)
		}
		if j, ok := seen[string(key)]; ok {
			canon[i] = j
		} else {
			seen[string(key)] = uint32(i)
		}
	}
	return canon
}

// Start begins following the body of function fn (an index in the function
// index space that names a function the module defines).
func (t *TypeTracker) Start(fn uint32) error {
	numImported := t.numImported
	fail := func(format string, args ...any) error {
		return &TypeError{Func: int64(fn), Instr: -1, Msg: fmt.Sprintf(format, args...)}
	}
	if int(fn) < numImported || int(fn) >= len(t.funcTypes) {
		return fail("not a function with a body")
	}
	ft, err := t.funcType(fn)
	if err != nil {
		return fail("%v", err)
	}
	code := &t.m.Code[int(fn)-numImported]
	if n := uint64(len(ft.Params)) + code.NumLocals(); n > MaxLocals {
		return fail("%d locals, more than this tool supports (%d)", n, MaxLocals)
	}
	t.fn = int64(fn)
	t.err = nil
	t.locals = append(t.locals[:0], ft.Params...)
	for _, g := range code.Locals {
		for range g.Count {
			t.locals = append(t.locals, g.Type)
		}
	}
	t.unset = t.unset[:0]
	t.set = t.set[:0]
	for l, lt := range t.locals[len(ft.Params):] {
		if lt.IsRef() && !lt.Nullable() {
			if len(t.unset) == 0 {
				t.unset = make([]bool, len(t.locals))
			}
			t.unset[len(ft.Params)+l] = true
		}
	}
	t.results = ft.Results
	t.stack = t.stack[:0]
	t.frames = append(t.frames[:0], Frame{Op: OpBlock, Start: -1, Results: ft.Results})
	return nil
}

// StartExpr begins following a constant expression whose value has type
// result (the caller checks that its instructions are constant). Its
// errors have Func -1.
func (t *TypeTracker) StartExpr(result ValType) {
	t.fn = -1
	t.err = nil
	t.locals = t.locals[:0]
	t.unset = t.unset[:0]
	t.set = t.set[:0]
	t.results = singleType(result)
	t.stack = t.stack[:0]
	t.frames = append(t.frames[:0], Frame{Op: OpBlock, Start: -1, Results: t.results})
}

// MaxLocals is how many locals (parameters included) a function may have:
// it keeps a corrupt or hostile local count from making the tracker
// allocate gigabytes. It is the Web's limit (the JS API's implementation
// limits), which compilers keep to.
const MaxLocals = 50000

// MaxNesting is how deep blocks may nest in a body: deeper ones are
// refused. Compilers nest a few hundred levels at most (gofmt 570, FFmpeg
// 94); wazero takes minutes to compile 100,000 nested blocks, and the
// rewrite needs a few kilobytes per level.
const MaxNesting = 1 << 17

// Stack returns the operand stack, bottom first.
func (t *TypeTracker) Stack() []ValType { return t.stack }

// Frames returns the control frames, outermost (the function body) first.
// It is empty once the function's final end has been applied.
func (t *TypeTracker) Frames() []Frame { return t.frames }

// Locals returns the types of the function's parameters and locals.
func (t *TypeTracker) Locals() []ValType { return t.locals }

// Results returns the function's result types.
func (t *TypeTracker) Results() []ValType { return t.results }

// Walk follows the whole body of function fn, calling visit before each
// instruction with its index, while Stack and Frames describe the state
// before it.
func (t *TypeTracker) Walk(fn uint32, visit func(i int, in *Instr) error) error {
	if err := t.Start(fn); err != nil {
		return err
	}
	body := t.m.Code[int(fn)-t.numImported].Body
	for i := range body {
		if visit != nil {
			if err := visit(i, &body[i]); err != nil {
				return err
			}
		}
		if err := t.Step(i, &body[i]); err != nil {
			return err
		}
	}
	if len(t.frames) != 0 {
		last := len(body) - 1
		return &TypeError{Func: int64(fn), Instr: last, Op: body[last].Op, Msg: "the body ends inside a block"}
	}
	return nil
}

// failIndex reports an index past the end of its index space.
func (t *TypeTracker) failIndex(i int, in *Instr, what string, idx uint32, n int) {
	t.fail(i, in, "%s %d, the module has %d", what, idx, n)
}

func (t *TypeTracker) failLabel(i int, in *Instr, depth uint32) {
	t.fail(i, in, "label %d, %d in scope", depth, len(t.frames))
}

func (t *TypeTracker) fail(i int, in *Instr, format string, args ...any) {
	if t.err == nil {
		t.err = &TypeError{Func: t.fn, Instr: i, Op: in.Op, Msg: fmt.Sprintf(format, args...)}
	}
}

// TypeError is an ill-typed instruction found by the TypeTracker.
type TypeError struct {
	Func  int64  // the function's index (-1 in a constant expression)
	Instr int    // the instruction's index in the body, -1 for the function as a whole
	Op    Opcode // the instruction
	Msg   string // what is wrong
}

func (e *TypeError) Error() string {
	if e.Instr < 0 {
		return fmt.Sprintf("function %d: %s", e.Func, e.Msg)
	}
	return fmt.Sprintf("function %d, instruction %d (%s): %s", e.Func, e.Instr, e.Op, e.Msg)
}

// Step applies instruction in, the i-th of the body.
func (t *TypeTracker) Step(i int, in *Instr) error {
	if t.err != nil {
		return t.err
	}
	if len(t.frames) == 0 {
		t.fail(i, in, "instruction after the function's end")
		return t.err
	}
	info := in.Op.info()
	if info == nil {
		t.fail(i, in, "unknown opcode")
		return t.err
	}
	if !info.contextual {
		if info.checked {
			t.immediates(i, in, info)
		}
		for k := len(info.in) - 1; k >= 0; k-- {
			t.popExpect(i, in, info.in[k])
		}
		t.stack = append(t.stack, info.out...)
		return t.err
	}
	t.contextual(i, in)
	return t.err
}

// immediates checks what the types of an instruction with a fixed
// signature do not: its memory, segment and table indices, alignment and
// lanes.
func (t *TypeTracker) immediates(i int, in *Instr, info *opInfo) {
	memory := func(x uint32) {
		if int(x) >= t.numMemories {
			t.failIndex(i, in, "memory", x, t.numMemories)
		}
	}
	table := func(x uint32) bool {
		if int(x) >= len(t.tables) {
			t.failIndex(i, in, "table", x, len(t.tables))
			return false
		}
		return true
	}
	data := func(x uint32) {
		if int(x) >= t.numData {
			t.failIndex(i, in, "data segment", x, t.numData)
		}
	}
	elem := func(x uint32) bool {
		if int(x) >= len(t.elems) {
			t.failIndex(i, in, "element segment", x, len(t.elems))
			return false
		}
		return true
	}
	switch info.imm {
	case immMemArg, immMemArgLane:
		memory(in.Y)
		switch {
		case in.X >= 32 || 1<<in.X > uint64(info.access):
			t.fail(i, in, "alignment 2**%d is larger than the %d bytes accessed", in.X, info.access)
		case in.Op>>16 == 0xFE && 1<<in.X != uint64(info.access):
			t.fail(i, in, "atomic access of %d bytes with alignment 2**%d: it must be natural", info.access, in.X)
		}
	case immMemory:
		memory(in.X)
	case immMemoryCopy:
		memory(in.X)
		memory(in.Y)
	case immMemoryInit:
		data(in.X)
		memory(in.Y)
	case immData:
		data(in.X)
	case immTable:
		table(in.X)
	case immElem:
		elem(in.X)
	case immTableInit:
		if elem(in.X) && table(in.Y) && !t.Matches(t.elems[in.X], t.tables[in.Y]) {
			t.fail(i, in, "element segment %d holds %s, table %d %s", in.X, t.elems[in.X], in.Y, t.tables[in.Y])
		}
	case immTableCopy:
		if table(in.X) && table(in.Y) && !t.Matches(t.tables[in.Y], t.tables[in.X]) {
			t.fail(i, in, "table %d holds %s, table %d %s", in.Y, t.tables[in.Y], in.X, t.tables[in.X])
		}
	case immShuffle:
		v := in.V128()
		for _, lane := range v {
			if lane >= 32 {
				t.fail(i, in, "lane %d, a shuffle has 32", lane)
				return
			}
		}
	}
	if info.lanes > 0 && in.Lane >= info.lanes {
		t.fail(i, in, "lane %d, the shape has %d", in.Lane, info.lanes)
	}
}

// contextual types the instructions whose signature depends on immediates
// or on the enclosing frames.
func (t *TypeTracker) contextual(i int, in *Instr) {
	switch in.Op {
	case OpUnreachable:
		t.setUnreachable()
	case OpBlock, OpLoop, OpTry:
		params, results := t.blockSig(i, in)
		t.popVals(i, in, params)
		t.pushBlock(i, in, params, results)
	case OpIf:
		t.popExpect(i, in, I32)
		params, results := t.blockSig(i, in)
		t.popVals(i, in, params)
		t.pushBlock(i, in, params, results)
	case OpTryTable:
		params, results := t.blockSig(i, in)
		t.popVals(i, in, params)
		if in.Ext != nil {
			for _, c := range in.Ext.Catches {
				t.checkCatch(i, in, c)
			}
		}
		t.pushBlock(i, in, params, results)
	case OpElse:
		f, ok := t.popFrame(i, in)
		if ok && f.Op != OpIf {
			t.fail(i, in, "else without if")
		}
		t.pushFrame(OpElse, f.Start, f.Params, f.Results)
	case OpCatch, OpCatchAll:
		f, ok := t.popFrame(i, in)
		if ok && f.Op != OpTry && f.Op != OpCatch {
			t.fail(i, in, "%s without try", in.Op)
		}
		var params []ValType
		if in.Op == OpCatch {
			params = t.tagType(i, in, in.X).Params
		}
		t.pushFrame(in.Op, f.Start, params, f.Results)
	case OpDelegate:
		f, ok := t.popFrame(i, in)
		if ok && f.Op != OpTry {
			t.fail(i, in, "delegate without try")
		}
		if in.X >= uint32(len(t.frames)) {
			t.failLabel(i, in, in.X)
		}
		t.stack = append(t.stack, f.Results...)
	case OpEnd:
		f, ok := t.popFrame(i, in)
		if ok && f.Op == OpIf && !sameTypes(f.Params, f.Results) {
			t.fail(i, in, "if without else must leave its parameters: %s vs %s", typeList(f.Params), typeList(f.Results))
		}
		t.stack = append(t.stack, f.Results...)
	case OpBr:
		t.popVals(i, in, t.labelTypes(i, in, in.X))
		t.setUnreachable()
	case OpBrIf:
		t.popExpect(i, in, I32)
		lt := t.labelTypes(i, in, in.X)
		t.popVals(i, in, lt)
		t.stack = append(t.stack, lt...)
	case OpBrTable:
		t.popExpect(i, in, I32)
		arity := len(t.labelTypes(i, in, in.X))
		if in.Ext != nil {
			for _, l := range in.Ext.Labels {
				lt := t.labelTypes(i, in, l)
				if len(lt) != arity {
					t.fail(i, in, "br_table targets carry different numbers of values")
					return
				}
				// Check the values against each target, then put them back:
				// popping only reslices, so the elements are still there.
				height := len(t.stack)
				t.popVals(i, in, lt)
				t.stack = t.stack[:height]
			}
		}
		t.popVals(i, in, t.labelTypes(i, in, in.X))
		t.setUnreachable()
	case OpBrOnNull:
		ref := t.popRef(i, in)
		lt := t.labelTypes(i, in, in.X)
		t.popVals(i, in, lt)
		t.stack = append(t.stack, lt...)
		t.push(nonNull(ref))
	case OpBrOnNonNull:
		ref := t.popRef(i, in)
		lt := t.labelTypes(i, in, in.X)
		if len(lt) == 0 || !lt[len(lt)-1].IsRef() {
			t.fail(i, in, "br_on_non_null target does not take a reference")
			return
		}
		if ref != ValUnknown && !t.Matches(nonNull(ref), lt[len(lt)-1]) {
			t.fail(i, in, "type mismatch: %s does not match %s", nonNull(ref), lt[len(lt)-1])
		}
		t.popVals(i, in, lt[:len(lt)-1])
		t.stack = append(t.stack, lt[:len(lt)-1]...)
	case OpReturn:
		t.popVals(i, in, t.results)
		t.setUnreachable()
	case OpCall, OpReturnCall:
		if int(in.X) >= len(t.funcTypes) {
			t.fail(i, in, "%s to function %d, the module has %d", in.Op, in.X, len(t.funcTypes))
			return
		}
		ft, err := t.funcType(in.X)
		if err != nil {
			t.fail(i, in, "%v", err)
			return
		}
		t.call(i, in, ft)
	case OpCallIndirect, OpReturnCallIndirect:
		if int(in.Y) >= len(t.tables) {
			t.failIndex(i, in, "table", in.Y, len(t.tables))
			return
		}
		if !t.Matches(t.tables[in.Y], FuncRef) {
			t.fail(i, in, "%s through table %d, which holds %s", in.Op, in.Y, t.tables[in.Y])
			return
		}
		t.popExpect(i, in, I32)
		t.call(i, in, t.typeAt(i, in, in.X))
	case OpCallRef, OpReturnCallRef:
		t.popExpect(i, in, RefType(true, HeapType(in.X)))
		t.call(i, in, t.typeAt(i, in, in.X))
	case OpThrow:
		t.popVals(i, in, t.tagType(i, in, in.X).Params)
		t.setUnreachable()
	case OpRethrow:
		if in.X >= uint32(len(t.frames)) {
			t.failLabel(i, in, in.X)
			return
		}
		if op := t.frames[len(t.frames)-1-int(in.X)].Op; op != OpCatch && op != OpCatchAll {
			t.fail(i, in, "rethrow target is not a catch")
		}
		t.setUnreachable()
	case OpThrowRef:
		t.popExpect(i, in, ExnRef)
		t.setUnreachable()
	case OpDrop:
		t.pop(i, in)
	case OpSelect:
		t.popExpect(i, in, I32)
		t1, t2 := t.pop(i, in), t.pop(i, in)
		if t1.IsRef() || t2.IsRef() {
			t.fail(i, in, "untyped select of references")
			return
		}
		switch {
		case t1 == ValUnknown:
			t.push(t2)
		case t2 == ValUnknown || t1 == t2:
			t.push(t1)
		default:
			t.fail(i, in, "type mismatch: select of %s and %s", t2, t1)
		}
	case OpSelectT:
		if in.Ext == nil || len(in.Ext.Types) != 1 {
			t.fail(i, in, "typed select needs exactly one type")
			return
		}
		vt := in.Ext.Types[0]
		t.heapIndex(i, in, vt)
		t.popExpect(i, in, I32)
		t.popExpect(i, in, vt)
		t.popExpect(i, in, vt)
		t.push(vt)
	case OpLocalGet, OpLocalSet, OpLocalTee:
		if int(in.X) >= len(t.locals) {
			t.fail(i, in, "local %d, the function has %d", in.X, len(t.locals))
			return
		}
		lt := t.locals[in.X]
		if in.Op != OpLocalGet {
			t.popExpect(i, in, lt)
		}
		if len(t.unset) > 0 && t.unset[in.X] {
			if in.Op == OpLocalGet {
				t.fail(i, in, "local %d of %s is read before it is set", in.X, lt)
				return
			}
			t.unset[in.X] = false
			t.set = append(t.set, in.X)
		}
		if in.Op != OpLocalSet {
			t.push(lt)
		}
	case OpGlobalGet, OpGlobalSet:
		if int(in.X) >= len(t.globals) {
			t.failIndex(i, in, "global", in.X, len(t.globals))
			return
		}
		g := t.globals[in.X]
		if in.Op == OpGlobalGet {
			t.push(g.Type)
		} else {
			if !g.Mutable {
				t.fail(i, in, "global %d is immutable", in.X)
			}
			t.popExpect(i, in, g.Type)
		}
	case OpTableGet, OpTableSet, OpTableGrow, OpTableFill:
		if int(in.X) >= len(t.tables) {
			t.failIndex(i, in, "table", in.X, len(t.tables))
			return
		}
		elem := t.tables[in.X]
		switch in.Op {
		case OpTableGet:
			t.popExpect(i, in, I32)
			t.push(elem)
		case OpTableSet:
			t.popExpect(i, in, elem)
			t.popExpect(i, in, I32)
		case OpTableGrow:
			t.popExpect(i, in, I32)
			t.popExpect(i, in, elem)
			t.push(I32)
		case OpTableFill:
			t.popExpect(i, in, I32)
			t.popExpect(i, in, elem)
			t.popExpect(i, in, I32)
		}
	case OpRefNull:
		if h := HeapType(in.Imm); h >= 0 && int(h) >= len(t.m.Types) {
			t.failIndex(i, in, "type", uint32(h), len(t.m.Types))
			return
		}
		t.push(RefType(true, HeapType(in.Imm)).canonical())
	case OpRefIsNull:
		t.popRef(i, in)
		t.push(I32)
	case OpRefFunc:
		ti, ok := t.funcTypeIndex(in.X)
		if !ok {
			t.failIndex(i, in, "function", in.X, len(t.funcTypes))
			return
		}
		if t.fn >= 0 && !t.declared[in.X] {
			t.fail(i, in, "ref.func %d names a function nothing outside the code declares (an export or an element segment)", in.X)
			return
		}
		t.push(RefType(false, HeapType(ti)))
	case OpRefEq:
		t.popRef(i, in)
		t.popRef(i, in)
		t.push(I32)
	case OpRefAsNonNull:
		t.push(nonNull(t.popRef(i, in)))
	default:
		t.fail(i, in, "the type tracker does not know this instruction")
	}
}

func nonNull(ref ValType) ValType {
	if ref == ValUnknown {
		return ValUnknown
	}
	return RefType(false, ref.Heap())
}

// call pops the arguments of ft and pushes its results, or for the tail
// calls checks the results against the function's and ends the frame.
func (t *TypeTracker) call(i int, in *Instr, ft FuncType) {
	t.popVals(i, in, ft.Params)
	switch in.Op {
	case OpReturnCall, OpReturnCallIndirect, OpReturnCallRef:
		if len(ft.Results) != len(t.results) {
			t.fail(i, in, "tail call results %s differ from the function's %s", typeList(ft.Results), typeList(t.results))
			return
		}
		for k := range ft.Results {
			if !t.Matches(ft.Results[k], t.results[k]) {
				t.fail(i, in, "tail call results %s differ from the function's %s", typeList(ft.Results), typeList(t.results))
				return
			}
		}
		t.setUnreachable()
	default:
		t.stack = append(t.stack, ft.Results...)
	}
}

func (t *TypeTracker) checkCatch(i int, in *Instr, c Catch) {
	var want []ValType
	if c.Kind == CatchTag || c.Kind == CatchTagRef {
		want = t.tagType(i, in, c.Tag).Params
	}
	if c.Kind == CatchTagRef || c.Kind == CatchAllRef {
		want = append(want[:len(want):len(want)], RefType(false, HeapExn))
	}
	lt := t.labelTypes(i, in, c.Label)
	if len(lt) != len(want) {
		t.fail(i, in, "catch target takes %s, the exception gives %s", typeList(lt), typeList(want))
		return
	}
	for k := range want {
		if !t.Matches(want[k], lt[k]) {
			t.fail(i, in, "catch target takes %s, the exception gives %s", typeList(lt), typeList(want))
			return
		}
	}
}

func (t *TypeTracker) push(v ValType) { t.stack = append(t.stack, v) }

func (t *TypeTracker) pop(i int, in *Instr) ValType {
	f := &t.frames[len(t.frames)-1]
	if len(t.stack) == f.Height {
		if !f.Unreachable {
			t.fail(i, in, "operand stack underflow")
		}
		return ValUnknown
	}
	v := t.stack[len(t.stack)-1]
	t.stack = t.stack[:len(t.stack)-1]
	return v
}

func (t *TypeTracker) popExpect(i int, in *Instr, want ValType) ValType {
	got := t.pop(i, in)
	if got == ValUnknown {
		return want
	}
	if !t.Matches(got, want) {
		t.fail(i, in, "type mismatch: expected %s, found %s", want, got)
	}
	return got
}

func (t *TypeTracker) popRef(i int, in *Instr) ValType {
	got := t.pop(i, in)
	if got != ValUnknown && !got.IsRef() {
		t.fail(i, in, "type mismatch: expected a reference, found %s", got)
	}
	return got
}

func (t *TypeTracker) popVals(i int, in *Instr, want []ValType) {
	for k := len(want) - 1; k >= 0; k-- {
		t.popExpect(i, in, want[k])
	}
}

// pushBlock opens the frame of block, loop, if, try or try_table in.
func (t *TypeTracker) pushBlock(i int, in *Instr, params, results []ValType) {
	t.pushFrame(in.Op, i, params, results)
	if len(t.frames)-1 > MaxNesting {
		t.fail(i, in, "blocks nested deeper than %d, more than this tool supports", MaxNesting)
	}
}

func (t *TypeTracker) pushFrame(op Opcode, start int, params, results []ValType) {
	t.frames = append(t.frames, Frame{Op: op, Start: start, Params: params, Results: results, Height: len(t.stack), setHeight: len(t.set)})
	t.stack = append(t.stack, params...)
}

func (t *TypeTracker) popFrame(i int, in *Instr) (Frame, bool) {
	f := t.frames[len(t.frames)-1]
	t.popVals(i, in, f.Results)
	if len(t.stack) != f.Height && t.err == nil {
		t.fail(i, in, "%d values left on the stack at the end of the block", len(t.stack)-f.Height)
		return f, false
	}
	t.frames = t.frames[:len(t.frames)-1]
	for _, l := range t.set[f.setHeight:] {
		t.unset[l] = true
	}
	t.set = t.set[:f.setHeight]
	return f, t.err == nil
}

func (t *TypeTracker) setUnreachable() {
	f := &t.frames[len(t.frames)-1]
	t.stack = t.stack[:f.Height]
	f.Unreachable = true
}

func (t *TypeTracker) labelTypes(i int, in *Instr, depth uint32) []ValType {
	if depth >= uint32(len(t.frames)) {
		t.failLabel(i, in, depth)
		return nil
	}
	return t.frames[len(t.frames)-1-int(depth)].LabelTypes()
}

func (t *TypeTracker) blockSig(i int, in *Instr) (params, results []ValType) {
	bt := in.BlockType()
	if bt == BlockEmpty {
		return nil, nil
	}
	if idx, ok := bt.TypeIndex(); ok {
		ft := t.typeAt(i, in, idx)
		return ft.Params, ft.Results
	}
	t.heapIndex(i, in, ValType(bt))
	return nil, singleType(ValType(bt))
}

// singleTypes holds one-element type lists for the common value types, so
// that typing a block does not allocate.
var singleTypes = func() map[ValType][]ValType {
	m := map[ValType][]ValType{}
	for _, v := range []ValType{I32, I64, F32, F64, V128, FuncRef, ExternRef, ExnRef} {
		m[v] = []ValType{v}
	}
	return m
}()

func singleType(v ValType) []ValType {
	if ts, ok := singleTypes[v]; ok {
		return ts
	}
	return []ValType{v}
}

// heapIndex checks the type index a reference type names, if any.
func (t *TypeTracker) heapIndex(i int, in *Instr, v ValType) {
	if h := v.Heap(); v.IsRef() && h >= 0 && int(h) >= len(t.m.Types) {
		t.failIndex(i, in, "type", uint32(h), len(t.m.Types))
	}
}

func (t *TypeTracker) typeAt(i int, in *Instr, idx uint32) FuncType {
	if int(idx) >= len(t.m.Types) {
		t.failIndex(i, in, "type", idx, len(t.m.Types))
		return FuncType{}
	}
	return t.m.Types[idx]
}

func (t *TypeTracker) tagType(i int, in *Instr, tag uint32) FuncType {
	if int(tag) >= len(t.tags) {
		t.failIndex(i, in, "tag", tag, len(t.tags))
		return FuncType{}
	}
	return t.typeAt(i, in, t.tags[tag])
}

func (t *TypeTracker) funcTypeIndex(fn uint32) (uint32, bool) {
	if int(fn) >= len(t.funcTypes) {
		return 0, false
	}
	return t.funcTypes[fn], true
}

func (t *TypeTracker) funcType(fn uint32) (FuncType, error) {
	ti, ok := t.funcTypeIndex(fn)
	if !ok {
		return FuncType{}, fmt.Errorf("unknown function %d", fn)
	}
	if int(ti) >= len(t.m.Types) {
		return FuncType{}, fmt.Errorf("unknown type %d", ti)
	}
	return t.m.Types[ti], nil
}

// Matches reports whether a value of type sub can be used where sup is
// expected: equal types, or references under typed-function-reference
// subtyping ((ref $t) <: (ref null $t) <: funcref, (ref func) <: funcref),
// where equivalent type indices are equal.
func (t *TypeTracker) Matches(sub, sup ValType) bool {
	sub, sup = sub.canonical(), sup.canonical()
	if sub == sup {
		return true
	}
	if !sub.IsRef() || !sup.IsRef() || sub.Nullable() && !sup.Nullable() {
		return false
	}
	hs, hp := sub.Heap(), sup.Heap()
	if hs >= 0 && hp >= 0 && int(hs) < len(t.canon) && int(hp) < len(t.canon) {
		return t.canon[hs] == t.canon[hp]
	}
	return hs == hp || hs >= 0 && hp == HeapFunc
}
