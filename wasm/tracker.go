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
	// canon maps each type index to the first index of an equivalent type,
	// since references to equivalent types match.
	canon []uint32

	fn      int64
	locals  []ValType
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
	t.canon = canonicalTypes(m)
	return t
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
	if int(fn) < numImported || int(fn) >= len(t.funcTypes) {
		return fmt.Errorf("function %d: not a function with a body", fn)
	}
	ft, err := t.funcType(fn)
	if err != nil {
		return fmt.Errorf("function %d: %w", fn, err)
	}
	code := &t.m.Code[int(fn)-numImported]
	if n := uint64(len(ft.Params)) + code.NumLocals(); n > 50000 {
		// Keep a corrupt or hostile local count from making us allocate.
		return fmt.Errorf("function %d: %d locals is more than this tool supports", fn, n)
	}
	t.fn = int64(fn)
	t.err = nil
	t.locals = append(t.locals[:0], ft.Params...)
	for _, g := range code.Locals {
		for range g.Count {
			t.locals = append(t.locals, g.Type)
		}
	}
	t.results = ft.Results
	t.stack = t.stack[:0]
	t.frames = append(t.frames[:0], Frame{Op: OpBlock, Start: -1, Results: ft.Results})
	return nil
}

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
		return fmt.Errorf("function %d: body ends inside a block", fn)
	}
	return nil
}

func (t *TypeTracker) fail(i int, in *Instr, format string, args ...any) {
	if t.err == nil {
		t.err = &TypeError{Func: t.fn, Instr: i, Op: in.Op, Msg: fmt.Sprintf(format, args...)}
	}
}

// TypeError is an ill-typed instruction found by the TypeTracker.
type TypeError struct {
	Func  int64  // the function's index
	Instr int    // the instruction's index in the body
	Op    Opcode // the instruction
	Msg   string // what is wrong
}

func (e *TypeError) Error() string {
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
		for k := len(info.in) - 1; k >= 0; k-- {
			t.popExpect(i, in, info.in[k])
		}
		t.stack = append(t.stack, info.out...)
		return t.err
	}
	t.contextual(i, in)
	return t.err
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
		t.pushFrame(in.Op, i, params, results)
	case OpIf:
		t.popExpect(i, in, I32)
		params, results := t.blockSig(i, in)
		t.popVals(i, in, params)
		t.pushFrame(in.Op, i, params, results)
	case OpTryTable:
		params, results := t.blockSig(i, in)
		t.popVals(i, in, params)
		if in.Ext != nil {
			for _, c := range in.Ext.Catches {
				t.checkCatch(i, in, c)
			}
		}
		t.pushFrame(in.Op, i, params, results)
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
			t.fail(i, in, "unknown label %d", in.X)
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
		ft, err := t.funcType(in.X)
		if err != nil {
			t.fail(i, in, "%v", err)
			return
		}
		t.call(i, in, ft)
	case OpCallIndirect, OpReturnCallIndirect:
		if int(in.Y) >= len(t.tables) {
			t.fail(i, in, "unknown table %d", in.Y)
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
			t.fail(i, in, "unknown label %d", in.X)
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
		t.popExpect(i, in, I32)
		t.popExpect(i, in, vt)
		t.popExpect(i, in, vt)
		t.push(vt)
	case OpLocalGet, OpLocalSet, OpLocalTee:
		if int(in.X) >= len(t.locals) {
			t.fail(i, in, "unknown local %d", in.X)
			return
		}
		lt := t.locals[in.X]
		if in.Op != OpLocalGet {
			t.popExpect(i, in, lt)
		}
		if in.Op != OpLocalSet {
			t.push(lt)
		}
	case OpGlobalGet, OpGlobalSet:
		if int(in.X) >= len(t.globals) {
			t.fail(i, in, "unknown global %d", in.X)
			return
		}
		g := t.globals[in.X]
		if in.Op == OpGlobalGet {
			t.push(g.Type)
		} else {
			t.popExpect(i, in, g.Type)
		}
	case OpTableGet, OpTableSet, OpTableGrow, OpTableFill:
		if int(in.X) >= len(t.tables) {
			t.fail(i, in, "unknown table %d", in.X)
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
		t.push(RefType(true, HeapType(in.Imm)).canonical())
	case OpRefIsNull:
		t.popRef(i, in)
		t.push(I32)
	case OpRefFunc:
		ti, ok := t.funcTypeIndex(in.X)
		if !ok {
			t.fail(i, in, "unknown function %d", in.X)
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

func (t *TypeTracker) pushFrame(op Opcode, start int, params, results []ValType) {
	t.frames = append(t.frames, Frame{Op: op, Start: start, Params: params, Results: results, Height: len(t.stack)})
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
	return f, t.err == nil
}

func (t *TypeTracker) setUnreachable() {
	f := &t.frames[len(t.frames)-1]
	t.stack = t.stack[:f.Height]
	f.Unreachable = true
}

func (t *TypeTracker) labelTypes(i int, in *Instr, depth uint32) []ValType {
	if depth >= uint32(len(t.frames)) {
		t.fail(i, in, "unknown label %d", depth)
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

func (t *TypeTracker) typeAt(i int, in *Instr, idx uint32) FuncType {
	if int(idx) >= len(t.m.Types) {
		t.fail(i, in, "unknown type %d", idx)
		return FuncType{}
	}
	return t.m.Types[idx]
}

func (t *TypeTracker) tagType(i int, in *Instr, tag uint32) FuncType {
	if int(tag) >= len(t.tags) {
		t.fail(i, in, "unknown tag %d", tag)
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
