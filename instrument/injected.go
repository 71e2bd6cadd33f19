package instrument

import (
	"fmt"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// The rewrite adds to the module the ABI's globals, and the functions
// every instrumented function calls (to pop and push frames, end a rewind,
// pause) or the host calls (Binaryen's asyncify_* exports): this file
// writes them.

// addGlobals adds the ABI's control globals.
func (r *rewriter) addGlobals() {
	m := r.m
	if m.NumImported(wasm.KindMemory)+len(m.Memories) == 0 {
		// The unwind buffer lives in linear memory; a module without one
		// gets an empty memory, which its code cannot observe.
		m.Memories = append(m.Memories, wasm.Limits{})
	}
	next := uint32(m.NumImported(wasm.KindGlobal) + len(m.Globals))
	add := func() uint32 {
		m.Globals = append(m.Globals, wasm.Global{
			Type: wasm.GlobalType{Type: wasm.I32, Mutable: true},
			Init: []wasm.Instr{wasm.I32Const(0), wasm.Plain(wasm.OpEnd)},
		})
		next++
		return next - 1
	}
	r.g = abi.Globals{State: add(), Data: add(), Request: add(), Overflow: add(), Owned: add(), OwnBuffer: add(), NoUnwind: add()}
	r.reentry = add()
}

// addFunc appends a function the instrumenter provides and names it.
func (r *rewriter) addFunc(name string, ft wasm.FuncType, locals []wasm.LocalGroup, body ...wasm.Instr) uint32 {
	m := r.m
	m.Funcs = append(m.Funcs, r.typeIndex(ft))
	m.Code = append(m.Code, wasm.Code{Locals: locals, Body: append(body, wasm.Plain(wasm.OpEnd))})
	fn := uint32(m.NumImported(wasm.KindFunc) + len(m.Funcs) - 1)
	if m.Names != nil && m.Names.Functions != nil {
		m.Names.Functions = append(m.Names.Functions, wasm.Naming{Index: fn, Name: name})
	}
	return fn
}

// checkBuffer traps when the unwind data struct says pos > end, as
// Binaryen's functions do.
func (r *rewriter) checkBuffer() []wasm.Instr {
	return []wasm.Instr{
		wasm.Indexed(wasm.OpGlobalGet, r.g.Data), wasm.Mem(wasm.OpI32Load, 2, 0),
		wasm.Indexed(wasm.OpGlobalGet, r.g.Data), wasm.Mem(wasm.OpI32Load, 2, 4),
		wasm.Plain(wasm.OpI32GtU), wasm.Block(wasm.OpIf, wasm.BlockEmpty), wasm.Plain(wasm.OpUnreachable), wasm.Plain(wasm.OpEnd),
	}
}

// setState returns code setting the state global.
func (r *rewriter) setState(state int32) []wasm.Instr {
	return []wasm.Instr{wasm.I32Const(state), wasm.Indexed(wasm.OpGlobalSet, r.g.State)}
}

func concat(parts ...[]wasm.Instr) []wasm.Instr {
	var out []wasm.Instr
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Unwind states, as Binaryen numbers them.
const (
	stateNormal    = 0
	stateUnwinding = 1
	stateRewinding = 2
)

// The instructions the hand-written helpers use most.
func getGlobal(x uint32) wasm.Instr { return wasm.Indexed(wasm.OpGlobalGet, x) }
func setGlobal(x uint32) wasm.Instr { return wasm.Indexed(wasm.OpGlobalSet, x) }
func getLocal(x uint32) wasm.Instr  { return wasm.Indexed(wasm.OpLocalGet, x) }
func setLocal(x uint32) wasm.Instr  { return wasm.Indexed(wasm.OpLocalSet, x) }
func teeLocal(x uint32) wasm.Instr  { return wasm.Indexed(wasm.OpLocalTee, x) }

// addHelpers adds the functions instrumented code calls and the Asyncify
// ABI functions; the ABI ones are exported by addExports.
func (r *rewriter) addHelpers() {
	g := r.g
	get, set, lget, lset := getGlobal, setGlobal, getLocal, setLocal
	op, i32 := wasm.Plain, wasm.I32Const
	ifThen := wasm.Block(wasm.OpIf, wasm.BlockEmpty)
	end := op(wasm.OpEnd)
	noParams := wasm.FuncType{}
	i32Param := wasm.FuncType{Params: []wasm.ValType{wasm.I32}}
	i32Result := wasm.FuncType{Results: []wasm.ValType{wasm.I32}}
	oneLocal := []wasm.LocalGroup{{Count: 1, Type: wasm.I32}}
	memoryEnd := []wasm.Instr{wasm.Indexed(wasm.OpMemorySize, 0), i32(16), op(wasm.OpI32Shl)}

	// wasmsr_reserve(need): make sure the buffer has need bytes free
	// past its position, growing memory when the buffer ends where memory
	// does. When it cannot, it sets wasmsr_overflow to 1 and returns: the
	// frames may still fit, and asyncify_stop_unwind clears the flag then;
	// if one does not, the program traps with the flag set (see
	// wasmsr_pushed), or with a store past memory's end.
	const need = 0 // reserve's param
	short := []wasm.Instr{ifThen, i32(1), set(g.Overflow), op(wasm.OpReturn), end}
	reserve := r.addFunc("wasmsr_reserve", i32Param, nil, concat(
		[]wasm.Instr{get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 4), get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 0), op(wasm.OpI32Sub),
			lget(need), op(wasm.OpI32GeU), ifThen, op(wasm.OpReturn), end,
			get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 4)}, memoryEnd, []wasm.Instr{op(wasm.OpI32Ne)}, short,
		[]wasm.Instr{get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 0), lget(need), op(wasm.OpI32Add),
			get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 4), op(wasm.OpI32Sub),
			i32(pageSize - 1), op(wasm.OpI32Add), i32(16), op(wasm.OpI32ShrU),
			wasm.Indexed(wasm.OpMemoryGrow, 0), i32(-1), op(wasm.OpI32Eq)}, short,
		[]wasm.Instr{get(g.Data)}, memoryEnd, []wasm.Instr{wasm.Mem(wasm.OpI32Store, 2, 4)})...)
	// wasmsr_slack(): reserve room for the largest frame (the constant is
	// set once every function is written: see setMaxFrame).
	r.slackFunc = r.addFunc("wasmsr_slack", noParams, nil, i32(0), wasm.Indexed(wasm.OpCall, reserve))

	r.addBufferHelpers()

	// wasmsr_rewound: a rewind the host ran ends; the buffer is the
	// module's again.
	rewound := r.addFunc("wasmsr_rewound", noParams, nil, concat(
		r.setState(stateNormal),
		[]wasm.Instr{get(g.Owned), ifThen, get(g.OwnBuffer), set(g.Data), end})...)

	// wasmsr_pushed(frame, size, fn, call): a frame has been stored at
	// frame (see reserveFrame); trap if it went past the buffer's end
	// (which only a buffer the host placed inside memory, too small, can
	// let happen: the bytes past it are then lost with the program), write
	// its function and call index at its top, move the position past it,
	// and make room for the next one. Nothing of the caller's is live any
	// more, so this may call.
	r.pushedFunc = r.addFunc("wasmsr_pushed",
		wasm.FuncType{Params: []wasm.ValType{wasm.I32, wasm.I32, wasm.I32, wasm.I32}}, nil,
		lget(0), lget(1), op(wasm.OpI32Add), wasm.Indexed(wasm.OpLocalTee, 1),
		get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 4), op(wasm.OpI32GtU), ifThen, i32(1), set(g.Overflow), op(wasm.OpUnreachable), end,
		lget(1),
		i32(8), op(wasm.OpI32Sub), lget(2), wasm.Mem(wasm.OpI32Store, 2, 0),
		lget(1), i32(4), op(wasm.OpI32Sub), lget(3), wasm.Mem(wasm.OpI32Store, 2, 0),
		get(g.Data), lget(1), wasm.Mem(wasm.OpI32Store, 2, 0),
		wasm.Indexed(wasm.OpCall, r.slackFunc))
	// wasmsr_decide(frame, size, fn, call) -> i32: wasmsr_pushed for the
	// exits of a function with safepoints. A safepoint's exit stores its
	// frame before anything is decided (the state is still normal): start
	// unwinding (1), or decline (0), setting the state to rewinding and
	// raising the reentry flag, for the function to take its frame back at
	// once in a call of itself (see emitter.epilogue). It declines on the
	// way to a trap (the request waits, the countdown does not run), while
	// a countdown runs, and when the request was withdrawn. Other exits
	// (unwinding) go on: 1.
	decline := []wasm.Instr{i32(stateRewinding), set(g.State), i32(1), set(r.reentry), i32(0), op(wasm.OpReturn)}
	r.decideFunc = r.addFunc("wasmsr_decide",
		wasm.FuncType{Params: []wasm.ValType{wasm.I32, wasm.I32, wasm.I32, wasm.I32}, Results: []wasm.ValType{wasm.I32}}, nil, concat(
			[]wasm.Instr{lget(0), lget(1), lget(2), lget(3), wasm.Indexed(wasm.OpCall, r.pushedFunc),
				get(g.State), ifThen, i32(1), op(wasm.OpReturn), end,
				get(g.NoUnwind), ifThen}, decline, []wasm.Instr{end,
				get(g.Request), i32(0), op(wasm.OpI32LtS), ifThen,
				get(g.Request), i32(1), op(wasm.OpI32Add), set(g.Request),
				get(g.Request), ifThen}, decline, []wasm.Instr{end,
				op(wasm.OpElse),
				get(g.Request), op(wasm.OpI32Eqz), ifThen}, decline, []wasm.Instr{end,
				end,
				i32(0), set(g.Request)},
			r.setState(stateUnwinding), []wasm.Instr{i32(1)})...)
	// wasmsr_pop_frame(size) -> address: take the top frame off the buffer.
	r.popFunc = r.addFunc("wasmsr_pop_frame",
		wasm.FuncType{Params: []wasm.ValType{wasm.I32}, Results: []wasm.ValType{wasm.I32}}, oneLocal,
		get(g.Data), wasm.Mem(wasm.OpI32Load, 2, 0), lget(0), op(wasm.OpI32Sub), lset(1),
		get(g.Data), lget(1), wasm.Mem(wasm.OpI32Store, 2, 0),
		lget(1))
	start := func(state int32) []wasm.Instr {
		code := concat(r.setState(state), []wasm.Instr{lget(0), set(g.Data)}, r.checkBuffer())
		if state == stateUnwinding {
			code = append(code, wasm.Indexed(wasm.OpCall, r.slackFunc))
		}
		return code
	}
	r.abi = []abiFunc{
		{abi.ExportStartUnwind, r.addFunc(abi.ExportStartUnwind, i32Param, nil, start(stateUnwinding)...)},
		{abi.ExportStopUnwind, r.addFunc(abi.ExportStopUnwind, noParams, nil, concat(r.setState(stateNormal), r.checkBuffer(),
			// The frames fitted: a shortage wasmsr_reserve reported is over.
			[]wasm.Instr{get(g.Overflow), i32(1), op(wasm.OpI32Eq), ifThen, i32(0), set(g.Overflow), end})...)},
		{abi.ExportStartRewind, r.addFunc(abi.ExportStartRewind, i32Param, nil, start(stateRewinding)...)},
		{abi.ExportStopRewind, r.addFunc(abi.ExportStopRewind, noParams, nil, concat(r.checkBuffer(), []wasm.Instr{wasm.Indexed(wasm.OpCall, rewound)})...)},
		{abi.ExportGetState, r.addFunc(abi.ExportGetState, i32Result, nil, get(g.State))},
		{abi.ExportPrepare, r.prepareFunc},
		{abi.ExportUnwind, r.addFunc(abi.ExportUnwind, i32Result, nil, concat(
			[]wasm.Instr{get(g.NoUnwind), ifThen, i32(abi.UnwindNotNow), op(wasm.OpReturn), end,
				wasm.Indexed(wasm.OpCall, r.prepareFunc), op(wasm.OpI32Eqz), ifThen, i32(0), op(wasm.OpReturn), end},
			r.setState(stateUnwinding), r.checkBuffer(), []wasm.Instr{wasm.Indexed(wasm.OpCall, r.slackFunc), i32(1)})...)},
	}
}

const pageSize = 65536

// reserveFrame returns the code that takes the buffer's position as the
// address of a frame, in local ptr. It checks nothing and calls nothing:
// the locals to save are still live (see exits.go). The buffer keeps room
// for the largest frame (wasmsr_slack) while it can; wasmsr_pushed traps
// when a frame went past the buffer's end.
func (r *rewriter) reserveFrame(ptr uint32) []wasm.Instr {
	return []wasm.Instr{
		wasm.Indexed(wasm.OpGlobalGet, r.g.Data), wasm.Mem(wasm.OpI32Load, 2, 0), wasm.Indexed(wasm.OpLocalSet, ptr),
	}
}

// setMaxFrame sets the room wasmsr_slack keeps free, and the buffer
// wasmsr_prepare makes, to the largest frame.
func (r *rewriter) setMaxFrame(size uint32) {
	imported := r.m.NumImported(wasm.KindFunc)
	r.m.Code[int(r.slackFunc)-imported].Body[0] = wasm.I32Const(int32(size))
	pages := max(1, (uint64(size)+8+pageSize-1)/pageSize) // the data struct, then one frame
	r.m.Code[int(r.prepareFunc)-imported].Body[preparePages] = wasm.I32Const(int32(pages))
}

type abiFunc struct {
	name string
	fn   uint32
}

// addExports exports the ABI, the control globals and what the host needs
// to reach all state (see hostaccess.go), and returns the names added.
func (r *rewriter) addExports(info *abi.Info) ([]string, error) {
	m := r.m
	taken := map[string]bool{}
	for _, e := range m.Exports {
		taken[e.Name] = true
	}
	var added []string
	export := func(name string, kind wasm.ExternKind, index uint32) error {
		if taken[name] {
			return fmt.Errorf("the module already exports %q", name)
		}
		taken[name] = true
		m.Exports = append(m.Exports, wasm.Export{Name: name, Kind: kind, Index: index})
		added = append(added, name)
		return nil
	}
	for _, f := range r.abi {
		if err := export(f.name, wasm.KindFunc, f.fn); err != nil {
			return nil, err
		}
	}
	if err := export(abi.ExportRequest, wasm.KindGlobal, r.g.Request); err != nil {
		return nil, err
	}
	for _, g := range []struct {
		name  string
		index uint32
	}{{abi.ExportData, r.g.Data}, {abi.ExportOwned, r.g.Owned}, {abi.ExportOverflow, r.g.Overflow}} {
		if err := export(g.name, wasm.KindGlobal, g.index); err != nil {
			return nil, err
		}
	}
	if err := r.hostAccess(export, info); err != nil {
		return nil, err
	}
	return added, nil
}
