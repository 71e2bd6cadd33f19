package instrument

import (
	"slices"

	"github.com/wasmsr/wasmsr/wasm"
)

// Tail calls.
//
// A function A that tail-calls a function that may unwind is gone from the
// stack when that callee unwinds: the frames saved are the callee's and
// those of A's caller C. A rewind then enters A from C's call site with
// the callee's frame on top of the buffer. A recognises that the top frame
// is not its own and tail-calls, through a dispatcher, the function that
// owns it, with placeholder arguments: that function restores its locals,
// parameters included, from its frame. Intermediate functions of a chain
// of tail calls need no frame either, since tail calls dropped theirs.
//
// Only a tail call to an import that may unwind must become a call and a
// return: the import saves nothing, so there would be nothing left to
// rewind into. Imports do not recurse, so the extra frame is harmless.

// mustUntail reports whether a tail call must become a call and a return.
func (r *rewriter) mustUntail(in *wasm.Instr) bool {
	switch in.Op {
	case wasm.OpReturnCall:
		return int(in.X) < r.a.numImports && r.a.mayUnwind[in.X]
	case wasm.OpReturnCallIndirect, wasm.OpReturnCallRef:
		return !r.a.opts.IgnoreIndirect && r.a.importTaken
	}
	return false
}

// tailCallsMayUnwind reports whether a prepared body keeps a tail call to a
// callee that may unwind.
func (r *rewriter) tailCallsMayUnwind(body []wasm.Instr) bool {
	for i := range body {
		switch body[i].Op {
		case wasm.OpReturnCall, wasm.OpReturnCallIndirect, wasm.OpReturnCallRef:
			if r.callMayUnwind(&body[i]) {
				return true
			}
		}
	}
	return false
}

// tailDispatcher returns the function that, during a rewind, tail-calls
// the owner of the top frame among the functions with the given results.
// Its body is written by finishTailDispatchers, once every function's
// frame is known.
func (r *rewriter) tailDispatcher(results []wasm.ValType) uint32 {
	ft := wasm.FuncType{Results: results}
	if r.wants != nil {
		return r.wants.ask(want{kind: wantTailDispatcher, ft: ft})
	}
	key := ft.String()
	if d, ok := r.dispatchers[key]; ok {
		return d.fn
	}
	fn := r.addFunc("wasmsr_tail_dispatch", ft, nil)
	r.dispatchers[key] = &dispatcher{fn: fn, results: results}
	return fn
}

type dispatcher struct {
	fn      uint32
	results []wasm.ValType
}

// topFrameFunc is code pushing the function index of the top frame.
func (r *rewriter) topFrameFunc() []wasm.Instr {
	return []wasm.Instr{
		wasm.Indexed(wasm.OpGlobalGet, r.g.Data), wasm.Mem(wasm.OpI32Load, 2, 0),
		wasm.I32Const(8), wasm.Plain(wasm.OpI32Sub), wasm.Mem(wasm.OpI32Load, 2, 0),
	}
}

// finishTailDispatchers writes the dispatchers' bodies: a br_table over
// the function index of the top frame, each arm tail-calling one function
// with placeholder arguments. framed lists the functions that save frames.
func (r *rewriter) finishTailDispatchers(framed []uint32) error {
	for _, d := range r.dispatchers {
		var targets []uint32
		for _, f := range framed {
			ti, _ := r.m.FuncTypeIndex(f)
			ft := &r.m.Types[ti]
			if !slices.Equal(ft.Results, d.results) || !zeroable(ft.Params) {
				continue
			}
			targets = append(targets, f)
		}
		body := []wasm.Instr{wasm.Block(wasm.OpBlock, wasm.BlockEmpty)}
		if len(targets) > 0 {
			lo, hi := targets[0], targets[len(targets)-1]
			for range targets {
				body = append(body, wasm.Block(wasm.OpBlock, wasm.BlockEmpty))
			}
			// Labels: 0..len-1 the arms, innermost first; len the trap.
			labels := make([]uint32, hi-lo+1)
			for k := range labels {
				labels[k] = uint32(len(targets))
			}
			for k, f := range targets {
				labels[f-lo] = uint32(k)
			}
			body = append(body, r.topFrameFunc()...)
			body = append(body, wasm.I32Const(int32(lo)), wasm.Plain(wasm.OpI32Sub),
				wasm.Instr{Op: wasm.OpBrTable, X: uint32(len(targets)), Ext: &wasm.Extra{Labels: labels}})
			for _, f := range targets {
				body = append(body, wasm.Plain(wasm.OpEnd))
				ti, _ := r.m.FuncTypeIndex(f)
				for _, t := range r.m.Types[ti].Params {
					z, _ := zeroValue(t)
					body = append(body, z)
				}
				body = append(body, wasm.Indexed(wasm.OpReturnCall, f))
			}
		}
		body = append(body, wasm.Plain(wasm.OpEnd), wasm.Plain(wasm.OpUnreachable), wasm.Plain(wasm.OpEnd))
		r.m.Code[int(d.fn)-r.a.numImports].Body = body
	}
	return nil
}

// zeroable reports whether every type has a placeholder value.
func zeroable(types []wasm.ValType) bool {
	for _, t := range types {
		if _, err := zeroValue(t); err != nil {
			return false
		}
	}
	return true
}
