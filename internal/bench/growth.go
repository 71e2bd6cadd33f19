package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// Growth breaks down how much bigger wasmsr made a module: which sections
// grew, how the growth is spread over the instrumented functions, and which
// instructions it added. It answers "where do the bytes come from" when the
// size target is missed.
type Growth struct {
	Before, After int
	Sections      []SectionGrowth
	// Funcs are the instrumented functions, largest growth first.
	Funcs []FuncGrowth
	// DefinedBefore is the number of functions the input defines; the
	// bodies after them in the output are the instrumenter's helpers.
	DefinedBefore int
	// HelperBytes is the size of those helper bodies.
	HelperBytes int
	// Ops are the instruction counts that changed, most added first.
	Ops []OpGrowth
}

// SectionGrowth is one section's size before and after, custom sections
// by name.
type SectionGrowth struct {
	Name          string
	Before, After int
}

// FuncGrowth is one instrumented function's body size before and after.
type FuncGrowth struct {
	Index         uint32
	Name          string
	Before, After int
	// Sites is the number of unwind points; SavedLocals the number of
	// locals its frame keeps.
	Sites, SavedLocals int
}

// OpGrowth is how many more (or fewer) times an opcode occurs.
type OpGrowth struct {
	Op            wasm.Opcode
	Before, After int
}

// MeasureGrowth compares an input module with what wasmsr made of it.
// Function bodies are matched by index: wasmsr keeps the input's functions
// in place and appends its helpers.
func MeasureGrowth(before, after []byte) (*Growth, error) {
	lb, err := wasm.ReadLayout(before)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	la, err := wasm.ReadLayout(after)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	mb, err := wasm.Decode(before)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	ma, err := wasm.Decode(after)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	info, err := abi.ReadInfo(ma)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if info == nil {
		return nil, errors.New("output has no wasmsr section: not instrumented by wasmsr")
	}
	if len(la.Bodies) < len(lb.Bodies) {
		return nil, fmt.Errorf("output has %d function bodies, fewer than the input's %d", len(la.Bodies), len(lb.Bodies))
	}
	g := &Growth{Before: len(before), After: len(after), DefinedBefore: len(lb.Bodies)}
	g.Sections = sectionGrowth(lb, la)
	for _, b := range la.Bodies[len(lb.Bodies):] {
		g.HelperBytes += b.Size
	}
	imported := uint32(mb.NumImported(wasm.KindFunc))
	var names wasm.NameMap
	if mb.Names != nil {
		names = mb.Names.Functions
	}
	for _, f := range info.Funcs {
		k := int(f.Func - imported)
		if f.Func < imported || k >= len(lb.Bodies) {
			return nil, fmt.Errorf("wasmsr section describes function %d, which the input does not define", f.Func)
		}
		g.Funcs = append(g.Funcs, FuncGrowth{
			Index: f.Func, Name: names.Lookup(f.Func),
			Before: lb.Bodies[k].Size, After: la.Bodies[k].Size,
			Sites: len(f.Sites), SavedLocals: len(f.Locals),
		})
	}
	slices.SortStableFunc(g.Funcs, func(a, b FuncGrowth) int { return cmp.Compare(b.After-b.Before, a.After-a.Before) })
	g.Ops = opGrowth(mb, ma)
	return g, nil
}

func sectionGrowth(lb, la *wasm.Layout) []SectionGrowth {
	name := func(s wasm.SectionSpan) string {
		if s.ID == wasm.SectionCustom {
			return "custom " + s.Name
		}
		return s.ID.String()
	}
	var out []SectionGrowth
	index := map[string]int{}
	for _, s := range lb.Sections {
		index[name(s)] = len(out)
		out = append(out, SectionGrowth{Name: name(s), Before: s.Size})
	}
	for _, s := range la.Sections {
		k, ok := index[name(s)]
		if !ok {
			k = len(out)
			index[name(s)] = k
			out = append(out, SectionGrowth{Name: name(s)})
		}
		out[k].After += s.Size
	}
	return out
}

func opGrowth(mb, ma *wasm.Module) []OpGrowth {
	counts := map[wasm.Opcode]*OpGrowth{}
	count := func(m *wasm.Module, after bool) {
		for _, c := range m.Code {
			for _, in := range c.Body {
				o := counts[in.Op]
				if o == nil {
					o = &OpGrowth{Op: in.Op}
					counts[in.Op] = o
				}
				if after {
					o.After++
				} else {
					o.Before++
				}
			}
		}
	}
	count(mb, false)
	count(ma, true)
	var out []OpGrowth
	for _, o := range counts {
		if o.After != o.Before {
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b OpGrowth) int {
		return cmp.Or(cmp.Compare(b.After-b.Before, a.After-a.Before), cmp.Compare(a.Op, b.Op))
	})
	return out
}

// percentile returns the p-th percentile (0..100) of sorted xs, by the
// nearest-rank method.
func percentile[T cmp.Ordered](xs []T, p int) T {
	k := (p*len(xs) + 99) / 100
	return xs[max(k, 1)-1]
}

func pct(before, after int) string {
	if before == 0 {
		return "new"
	}
	return fmt.Sprintf("%+.1f %%", 100*float64(after-before)/float64(before))
}

// WriteMarkdown writes the breakdown as markdown tables, listing the top
// functions by growth and the top added opcodes (none if top is 0).
func (g *Growth) WriteMarkdown(w io.Writer, top int) error {
	growth := g.After - g.Before
	share := func(d int) string {
		if growth == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f %%", 100*float64(d)/float64(growth))
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("module: %d -> %d bytes (%s)\n\n", g.Before, g.After, pct(g.Before, g.After))
	p("| section | before | after | growth | share of module growth |\n|---|---:|---:|---:|---:|\n")
	for _, s := range g.Sections {
		if s.After != s.Before {
			p("| %s | %d | %d | %s | %s |\n", s.Name, s.Before, s.After, pct(s.Before, s.After), share(s.After-s.Before))
		}
	}

	var before, after, sites int
	ratios := make([]float64, 0, len(g.Funcs))
	perSite := make([]float64, 0, len(g.Funcs))
	for _, f := range g.Funcs {
		before += f.Before
		after += f.After
		sites += f.Sites
		ratios = append(ratios, float64(f.After)/float64(f.Before))
		if f.Sites > 0 {
			perSite = append(perSite, float64(f.After-f.Before)/float64(f.Sites))
		}
	}
	p("\n%d of %d defined functions instrumented (%d unwind points); their bodies: %d -> %d bytes (%s, %s of module growth); helpers: %d bytes\n\n",
		len(g.Funcs), g.DefinedBefore, sites, before, after, pct(before, after), share(after-before), g.HelperBytes)
	if len(ratios) > 0 {
		slices.Sort(ratios)
		slices.Sort(perSite)
		p("| per instrumented function | p10 | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
		p("| size after / before | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			percentile(ratios, 10), percentile(ratios, 50), percentile(ratios, 90), percentile(ratios, 99), ratios[len(ratios)-1])
		if len(perSite) > 0 {
			p("| bytes added per unwind point | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
				percentile(perSite, 10), percentile(perSite, 50), percentile(perSite, 90), percentile(perSite, 99), perSite[len(perSite)-1])
		}
		// How concentrated the growth is: a few huge functions call for
		// different fixes than a constant cost per function.
		var acc int
		tenth := max(len(g.Funcs)/10, 1)
		for _, f := range g.Funcs[:tenth] {
			acc += f.After - f.Before
		}
		p("\nthe %d functions that grew most (10 %%) account for %s of their growth\n", tenth, pctOf(acc, after-before))
	}

	if top > 0 {
		p("\n| function | before | after | growth | unwind points | saved locals |\n|---|---:|---:|---:|---:|---:|\n")
		for _, f := range g.Funcs[:min(top, len(g.Funcs))] {
			p("| %s [%d] | %d | %d | %s | %d | %d |\n", f.Name, f.Index, f.Before, f.After, pct(f.Before, f.After), f.Sites, f.SavedLocals)
		}
		p("\n| opcode | before | after | added |\n|---|---:|---:|---:|\n")
		for _, o := range g.Ops[:min(top, len(g.Ops))] {
			p("| %s | %d | %d | %+d |\n", o.Op, o.Before, o.After, o.After-o.Before)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

func pctOf(part, whole int) string {
	if whole == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(part)/float64(whole))
}
