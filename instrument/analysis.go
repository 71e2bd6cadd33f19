package instrument

import (
	"fmt"
	"slices"

	"github.com/wasmsr/wasmsr/debuginfo"
	"github.com/wasmsr/wasmsr/wasm"
)

// analysis decides which functions may unwind and why. A function may
// unwind when it holds an unwind point: a call to a function that may
// unwind (an import selected by the options, or an instrumented function),
// an indirect call unless indirect calls are ignored, or a safepoint.
type analysis struct {
	m          *wasm.Module
	opts       *Options
	numImports int
	// names are the functions' names (name section or export), for the
	// --only/--remove/--add lists and messages.
	names []string
	// mayUnwind, per function index (imports first).
	mayUnwind []bool
	// why explains mayUnwind, for --verbose.
	why []string
	// loopSafepoints and entrySafepoint mark defined functions that get
	// safepoints at their loop headers and at their entry.
	loopSafepoints []bool
	entrySafepoint []bool
	// unmatched lists the --only/--remove/--add patterns that matched nothing.
	unmatched []string
	// importTaken is set when a table may hold an import that may unwind:
	// an indirect tail call may then leave no frame to rewind into.
	importTaken bool
	// trap marks the functions that end in a trap (see trapFunctions):
	// they never unwind, and calls to them are not unwind points.
	trap []bool
	// targets tells, when the module is closed to the outside, which
	// functions an indirect call of each type can reach; nil when an
	// indirect call may reach anything (see closedTargets).
	targets *indirectTargets
}

// indirectTargets are the functions indirect calls can reach, by type. In
// a module whose tables and function references never leave it nor come
// from outside, an indirect call reaches a function whose reference the
// module takes (in an element segment or with ref.func) and whose type is
// the call's: it may unwind only if one of those may. C++ makes indirect
// calls everywhere (virtual functions), and most of them reach no I/O.
type indirectTargets struct {
	// canon maps a type index to the first index of a type equal to it.
	canon []uint32
	// node maps a canonical type index to the analysis node standing for
	// "an indirect call of this type" (after the functions' nodes).
	node map[uint32]int
	// unwinds, by canonical type index, is the analysis's answer.
	unwinds map[uint32]bool
}

// nodeOf returns the node of indirect calls of type index t.
func (it *indirectTargets) nodeOf(t uint32) (int, bool) {
	if int(t) >= len(it.canon) {
		return 0, false
	}
	n, ok := it.node[it.canon[t]]
	return n, ok
}

// funcScan is what the analysis needs from one body.
type funcScan struct {
	calls []uint32 // direct callees (call and return_call)
	// indirect are the type indices of its call_indirect,
	// return_call_indirect, call_ref and return_call_ref.
	indirect []uint32
	loop     bool
}

func analyze(m *wasm.Module, opts *Options) *analysis {
	a := &analysis{m: m, opts: opts, numImports: m.NumImported(wasm.KindFunc)}
	n := a.numImports + len(m.Code)
	a.names = functionNames(m)
	a.mayUnwind = make([]bool, n)
	a.why = make([]string, n)
	a.loopSafepoints = make([]bool, n)
	a.entrySafepoint = make([]bool, n)

	// Which imports may unwind.
	fi := 0
	for _, im := range m.Imports {
		if im.Kind != wasm.KindFunc {
			continue
		}
		name := importName(im.Module, im.Name)
		if !opts.IgnoreImports && (opts.Imports == nil || matchAny(opts.Imports, name)) {
			a.mayUnwind[fi] = true
			a.why[fi] = "import"
		}
		fi++
	}

	scans := make([]funcScan, len(m.Code))
	for k := range m.Code {
		scans[k] = scanBody(m.Code[k].Body)
	}
	allowed := a.allowedFunctions()
	taken := addressTaken(m, n)
	for _, f := range taken {
		a.importTaken = a.importTaken || f < a.numImports && a.mayUnwind[f]
	}
	funcTypes := functionTypes(m)
	if closedToOutside(m) {
		a.targets = newIndirectTargets(m, n)
	}
	// callers[f] are the functions that call f directly.
	callers := make([][]int, n)
	for k := range scans {
		for _, c := range scans[k].calls {
			if int(c) < n {
				callers[c] = append(callers[c], a.numImports+k)
			}
		}
	}
	a.trap = a.trapFunctions(callers, allowed)

	// Seeds: functions with an unwind point of their own.
	if opts.Safepoints == SafepointsLoops {
		g := callGraph(a.numImports, scans, taken, funcTypes, a.targets)
		// A function whose entry reaches its loop header's safepoint
		// straight away already cuts every cycle through it, and below a
		// trap function nothing unwinds anyway. Functions --only or
		// --remove leave out cannot hold a safepoint.
		cut := make([]bool, n)
		for k := range scans {
			f := a.numImports + k
			cut[f] = allowed[f] && scans[k].loop && startsAtLoop(m.Code[k].Body) || a.trap[f]
		}
		entry := cycleCut(g, n, cut, allowed)
		for k := range scans {
			f := a.numImports + k
			if !allowed[f] {
				continue
			}
			if scans[k].loop {
				a.loopSafepoints[f] = true
				a.mark(f, "has a loop (safepoint at its header)")
			}
			if entry[f] {
				a.entrySafepoint[f] = true
				a.mark(f, "may recurse (safepoint at its entry)")
			}
		}
	}
	for k := range scans {
		f := a.numImports + k
		if !allowed[f] {
			continue
		}
		if len(scans[k].indirect) > 0 && !opts.IgnoreIndirect && a.targets == nil {
			a.mark(f, "makes indirect calls")
		}
		if opts.Add != nil && matchAny(opts.Add, a.names[f]) {
			a.mark(f, "listed in --add")
		}
	}

	// Propagate to callers until nothing changes. With known targets, an
	// indirect call of a type is a node that reaches the address-taken
	// functions of that type: it may unwind when one of them may.
	nodes := n
	if a.targets != nil {
		nodes += len(a.targets.node)
	}
	a.mayUnwind = append(a.mayUnwind, make([]bool, nodes-n)...)
	a.why = append(a.why, make([]string, nodes-n)...)
	callers = append(callers, make([][]int, nodes-n)...)
	if a.targets != nil && !opts.IgnoreIndirect {
		for k := range scans {
			for _, t := range scans[k].indirect {
				if node, ok := a.targets.nodeOf(t); ok {
					callers[node] = append(callers[node], a.numImports+k)
				}
			}
		}
	}
	if a.targets != nil {
		for _, f := range taken {
			if node, ok := a.targets.nodeOf(funcTypes[f]); ok {
				callers[f] = append(callers[f], node)
			}
		}
	}
	var work []int
	for f := range n {
		if a.mayUnwind[f] {
			work = append(work, f)
		}
	}
	for len(work) > 0 {
		callee := work[len(work)-1]
		work = work[:len(work)-1]
		if callee < n && a.trap[callee] {
			continue // it cannot unwind, whatever it calls
		}
		for _, caller := range callers[callee] {
			if !a.mayUnwind[caller] && (caller >= n || allowed[caller]) {
				a.mayUnwind[caller] = true
				if callee >= n {
					a.why[caller] = "makes indirect calls that may reach " + a.why[callee]
				} else if caller >= n {
					a.why[caller] = a.describe(callee)
				} else {
					a.why[caller] = "calls " + a.describe(callee)
				}
				work = append(work, caller)
			}
		}
	}
	if a.targets != nil {
		a.targets.unwinds = make(map[uint32]bool, len(a.targets.node))
		for t, node := range a.targets.node {
			a.targets.unwinds[t] = a.mayUnwind[node]
		}
	}
	a.mayUnwind, a.why = a.mayUnwind[:n], a.why[:n]
	for f, t := range a.trap {
		if t {
			a.mayUnwind[f], a.why[f] = false, ""
		}
	}
	return a
}

// indirectMayUnwind reports whether an indirect call of type index t may
// reach a function that may unwind.
func (a *analysis) indirectMayUnwind(t uint32) bool {
	switch {
	case a.opts.IgnoreIndirect:
		return false
	case a.targets == nil || int(t) >= len(a.targets.canon):
		return true
	}
	return a.targets.unwinds[a.targets.canon[t]]
}

// functionTypes returns every function's type index, imports first.
func functionTypes(m *wasm.Module) []uint32 {
	var types []uint32
	for _, im := range m.Imports {
		if im.Kind == wasm.KindFunc {
			types = append(types, im.TypeIndex)
		}
	}
	return append(types, m.Funcs...)
}

// closedToOutside reports whether no function reference can enter or
// leave the module, so that the references it takes are all a table or a
// call_ref can hold: no table is imported or exported, and no global,
// function or tag that is imported or exported carries a reference. Type
// equality is kept simple: recursion groups (GC types) count as open.
func closedToOutside(m *wasm.Module) bool {
	if len(m.RecGroups) > 0 {
		return false
	}
	carriesRef := func(t uint32) bool {
		if int(t) >= len(m.Types) {
			return true
		}
		for _, v := range append(slices.Clone(m.Types[t].Params), m.Types[t].Results...) {
			if v.IsRef() {
				return true
			}
		}
		return false
	}
	for _, im := range m.Imports {
		switch im.Kind {
		case wasm.KindTable:
			return false
		case wasm.KindGlobal:
			if im.Global.Type.IsRef() {
				return false
			}
		case wasm.KindFunc, wasm.KindTag:
			if carriesRef(im.TypeIndex) {
				return false
			}
		}
	}
	funcTypes := functionTypes(m)
	for _, e := range m.Exports {
		switch e.Kind {
		case wasm.KindTable:
			return false
		case wasm.KindGlobal:
			if g := int(e.Index) - m.NumImported(wasm.KindGlobal); g < 0 || g >= len(m.Globals) || m.Globals[g].Type.Type.IsRef() {
				return false
			}
		case wasm.KindFunc:
			if int(e.Index) >= len(funcTypes) || carriesRef(funcTypes[e.Index]) {
				return false
			}
		case wasm.KindTag:
			return false
		}
	}
	return true
}

// newIndirectTargets numbers the module's distinct function types as
// nodes n, n+1, ...
func newIndirectTargets(m *wasm.Module, n int) *indirectTargets {
	it := &indirectTargets{canon: make([]uint32, len(m.Types)), node: map[uint32]int{}}
	for t := range m.Types {
		it.canon[t] = uint32(t)
		for u := range t {
			if m.Types[u].Equal(m.Types[t]) {
				it.canon[t] = it.canon[u]
				break
			}
		}
		if it.canon[t] == uint32(t) {
			it.node[uint32(t)] = n + len(it.node)
		}
	}
	return it
}

// allowedFunctions applies --only and --remove: the functions they exclude
// are assumed never to unwind.
func (a *analysis) allowedFunctions() []bool {
	allowed := make([]bool, len(a.mayUnwind))
	for _, l := range []struct {
		flag string
		list []string
	}{{"--only", a.opts.Only}, {"--remove", a.opts.Remove}, {"--add", a.opts.Add}} {
		for _, p := range l.list {
			found := false
			for f := a.numImports; f < len(a.names); f++ {
				if wildcardMatch(p, a.names[f]) {
					found = true
					break
				}
			}
			if !found {
				a.unmatched = append(a.unmatched, fmt.Sprintf("%s %q matches no function", l.flag, p))
			}
		}
	}
	for f := a.numImports; f < len(allowed); f++ {
		name := a.names[f]
		allowed[f] = (a.opts.Only == nil || matchAny(a.opts.Only, name)) && !matchAny(a.opts.Remove, name)
	}
	return allowed
}

func (a *analysis) mark(f int, why string) {
	if !a.mayUnwind[f] {
		a.mayUnwind[f] = true
		a.why[f] = why
	}
}

// describe names a function for messages: its name and index.
func (a *analysis) describe(f int) string {
	if f < a.numImports {
		return "import " + a.names[f]
	}
	return fmt.Sprintf("%s [%d]", a.names[f], f)
}

// functionNames names every function: by the name section, else by its
// DWARF subprogram, else by export, else as func[N]. Imports are named
// module.name.
func functionNames(m *wasm.Module) []string {
	n := m.NumImported(wasm.KindFunc) + len(m.Code)
	names := make([]string, n)
	f := 0
	for _, im := range m.Imports {
		if im.Kind == wasm.KindFunc {
			names[f] = importName(im.Module, im.Name)
			f++
		}
	}
	if m.Names == nil || len(m.Names.Functions) < len(m.Code) {
		for fn, name := range debuginfo.FuncNames(m) {
			if m.FuncName(fn) == "" {
				names[fn] = name
			}
		}
	}
	for _, e := range m.Exports {
		if e.Kind == wasm.KindFunc && int(e.Index) < n && names[e.Index] == "" {
			names[e.Index] = e.Name
		}
	}
	for i := f; i < n; i++ {
		if name := m.FuncName(uint32(i)); name != "" {
			names[i] = name
		} else if names[i] == "" {
			names[i] = fmt.Sprintf("func[%d]", i)
		}
	}
	return names
}

// startsAtLoop reports whether a body reaches a loop header before any
// call or branch: only straight-line code and block openings come first.
func startsAtLoop(body []wasm.Instr) bool {
	for i := range body {
		switch op := body[i].Op; op {
		case wasm.OpLoop:
			return true
		case wasm.OpBlock, wasm.OpNop, wasm.OpDrop, wasm.OpLocalGet, wasm.OpLocalSet, wasm.OpLocalTee,
			wasm.OpGlobalGet, wasm.OpGlobalSet, wasm.OpI32Const, wasm.OpI64Const, wasm.OpF32Const, wasm.OpF64Const:
		default:
			return false
		}
	}
	return false
}

func scanBody(body []wasm.Instr) funcScan {
	var s funcScan
	for i := range body {
		switch body[i].Op {
		case wasm.OpCall, wasm.OpReturnCall:
			s.calls = append(s.calls, body[i].X)
		case wasm.OpCallIndirect, wasm.OpReturnCallIndirect, wasm.OpCallRef, wasm.OpReturnCallRef:
			s.indirect = append(s.indirect, body[i].X)
		case wasm.OpLoop:
			s.loop = true
		}
	}
	return s
}

// addressTaken lists the functions an indirect call may reach: those whose
// reference the module takes, in element segments or with ref.func.
// Exports are not among them: the host can call an export, but it cannot
// put it in a table the module calls through.
func addressTaken(m *wasm.Module, n int) []int {
	var list []int
	taken := make([]bool, n)
	take := func(f uint32) {
		if int(f) < n && !taken[f] {
			taken[f] = true
			list = append(list, int(f))
		}
	}
	for i := range m.Elements {
		e := &m.Elements[i]
		for _, f := range e.Funcs {
			take(f)
		}
		for _, expr := range e.Exprs {
			for _, in := range expr {
				if in.Op == wasm.OpRefFunc {
					take(in.X)
				}
			}
		}
	}
	for k := range m.Code {
		for _, in := range m.Code[k].Body {
			if in.Op == wasm.OpRefFunc {
				take(in.X)
			}
		}
	}
	return list
}

// callGraph is the call graph as adjacency lists: the functions' nodes
// (imports first, with no edges), then one node per indirect call type
// (targets known) or one for "any function whose reference is taken",
// which keeps the graph linear in size.
func callGraph(numImports int, scans []funcScan, taken []int, funcTypes []uint32, targets *indirectTargets) [][]int {
	n := numImports + len(scans)
	typeNode := func(t uint32) int { return n }
	adj := make([][]int, n+1)
	if targets != nil {
		adj = make([][]int, n+len(targets.node))
		typeNode = func(t uint32) int {
			node, ok := targets.nodeOf(t)
			if !ok {
				return -1
			}
			return node
		}
	}
	for _, f := range taken {
		if node := typeNode(funcTypes[f]); node >= 0 {
			adj[node] = append(adj[node], f)
		}
	}
	for k := range scans {
		s := &scans[k]
		out := make([]int, 0, len(s.calls)+len(s.indirect))
		for _, c := range s.calls {
			out = append(out, int(c))
		}
		for _, t := range s.indirect {
			if node := typeNode(t); node >= 0 && (len(out) == 0 || out[len(out)-1] != node) {
				out = append(out, node)
			}
		}
		adj[numImports+k] = out
	}
	return adj
}

// cycleCut picks the functions that get a safepoint at their entry, so
// that every cycle of the call graph (nodes below n are functions) passes
// through one, or through a function marked cut already: then a
// recursion of any depth pauses within a bounded number of calls. Every
// cycle holds an edge that a depth-first search finds going back to a
// node on its stack; taking either end of each such edge cuts them all,
// where marking every function on a cycle gave a safepoint to most of a
// C++ program (nextpnr: 609 functions, FFmpeg 756). When neither end can
// hold one, every function on a cycle that can gets one.
func cycleCut(adj [][]int, n int, cut, canHold []bool) []bool {
	const (
		unseen = iota
		onStack
		done
	)
	state := make([]uint8, len(adj))
	picked := make([]bool, n)
	type frame struct{ v, next int }
	var stack []frame
	for root := range adj {
		if state[root] != unseen {
			continue
		}
		state[root] = onStack
		stack = append(stack[:0], frame{v: root})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			v := top.v
			if top.next == len(adj[v]) || v < n && cut[v] {
				state[v] = done
				stack = stack[:len(stack)-1]
				continue
			}
			w := adj[v][top.next]
			top.next++
			switch state[w] {
			case unseen:
				state[w] = onStack
				stack = append(stack, frame{v: w})
			case onStack:
				switch {
				case w < n && canHold[w]:
					picked[w] = true
				case v < n && canHold[v]:
					picked[v] = true
				default:
					onAny := onCycle(adj)
					for f := range n {
						picked[f] = picked[f] || onAny[f] && canHold[f] && !cut[f]
					}
					return picked
				}
			}
		}
	}
	return picked
}

// onCycle marks the nodes of a directed graph, given as adjacency lists,
// that lie on a cycle (a strongly connected component with more than one
// node, or a self-loop), with Tarjan's algorithm written iteratively so that
// deep call graphs cannot overflow the Go stack.
func onCycle(adj [][]int) []bool {
	n := len(adj)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	result := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	type frame struct {
		v     int
		succ  []int
		child int
	}
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{v: root, succ: adj[root]}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			top := &call[len(call)-1]
			if top.child < len(top.succ) {
				w := top.succ[top.child]
				top.child++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w, succ: adj[w]})
				} else if onStack[w] {
					low[top.v] = min(low[top.v], index[w])
				}
				continue
			}
			v := top.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				parent := call[len(call)-1].v
				low[parent] = min(low[parent], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			// v is the root of a component: pop it.
			start := len(stack) - 1
			for stack[start] != v {
				start--
			}
			component := stack[start:]
			cyclic := len(component) > 1
			if !cyclic {
				for _, w := range adj[v] {
					if w == v {
						cyclic = true
					}
				}
			}
			for _, w := range component {
				onStack[w] = false
				result[w] = cyclic
			}
			stack = stack[:start]
		}
	}
	return result
}

// Trap functions: a function none of whose paths returns is only ever on
// the way to a trap (abort, a failed assertion, a Rust panic), after a
// message printed through stdio, which may unwind. It is not instrumented,
// calls to it are not unwind points, and it raises abi.Globals.NoUnwind at its
// entry so that nothing below it unwinds. The rules, and why they exclude
// loops, proc_exit, exports and modules with exceptions: RATIONALE.md,
// "Whole-program facts".

// trapFunctions marks the defined functions that end in a trap.
func (a *analysis) trapFunctions(callers [][]int, allowed []bool) []bool {
	m := a.m
	n := a.numImports + len(m.Code)
	trap := make([]bool, n)
	if len(m.Tags) > 0 || m.NumImported(wasm.KindTag) > 0 {
		return trap // an exception could leave one with the flag raised
	}
	exits := a.reachesExit(callers)
	exported := make([]bool, n)
	for _, e := range m.Exports {
		if e.Kind == wasm.KindFunc && int(e.Index) < n {
			exported[e.Index] = true
		}
	}
	for k := range m.Code {
		f := a.numImports + k
		forced := a.opts.Add != nil && matchAny(a.opts.Add, a.names[f])
		trap[f] = allowed[f] && !forced && !exported[f] && !exits[f] && endsInTrap(m.Code[k].Body)
	}
	return trap
}

// reachesExit marks the functions from which direct calls lead to
// proc_exit. Indirect calls are not followed: through stdio's callbacks
// nearly every C function reaches wasi-libc's lazy initialisation, which
// exits when it fails, and the question is whether a function's own path
// is the program's way out, not a failure of its failure report.
// callers[f] are the functions calling f directly.
func (a *analysis) reachesExit(callers [][]int) []bool {
	n := len(callers)
	exits := make([]bool, n)
	var work []int
	f := 0
	for _, im := range a.m.Imports {
		if im.Kind == wasm.KindFunc {
			if im.Name == "proc_exit" {
				exits[f] = true
				work = append(work, f)
			}
			f++
		}
	}
	for len(work) > 0 {
		callee := work[len(work)-1]
		work = work[:len(work)-1]
		for _, caller := range callers[callee] {
			if !exits[caller] {
				exits[caller] = true
				work = append(work, caller)
			}
		}
	}
	return exits
}

// endsInTrap reports whether no path through a body returns: it ends in
// unreachable, has no loop, return, tail call or exception handling, and
// no branch leaves its outermost level.
func endsInTrap(body []wasm.Instr) bool {
	n := len(body)
	if n < 2 || body[n-2].Op != wasm.OpUnreachable {
		return false
	}
	depth := 0 // open structures
	for i := range body[:n-1] {
		in := &body[i]
		switch in.Op {
		case wasm.OpLoop, wasm.OpReturn, wasm.OpReturnCall, wasm.OpReturnCallIndirect, wasm.OpReturnCallRef,
			wasm.OpTry, wasm.OpTryTable, wasm.OpThrow, wasm.OpThrowRef, wasm.OpRethrow, wasm.OpDelegate:
			return false
		case wasm.OpBlock, wasm.OpIf:
			depth++
		case wasm.OpEnd:
			depth--
		}
		for l := range labels(in) {
			if int(*l) >= depth {
				return false
			}
		}
	}
	return true
}
