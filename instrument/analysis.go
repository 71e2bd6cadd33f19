package instrument

import (
	"fmt"

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
}

// funcScan is what the analysis needs from one body.
type funcScan struct {
	calls    []uint32 // direct callees (call and return_call)
	indirect bool     // has call_indirect, return_call_indirect, call_ref or return_call_ref
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

	// Seeds: functions with an unwind point of their own.
	if opts.Safepoints == SafepointsLoops {
		recursive := recursiveFunctions(a.numImports, scans, taken)
		for k := range scans {
			f := a.numImports + k
			if !allowed[f] {
				continue
			}
			if scans[k].loop {
				a.loopSafepoints[f] = true
				a.mark(f, "has a loop (safepoint at its header)")
			}
			// A recursive function needs a safepoint at its entry unless every
			// entry reaches a loop header's safepoint straight away.
			if recursive[f] && !startsAtLoop(m.Code[k].Body) {
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
		if scans[k].indirect && !opts.IgnoreIndirect {
			a.mark(f, "makes indirect calls")
		}
		if opts.Add != nil && matchAny(opts.Add, a.names[f]) {
			a.mark(f, "listed in --add")
		}
	}

	// Propagate to callers until nothing changes.
	callers := make([][]int, n)
	for k := range scans {
		for _, c := range scans[k].calls {
			if int(c) < n {
				callers[c] = append(callers[c], a.numImports+k)
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
		for _, caller := range callers[callee] {
			if !a.mayUnwind[caller] && allowed[caller] {
				a.mayUnwind[caller] = true
				a.why[caller] = "calls " + a.describe(callee)
				work = append(work, caller)
			}
		}
	}
	return a
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

// functionNames names every function: by the name section, else by export,
// else as func[N]. Imports are named module.name.
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
			s.indirect = true
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

// recursiveFunctions finds the defined functions on a cycle of the call
// graph, where an indirect call may reach any address-taken function. Only
// these need a safepoint at their entry: every other long computation goes
// through a loop header.
func recursiveFunctions(numImports int, scans []funcScan, taken []int) []bool {
	n := numImports + len(scans)
	// Indirect calls go through one extra node standing for "any function
	// whose reference is taken", which keeps the graph linear in size.
	anyTaken := n
	adj := make([][]int, n+1)
	adj[anyTaken] = taken
	for k := range scans {
		s := &scans[k]
		out := make([]int, 0, len(s.calls)+1)
		for _, c := range s.calls {
			out = append(out, int(c))
		}
		if s.indirect {
			out = append(out, anyTaken)
		}
		adj[numImports+k] = out
	}
	return onCycle(adj)[:n]
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
