package wasm

import (
	"reflect"
	"slices"
	"testing"
)

// sampleInstr gives op immediates that exercise every field its kind uses,
// with values that need multi-byte encodings.
func sampleInstr(op Opcode) Instr {
	in := Instr{Op: op}
	switch op.info().imm {
	case immBlockType, immTryTable:
		in.Imm = uint64(BlockTypeIndex(300))
	case immLabel, immFunc, immType, immLocal, immGlobal, immTable, immTag, immData, immElem, immMemory:
		in.X = 1000
	case immBrTable:
		in.X = 7
		in.Ext = &Extra{Labels: []uint32{0, 1, 200}}
	case immCallIndirect, immMemoryCopy, immMemoryInit, immTableInit, immTableCopy:
		in.X, in.Y = 130, 2
	case immMemArg:
		in.X, in.Imm = 3, 1<<20
	case immMemArgLane:
		in.X, in.Y, in.Imm, in.Lane = 2, 1, 16, 3
	case immI32:
		in.Imm = uint64(uint32(0x80000000))
	case immI64:
		in.Imm = 1 << 63
	case immF32:
		in.Imm = 0x7FC00001
	case immF64:
		in.Imm = 0xFFF0000000000001
	case immV128, immShuffle:
		in.setV128([16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	case immLane:
		in.Lane = 15
	case immSelectT:
		in.Ext = &Extra{Types: []ValType{RefType(true, 5)}}
	case immHeapType:
		ht := HeapExtern
		in.Imm = uint64(ht)
	}
	if op == OpTryTable {
		in.Ext = &Extra{Catches: []Catch{{Kind: CatchTag, Tag: 1, Label: 2}, {Kind: CatchAllRef, Label: 0}}}
	}
	return in
}

func TestOpcodeTableRoundTrip(t *testing.T) {
	names := map[string]Opcode{}
	for _, d := range opcodeDefs {
		if other, dup := names[d.name]; dup && d.op != OpSelectT {
			t.Errorf("%#x and %#x are both named %s", other, d.op, d.name)
		}
		names[d.name] = d.op
		if got := d.op.info(); got == nil || got.name != d.name {
			t.Fatalf("lookup of %#x (%s) failed", d.op, d.name)
		}
		in := sampleInstr(d.op)
		var e encoder
		e.instr(&in)
		if e.err != nil {
			t.Fatalf("%s: %v", d.name, e.err)
		}
		if prefix := byte(d.op >> 16); prefix != 0 && e.buf[0] != prefix || prefix == 0 && e.buf[0] != byte(d.op) {
			t.Errorf("%s encodes as % x", d.name, e.buf)
		}
		r := &reader{buf: e.buf, fn: -1}
		var dec Decoder
		got := r.instr(&dec)
		if r.err != nil {
			t.Fatalf("%s: decoding % x: %v", d.name, e.buf, r.err)
		}
		if r.pos != len(e.buf) || !reflect.DeepEqual(got, in) {
			t.Errorf("%s: % x decodes to %+v (%d bytes), want %+v", d.name, e.buf, got, r.pos, in)
		}
	}
	// The SIMD proposal's 236 opcodes plus relaxed SIMD's 20.
	simd := 0
	for _, d := range opcodeDefs {
		if d.op>>16 == 0xFD {
			simd++
		}
	}
	if simd != 256 {
		t.Errorf("%d SIMD opcodes, want 256", simd)
	}
}

func TestInstrString(t *testing.T) {
	tests := []struct {
		in   Instr
		want string
	}{
		{I32Const(-5), "i32.const -5"},
		{Indexed(OpCall, 12), "call 12"},
		{Block(OpBlock, BlockResult(I64)), "block i64"},
		{Block(OpLoop, BlockEmpty), "loop"},
		{Mem(OpI64Load, 3, 8), "i64.load offset=8 align=8"},
		{Instr{Op: OpBrTable, X: 2, Ext: &Extra{Labels: []uint32{0, 1}}}, "br_table 0 1 2"},
		{RefNull(HeapFunc), "ref.null func"},
		{Instr{Op: 0xFD0200}, "unknown(0xfd 0x200)"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestMemoryAccess: every memory instruction has the size of its access
// (its natural alignment) and every lane instruction its number of lanes,
// so that the tracker can check their immediates.
func TestMemoryAccess(t *testing.T) {
	for i := range opcodeDefs {
		d := &opcodeDefs[i]
		info := d.op.info()
		switch d.imm {
		case immMemArg, immMemArgLane:
			if info.access == 0 {
				t.Errorf("%s: access size unknown", d.name)
			}
		default:
			if info.access != 0 {
				t.Errorf("%s: access size %d for an instruction without memarg", d.name, info.access)
			}
		}
		if wantLanes := d.imm == immLane || d.imm == immMemArgLane; wantLanes != (info.lanes > 0) {
			t.Errorf("%s: %d lanes", d.name, info.lanes)
		}
	}
	for _, c := range []struct {
		op            Opcode
		access, lanes byte
	}{
		{OpI64Load32U, 4, 0}, {OpV128Load8x8S, 8, 0}, {OpV128Load16Lane, 2, 8}, {OpI64AtomicRmw16CmpxchgU, 2, 0},
		{OpMemoryAtomicWait64, 8, 0}, {OpV128Store, 16, 0}, {OpI16x8ExtractLaneU, 0, 8}, {OpF64x2ReplaceLane, 0, 2},
	} {
		if info := c.op.info(); info.access != c.access || info.lanes != c.lanes {
			t.Errorf("%s: access %d, lanes %d; want %d, %d", c.op, info.access, info.lanes, c.access, c.lanes)
		}
	}
}

func TestSignature(t *testing.T) {
	for _, c := range []struct {
		op              Opcode
		params, results []ValType
		ok              bool
	}{
		{op: OpI32Add, params: []ValType{I32, I32}, results: []ValType{I32}, ok: true},
		{op: OpI64ExtendI32U, params: []ValType{I32}, results: []ValType{I64}, ok: true},
		{op: OpF64Lt, params: []ValType{F64, F64}, results: []ValType{I32}, ok: true},
		{op: OpI32TruncSatF32S, params: []ValType{F32}, results: []ValType{I32}, ok: true},
		{op: OpNop, ok: true},
		{op: OpLocalGet},            // typed from its immediate
		{op: OpCall},                // typed from its callee
		{op: Opcode(0xFF)},          // unknown
		{op: Opcode(0xFC<<16 | 99)}, // unknown
	} {
		params, results, ok := c.op.Signature()
		if ok != c.ok || !slices.Equal(params, c.params) || !slices.Equal(results, c.results) {
			t.Errorf("%v: %v -> %v, %v; want %v -> %v, %v", c.op, params, results, ok, c.params, c.results, c.ok)
		}
	}
}
