package instrument

import (
	"fmt"

	"github.com/wasmsr/wasmsr/wasm"
)

// Functions are rewritten in parallel, but what their code shares (the
// types of block signatures, the helper functions it calls) is added to
// the module one function at a time, in the functions' order, as a
// rewrite on one core adds it: the output does not depend on the number
// of workers. A function's rewrite runs on a worker's rewriter, which
// adds nothing to the module: it asks its wants for what it needs and
// writes the placeholder index they hand out. Committing the function
// then resolves its wants, in the order it asked for them, on the main
// rewriter, and puts the real indices in its code.

// placeholderBase is the first placeholder index: no real index of a
// function or type reaches it (a module cannot hold 2³¹ of either).
const placeholderBase = 1 << 31

type wantKind uint8

const (
	wantType           wantKind = iota // a type index (typeIndex)
	wantReload                         // a frame reload helper (reloadHelper)
	wantRefPush                        // a reference spill's push (refSpillFor)
	wantRefPop                         // and its pop
	wantTailDispatcher                 // a tail-call dispatcher (tailDispatcher)
)

// want is one thing a function's code needs from the module.
type want struct {
	kind wantKind
	ft   wasm.FuncType // wantType; the results for wantTailDispatcher
	t    wasm.ValType  // wantReload, wantRefPush, wantRefPop
	n    int           // wantReload
}

type wantKey struct {
	kind wantKind
	sig  string
	t    wasm.ValType
	n    int
}

// wants are what one function's rewrite asked for, in order.
type wants struct {
	list  []want
	index map[wantKey]uint32
}

// ask returns the placeholder standing for w.
func (ws *wants) ask(w want) uint32 {
	key := wantKey{kind: w.kind, t: w.t, n: w.n}
	if w.kind == wantType || w.kind == wantTailDispatcher {
		key.sig = w.ft.String()
	}
	if x, ok := ws.index[key]; ok {
		return x
	}
	x := uint32(placeholderBase + len(ws.list))
	ws.list = append(ws.list, w)
	ws.index[key] = x
	return x
}

// worker returns a rewriter for rewriting functions beside the others:
// it reads a copy of the module as it is now, and asks for what it would
// add (see wants). It shares nothing that changes with r.
func (r *rewriter) worker() *rewriter {
	frozen := *r.m
	w := *r
	w.m = &frozen
	w.tracker = wasm.NewTypeTracker(&frozen)
	w.wants = &wants{index: map[wantKey]uint32{}}
	// The types it finds here have their final index; typeIndex takes
	// the first that is not in a recursion group.
	w.knownTypes = map[string]uint32{}
	inGroup := map[int]bool{}
	for _, g := range frozen.RecGroups {
		for i := g.First; i < g.First+g.Count; i++ {
			inGroup[int(i)] = true
		}
	}
	for i, t := range frozen.Types {
		if _, ok := w.knownTypes[t.String()]; !ok && !inGroup[i] {
			w.knownTypes[t.String()] = uint32(i)
		}
	}
	return &w
}

// resolve adds what a committed function's code asked for to the module,
// in the order it asked, and returns the real indices, by placeholder.
func (r *rewriter) resolve(ws *wants) []uint32 {
	real := make([]uint32, len(ws.list))
	for k, w := range ws.list {
		switch w.kind {
		case wantType:
			real[k] = r.typeIndex(w.ft)
		case wantReload:
			real[k] = r.reloadHelper(w.t, w.n)
		case wantRefPush:
			real[k] = r.refSpillFor(w.t).push
		case wantRefPop:
			real[k] = r.refSpillFor(w.t).pop
		case wantTailDispatcher:
			real[k] = r.tailDispatcher(w.ft.Results)
		}
	}
	return real
}

// patch puts the real indices in place of the placeholders in code: the
// callees of calls and the signatures of blocks.
func patch(code []wasm.Instr, real []uint32) error {
	if len(real) == 0 {
		return nil
	}
	resolve := func(x uint32) (uint32, error) {
		if x < placeholderBase {
			return x, nil
		}
		if int(x-placeholderBase) >= len(real) {
			return 0, fmt.Errorf("internal error: placeholder %d of %d", x-placeholderBase, len(real))
		}
		return real[x-placeholderBase], nil
	}
	for i := range code {
		in := &code[i]
		var err error
		switch in.Op {
		case wasm.OpCall, wasm.OpReturnCall:
			in.X, err = resolve(in.X)
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
			if t, ok := in.BlockType().TypeIndex(); ok && t >= placeholderBase {
				if t, err = resolve(t); err == nil {
					in.Imm = uint64(wasm.BlockTypeIndex(t))
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
