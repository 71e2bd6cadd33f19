package wasm

import (
	"fmt"
	"strings"
)

// ValType is a value type. The low byte is its binary code; for the
// reference types written with an explicit heap type, (ref null ht) and
// (ref ht), the heap type is kept in the high 32 bits so that a ValType stays
// a comparable scalar.
type ValType uint64

// Value types with a one-byte encoding. ValUnknown is not a real type: the
// type tracker uses it for values taken from a polymorphic stack in
// unreachable code.
const (
	ValUnknown ValType = 0
	I32        ValType = 0x7F
	I64        ValType = 0x7E
	F32        ValType = 0x7D
	F64        ValType = 0x7C
	V128       ValType = 0x7B
	FuncRef    ValType = 0x70
	ExternRef  ValType = 0x6F
	ExnRef     ValType = 0x69
)

// Codes of the reference types that carry a heap type (typed function references).
const (
	codeRefNull = 0x63
	codeRef     = 0x64
)

// HeapType is a heap type as the binary format's s33: a type index when
// non-negative, an abstract heap type when negative.
type HeapType int64

// Abstract heap types, as s33 values of their one-byte codes.
const (
	HeapFunc   HeapType = 0x70 - 0x80
	HeapExtern HeapType = 0x6F - 0x80
	HeapExn    HeapType = 0x69 - 0x80
)

// RefType returns the reference type to heap type ht, nullable or not.
func RefType(nullable bool, ht HeapType) ValType {
	code := ValType(codeRef)
	if nullable {
		code = codeRefNull
	}
	return code | ValType(uint32(int32(ht)))<<32
}

// Code returns the type's one-byte binary code.
func (t ValType) Code() byte { return byte(t) }

// IsRef reports whether t is a reference type.
func (t ValType) IsRef() bool {
	switch t.Code() {
	case byte(FuncRef), byte(ExternRef), byte(ExnRef), codeRefNull, codeRef:
		return true
	}
	return false
}

// IsNum reports whether t is a number type (i32, i64, f32, f64).
func (t ValType) IsNum() bool { return t == I32 || t == I64 || t == F32 || t == F64 }

// Nullable reports whether a reference type admits null.
func (t ValType) Nullable() bool { return t.IsRef() && t.Code() != codeRef }

// Heap returns the heap type of a reference type.
func (t ValType) Heap() HeapType {
	switch t.Code() {
	case codeRefNull, codeRef:
		return HeapType(int32(uint32(t >> 32)))
	case byte(FuncRef):
		return HeapFunc
	case byte(ExternRef):
		return HeapExtern
	case byte(ExnRef):
		return HeapExn
	}
	return 0
}

// canonical folds the long forms (ref null func), (ref null extern) and
// (ref null exn) into their shorthands, so equal types compare equal.
func (t ValType) canonical() ValType {
	if t.Code() == codeRefNull {
		switch t.Heap() {
		case HeapFunc:
			return FuncRef
		case HeapExtern:
			return ExternRef
		case HeapExn:
			return ExnRef
		}
	}
	return t
}

// Size returns the number of bytes a value of type t takes in linear memory
// when spilled (references count as 4: they are spilled as table slots).
func (t ValType) Size() int {
	switch t {
	case I64, F64:
		return 8
	case V128:
		return 16
	}
	return 4
}

func (t ValType) String() string {
	switch t {
	case ValUnknown:
		return "unknown"
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	case V128:
		return "v128"
	case FuncRef:
		return "funcref"
	case ExternRef:
		return "externref"
	case ExnRef:
		return "exnref"
	}
	switch t.Code() {
	case codeRefNull:
		return "(ref null " + t.Heap().String() + ")"
	case codeRef:
		return "(ref " + t.Heap().String() + ")"
	}
	return fmt.Sprintf("valtype(0x%x)", uint64(t))
}

func (h HeapType) String() string {
	switch h {
	case HeapFunc:
		return "func"
	case HeapExtern:
		return "extern"
	case HeapExn:
		return "exn"
	}
	if h >= 0 {
		return fmt.Sprint(int64(h))
	}
	return fmt.Sprintf("heap(0x%x)", byte(h+0x80))
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValType
}

func (f FuncType) String() string {
	return "(" + typeList(f.Params) + ") -> (" + typeList(f.Results) + ")"
}

func typeList(ts []ValType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// Equal reports whether two signatures are identical.
func (f FuncType) Equal(g FuncType) bool {
	return sameTypes(f.Params, g.Params) && sameTypes(f.Results, g.Results)
}

func sameTypes(a, b []ValType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].canonical() != b[i].canonical() {
			return false
		}
	}
	return true
}

// BlockType is the signature of a block, loop, if, try or try_table: empty,
// a single result type, or a type index (for parameters or several results).
type BlockType uint64

// BlockEmpty is the block type with neither parameters nor results.
const BlockEmpty BlockType = 0x40

// blockTypeIndexTag marks a BlockType holding a type index in its high 32
// bits; the low byte of a value-type block type is never 0.
const blockTypeIndexTag = 0x100

// BlockResult returns the block type with no parameters and one result t.
func BlockResult(t ValType) BlockType { return BlockType(t) }

// BlockTypeIndex returns the block type whose signature is type typeIndex.
func BlockTypeIndex(typeIndex uint32) BlockType {
	return blockTypeIndexTag | BlockType(typeIndex)<<32
}

// TypeIndex returns the type index of a block type that has one.
func (b BlockType) TypeIndex() (uint32, bool) {
	if b&0xFFFFFFFF == blockTypeIndexTag {
		return uint32(b >> 32), true
	}
	return 0, false
}

// Result returns the single result type of a block type that has one.
func (b BlockType) Result() (ValType, bool) {
	if b == BlockEmpty {
		return 0, false
	}
	if _, ok := b.TypeIndex(); ok {
		return 0, false
	}
	return ValType(b), true
}

func (b BlockType) String() string {
	if b == BlockEmpty {
		return "[]"
	}
	if i, ok := b.TypeIndex(); ok {
		return fmt.Sprintf("(type %d)", i)
	}
	return ValType(b).String()
}

// Limits bound the size of a memory (in 64 KiB pages) or a table (in elements).
type Limits struct {
	Min    uint32
	Max    uint32
	HasMax bool
	// Shared marks a shared memory (threads).
	Shared bool
}

// TableType describes a table.
type TableType struct {
	Elem   ValType
	Limits Limits
	// Init, when non-nil, is the constant expression that initialises every
	// element (typed function references, encoded with the 0x40 0x00 prefix).
	Init []Instr
}

// GlobalType describes a global.
type GlobalType struct {
	Type    ValType
	Mutable bool
}

// Tag is an exception tag: its type index names the parameters thrown.
type Tag struct {
	TypeIndex uint32
}
