package wasm

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Instr is one instruction with its immediates. Which fields hold which
// immediate depends on the opcode's kind of immediate:
//
//   - X: the first index (label, function, local, global, table, tag, type,
//     segment or memory), a memarg's alignment exponent, or br_table's default;
//   - Y: a second index (call_indirect's table, memory.init's memory, the
//     source of memory.copy and table.copy, a memarg's memory);
//   - Imm: a constant's bits (i32 zero-extended), a memarg's offset, a BlockType
//     or a HeapType; v128.const and i8x16.shuffle keep their 16 bytes in Imm
//     (low half) and X, Y (high half), see V128;
//   - Lane: the lane index of lane instructions;
//   - Ext: the rare variable-length immediates.
//
// Keeping every instruction in one flat 32-byte struct makes a decoded body
// a single allocation with no pointers for most instructions.
type Instr struct {
	Op   Opcode
	X, Y uint32
	Lane byte
	Imm  uint64
	Ext  *Extra
}

// Extra holds variable-length immediates.
type Extra struct {
	// Labels are br_table's targets (the default is in Instr.X).
	Labels []uint32
	// Types are the types of a typed select.
	Types []ValType
	// Catches are try_table's catch clauses.
	Catches []Catch
}

// CatchKind is the kind of a try_table catch clause.
type CatchKind byte

// Catch clause kinds.
const (
	CatchTag    CatchKind = 0
	CatchTagRef CatchKind = 1
	CatchAll    CatchKind = 2
	CatchAllRef CatchKind = 3
)

var catchKindNames = [...]string{"catch", "catch_ref", "catch_all", "catch_all_ref"}

func (k CatchKind) String() string {
	if int(k) < len(catchKindNames) {
		return catchKindNames[k]
	}
	return fmt.Sprintf("catch_kind(%d)", k)
}

// Catch is one try_table catch clause: a branch to Label when the exception
// matches Tag (or any exception for the catch_all kinds).
type Catch struct {
	Kind  CatchKind
	Tag   uint32
	Label uint32
}

// BlockType returns the block type of block, loop, if, try and try_table.
func (in *Instr) BlockType() BlockType { return BlockType(in.Imm) }

// I32 returns the value of i32.const.
func (in *Instr) I32() int32 { return int32(uint32(in.Imm)) }

// I64 returns the value of i64.const.
func (in *Instr) I64() int64 { return int64(in.Imm) }

// F32 returns the value of f32.const.
func (in *Instr) F32() float32 { return math.Float32frombits(uint32(in.Imm)) }

// F64 returns the value of f64.const.
func (in *Instr) F64() float64 { return math.Float64frombits(in.Imm) }

// V128 returns the 16 immediate bytes of v128.const or i8x16.shuffle.
func (in *Instr) V128() (b [16]byte) {
	binary.LittleEndian.PutUint64(b[:8], in.Imm)
	binary.LittleEndian.PutUint32(b[8:12], in.X)
	binary.LittleEndian.PutUint32(b[12:], in.Y)
	return b
}

// Constructors for the instructions wasmsr generates.

// Plain returns an instruction without immediates.
func Plain(op Opcode) Instr { return Instr{Op: op} }

// Indexed returns an instruction whose one immediate is an index or label.
func Indexed(op Opcode, x uint32) Instr { return Instr{Op: op, X: x} }

// Block returns a block, loop, if or try with block type bt.
func Block(op Opcode, bt BlockType) Instr { return Instr{Op: op, Imm: uint64(bt)} }

// I32Const returns i32.const v.
func I32Const(v int32) Instr { return Instr{Op: OpI32Const, Imm: uint64(uint32(v))} }

// I64Const returns i64.const v.
func I64Const(v int64) Instr { return Instr{Op: OpI64Const, Imm: uint64(v)} }

// F32Const returns f32.const with the given bits.
func F32Const(bits uint32) Instr { return Instr{Op: OpF32Const, Imm: uint64(bits)} }

// F64Const returns f64.const with the given bits.
func F64Const(bits uint64) Instr { return Instr{Op: OpF64Const, Imm: bits} }

// V128Const returns v128.const with the given bytes.
func V128Const(b [16]byte) Instr {
	in := Instr{Op: OpV128Const}
	in.setV128(b)
	return in
}

func (in *Instr) setV128(b [16]byte) {
	in.Imm = binary.LittleEndian.Uint64(b[:8])
	in.X = binary.LittleEndian.Uint32(b[8:12])
	in.Y = binary.LittleEndian.Uint32(b[12:])
}

// Mem returns a load or store with the given alignment exponent and offset on memory 0.
func Mem(op Opcode, align uint32, offset uint64) Instr {
	return Instr{Op: op, X: align, Imm: offset}
}

// RefNull returns ref.null of heap type ht.
func RefNull(ht HeapType) Instr { return Instr{Op: OpRefNull, Imm: uint64(ht)} }

// String renders the instruction roughly as the text format does, for
// diagnostics and tests.
func (in *Instr) String() string {
	info := in.Op.info()
	if info == nil {
		return in.Op.String()
	}
	var b strings.Builder
	b.WriteString(info.name)
	switch info.imm {
	case immBlockType:
		if bt := in.BlockType(); bt != BlockEmpty {
			fmt.Fprintf(&b, " %s", bt)
		}
	case immLabel, immFunc, immType, immLocal, immGlobal, immTable, immTag, immData, immElem:
		fmt.Fprintf(&b, " %d", in.X)
	case immMemory:
		if in.X != 0 {
			fmt.Fprintf(&b, " %d", in.X)
		}
	case immBrTable:
		for _, l := range in.Ext.Labels {
			fmt.Fprintf(&b, " %d", l)
		}
		fmt.Fprintf(&b, " %d", in.X)
	case immCallIndirect, immMemoryCopy, immMemoryInit, immTableInit, immTableCopy:
		fmt.Fprintf(&b, " %d %d", in.X, in.Y)
	case immMemArg, immMemArgLane:
		if in.Y != 0 {
			fmt.Fprintf(&b, " %d", in.Y)
		}
		if in.Imm != 0 {
			fmt.Fprintf(&b, " offset=%d", in.Imm)
		}
		fmt.Fprintf(&b, " align=%d", uint64(1)<<(in.X&63))
		if info.imm == immMemArgLane {
			fmt.Fprintf(&b, " %d", in.Lane)
		}
	case immI32:
		fmt.Fprintf(&b, " %d", in.I32())
	case immI64:
		fmt.Fprintf(&b, " %d", in.I64())
	case immF32:
		fmt.Fprintf(&b, " %v", in.F32())
	case immF64:
		fmt.Fprintf(&b, " %v", in.F64())
	case immV128, immShuffle:
		v := in.V128()
		fmt.Fprintf(&b, " %x", v[:])
	case immLane:
		fmt.Fprintf(&b, " %d", in.Lane)
	case immSelectT:
		b.WriteString(" (result " + typeList(in.Ext.Types) + ")")
	case immHeapType:
		fmt.Fprintf(&b, " %s", HeapType(in.Imm))
	case immTryTable:
		if bt := in.BlockType(); bt != BlockEmpty {
			fmt.Fprintf(&b, " %s", bt)
		}
		for _, c := range in.Ext.Catches {
			if c.Kind == CatchTag || c.Kind == CatchTagRef {
				fmt.Fprintf(&b, " (%s %d %d)", c.Kind, c.Tag, c.Label)
			} else {
				fmt.Fprintf(&b, " (%s %d)", c.Kind, c.Label)
			}
		}
	}
	return b.String()
}
