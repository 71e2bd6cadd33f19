package instrument

import (
	"fmt"
	"sync"

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

func (w *want) key() wantKey {
	key := wantKey{kind: w.kind, t: w.t, n: w.n}
	if w.kind == wantType || w.kind == wantTailDispatcher {
		key.sig = w.ft.String()
	}
	return key
}

// ask returns the placeholder standing for w.
func (ws *wants) ask(w want) uint32 {
	key := w.key()
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
	inGroup := recGroupMembers(&frozen)
	for i, t := range frozen.Types {
		if _, ok := w.knownTypes[t.String()]; !ok && !inGroup[i] {
			w.knownTypes[t.String()] = uint32(i)
		}
	}
	return &w
}

// settledWants are the wants that commits have resolved so far, with
// their real indices: a worker whose function wants only those can put
// them in itself (see settle).
type settledWants struct {
	mu    sync.RWMutex
	index map[wantKey]uint32
}

// lookup returns the real indices of ws, if all of them are settled.
func (sw *settledWants) lookup(ws *wants) ([]uint32, bool) {
	real := make([]uint32, len(ws.list))
	sw.mu.RLock()
	defer sw.mu.RUnlock()
	for k := range ws.list {
		x, ok := sw.index[ws.list[k].key()]
		if !ok {
			return nil, false
		}
		real[k] = x
	}
	return real, true
}

// settle finishes a function on its worker when every want of its code is
// settled already: the real indices go in, and the code is encoded. Its
// commit then only installs it, which resolving those wants again would
// not change (they add nothing the second time).
func (r *rewriter) settle(st *funcStages) error {
	if st.emitted == nil {
		return nil
	}
	real, ok := r.settled.lookup(st.wants)
	if !ok {
		return nil
	}
	if err := patch(st.emitted.code.Body, real); err != nil {
		return fmt.Errorf("function %s: %w", r.a.describe(int(st.fn)), err)
	}
	if err := r.compactCode(st.fn, &st.emitted.code); err != nil {
		return err
	}
	st.wants = nil
	return nil
}

// resolve adds what a committed function's code asked for to the module,
// in the order it asked, and returns the real indices, by placeholder.
func (r *rewriter) resolve(ws *wants) []uint32 {
	real := make([]uint32, len(ws.list))
	r.settled.mu.Lock()
	defer r.settled.mu.Unlock()
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
		r.settled.index[w.key()] = real[k]
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
