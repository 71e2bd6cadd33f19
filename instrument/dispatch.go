package instrument

import "github.com/wasmsr/wasmsr/wasm"

// Go compiles every function into one loop whose iterations start with a
// br_table on a local (the resume point, PC_B), and every jump inside the
// function sets that local to a constant and branches back to the loop:
//
//	loop $dispatch
//	  block ... block
//	    local.get $pc
//	    br_table ...
//	  end ... (the cases)
//	  i32.const 12  local.set $pc  br $dispatch
//
// A prologue at the top of such a loop would test the state at every jump
// of the function. Instead the rewind takes the loop's own br_table: it is
// given one more label, for index n, that leads to the prologue's
// dispatch, placed after the br_table where nothing else goes; the index
// is set to n where the loop is entered while rewinding. An index n that
// the program itself uses (any index n or more went to the default) finds
// the state normal there and goes on to the default:
//
//	i32.const n  local.get $pc  global.get $state  select  local.set $pc
//	loop $dispatch
//	  block ... block
//	    block $rewind
//	      local.get $pc
//	      br_table ... $rewind <default>
//	    end
//	    global.get $state  i32.eqz  br_if <default>
//	    (reload, then branch to the landing of the saved call index)
//	  end ...
//
// The rewind's dispatch reads the index back from the frame when a landing
// needs it: Go also uses that local as a temporary, for the table index of
// its indirect calls.

// dispatchLoop is a loop that dispatches on a local with a br_table at the
// top of each iteration.
type dispatchLoop struct {
	pc    uint32 // the local the br_table reads
	table int    // index of the br_table in the prepared body
	n     uint32 // its number of labels, the default aside
	// backward are the branches back to the loop that go to a case at or
	// before their own: with a safepoint, only they check for a pause.
	backward map[int]bool
}

// dispatchShaped finds the loops of body that start with block openers and
// `local.get $pc; br_table`, without parameters, such that every branch
// back to them is `i32.const c; local.set $pc; br`, which tells the case
// it goes to.
func dispatchShaped(body []wasm.Instr) map[int]*dispatchLoop {
	var found map[int]*dispatchLoop
	for i := range body {
		if body[i].Op != wasm.OpLoop || body[i].BlockType() != wasm.BlockEmpty {
			continue
		}
		j := i + 1
		for j < len(body) && body[j].Op == wasm.OpBlock && body[j].BlockType() == wasm.BlockEmpty {
			j++
		}
		if j+1 >= len(body) || body[j].Op != wasm.OpLocalGet || body[j+1].Op != wasm.OpBrTable {
			continue
		}
		if found == nil {
			found = map[int]*dispatchLoop{}
		}
		found[i] = &dispatchLoop{pc: body[j].X, table: j + 1, n: uint32(len(body[j+1].Ext.Labels)), backward: map[int]bool{}}
	}
	if found == nil {
		return nil
	}
	end := matchStructure(body).end
	var open []int
	for i := range body {
		in := &body[i]
		switch in.Op {
		case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpTry, wasm.OpTryTable:
			open = append(open, i)
			continue
		case wasm.OpEnd, wasm.OpDelegate:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
			if in.Op == wasm.OpEnd {
				continue
			}
		}
		for ref := range labels(in) {
			depth := *ref
			if int(depth) >= len(open) {
				continue
			}
			loop := open[len(open)-1-int(depth)]
			d := found[loop]
			if d == nil {
				continue
			}
			if in.Op != wasm.OpBr || i < 2 || body[i-1].Op != wasm.OpLocalSet || body[i-1].X != d.pc ||
				body[i-2].Op != wasm.OpI32Const {
				delete(found, loop)
				continue
			}
			// Where the case the branch goes to starts: after the end of
			// the block the br_table's label for c names, or the loop's
			// start for a label naming the loop itself.
			table := &body[d.table]
			c := uint32(int32(body[i-2].Imm))
			label := table.X
			if c < d.n {
				label = table.Ext.Labels[c]
			}
			blocks := d.table - 1 - (loop + 1)
			caseStart := loop + 1
			if int(label) < blocks {
				caseStart = end[d.table-2-int(label)] + 1
			} else if int(label) > blocks {
				continue // leaves the loop: never taken from here
			}
			if caseStart <= i {
				d.backward[i] = true
			}
		}
	}
	return found
}

// dispatchLoops returns the dispatch-shaped loops of p whose prologue the
// br_table can be: the chain of levels (see level.link) from the loop's
// has its prologue right before the block openers and the br_table, and
// no item that a rewind falls into. A loop with a safepoint was linked to
// its first item in the hope of this (buildPlan); when it fails, it is
// unlinked to have its prologue at the top as usual.
func (p *plan) dispatchLoops() map[int]*dispatchLoop {
	var found map[int]*dispatchLoop
	for opener, d := range p.shaped {
		l := p.levels[opener]
		if l == nil {
			continue
		}
		in := l
		for in.link {
			in = p.levels[in.items[0].start]
		}
		j := in.opener + 1
		for j < d.table-1 && p.body[j].Op == wasm.OpBlock {
			j++
		}
		if len(in.items) == 0 || in.items[0].atStart || j != d.table-1 || d.table >= in.items[0].landing ||
			in != l && in.sp >= 0 {
			l.link = l.link && l.sp < 0
			continue
		}
		if found == nil {
			found = map[int]*dispatchLoop{}
		}
		found[opener] = d
	}
	return found
}

// enterDispatchLoop sets $pc to n where a dispatch loop (whose level is l)
// is entered while rewinding. A rewind into the loop thus ignores the
// value $pc has at the resume points on its way there, which therefore
// need not save it, unless a rewind into a site outside the loop passes
// them, or reads $pc there (pushing it again before a structure): else
// every call's exit would store it, and wazero would keep it around the
// whole loop. A loop with a safepoint saves $pc at the safepoint anyway;
// there the calls' exits keep storing it too, so that they can share the
// safepoint's exit (80 KB less code on gofmt, for no measurable time).
func (e *emitter) enterDispatchLoop(d *dispatchLoop, l *level) {
	for k := range e.resume {
		p := &e.resume[k]
		if l.sp < 0 && p.lo >= l.lo && p.hi <= l.hi && !readsLocal(e.out[p.pos:], d.pc) {
			p.skip = int(d.pc)
		}
	}
	e.i32(int32(d.n))
	e.get(d.pc)
	e.gget(e.r.g.State)
	e.op(wasm.OpSelect)
	e.set(d.pc)
}

// dispatchThroughTable writes the dispatch loop's br_table (at instruction
// i of the body, after its local.get) with the rewind's label, and after
// it the prologue's dispatch for the chain of levels whose prologue it is.
func (e *emitter) dispatchThroughTable(i int, pending *pendingFold) {
	e.block(wasm.BlockEmpty)   // $rewind
	e.keep(e.p.body[i-1], i-1) // local.get $pc
	table := e.p.body[i]
	relabel(&table, e.remap)
	table.Ext.Labels = append(table.Ext.Labels, 0)
	e.keep(table, i)
	e.end()
	e.gget(e.r.g.State)
	e.op(wasm.OpI32Eqz)
	e.emit(wasm.Indexed(wasm.OpBrIf, e.remap(e.p.body[i].X))) // the program's own index n
	if sp := pending.chain[0].l.sp; sp >= 0 {
		// Resuming at the loop's safepoint: go round again from the saved $pc.
		e.get(e.ci)
		e.i32(int32(sp))
		e.op(wasm.OpI32Eq)
		e.ifEmpty()
		e.reloads = append(e.reloads, reloadPoint{at: len(e.out), header: pending.header, lo: sp, hi: sp, clobbered: int(pending.loop.pc)})
		e.endRewind()
		e.rewindBranch(wasm.Indexed(wasm.OpBr, e.depth(pending.chain[0].frame)))
		e.end()
	}
	e.dispatch(pending.chain, fallThrough, pending.header, pending.reload, int(pending.loop.pc))
}

// backEdgeSafepoint checks for a pause before a branch back to a dispatch
// loop with safepoint sp: a rewind comes back to the loop's top, with the
// index the branch set.
func (e *emitter) backEdgeSafepoint(sp int) {
	e.gget(e.r.g.Request)
	e.ifEmpty()
	e.pauseBranch(sp)
	e.end()
}

// pendingFold is a dispatch loop's prologue, written at its br_table.
type pendingFold struct {
	loop   *dispatchLoop
	chain  []*levelState
	header int
	reload bool
}

// readsLocal reports whether code reads local x.
func readsLocal(code []wasm.Instr, x uint32) bool {
	for i := range code {
		if code[i].Op == wasm.OpLocalGet && code[i].X == x {
			return true
		}
	}
	return false
}
