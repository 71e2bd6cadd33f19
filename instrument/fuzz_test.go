package instrument_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/wasm"
)

// wazeroFeatures is everything wazero offers, what wasm.Validate accepts:
// WebAssembly 2.0, threads, tail calls, extended constant expressions,
// exception handling and typed function references. The instrumenter
// keeps a module's feature set (adding multi-value only to modules past
// 1.0), so its output compiles with the features of its input.
const wazeroFeatures = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads | experimental.CoreFeaturesTailCall |
	experimental.CoreFeaturesExtendedConst | experimental.CoreFeaturesExceptionHandling |
	experimental.CoreFeaturesTypedFunctionReferences

// wazeroCompile reports whether wazero's compiler refuses a module.
var wazeroCompile = sync.OnceValue(func() func([]byte) error {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(wazeroFeatures))
	return func(module []byte) error {
		c, err := rt.CompileModule(ctx, module)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
})

// fuzzSeeds reads the seed modules (testdata/fuzzseed/README.md).
func fuzzSeeds(tb testing.TB) [][]byte {
	paths, err := filepath.Glob("testdata/fuzzseed/*.wasm")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no seed modules: %v", err)
	}
	slices.Sort(paths)
	var seeds [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzInstrument decodes a small real module (the seed chosen by the
// input), changes the decoded module as the rest of the input says
// (mutator), encodes it again and instruments it. Instrument must never
// panic. What it accepts, wazero must compile (the input) and its output
// must decode, validate and compile; what it refuses, it refuses with one
// line. wazero's verdict on the input decides what is invalid: a module
// it refuses must be refused (which is where the two differ on purpose:
// wazero refuses an import whose module name is empty, which is valid
// and which the mutations never make; and the instrumenter refuses valid
// constructs it cannot rewind, such as an unwind point inside a catch).
func FuzzInstrument(f *testing.F) {
	seeds := fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, seed uint8, program []byte) {
		m, err := wasm.Decode(seeds[int(seed)%len(seeds)])
		if err != nil {
			t.Fatal(err)
		}
		mu := &mutator{m: m, prog: program}
		opts := mu.run()
		in, err := wasm.Encode(m)
		if err != nil {
			return // a change the binary format cannot express
		}
		out, _, err := instrument.Instrument(in, opts)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("refusal of more than one line: %q", err)
			}
			return
		}
		if err := wazeroCompile()(in); err != nil {
			t.Fatalf("instrumented a module wazero refuses: %v", err)
		}
		om, err := wasm.Decode(out)
		if err == nil {
			err = wasm.Validate(om)
		}
		if err != nil {
			t.Fatalf("output: %v", err)
		}
		if err := wazeroCompile()(out); err != nil {
			t.Fatalf("wazero compiles the input but not the output: %v", err)
		}
	})
}

// mutator changes a decoded module as its program, the fuzz input, says:
// each step is a byte choosing a change and the bytes after it choosing
// where and what. Indices are mostly in range, sometimes just past the end
// of their index space, sometimes far past it. Bodies keep their
// structure (blocks are added in pairs with their end) so that the module
// still encodes and decodes: it is the indices, types and limits that
// break.
type mutator struct {
	m    *wasm.Module
	prog []byte
	pos  int
	opts instrument.Options
}

func (mu *mutator) byte() byte {
	if mu.pos >= len(mu.prog) {
		return 0
	}
	mu.pos++
	return mu.prog[mu.pos-1]
}

// pick returns a number below n (n > 0).
func (mu *mutator) pick(n int) int {
	v := int(mu.byte())
	if n > 256 {
		v = v<<8 | int(mu.byte())
	}
	return v % n
}

// index returns an index for a space of n entries.
func (mu *mutator) index(n int) uint32 {
	switch b := mu.byte(); {
	case b < 192 && n > 0:
		return uint32(int(b) % n)
	case b < 240:
		return uint32(n + int(b)%3)
	default:
		return 1<<31 + uint32(b)
	}
}

// limit returns a size near the interesting bounds.
func (mu *mutator) limit() uint32 {
	values := []uint32{0, 1, 2, 16, wasm.MaxMemoryPages - 1, wasm.MaxMemoryPages, wasm.MaxMemoryPages + 1,
		wasm.MaxTableSize, wasm.MaxTableSize + 1, 1<<32 - 1}
	return values[mu.pick(len(values))]
}

func (mu *mutator) run() instrument.Options {
	changes := []func(){
		mu.retarget, mu.insert, mu.remove, mu.duplicate, mu.blockType, mu.deepen,
		mu.memoryLimits, mu.tableLimits, mu.functions, mu.exports, mu.sections, mu.entries, mu.start, mu.options,
	}
	for steps := 0; mu.pos < len(mu.prog) && steps < 64; steps++ {
		changes[mu.pick(len(changes))]()
	}
	return mu.opts
}

func (mu *mutator) numFuncs() int   { return mu.m.NumImported(wasm.KindFunc) + len(mu.m.Funcs) }
func (mu *mutator) numGlobals() int { return mu.m.NumImported(wasm.KindGlobal) + len(mu.m.Globals) }
func (mu *mutator) numTables() int  { return mu.m.NumImported(wasm.KindTable) + len(mu.m.Tables) }
func (mu *mutator) numMemories() int {
	return mu.m.NumImported(wasm.KindMemory) + len(mu.m.Memories)
}

// body returns the body of a function the program picks, or nil.
func (mu *mutator) body() *wasm.Code {
	if len(mu.m.Code) == 0 {
		return nil
	}
	return &mu.m.Code[mu.pick(len(mu.m.Code))]
}

// instr returns an instruction the program picks among those of a body
// that match, or nil.
func (mu *mutator) instr(match func(*wasm.Instr) bool) *wasm.Instr {
	c := mu.body()
	if c == nil {
		return nil
	}
	var at []int
	for i := range c.Body {
		if match(&c.Body[i]) {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return nil
	}
	return &c.Body[at[mu.pick(len(at))]]
}

func structural(op wasm.Opcode) bool {
	switch op {
	case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpElse, wasm.OpEnd, wasm.OpTry, wasm.OpTryTable,
		wasm.OpCatch, wasm.OpCatchAll, wasm.OpDelegate:
		return true
	}
	return false
}

// retarget changes an index of an instruction: a callee, a type, a local,
// a global, a table, a memory, a segment.
func (mu *mutator) retarget() {
	in := mu.instr(func(in *wasm.Instr) bool { return !structural(in.Op) })
	if in == nil {
		return
	}
	switch in.Op {
	case wasm.OpCall, wasm.OpReturnCall, wasm.OpRefFunc:
		in.X = mu.index(mu.numFuncs())
	case wasm.OpCallIndirect, wasm.OpReturnCallIndirect:
		if mu.byte()%2 == 0 {
			in.X = mu.index(len(mu.m.Types))
		} else {
			in.Y = mu.index(mu.numTables())
		}
	case wasm.OpCallRef, wasm.OpReturnCallRef:
		in.X = mu.index(len(mu.m.Types))
	case wasm.OpLocalGet, wasm.OpLocalSet, wasm.OpLocalTee:
		in.X = mu.index(4)
	case wasm.OpGlobalGet, wasm.OpGlobalSet:
		in.X = mu.index(mu.numGlobals())
	case wasm.OpTableGet, wasm.OpTableSet, wasm.OpTableSize, wasm.OpTableGrow, wasm.OpTableFill:
		in.X = mu.index(mu.numTables())
	case wasm.OpMemorySize, wasm.OpMemoryGrow, wasm.OpMemoryFill:
		in.X = mu.index(mu.numMemories())
	case wasm.OpDataDrop:
		in.X = mu.index(len(mu.m.Data))
	case wasm.OpElemDrop:
		in.X = mu.index(len(mu.m.Elements))
	case wasm.OpMemoryInit:
		in.X = mu.index(len(mu.m.Data))
	case wasm.OpTableInit:
		in.X = mu.index(len(mu.m.Elements))
	case wasm.OpBr, wasm.OpBrIf:
		in.X = mu.index(3)
	default:
		if in.Op == wasm.OpI32Load || in.Op == wasm.OpI32Store || in.Op == wasm.OpI64Load || in.Op == wasm.OpI64Store {
			if mu.byte()%2 == 0 {
				in.Y = mu.index(mu.numMemories())
			} else {
				in.X = uint32(mu.pick(5)) // the alignment
			}
		}
	}
}

// palette returns an instruction to insert.
func (mu *mutator) palette() wasm.Instr {
	idx := wasm.Indexed
	switch mu.pick(22) {
	case 0:
		return wasm.I32Const(int32(mu.byte()))
	case 1:
		return wasm.I64Const(int64(mu.byte()))
	case 2:
		return wasm.Plain(wasm.OpDrop)
	case 3:
		return wasm.Plain(wasm.OpNop)
	case 4:
		return wasm.Plain(wasm.OpUnreachable)
	case 5:
		return idx(wasm.OpLocalGet, mu.index(4))
	case 6:
		return idx(wasm.OpLocalSet, mu.index(4))
	case 7:
		return idx(wasm.OpGlobalGet, mu.index(mu.numGlobals()))
	case 8:
		return idx(wasm.OpCall, mu.index(mu.numFuncs()))
	case 9:
		return wasm.Instr{Op: wasm.OpCallIndirect, X: mu.index(len(mu.m.Types)), Y: mu.index(mu.numTables())}
	case 10:
		return wasm.Plain(wasm.OpReturn)
	case 11:
		return idx(wasm.OpBr, mu.index(2))
	case 12:
		return idx(wasm.OpBrIf, mu.index(2))
	case 13:
		return idx(wasm.OpMemorySize, mu.index(mu.numMemories()))
	case 14:
		return idx(wasm.OpMemoryGrow, mu.index(mu.numMemories()))
	case 15:
		return wasm.Mem(wasm.OpI32Load, uint32(mu.pick(4)), uint64(mu.byte()))
	case 16:
		return wasm.Plain(wasm.OpI32Add)
	case 17:
		return wasm.Plain(wasm.OpSelect)
	case 18:
		return wasm.RefNull(wasm.HeapFunc)
	case 19:
		return idx(wasm.OpRefFunc, mu.index(mu.numFuncs()))
	case 20:
		return idx(wasm.OpDataDrop, mu.index(len(mu.m.Data)))
	default:
		return idx(wasm.OpReturnCall, mu.index(mu.numFuncs()))
	}
}

// insert adds an instruction before one of a body (not after its end).
func (mu *mutator) insert() {
	c := mu.body()
	if c == nil || len(c.Body) == 0 {
		return
	}
	at := mu.pick(len(c.Body))
	c.Body = slices.Insert(c.Body, at, mu.palette())
}

// remove deletes an instruction that opens or closes nothing.
func (mu *mutator) remove() {
	c := mu.body()
	if c == nil {
		return
	}
	var at []int
	for i := range c.Body {
		if !structural(c.Body[i].Op) {
			at = append(at, i)
		}
	}
	if len(at) > 0 {
		i := at[mu.pick(len(at))]
		c.Body = slices.Delete(c.Body, i, i+1)
	}
}

// duplicate repeats an instruction that opens or closes nothing.
func (mu *mutator) duplicate() {
	c := mu.body()
	if c == nil {
		return
	}
	var at []int
	for i := range c.Body {
		if !structural(c.Body[i].Op) {
			at = append(at, i)
		}
	}
	if len(at) > 0 {
		i := at[mu.pick(len(at))]
		c.Body = slices.Insert(c.Body, i, c.Body[i])
	}
}

func (mu *mutator) blockType() {
	in := mu.instr(func(in *wasm.Instr) bool {
		return in.Op == wasm.OpBlock || in.Op == wasm.OpLoop || in.Op == wasm.OpIf
	})
	if in == nil {
		return
	}
	types := []wasm.BlockType{wasm.BlockEmpty, wasm.BlockResult(wasm.I32), wasm.BlockResult(wasm.I64),
		wasm.BlockResult(wasm.F64), wasm.BlockResult(wasm.V128), wasm.BlockResult(wasm.FuncRef)}
	if mu.byte()%2 == 0 {
		in.Imm = uint64(wasm.BlockTypeIndex(mu.index(len(mu.m.Types))))
	} else {
		in.Imm = uint64(types[mu.pick(len(types))])
	}
}

// deepen wraps a run of a body in a block or loop, or many runs in many.
func (mu *mutator) deepen() {
	c := mu.body()
	if c == nil || len(c.Body) == 0 {
		return
	}
	op := wasm.OpBlock
	if mu.byte()%2 == 1 {
		op = wasm.OpLoop
	}
	times := 1 + mu.pick(8)*mu.pick(8)
	for range times {
		last := len(c.Body) - 1 // the function's end stays last
		lo := mu.pick(last + 1)
		hi := lo + mu.pick(last-lo+1)
		c.Body = slices.Insert(c.Body, hi, wasm.Plain(wasm.OpEnd))
		c.Body = slices.Insert(c.Body, lo, wasm.Block(op, wasm.BlockEmpty))
	}
}

// limitsOf sets limits from the program.
func (mu *mutator) limits(l *wasm.Limits, memory bool) {
	switch mu.pick(4) {
	case 0:
		l.Min = mu.limit()
	case 1:
		l.Max, l.HasMax = mu.limit(), true
	case 2:
		l.HasMax = !l.HasMax
	default:
		l.Shared = memory && !l.Shared
	}
}

func (mu *mutator) memoryLimits() {
	var all []*wasm.Limits
	for i := range mu.m.Imports {
		if mu.m.Imports[i].Kind == wasm.KindMemory {
			all = append(all, &mu.m.Imports[i].Memory)
		}
	}
	for i := range mu.m.Memories {
		all = append(all, &mu.m.Memories[i])
	}
	if len(all) == 0 {
		mu.m.Memories = append(mu.m.Memories, wasm.Limits{})
		return
	}
	mu.limits(all[mu.pick(len(all))], true)
}

func (mu *mutator) tableLimits() {
	if len(mu.m.Tables) == 0 {
		mu.m.Tables = append(mu.m.Tables, wasm.TableType{Elem: wasm.FuncRef})
		return
	}
	mu.limits(&mu.m.Tables[mu.pick(len(mu.m.Tables))].Limits, false)
}

// functions drops or duplicates a function, or changes its type.
func (mu *mutator) functions() {
	m := mu.m
	if len(m.Funcs) == 0 {
		return
	}
	k := mu.pick(len(m.Funcs))
	switch mu.pick(3) {
	case 0:
		m.Funcs = slices.Delete(m.Funcs, k, k+1)
		m.Code = slices.Delete(m.Code, k, k+1)
	case 1:
		m.Funcs = append(m.Funcs, m.Funcs[k])
		c := m.Code[k]
		c.Body = slices.Clone(c.Body)
		m.Code = append(m.Code, c)
	default:
		m.Funcs[k] = mu.index(len(m.Types))
	}
}

// exports drops, duplicates or retargets an export.
func (mu *mutator) exports() {
	m := mu.m
	if len(m.Exports) == 0 {
		m.Exports = append(m.Exports, wasm.Export{Name: "f", Index: mu.index(mu.numFuncs())})
		return
	}
	k := mu.pick(len(m.Exports))
	switch mu.pick(4) {
	case 0:
		m.Exports = slices.Delete(m.Exports, k, k+1)
	case 1:
		m.Exports = append(m.Exports, m.Exports[k])
	case 2:
		m.Exports[k].Index = mu.index(4)
	default:
		m.Exports[k].Kind = wasm.ExternKind(mu.pick(4))
	}
}

// sections drops a section, or sets the data count.
func (mu *mutator) sections() {
	m := mu.m
	switch mu.pick(9) {
	case 0:
		m.Tables = nil
	case 1:
		m.Memories = nil
	case 2:
		m.Globals = nil
	case 3:
		m.Elements = nil
	case 4:
		m.Data = nil
	case 5:
		m.Imports = nil
	case 6:
		m.Exports = nil
	case 7:
		m.DataCount = nil
	default:
		n := uint32(len(m.Data) + mu.pick(3) - 1)
		m.DataCount = &n
	}
}

// entries duplicates an entry of a section.
func (mu *mutator) entries() {
	m := mu.m
	switch mu.pick(5) {
	case 0:
		if len(m.Globals) > 0 {
			m.Globals = append(m.Globals, m.Globals[mu.pick(len(m.Globals))])
		}
	case 1:
		if len(m.Tables) > 0 {
			m.Tables = append(m.Tables, m.Tables[mu.pick(len(m.Tables))])
		}
	case 2:
		if len(m.Memories) > 0 {
			m.Memories = append(m.Memories, m.Memories[0])
		}
	case 3:
		if len(m.Elements) > 0 {
			m.Elements = append(m.Elements, m.Elements[mu.pick(len(m.Elements))])
		}
	default:
		if len(m.Imports) > 0 {
			m.Imports = append(m.Imports, m.Imports[mu.pick(len(m.Imports))])
		}
	}
}

func (mu *mutator) start() {
	if mu.byte()%2 == 0 {
		mu.m.Start = nil
		return
	}
	s := mu.index(mu.numFuncs())
	mu.m.Start = &s
}

func (mu *mutator) options() {
	mu.opts.Safepoints = instrument.Safepoints(mu.pick(3))
	mu.opts.IgnoreIndirect = mu.byte()%2 == 1
}
