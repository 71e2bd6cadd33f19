// Package instrument rewrites a WebAssembly module so that its running
// program can unwind its whole call stack into linear memory and later
// rewind back into the same point (the Asyncify technique), keeping
// Binaryen's Asyncify ABI. It works directly on the stack machine: values
// that sit on the operand stack across a call that may unwind are kept in
// locals, so a frame is only its locals and a call index.
package instrument

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/debuginfo"
	"github.com/wasmsr/wasmsr/wasm"
)

// Report says what Instrument did.
type Report struct {
	// Functions lists the instrumented functions and why each may unwind.
	Functions []FunctionReport
	// TrapFunctions are the functions that end in a trap: not
	// instrumented, they raise abi.Globals.NoUnwind at their entry.
	TrapFunctions []FunctionReport
	// Warnings are problems that did not stop the rewrite.
	Warnings []string
	// Info is what the custom section records.
	Info *abi.Info
	// DefinedFuncs is the number of functions the input module defines.
	DefinedFuncs int
	// debugMap is where the input's instructions went, when the module's
	// DWARF was mapped (for tests).
	debugMap *debuginfo.Map
}

// FunctionReport is one instrumented function.
type FunctionReport struct {
	Index uint32
	Name  string
	Why   string
	Sites int
}

// ErrInstrumented is returned for a module that already carries the wasmsr
// custom section, unless Options.Force is set (it is then passed through).
var ErrInstrumented = errors.New("module is already instrumented by wasmsr")

// rewriter holds what is shared by the rewrite of every function.
type rewriter struct {
	m *wasm.Module
	a *analysis
	// tracker is scratch for the stages that walk a body with its types
	// (splitIfs, buildPlan): each starts it on its function, and what it
	// learns goes into the stage's output; no one reads it afterwards.
	tracker *wasm.TypeTracker
	// wants, on a worker's rewriter (see shared.go), collects what the
	// function being rewritten asks of the module, and knownTypes are the
	// types the module had when the worker started; nil on the main one.
	wants      *wants
	knownTypes map[string]uint32
	// settled is shared by the main rewriter and the workers.
	settled *settledWants
	g       abi.Globals
	// reentry is 1 from a declined pause's call of its function until
	// that call's prologue (see epilogue).
	reentry uint32
	// slackFunc keeps room for a frame in the unwind buffer; pushedFunc
	// finishes a stored frame; decideFunc, called once a safepoint has
	// pushed its frame, starts the unwind or declines; popFunc releases a
	// frame in the buffer. prepareFunc makes the module's own buffer (see
	// memory.go), memoryGrowFunc and memorySizeFunc stand for the
	// program's memory.grow and memory.size around it.
	slackFunc, pushedFunc, decideFunc, popFunc, prepareFunc, memoryGrowFunc, memorySizeFunc uint32
	abi                                                                                     []abiFunc
	types                                                                                   map[string]uint32
	// dispatchers are the tail-call dispatchers, by result types.
	dispatchers map[string]*dispatcher
	// refSpills are the tables saved references go through, by element type.
	refSpills map[wasm.ValType]*refSpill
	// frameHelpers save and restore runs of locals (see frame.go).
	frameHelpers map[helperKey]uint32
	// multiValue is set when the output may use multi-value functions.
	multiValue bool
	// dbg follows where instructions go, when the module has DWARF to
	// keep (debug.go); nil otherwise.
	dbg *debugTrack
}

// Instrument rewrites the module in input and returns the new module.
func Instrument(input []byte, opts Options) ([]byte, *Report, error) {
	d := wasm.Decoder{KeepSource: true}
	m, err := d.Decode(input)
	if err != nil {
		return nil, nil, err
	}
	// Everything after this may take the module's indices and types for
	// granted: an invalid module is refused here, with the place.
	if err := wasm.Validate(m); err != nil {
		return nil, nil, err
	}
	if info, err := abi.ReadInfo(m); err == nil {
		if !opts.Force {
			return nil, nil, ErrInstrumented
		}
		return input, &Report{Info: info, DefinedFuncs: len(m.Code),
			Warnings: []string{"the module is already instrumented by wasmsr: passed through unchanged"}}, nil
	}
	report := &Report{DefinedFuncs: len(m.Code)} // before the helpers are added
	r := newRewriter(m, &opts)
	hasDWARF := debuginfo.HasDWARF(m)
	if hasDWARF && !opts.StripDebug {
		r.dbg = &debugTrack{input: input, origins: map[uint32][]int32{}}
	}
	report.Warnings = r.a.unmatched
	numImports := r.a.numImports
	// The analysis is done with the bodies: each is decoded again when
	// its turn comes, and compacted once rewritten.
	for fn := range r.a.mayUnwind[numImports:] {
		if err := r.compact(uint32(numImports + fn)); err != nil {
			return nil, nil, err
		}
	}
	info := &abi.Info{Version: abi.FormatVersion, InputSHA256: sha256.Sum256(input), Options: opts.String(), Globals: r.g, Details: true}
	var rewrite []uint32
	for k := range r.a.mayUnwind[numImports:] {
		fn := uint32(numImports + k)
		switch {
		case r.a.trap[fn]:
			if err := r.raiseNoUnwind(fn); err != nil {
				return nil, nil, err
			}
			report.TrapFunctions = append(report.TrapFunctions, FunctionReport{Index: fn, Name: r.a.names[fn], Why: "ends in a trap"})
		case r.a.mayUnwind[fn]:
			rewrite = append(rewrite, fn)
		}
	}
	var framed []uint32 // the functions that save frames, ascending
	var maxFrame uint32
	err = r.rewriteFuncs(rewrite, func(st *funcStages) error {
		layout, err := r.commit(st)
		if err != nil {
			return err
		}
		if err := r.compact(st.fn); err != nil {
			return err
		}
		if layout == nil {
			return nil
		}
		info.Funcs = append(info.Funcs, *layout)
		report.Functions = append(report.Functions, FunctionReport{Index: st.fn, Name: r.a.names[st.fn], Why: r.a.why[st.fn], Sites: len(layout.Sites)})
		if len(layout.Sites) > 0 {
			framed = append(framed, st.fn)
			maxFrame = max(maxFrame, layout.FrameSize)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	r.setMaxFrame(maxFrame)
	r.virtualizeMemory(report.DefinedFuncs)
	r.finishTailDispatchers(framed)
	if info.Exports, err = r.addExports(info); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(info.Funcs, func(a, b abi.FuncLayout) int { return cmp.Compare(a.Func, b.Func) })
	// The name section belongs after every other section: it may have
	// followed one of the last sections of the input, before those the
	// rewrite adds (a memory, globals, code...).
	for i := range m.Customs {
		if m.Customs[i].Name == "name" {
			m.Customs[i].After = wasm.SectionData
		}
	}
	// The sections (1.3 s on clang's module) are encoded while the module
	// before them is.
	section, sites := make(chan []byte, 1), make(chan []byte, 1)
	go func() {
		section <- info.Encode()
		sites <- info.EncodeSites()
	}()
	m.Customs = append(m.Customs, wasm.CustomSection{Name: abi.SectionName, After: wasm.SectionData, Later: func() []byte { return <-section }})
	if opts.SiteDetails || hasDWARF && !opts.StripDebug {
		m.Customs = append(m.Customs, wasm.CustomSection{Name: abi.SitesSectionName, After: wasm.SectionData, Later: func() []byte { return <-sites }})
	}
	report.Info = info
	out, err := wasm.Encode(m)
	if err != nil {
		return nil, nil, err
	}
	if hasDWARF {
		if out, err = r.finishDebug(out, opts.StripDebug, report); err != nil {
			return nil, nil, err
		}
	}
	return out, report, nil
}

// newRewriter analyzes a valid module and adds to it what every
// instrumented function uses: the ABI's globals and helper functions.
func newRewriter(m *wasm.Module, opts *Options) *rewriter {
	r := &rewriter{m: m, types: map[string]uint32{}, dispatchers: map[string]*dispatcher{}, refSpills: map[wasm.ValType]*refSpill{}, frameHelpers: map[helperKey]uint32{},
		settled: &settledWants{index: map[wantKey]uint32{}}}
	r.a = analyze(m, opts)
	r.multiValue = !opts.Wasm1 || usesPostMVP(m)
	r.addGlobals()
	r.addHelpers()
	r.tracker = wasm.NewTypeTracker(m)
	return r
}

// compact keeps a function in its encoding only while the rewrite does
// not need its instructions: clang's 133,000 functions take 3.5 GB as
// instructions, 160 MB encoded. What the module-wide scans after the
// rewrite look for
// (hostaccess.go: table writes, references, segment drops; memory.go:
// memory.size and memory.grow) stays
// readable: a body holding any of it is left as it is.
func (r *rewriter) compact(fn uint32) error {
	return r.compactCode(fn, &r.m.Code[int(fn)-r.a.numImports])
}

// compactCode compacts code, function fn's, as compact does.
func (r *rewriter) compactCode(fn uint32, code *wasm.Code) error {
	for i := range code.Body {
		switch code.Body[i].Op {
		case wasm.OpTableGet, wasm.OpTableSet, wasm.OpTableSize, wasm.OpTableGrow, wasm.OpTableFill, wasm.OpTableCopy, wasm.OpTableInit,
			wasm.OpRefNull, wasm.OpRefFunc, wasm.OpRefIsNull, wasm.OpSelectT, wasm.OpDataDrop, wasm.OpElemDrop,
			wasm.OpMemorySize, wasm.OpMemoryGrow:
			return nil
		}
	}
	if err := code.Compact(); err != nil {
		return fmt.Errorf("function %s: %w", r.a.describe(int(fn)), err)
	}
	return nil
}

// raiseNoUnwind makes a function that ends in a trap raise the flag
// under which the program declines to unwind, first thing: nothing it
// calls may unwind, since it saves no frame and its callers do not expect
// it to unwind. It never returns, so the flag never needs lowering.
func (r *rewriter) raiseNoUnwind(fn uint32) error {
	code := &r.m.Code[int(fn)-r.a.numImports]
	if err := code.Expand(); err != nil {
		return err
	}
	r.dbg.prepended(fn, 2, len(code.Body))
	code.Body = append([]wasm.Instr{wasm.I32Const(1), wasm.Indexed(wasm.OpGlobalSet, r.g.NoUnwind)}, code.Body...)
	code.Source = nil
	return nil
}

// callMayUnwind reports whether a call instruction is an unwind point.
func (r *rewriter) callMayUnwind(in *wasm.Instr) bool {
	switch in.Op {
	case wasm.OpCall, wasm.OpReturnCall:
		return int(in.X) < len(r.a.mayUnwind) && r.a.mayUnwind[in.X]
	case wasm.OpCallIndirect, wasm.OpReturnCallIndirect, wasm.OpCallRef, wasm.OpReturnCallRef:
		return r.a.indirectMayUnwind(in.X)
	}
	return false
}

// rewriteFuncs runs the stages of the functions fns on as many workers as
// there are cores, and commits them in fns's order (see shared.go): the
// output is the same as on one core. At most a few functions per worker
// wait to be committed, so memory stays that of a few functions.
func (r *rewriter) rewriteFuncs(fns []uint32, commit func(*funcStages) error) error {
	type job struct {
		fn   uint32
		st   *funcStages
		err  error
		done chan struct{}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(fns)))
	window := 4 * workers
	jobs := make(chan *job, window)
	var wg sync.WaitGroup
	for range workers {
		w := r.worker()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if j.st, j.err = w.stages(j.fn); j.err == nil {
					j.err = w.settle(j.st)
					j.st.dropIntermediates()
				}
				close(j.done)
			}
		}()
	}
	defer wg.Wait()
	defer close(jobs)
	queue := make([]*job, len(fns))
	next := 0
	send := func() {
		if next < len(fns) {
			queue[next] = &job{fn: fns[next], done: make(chan struct{})}
			jobs <- queue[next]
			next++
		}
	}
	for range window {
		send()
	}
	for k := range fns {
		j := queue[k]
		<-j.done
		queue[k] = nil
		if j.err != nil {
			return j.err
		}
		if err := commit(j.st); err != nil {
			return err
		}
		send()
	}
	return nil
}

// commit installs a function's rewritten code, with what it asked for
// added to the module, and returns its record in the custom section; nil
// when the function turned out to have no unwind point.
func (r *rewriter) commit(st *funcStages) (*abi.FuncLayout, error) {
	if st.emitted == nil {
		return nil, nil
	}
	if st.wants != nil { // not settled on its worker
		if err := patch(st.emitted.code.Body, r.resolve(st.wants)); err != nil {
			return nil, fmt.Errorf("function %s: %w", r.a.describe(int(st.fn)), err)
		}
	}
	r.m.Code[int(st.fn)-r.a.numImports] = st.emitted.code
	if r.dbg != nil {
		r.dbg.origins[st.fn] = st.emitted.origin
	}
	return st.layout, nil
}

// The rewrite of a function is a pipeline of stages, each working only
// on what the one before returned (stages_test.go shows each of them on
// small functions, in golden files):
//
//	prepare     the body without unreachable code, and with calls and a
//	            return for the tail calls that may unwind (prepare.go)
//	splitIfs    ifs around unwind points become blocks (ifs.go)
//	buildPlan   the body's levels, items and sites (plan.go)
//	emitFunc    the instrumented body, its locals and frame layout, and
//	            what each site's record says (emit.go and the files it
//	            calls: exits, liveness, frame, dispatch, tail)
//
// funcStages holds their outputs for one function.
type funcStages struct {
	fn       uint32
	prepared []wasm.Instr
	split    []wasm.Instr
	// origin maps each instruction of split to its index in the original body.
	origin  []int
	plan    *plan
	emitted *emitted // nil when the function has no unwind point
	// wants are what emitted's code asked of the module (see shared.go);
	// nil once settled.
	wants *wants
	// layout is the function's record in the custom section.
	layout *abi.FuncLayout
}

// dropIntermediates lets go of what only the stages needed, once the
// emitted code and the record are made: a function waiting for its commit
// then holds only those.
func (st *funcStages) dropIntermediates() {
	st.prepared, st.split, st.origin, st.plan = nil, nil, nil, nil
}

// stages runs the stages on function fn, on a worker's rewriter: the
// module is read, not changed.
func (r *rewriter) stages(fn uint32) (*funcStages, error) {
	st := &funcStages{fn: fn, wants: &wants{index: map[wantKey]uint32{}}}
	r.wants = st.wants
	code := r.m.Code[int(fn)-r.a.numImports]
	if err := code.Expand(); err != nil {
		return nil, err
	}
	var origin []int
	st.prepared, origin = prepare(code.Body, r.mustUntail)
	var err error
	if st.split, st.origin, err = r.splitIfs(fn, st.prepared, origin); err != nil {
		return nil, fmt.Errorf("function %s: %w", r.a.describe(int(fn)), err)
	}
	if st.plan, err = r.buildPlan(fn, &code, st.split, st.origin); err != nil {
		return nil, err
	}
	if st.emitted, err = r.emitFunc(st.plan, code, st.origin); err != nil {
		return nil, err
	}
	if st.emitted != nil {
		st.layout = st.record()
	}
	return st, nil
}

// record is the function's record in the custom section.
func (st *funcStages) record() *abi.FuncLayout {
	em := st.emitted
	lay := &abi.FuncLayout{Func: st.fn, FrameSize: em.layout.size, Locals: em.layout.locals, Types: em.layout.types}
	// Sites that share an exit save the same locals: they share the list
	// too (on clang, 300 MB of lists otherwise).
	savedLists := map[string][]uint32{}
	var key []byte
	for s, site := range st.plan.sites {
		instr := -1
		if site.instr >= 0 {
			instr = st.origin[site.instr]
		}
		key = key[:0]
		for _, pos := range em.siteSaved[s] {
			key = binary.AppendUvarint(key, uint64(pos))
		}
		saved, ok := savedLists[string(key)]
		if !ok {
			saved = make([]uint32, len(em.siteSaved[s]))
			for k, pos := range em.siteSaved[s] {
				saved[k] = em.layout.locals[pos]
			}
			savedLists[string(key)] = saved
		}
		lay.Sites = append(lay.Sites, abi.Site{Kind: site.kind, Target: site.target, Instr: int32(instr), Stack: em.siteStack[s], Saved: saved})
	}
	return lay
}

// blockType returns a block type for the signature params -> results,
// adding a function type to the module when it needs one.
func (r *rewriter) blockType(params, results []wasm.ValType) wasm.BlockType {
	if len(params) == 0 && len(results) == 0 {
		return wasm.BlockEmpty
	}
	if len(params) == 0 && len(results) == 1 {
		return wasm.BlockResult(results[0])
	}
	return wasm.BlockTypeIndex(r.typeIndex(wasm.FuncType{Params: params, Results: results}))
}

// typeIndex finds or adds a function type.
func (r *rewriter) typeIndex(ft wasm.FuncType) uint32 {
	key := ft.String()
	if r.wants != nil {
		if i, ok := r.knownTypes[key]; ok {
			return i
		}
		return r.wants.ask(want{kind: wantType, ft: ft})
	}
	if i, ok := r.types[key]; ok {
		return i
	}
	inGroup := recGroupMembers(r.m)
	for i, t := range r.m.Types {
		if !inGroup[i] && t.Equal(ft) {
			r.types[key] = uint32(i)
			return uint32(i)
		}
	}
	r.m.Types = append(r.m.Types, ft)
	r.types[key] = uint32(len(r.m.Types) - 1)
	return uint32(len(r.m.Types) - 1)
}

// recGroupMembers marks the types that belong to a recursion group: an
// equal type outside one is not the same type, so typeIndex never reuses
// them.
func recGroupMembers(m *wasm.Module) map[int]bool {
	in := map[int]bool{}
	for _, g := range m.RecGroups {
		for i := g.First; i < g.First+g.Count; i++ {
			in[int(i)] = true
		}
	}
	return in
}
