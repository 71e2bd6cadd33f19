package instrument

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wasmsr/wasmsr/debuginfo"
	"github.com/wasmsr/wasmsr/wasm"
)

// Stages are the names of the rewrite's stages, in order, as StageText
// reports them: the module's analysis, then the function pipeline (see
// funcStages).
var Stages = []string{"0-analysis", "1-prepare", "2-ifs", "3-plan", "4-emit"}

// StageText runs the rewrite on a module and returns what each stage
// made of it, as text, by stage name: for the analysis, a line per
// defined function; for the other stages, each function they rewrite.
func StageText(module []byte, opts Options) (map[string]string, error) {
	m, err := wasm.Decode(module)
	if err != nil {
		return nil, err
	}
	if err := wasm.Validate(m); err != nil {
		return nil, err
	}
	r := newRewriter(m, &opts)
	wr := r.worker()
	p := stagePrinter{r: r}
	out := map[string]*strings.Builder{}
	for _, s := range Stages {
		out[s] = &strings.Builder{}
	}
	for fn := r.a.numImports; fn < len(r.a.mayUnwind); fn++ {
		w := out["0-analysis"]
		fmt.Fprintf(w, "func %d", fn)
		if n := r.m.FuncName(uint32(fn)); n != "" {
			fmt.Fprintf(w, " $%s", n)
		}
		fmt.Fprint(w, ": ")
		switch {
		case r.a.trap[fn]:
			fmt.Fprintln(w, "ends in a trap: raises the no-unwind flag")
			continue
		case !r.a.mayUnwind[fn]:
			fmt.Fprintln(w, "left as it is")
			continue
		}
		fmt.Fprintf(w, "may unwind (%s)", r.a.why[fn])
		if r.a.entrySafepoint[fn] {
			fmt.Fprint(w, "; safepoint at entry")
		}
		if r.a.loopSafepoints[fn] {
			fmt.Fprint(w, "; safepoints at loops")
		}
		fmt.Fprintln(w)
		st, err := wr.stages(uint32(fn))
		if err != nil {
			return nil, err
		}
		if _, err := r.commit(st); err != nil {
			return nil, err
		}
		p.fn = st.fn
		p.body(out["1-prepare"], st.prepared, nil)
		p.body(out["2-ifs"], st.split, st.origin)
		p.plan(out["3-plan"], st.plan)
		p.emitted(out["4-emit"], st)
	}
	text := map[string]string{}
	for s, b := range out {
		text[s] = b.String()
	}
	return text, nil
}

// stagePrinter writes the stages' outputs, naming the functions, locals
// and globals the name section and the rewrite name.
type stagePrinter struct {
	r  *rewriter
	fn uint32
}

func (p *stagePrinter) funcName(fn uint32) string {
	if n := p.r.m.FuncName(fn); n != "" {
		return "$" + n
	}
	return fmt.Sprint(fn)
}

func (p *stagePrinter) localName(x uint32) string {
	if ns := p.r.m.Names; ns != nil {
		for _, l := range ns.Locals {
			if l.Index == p.fn {
				if n := l.Names.Lookup(x); n != "" {
					return "$" + n
				}
			}
		}
	}
	return fmt.Sprint(x)
}

func (p *stagePrinter) globalName(x uint32) string {
	g := p.r.g
	for _, n := range []struct {
		index uint32
		name  string
	}{{g.State, "$state"}, {g.Data, "$data"}, {g.Request, "$request"}, {g.Overflow, "$overflow"},
		{g.Owned, "$owned"}, {g.OwnBuffer, "$own_buffer"}, {g.NoUnwind, "$no_unwind"}} {
		if n.index == x {
			return n.name
		}
	}
	return fmt.Sprint(x)
}

// instr renders an instruction with names for its function, local or global.
func (p *stagePrinter) instr(in *wasm.Instr) string {
	switch in.Op {
	case wasm.OpCall, wasm.OpReturnCall, wasm.OpRefFunc:
		return in.Op.String() + " " + p.funcName(in.X)
	case wasm.OpLocalGet, wasm.OpLocalSet, wasm.OpLocalTee:
		return in.Op.String() + " " + p.localName(in.X)
	case wasm.OpGlobalGet, wasm.OpGlobalSet:
		return in.Op.String() + " " + p.globalName(in.X)
	}
	return in.String()
}

// body writes a function body, indented by structure; with origin, each
// instruction that comes from another place of the original body says
// which.
func (p *stagePrinter) body(w *strings.Builder, body []wasm.Instr, origin []int) {
	fmt.Fprintf(w, "(func %s\n", p.funcName(p.fn))
	depth := 1
	for i := range body {
		in := &body[i]
		switch in.Op {
		case wasm.OpEnd, wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll, wasm.OpDelegate:
			depth--
		}
		if i == len(body)-1 && in.Op == wasm.OpEnd {
			continue
		}
		line := strings.Repeat("  ", depth) + p.instr(in)
		if origin != nil && origin[i] != i {
			line += fmt.Sprintf("  ;; was %d", origin[i])
		}
		fmt.Fprintf(w, "%-4d%s\n", i, line)
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable, wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll:
			depth++
		}
	}
	fmt.Fprintln(w, ")")
}

// plan writes a plan: its sites, then its levels in the body's order.
func (p *stagePrinter) plan(w *strings.Builder, pl *plan) {
	fmt.Fprintf(w, "func %s: %d sites, results %v\n", p.funcName(p.fn), len(pl.sites), pl.results)
	for k, s := range pl.sites {
		fmt.Fprintf(w, "  site %d: %s at %d, target %d\n", k, s.kind, s.instr, s.target)
	}
	for _, o := range slices.Sorted(maps.Keys(pl.levels)) {
		l := pl.levels[o]
		fmt.Fprintf(w, "  level at %d (depth %d, params %v): sites %d..%d", o, l.depth, l.params, l.lo, l.hi)
		if l.sp >= 0 {
			fmt.Fprintf(w, ", safepoint %d", l.sp)
		}
		if l.link {
			fmt.Fprint(w, ", linked")
		}
		if pl.folds[o] != nil {
			fmt.Fprint(w, ", dispatches through its br_table")
		} else if pl.shaped[o] != nil {
			fmt.Fprint(w, ", dispatch-shaped")
		}
		fmt.Fprintln(w)
		for _, it := range l.items {
			fmt.Fprintf(w, "    item %d..%d: landing %d, spill %v, sites %d..%d", it.start, it.end, it.landing, it.spill, it.lo, it.hi)
			if it.atStart {
				fmt.Fprint(w, ", at start")
			}
			if it.dummyHi > it.dummyLo {
				fmt.Fprintf(w, ", dummy arguments %d..%d", it.dummyLo, it.dummyHi-1)
			}
			fmt.Fprintln(w)
		}
	}
}

// emitted writes the instrumented function, its frame layout and its
// sites' records.
func (p *stagePrinter) emitted(w *strings.Builder, st *funcStages) {
	em := st.emitted
	if em == nil {
		fmt.Fprintf(w, ";; func %s: no unwind point, left as it is\n", p.funcName(p.fn))
		return
	}
	fmt.Fprintf(w, ";; func %s: locals", p.funcName(p.fn))
	for _, g := range em.code.Locals {
		fmt.Fprintf(w, " %d×%s", g.Count, g.Type)
	}
	fmt.Fprintf(w, "; frame of %d bytes saves locals %v\n", em.layout.size, em.layout.locals)
	if len(st.layout.Sites) > 0 {
		for k, s := range st.layout.Sites {
			fmt.Fprintf(w, ";;   site %d: stack %v, saves %v\n", k, s.Stack, s.Saved)
		}
	}
	p.body(w, em.code.Body, nil)
}

// DebugMap is where the input's instructions went, when the module's
// DWARF was mapped.
func DebugMap(r *Report) *debuginfo.Map { return r.debugMap }
