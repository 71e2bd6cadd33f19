package wasm

import (
	"fmt"
	"strings"
)

// Opcode identifies an instruction. One-byte opcodes are their byte; prefixed
// opcodes are prefix<<16 | sub-opcode, so OpMemoryInit is 0xFC0008.
type Opcode uint32

const (
	// Plain opcodes: one byte.
	OpUnreachable        Opcode = 0x0
	OpNop                Opcode = 0x1
	OpBlock              Opcode = 0x2
	OpLoop               Opcode = 0x3
	OpIf                 Opcode = 0x4
	OpElse               Opcode = 0x5
	OpTry                Opcode = 0x6
	OpCatch              Opcode = 0x7
	OpThrow              Opcode = 0x8
	OpRethrow            Opcode = 0x9
	OpThrowRef           Opcode = 0xa
	OpEnd                Opcode = 0xb
	OpBr                 Opcode = 0xc
	OpBrIf               Opcode = 0xd
	OpBrTable            Opcode = 0xe
	OpReturn             Opcode = 0xf
	OpCall               Opcode = 0x10
	OpCallIndirect       Opcode = 0x11
	OpReturnCall         Opcode = 0x12
	OpReturnCallIndirect Opcode = 0x13
	OpCallRef            Opcode = 0x14
	OpReturnCallRef      Opcode = 0x15
	OpDelegate           Opcode = 0x18
	OpCatchAll           Opcode = 0x19
	OpDrop               Opcode = 0x1a
	OpSelect             Opcode = 0x1b
	OpSelectT            Opcode = 0x1c
	OpTryTable           Opcode = 0x1f
	OpLocalGet           Opcode = 0x20
	OpLocalSet           Opcode = 0x21
	OpLocalTee           Opcode = 0x22
	OpGlobalGet          Opcode = 0x23
	OpGlobalSet          Opcode = 0x24
	OpTableGet           Opcode = 0x25
	OpTableSet           Opcode = 0x26
	OpI32Load            Opcode = 0x28
	OpI64Load            Opcode = 0x29
	OpF32Load            Opcode = 0x2a
	OpF64Load            Opcode = 0x2b
	OpI32Load8S          Opcode = 0x2c
	OpI32Load8U          Opcode = 0x2d
	OpI32Load16S         Opcode = 0x2e
	OpI32Load16U         Opcode = 0x2f
	OpI64Load8S          Opcode = 0x30
	OpI64Load8U          Opcode = 0x31
	OpI64Load16S         Opcode = 0x32
	OpI64Load16U         Opcode = 0x33
	OpI64Load32S         Opcode = 0x34
	OpI64Load32U         Opcode = 0x35
	OpI32Store           Opcode = 0x36
	OpI64Store           Opcode = 0x37
	OpF32Store           Opcode = 0x38
	OpF64Store           Opcode = 0x39
	OpI32Store8          Opcode = 0x3a
	OpI32Store16         Opcode = 0x3b
	OpI64Store8          Opcode = 0x3c
	OpI64Store16         Opcode = 0x3d
	OpI64Store32         Opcode = 0x3e
	OpMemorySize         Opcode = 0x3f
	OpMemoryGrow         Opcode = 0x40
	OpI32Const           Opcode = 0x41
	OpI64Const           Opcode = 0x42
	OpF32Const           Opcode = 0x43
	OpF64Const           Opcode = 0x44
	OpI32Eqz             Opcode = 0x45
	OpI32Eq              Opcode = 0x46
	OpI32Ne              Opcode = 0x47
	OpI32LtS             Opcode = 0x48
	OpI32LtU             Opcode = 0x49
	OpI32GtS             Opcode = 0x4a
	OpI32GtU             Opcode = 0x4b
	OpI32LeS             Opcode = 0x4c
	OpI32LeU             Opcode = 0x4d
	OpI32GeS             Opcode = 0x4e
	OpI32GeU             Opcode = 0x4f
	OpI64Eqz             Opcode = 0x50
	OpI64Eq              Opcode = 0x51
	OpI64Ne              Opcode = 0x52
	OpI64LtS             Opcode = 0x53
	OpI64LtU             Opcode = 0x54
	OpI64GtS             Opcode = 0x55
	OpI64GtU             Opcode = 0x56
	OpI64LeS             Opcode = 0x57
	OpI64LeU             Opcode = 0x58
	OpI64GeS             Opcode = 0x59
	OpI64GeU             Opcode = 0x5a
	OpF32Eq              Opcode = 0x5b
	OpF32Ne              Opcode = 0x5c
	OpF32Lt              Opcode = 0x5d
	OpF32Gt              Opcode = 0x5e
	OpF32Le              Opcode = 0x5f
	OpF32Ge              Opcode = 0x60
	OpF64Eq              Opcode = 0x61
	OpF64Ne              Opcode = 0x62
	OpF64Lt              Opcode = 0x63
	OpF64Gt              Opcode = 0x64
	OpF64Le              Opcode = 0x65
	OpF64Ge              Opcode = 0x66
	OpI32Clz             Opcode = 0x67
	OpI32Ctz             Opcode = 0x68
	OpI32Popcnt          Opcode = 0x69
	OpI32Add             Opcode = 0x6a
	OpI32Sub             Opcode = 0x6b
	OpI32Mul             Opcode = 0x6c
	OpI32DivS            Opcode = 0x6d
	OpI32DivU            Opcode = 0x6e
	OpI32RemS            Opcode = 0x6f
	OpI32RemU            Opcode = 0x70
	OpI32And             Opcode = 0x71
	OpI32Or              Opcode = 0x72
	OpI32Xor             Opcode = 0x73
	OpI32Shl             Opcode = 0x74
	OpI32ShrS            Opcode = 0x75
	OpI32ShrU            Opcode = 0x76
	OpI32Rotl            Opcode = 0x77
	OpI32Rotr            Opcode = 0x78
	OpI64Clz             Opcode = 0x79
	OpI64Ctz             Opcode = 0x7a
	OpI64Popcnt          Opcode = 0x7b
	OpI64Add             Opcode = 0x7c
	OpI64Sub             Opcode = 0x7d
	OpI64Mul             Opcode = 0x7e
	OpI64DivS            Opcode = 0x7f
	OpI64DivU            Opcode = 0x80
	OpI64RemS            Opcode = 0x81
	OpI64RemU            Opcode = 0x82
	OpI64And             Opcode = 0x83
	OpI64Or              Opcode = 0x84
	OpI64Xor             Opcode = 0x85
	OpI64Shl             Opcode = 0x86
	OpI64ShrS            Opcode = 0x87
	OpI64ShrU            Opcode = 0x88
	OpI64Rotl            Opcode = 0x89
	OpI64Rotr            Opcode = 0x8a
	OpF32Abs             Opcode = 0x8b
	OpF32Neg             Opcode = 0x8c
	OpF32Ceil            Opcode = 0x8d
	OpF32Floor           Opcode = 0x8e
	OpF32Trunc           Opcode = 0x8f
	OpF32Nearest         Opcode = 0x90
	OpF32Sqrt            Opcode = 0x91
	OpF32Add             Opcode = 0x92
	OpF32Sub             Opcode = 0x93
	OpF32Mul             Opcode = 0x94
	OpF32Div             Opcode = 0x95
	OpF32Min             Opcode = 0x96
	OpF32Max             Opcode = 0x97
	OpF32Copysign        Opcode = 0x98
	OpF64Abs             Opcode = 0x99
	OpF64Neg             Opcode = 0x9a
	OpF64Ceil            Opcode = 0x9b
	OpF64Floor           Opcode = 0x9c
	OpF64Trunc           Opcode = 0x9d
	OpF64Nearest         Opcode = 0x9e
	OpF64Sqrt            Opcode = 0x9f
	OpF64Add             Opcode = 0xa0
	OpF64Sub             Opcode = 0xa1
	OpF64Mul             Opcode = 0xa2
	OpF64Div             Opcode = 0xa3
	OpF64Min             Opcode = 0xa4
	OpF64Max             Opcode = 0xa5
	OpF64Copysign        Opcode = 0xa6
	OpI32WrapI64         Opcode = 0xa7
	OpI32TruncF32S       Opcode = 0xa8
	OpI32TruncF32U       Opcode = 0xa9
	OpI32TruncF64S       Opcode = 0xaa
	OpI32TruncF64U       Opcode = 0xab
	OpI64ExtendI32S      Opcode = 0xac
	OpI64ExtendI32U      Opcode = 0xad
	OpI64TruncF32S       Opcode = 0xae
	OpI64TruncF32U       Opcode = 0xaf
	OpI64TruncF64S       Opcode = 0xb0
	OpI64TruncF64U       Opcode = 0xb1
	OpF32ConvertI32S     Opcode = 0xb2
	OpF32ConvertI32U     Opcode = 0xb3
	OpF32ConvertI64S     Opcode = 0xb4
	OpF32ConvertI64U     Opcode = 0xb5
	OpF32DemoteF64       Opcode = 0xb6
	OpF64ConvertI32S     Opcode = 0xb7
	OpF64ConvertI32U     Opcode = 0xb8
	OpF64ConvertI64S     Opcode = 0xb9
	OpF64ConvertI64U     Opcode = 0xba
	OpF64PromoteF32      Opcode = 0xbb
	OpI32ReinterpretF32  Opcode = 0xbc
	OpI64ReinterpretF64  Opcode = 0xbd
	OpF32ReinterpretI32  Opcode = 0xbe
	OpF64ReinterpretI64  Opcode = 0xbf
	OpI32Extend8S        Opcode = 0xc0
	OpI32Extend16S       Opcode = 0xc1
	OpI64Extend8S        Opcode = 0xc2
	OpI64Extend16S       Opcode = 0xc3
	OpI64Extend32S       Opcode = 0xc4
	OpRefNull            Opcode = 0xd0
	OpRefIsNull          Opcode = 0xd1
	OpRefFunc            Opcode = 0xd2
	OpRefEq              Opcode = 0xd3
	OpRefAsNonNull       Opcode = 0xd4
	OpBrOnNull           Opcode = 0xd5
	OpBrOnNonNull        Opcode = 0xd6
	// 0xFC prefix: saturating truncation, bulk memory and table instructions.
	OpI32TruncSatF32S Opcode = 0xfc0000
	OpI32TruncSatF32U Opcode = 0xfc0001
	OpI32TruncSatF64S Opcode = 0xfc0002
	OpI32TruncSatF64U Opcode = 0xfc0003
	OpI64TruncSatF32S Opcode = 0xfc0004
	OpI64TruncSatF32U Opcode = 0xfc0005
	OpI64TruncSatF64S Opcode = 0xfc0006
	OpI64TruncSatF64U Opcode = 0xfc0007
	OpMemoryInit      Opcode = 0xfc0008
	OpDataDrop        Opcode = 0xfc0009
	OpMemoryCopy      Opcode = 0xfc000a
	OpMemoryFill      Opcode = 0xfc000b
	OpTableInit       Opcode = 0xfc000c
	OpElemDrop        Opcode = 0xfc000d
	OpTableCopy       Opcode = 0xfc000e
	OpTableGrow       Opcode = 0xfc000f
	OpTableSize       Opcode = 0xfc0010
	OpTableFill       Opcode = 0xfc0011
	// 0xFE prefix: threads (atomics).
	OpMemoryAtomicNotify     Opcode = 0xfe0000
	OpMemoryAtomicWait32     Opcode = 0xfe0001
	OpMemoryAtomicWait64     Opcode = 0xfe0002
	OpAtomicFence            Opcode = 0xfe0003
	OpI32AtomicLoad          Opcode = 0xfe0010
	OpI64AtomicLoad          Opcode = 0xfe0011
	OpI32AtomicLoad8U        Opcode = 0xfe0012
	OpI32AtomicLoad16U       Opcode = 0xfe0013
	OpI64AtomicLoad8U        Opcode = 0xfe0014
	OpI64AtomicLoad16U       Opcode = 0xfe0015
	OpI64AtomicLoad32U       Opcode = 0xfe0016
	OpI32AtomicStore         Opcode = 0xfe0017
	OpI64AtomicStore         Opcode = 0xfe0018
	OpI32AtomicStore8        Opcode = 0xfe0019
	OpI32AtomicStore16       Opcode = 0xfe001a
	OpI64AtomicStore8        Opcode = 0xfe001b
	OpI64AtomicStore16       Opcode = 0xfe001c
	OpI64AtomicStore32       Opcode = 0xfe001d
	OpI32AtomicRmwAdd        Opcode = 0xfe001e
	OpI64AtomicRmwAdd        Opcode = 0xfe001f
	OpI32AtomicRmw8AddU      Opcode = 0xfe0020
	OpI32AtomicRmw16AddU     Opcode = 0xfe0021
	OpI64AtomicRmw8AddU      Opcode = 0xfe0022
	OpI64AtomicRmw16AddU     Opcode = 0xfe0023
	OpI64AtomicRmw32AddU     Opcode = 0xfe0024
	OpI32AtomicRmwSub        Opcode = 0xfe0025
	OpI64AtomicRmwSub        Opcode = 0xfe0026
	OpI32AtomicRmw8SubU      Opcode = 0xfe0027
	OpI32AtomicRmw16SubU     Opcode = 0xfe0028
	OpI64AtomicRmw8SubU      Opcode = 0xfe0029
	OpI64AtomicRmw16SubU     Opcode = 0xfe002a
	OpI64AtomicRmw32SubU     Opcode = 0xfe002b
	OpI32AtomicRmwAnd        Opcode = 0xfe002c
	OpI64AtomicRmwAnd        Opcode = 0xfe002d
	OpI32AtomicRmw8AndU      Opcode = 0xfe002e
	OpI32AtomicRmw16AndU     Opcode = 0xfe002f
	OpI64AtomicRmw8AndU      Opcode = 0xfe0030
	OpI64AtomicRmw16AndU     Opcode = 0xfe0031
	OpI64AtomicRmw32AndU     Opcode = 0xfe0032
	OpI32AtomicRmwOr         Opcode = 0xfe0033
	OpI64AtomicRmwOr         Opcode = 0xfe0034
	OpI32AtomicRmw8OrU       Opcode = 0xfe0035
	OpI32AtomicRmw16OrU      Opcode = 0xfe0036
	OpI64AtomicRmw8OrU       Opcode = 0xfe0037
	OpI64AtomicRmw16OrU      Opcode = 0xfe0038
	OpI64AtomicRmw32OrU      Opcode = 0xfe0039
	OpI32AtomicRmwXor        Opcode = 0xfe003a
	OpI64AtomicRmwXor        Opcode = 0xfe003b
	OpI32AtomicRmw8XorU      Opcode = 0xfe003c
	OpI32AtomicRmw16XorU     Opcode = 0xfe003d
	OpI64AtomicRmw8XorU      Opcode = 0xfe003e
	OpI64AtomicRmw16XorU     Opcode = 0xfe003f
	OpI64AtomicRmw32XorU     Opcode = 0xfe0040
	OpI32AtomicRmwXchg       Opcode = 0xfe0041
	OpI64AtomicRmwXchg       Opcode = 0xfe0042
	OpI32AtomicRmw8XchgU     Opcode = 0xfe0043
	OpI32AtomicRmw16XchgU    Opcode = 0xfe0044
	OpI64AtomicRmw8XchgU     Opcode = 0xfe0045
	OpI64AtomicRmw16XchgU    Opcode = 0xfe0046
	OpI64AtomicRmw32XchgU    Opcode = 0xfe0047
	OpI32AtomicRmwCmpxchg    Opcode = 0xfe0048
	OpI64AtomicRmwCmpxchg    Opcode = 0xfe0049
	OpI32AtomicRmw8CmpxchgU  Opcode = 0xfe004a
	OpI32AtomicRmw16CmpxchgU Opcode = 0xfe004b
	OpI64AtomicRmw8CmpxchgU  Opcode = 0xfe004c
	OpI64AtomicRmw16CmpxchgU Opcode = 0xfe004d
	OpI64AtomicRmw32CmpxchgU Opcode = 0xfe004e
	// 0xFD prefix: SIMD, including relaxed SIMD.
	OpV128Load                      Opcode = 0xfd0000
	OpV128Load8x8S                  Opcode = 0xfd0001
	OpV128Load8x8U                  Opcode = 0xfd0002
	OpV128Load16x4S                 Opcode = 0xfd0003
	OpV128Load16x4U                 Opcode = 0xfd0004
	OpV128Load32x2S                 Opcode = 0xfd0005
	OpV128Load32x2U                 Opcode = 0xfd0006
	OpV128Load8Splat                Opcode = 0xfd0007
	OpV128Load16Splat               Opcode = 0xfd0008
	OpV128Load32Splat               Opcode = 0xfd0009
	OpV128Load64Splat               Opcode = 0xfd000a
	OpV128Store                     Opcode = 0xfd000b
	OpV128Const                     Opcode = 0xfd000c
	OpI8x16Shuffle                  Opcode = 0xfd000d
	OpI8x16Swizzle                  Opcode = 0xfd000e
	OpI8x16Splat                    Opcode = 0xfd000f
	OpI16x8Splat                    Opcode = 0xfd0010
	OpI32x4Splat                    Opcode = 0xfd0011
	OpI64x2Splat                    Opcode = 0xfd0012
	OpF32x4Splat                    Opcode = 0xfd0013
	OpF64x2Splat                    Opcode = 0xfd0014
	OpI8x16ExtractLaneS             Opcode = 0xfd0015
	OpI8x16ExtractLaneU             Opcode = 0xfd0016
	OpI8x16ReplaceLane              Opcode = 0xfd0017
	OpI16x8ExtractLaneS             Opcode = 0xfd0018
	OpI16x8ExtractLaneU             Opcode = 0xfd0019
	OpI16x8ReplaceLane              Opcode = 0xfd001a
	OpI32x4ExtractLane              Opcode = 0xfd001b
	OpI32x4ReplaceLane              Opcode = 0xfd001c
	OpI64x2ExtractLane              Opcode = 0xfd001d
	OpI64x2ReplaceLane              Opcode = 0xfd001e
	OpF32x4ExtractLane              Opcode = 0xfd001f
	OpF32x4ReplaceLane              Opcode = 0xfd0020
	OpF64x2ExtractLane              Opcode = 0xfd0021
	OpF64x2ReplaceLane              Opcode = 0xfd0022
	OpI8x16Eq                       Opcode = 0xfd0023
	OpI8x16Ne                       Opcode = 0xfd0024
	OpI8x16LtS                      Opcode = 0xfd0025
	OpI8x16LtU                      Opcode = 0xfd0026
	OpI8x16GtS                      Opcode = 0xfd0027
	OpI8x16GtU                      Opcode = 0xfd0028
	OpI8x16LeS                      Opcode = 0xfd0029
	OpI8x16LeU                      Opcode = 0xfd002a
	OpI8x16GeS                      Opcode = 0xfd002b
	OpI8x16GeU                      Opcode = 0xfd002c
	OpI16x8Eq                       Opcode = 0xfd002d
	OpI16x8Ne                       Opcode = 0xfd002e
	OpI16x8LtS                      Opcode = 0xfd002f
	OpI16x8LtU                      Opcode = 0xfd0030
	OpI16x8GtS                      Opcode = 0xfd0031
	OpI16x8GtU                      Opcode = 0xfd0032
	OpI16x8LeS                      Opcode = 0xfd0033
	OpI16x8LeU                      Opcode = 0xfd0034
	OpI16x8GeS                      Opcode = 0xfd0035
	OpI16x8GeU                      Opcode = 0xfd0036
	OpI32x4Eq                       Opcode = 0xfd0037
	OpI32x4Ne                       Opcode = 0xfd0038
	OpI32x4LtS                      Opcode = 0xfd0039
	OpI32x4LtU                      Opcode = 0xfd003a
	OpI32x4GtS                      Opcode = 0xfd003b
	OpI32x4GtU                      Opcode = 0xfd003c
	OpI32x4LeS                      Opcode = 0xfd003d
	OpI32x4LeU                      Opcode = 0xfd003e
	OpI32x4GeS                      Opcode = 0xfd003f
	OpI32x4GeU                      Opcode = 0xfd0040
	OpF32x4Eq                       Opcode = 0xfd0041
	OpF32x4Ne                       Opcode = 0xfd0042
	OpF32x4Lt                       Opcode = 0xfd0043
	OpF32x4Gt                       Opcode = 0xfd0044
	OpF32x4Le                       Opcode = 0xfd0045
	OpF32x4Ge                       Opcode = 0xfd0046
	OpF64x2Eq                       Opcode = 0xfd0047
	OpF64x2Ne                       Opcode = 0xfd0048
	OpF64x2Lt                       Opcode = 0xfd0049
	OpF64x2Gt                       Opcode = 0xfd004a
	OpF64x2Le                       Opcode = 0xfd004b
	OpF64x2Ge                       Opcode = 0xfd004c
	OpV128Not                       Opcode = 0xfd004d
	OpV128And                       Opcode = 0xfd004e
	OpV128Andnot                    Opcode = 0xfd004f
	OpV128Or                        Opcode = 0xfd0050
	OpV128Xor                       Opcode = 0xfd0051
	OpV128Bitselect                 Opcode = 0xfd0052
	OpV128AnyTrue                   Opcode = 0xfd0053
	OpV128Load8Lane                 Opcode = 0xfd0054
	OpV128Load16Lane                Opcode = 0xfd0055
	OpV128Load32Lane                Opcode = 0xfd0056
	OpV128Load64Lane                Opcode = 0xfd0057
	OpV128Store8Lane                Opcode = 0xfd0058
	OpV128Store16Lane               Opcode = 0xfd0059
	OpV128Store32Lane               Opcode = 0xfd005a
	OpV128Store64Lane               Opcode = 0xfd005b
	OpV128Load32Zero                Opcode = 0xfd005c
	OpV128Load64Zero                Opcode = 0xfd005d
	OpF32x4DemoteF64x2Zero          Opcode = 0xfd005e
	OpF64x2PromoteLowF32x4          Opcode = 0xfd005f
	OpI8x16Abs                      Opcode = 0xfd0060
	OpI8x16Neg                      Opcode = 0xfd0061
	OpI8x16Popcnt                   Opcode = 0xfd0062
	OpI8x16AllTrue                  Opcode = 0xfd0063
	OpI8x16Bitmask                  Opcode = 0xfd0064
	OpI8x16NarrowI16x8S             Opcode = 0xfd0065
	OpI8x16NarrowI16x8U             Opcode = 0xfd0066
	OpF32x4Ceil                     Opcode = 0xfd0067
	OpF32x4Floor                    Opcode = 0xfd0068
	OpF32x4Trunc                    Opcode = 0xfd0069
	OpF32x4Nearest                  Opcode = 0xfd006a
	OpI8x16Shl                      Opcode = 0xfd006b
	OpI8x16ShrS                     Opcode = 0xfd006c
	OpI8x16ShrU                     Opcode = 0xfd006d
	OpI8x16Add                      Opcode = 0xfd006e
	OpI8x16AddSatS                  Opcode = 0xfd006f
	OpI8x16AddSatU                  Opcode = 0xfd0070
	OpI8x16Sub                      Opcode = 0xfd0071
	OpI8x16SubSatS                  Opcode = 0xfd0072
	OpI8x16SubSatU                  Opcode = 0xfd0073
	OpF64x2Ceil                     Opcode = 0xfd0074
	OpF64x2Floor                    Opcode = 0xfd0075
	OpI8x16MinS                     Opcode = 0xfd0076
	OpI8x16MinU                     Opcode = 0xfd0077
	OpI8x16MaxS                     Opcode = 0xfd0078
	OpI8x16MaxU                     Opcode = 0xfd0079
	OpF64x2Trunc                    Opcode = 0xfd007a
	OpI8x16AvgrU                    Opcode = 0xfd007b
	OpI16x8ExtaddPairwiseI8x16S     Opcode = 0xfd007c
	OpI16x8ExtaddPairwiseI8x16U     Opcode = 0xfd007d
	OpI32x4ExtaddPairwiseI16x8S     Opcode = 0xfd007e
	OpI32x4ExtaddPairwiseI16x8U     Opcode = 0xfd007f
	OpI16x8Abs                      Opcode = 0xfd0080
	OpI16x8Neg                      Opcode = 0xfd0081
	OpI16x8Q15mulrSatS              Opcode = 0xfd0082
	OpI16x8AllTrue                  Opcode = 0xfd0083
	OpI16x8Bitmask                  Opcode = 0xfd0084
	OpI16x8NarrowI32x4S             Opcode = 0xfd0085
	OpI16x8NarrowI32x4U             Opcode = 0xfd0086
	OpI16x8ExtendLowI8x16S          Opcode = 0xfd0087
	OpI16x8ExtendHighI8x16S         Opcode = 0xfd0088
	OpI16x8ExtendLowI8x16U          Opcode = 0xfd0089
	OpI16x8ExtendHighI8x16U         Opcode = 0xfd008a
	OpI16x8Shl                      Opcode = 0xfd008b
	OpI16x8ShrS                     Opcode = 0xfd008c
	OpI16x8ShrU                     Opcode = 0xfd008d
	OpI16x8Add                      Opcode = 0xfd008e
	OpI16x8AddSatS                  Opcode = 0xfd008f
	OpI16x8AddSatU                  Opcode = 0xfd0090
	OpI16x8Sub                      Opcode = 0xfd0091
	OpI16x8SubSatS                  Opcode = 0xfd0092
	OpI16x8SubSatU                  Opcode = 0xfd0093
	OpF64x2Nearest                  Opcode = 0xfd0094
	OpI16x8Mul                      Opcode = 0xfd0095
	OpI16x8MinS                     Opcode = 0xfd0096
	OpI16x8MinU                     Opcode = 0xfd0097
	OpI16x8MaxS                     Opcode = 0xfd0098
	OpI16x8MaxU                     Opcode = 0xfd0099
	OpI16x8AvgrU                    Opcode = 0xfd009b
	OpI16x8ExtmulLowI8x16S          Opcode = 0xfd009c
	OpI16x8ExtmulHighI8x16S         Opcode = 0xfd009d
	OpI16x8ExtmulLowI8x16U          Opcode = 0xfd009e
	OpI16x8ExtmulHighI8x16U         Opcode = 0xfd009f
	OpI32x4Abs                      Opcode = 0xfd00a0
	OpI32x4Neg                      Opcode = 0xfd00a1
	OpI32x4AllTrue                  Opcode = 0xfd00a3
	OpI32x4Bitmask                  Opcode = 0xfd00a4
	OpI32x4ExtendLowI16x8S          Opcode = 0xfd00a7
	OpI32x4ExtendHighI16x8S         Opcode = 0xfd00a8
	OpI32x4ExtendLowI16x8U          Opcode = 0xfd00a9
	OpI32x4ExtendHighI16x8U         Opcode = 0xfd00aa
	OpI32x4Shl                      Opcode = 0xfd00ab
	OpI32x4ShrS                     Opcode = 0xfd00ac
	OpI32x4ShrU                     Opcode = 0xfd00ad
	OpI32x4Add                      Opcode = 0xfd00ae
	OpI32x4Sub                      Opcode = 0xfd00b1
	OpI32x4Mul                      Opcode = 0xfd00b5
	OpI32x4MinS                     Opcode = 0xfd00b6
	OpI32x4MinU                     Opcode = 0xfd00b7
	OpI32x4MaxS                     Opcode = 0xfd00b8
	OpI32x4MaxU                     Opcode = 0xfd00b9
	OpI32x4DotI16x8S                Opcode = 0xfd00ba
	OpI32x4ExtmulLowI16x8S          Opcode = 0xfd00bc
	OpI32x4ExtmulHighI16x8S         Opcode = 0xfd00bd
	OpI32x4ExtmulLowI16x8U          Opcode = 0xfd00be
	OpI32x4ExtmulHighI16x8U         Opcode = 0xfd00bf
	OpI64x2Abs                      Opcode = 0xfd00c0
	OpI64x2Neg                      Opcode = 0xfd00c1
	OpI64x2AllTrue                  Opcode = 0xfd00c3
	OpI64x2Bitmask                  Opcode = 0xfd00c4
	OpI64x2ExtendLowI32x4S          Opcode = 0xfd00c7
	OpI64x2ExtendHighI32x4S         Opcode = 0xfd00c8
	OpI64x2ExtendLowI32x4U          Opcode = 0xfd00c9
	OpI64x2ExtendHighI32x4U         Opcode = 0xfd00ca
	OpI64x2Shl                      Opcode = 0xfd00cb
	OpI64x2ShrS                     Opcode = 0xfd00cc
	OpI64x2ShrU                     Opcode = 0xfd00cd
	OpI64x2Add                      Opcode = 0xfd00ce
	OpI64x2Sub                      Opcode = 0xfd00d1
	OpI64x2Mul                      Opcode = 0xfd00d5
	OpI64x2Eq                       Opcode = 0xfd00d6
	OpI64x2Ne                       Opcode = 0xfd00d7
	OpI64x2LtS                      Opcode = 0xfd00d8
	OpI64x2GtS                      Opcode = 0xfd00d9
	OpI64x2LeS                      Opcode = 0xfd00da
	OpI64x2GeS                      Opcode = 0xfd00db
	OpI64x2ExtmulLowI32x4S          Opcode = 0xfd00dc
	OpI64x2ExtmulHighI32x4S         Opcode = 0xfd00dd
	OpI64x2ExtmulLowI32x4U          Opcode = 0xfd00de
	OpI64x2ExtmulHighI32x4U         Opcode = 0xfd00df
	OpF32x4Abs                      Opcode = 0xfd00e0
	OpF32x4Neg                      Opcode = 0xfd00e1
	OpF32x4Sqrt                     Opcode = 0xfd00e3
	OpF32x4Add                      Opcode = 0xfd00e4
	OpF32x4Sub                      Opcode = 0xfd00e5
	OpF32x4Mul                      Opcode = 0xfd00e6
	OpF32x4Div                      Opcode = 0xfd00e7
	OpF32x4Min                      Opcode = 0xfd00e8
	OpF32x4Max                      Opcode = 0xfd00e9
	OpF32x4Pmin                     Opcode = 0xfd00ea
	OpF32x4Pmax                     Opcode = 0xfd00eb
	OpF64x2Abs                      Opcode = 0xfd00ec
	OpF64x2Neg                      Opcode = 0xfd00ed
	OpF64x2Sqrt                     Opcode = 0xfd00ef
	OpF64x2Add                      Opcode = 0xfd00f0
	OpF64x2Sub                      Opcode = 0xfd00f1
	OpF64x2Mul                      Opcode = 0xfd00f2
	OpF64x2Div                      Opcode = 0xfd00f3
	OpF64x2Min                      Opcode = 0xfd00f4
	OpF64x2Max                      Opcode = 0xfd00f5
	OpF64x2Pmin                     Opcode = 0xfd00f6
	OpF64x2Pmax                     Opcode = 0xfd00f7
	OpI32x4TruncSatF32x4S           Opcode = 0xfd00f8
	OpI32x4TruncSatF32x4U           Opcode = 0xfd00f9
	OpF32x4ConvertI32x4S            Opcode = 0xfd00fa
	OpF32x4ConvertI32x4U            Opcode = 0xfd00fb
	OpI32x4TruncSatF64x2SZero       Opcode = 0xfd00fc
	OpI32x4TruncSatF64x2UZero       Opcode = 0xfd00fd
	OpF64x2ConvertLowI32x4S         Opcode = 0xfd00fe
	OpF64x2ConvertLowI32x4U         Opcode = 0xfd00ff
	OpI8x16RelaxedSwizzle           Opcode = 0xfd0100
	OpI32x4RelaxedTruncF32x4S       Opcode = 0xfd0101
	OpI32x4RelaxedTruncF32x4U       Opcode = 0xfd0102
	OpI32x4RelaxedTruncF64x2SZero   Opcode = 0xfd0103
	OpI32x4RelaxedTruncF64x2UZero   Opcode = 0xfd0104
	OpF32x4RelaxedMadd              Opcode = 0xfd0105
	OpF32x4RelaxedNmadd             Opcode = 0xfd0106
	OpF64x2RelaxedMadd              Opcode = 0xfd0107
	OpF64x2RelaxedNmadd             Opcode = 0xfd0108
	OpI8x16RelaxedLaneselect        Opcode = 0xfd0109
	OpI16x8RelaxedLaneselect        Opcode = 0xfd010a
	OpI32x4RelaxedLaneselect        Opcode = 0xfd010b
	OpI64x2RelaxedLaneselect        Opcode = 0xfd010c
	OpF32x4RelaxedMin               Opcode = 0xfd010d
	OpF32x4RelaxedMax               Opcode = 0xfd010e
	OpF64x2RelaxedMin               Opcode = 0xfd010f
	OpF64x2RelaxedMax               Opcode = 0xfd0110
	OpI16x8RelaxedQ15mulrS          Opcode = 0xfd0111
	OpI16x8RelaxedDotI8x16I7x16S    Opcode = 0xfd0112
	OpI32x4RelaxedDotI8x16I7x16AddS Opcode = 0xfd0113
)

// opcodeDefs lists every instruction: text-format name, immediate kind and, for
// instructions whose typing does not depend on immediates or context, the
// signature as "params>results" (i=i32 I=i64 f=f32 F=f64 v=v128); "*" means the
// type tracker types it by hand.
var opcodeDefs = [...]opcodeDef{
	{OpUnreachable, "unreachable", immNone, "*"},
	{OpNop, "nop", immNone, ">"},
	{OpBlock, "block", immBlockType, "*"},
	{OpLoop, "loop", immBlockType, "*"},
	{OpIf, "if", immBlockType, "*"},
	{OpElse, "else", immNone, "*"},
	{OpTry, "try", immBlockType, "*"},
	{OpCatch, "catch", immTag, "*"},
	{OpThrow, "throw", immTag, "*"},
	{OpRethrow, "rethrow", immLabel, "*"},
	{OpThrowRef, "throw_ref", immNone, "*"},
	{OpEnd, "end", immNone, "*"},
	{OpBr, "br", immLabel, "*"},
	{OpBrIf, "br_if", immLabel, "*"},
	{OpBrTable, "br_table", immBrTable, "*"},
	{OpReturn, "return", immNone, "*"},
	{OpCall, "call", immFunc, "*"},
	{OpCallIndirect, "call_indirect", immCallIndirect, "*"},
	{OpReturnCall, "return_call", immFunc, "*"},
	{OpReturnCallIndirect, "return_call_indirect", immCallIndirect, "*"},
	{OpCallRef, "call_ref", immType, "*"},
	{OpReturnCallRef, "return_call_ref", immType, "*"},
	{OpDelegate, "delegate", immLabel, "*"},
	{OpCatchAll, "catch_all", immNone, "*"},
	{OpDrop, "drop", immNone, "*"},
	{OpSelect, "select", immNone, "*"},
	{OpSelectT, "select", immSelectT, "*"},
	{OpTryTable, "try_table", immTryTable, "*"},
	{OpLocalGet, "local.get", immLocal, "*"},
	{OpLocalSet, "local.set", immLocal, "*"},
	{OpLocalTee, "local.tee", immLocal, "*"},
	{OpGlobalGet, "global.get", immGlobal, "*"},
	{OpGlobalSet, "global.set", immGlobal, "*"},
	{OpTableGet, "table.get", immTable, "*"},
	{OpTableSet, "table.set", immTable, "*"},
	{OpI32Load, "i32.load", immMemArg, "i>i"},
	{OpI64Load, "i64.load", immMemArg, "i>I"},
	{OpF32Load, "f32.load", immMemArg, "i>f"},
	{OpF64Load, "f64.load", immMemArg, "i>F"},
	{OpI32Load8S, "i32.load8_s", immMemArg, "i>i"},
	{OpI32Load8U, "i32.load8_u", immMemArg, "i>i"},
	{OpI32Load16S, "i32.load16_s", immMemArg, "i>i"},
	{OpI32Load16U, "i32.load16_u", immMemArg, "i>i"},
	{OpI64Load8S, "i64.load8_s", immMemArg, "i>I"},
	{OpI64Load8U, "i64.load8_u", immMemArg, "i>I"},
	{OpI64Load16S, "i64.load16_s", immMemArg, "i>I"},
	{OpI64Load16U, "i64.load16_u", immMemArg, "i>I"},
	{OpI64Load32S, "i64.load32_s", immMemArg, "i>I"},
	{OpI64Load32U, "i64.load32_u", immMemArg, "i>I"},
	{OpI32Store, "i32.store", immMemArg, "ii>"},
	{OpI64Store, "i64.store", immMemArg, "iI>"},
	{OpF32Store, "f32.store", immMemArg, "if>"},
	{OpF64Store, "f64.store", immMemArg, "iF>"},
	{OpI32Store8, "i32.store8", immMemArg, "ii>"},
	{OpI32Store16, "i32.store16", immMemArg, "ii>"},
	{OpI64Store8, "i64.store8", immMemArg, "iI>"},
	{OpI64Store16, "i64.store16", immMemArg, "iI>"},
	{OpI64Store32, "i64.store32", immMemArg, "iI>"},
	{OpMemorySize, "memory.size", immMemory, ">i"},
	{OpMemoryGrow, "memory.grow", immMemory, "i>i"},
	{OpI32Const, "i32.const", immI32, ">i"},
	{OpI64Const, "i64.const", immI64, ">I"},
	{OpF32Const, "f32.const", immF32, ">f"},
	{OpF64Const, "f64.const", immF64, ">F"},
	{OpI32Eqz, "i32.eqz", immNone, "i>i"},
	{OpI32Eq, "i32.eq", immNone, "ii>i"},
	{OpI32Ne, "i32.ne", immNone, "ii>i"},
	{OpI32LtS, "i32.lt_s", immNone, "ii>i"},
	{OpI32LtU, "i32.lt_u", immNone, "ii>i"},
	{OpI32GtS, "i32.gt_s", immNone, "ii>i"},
	{OpI32GtU, "i32.gt_u", immNone, "ii>i"},
	{OpI32LeS, "i32.le_s", immNone, "ii>i"},
	{OpI32LeU, "i32.le_u", immNone, "ii>i"},
	{OpI32GeS, "i32.ge_s", immNone, "ii>i"},
	{OpI32GeU, "i32.ge_u", immNone, "ii>i"},
	{OpI64Eqz, "i64.eqz", immNone, "I>i"},
	{OpI64Eq, "i64.eq", immNone, "II>i"},
	{OpI64Ne, "i64.ne", immNone, "II>i"},
	{OpI64LtS, "i64.lt_s", immNone, "II>i"},
	{OpI64LtU, "i64.lt_u", immNone, "II>i"},
	{OpI64GtS, "i64.gt_s", immNone, "II>i"},
	{OpI64GtU, "i64.gt_u", immNone, "II>i"},
	{OpI64LeS, "i64.le_s", immNone, "II>i"},
	{OpI64LeU, "i64.le_u", immNone, "II>i"},
	{OpI64GeS, "i64.ge_s", immNone, "II>i"},
	{OpI64GeU, "i64.ge_u", immNone, "II>i"},
	{OpF32Eq, "f32.eq", immNone, "ff>i"},
	{OpF32Ne, "f32.ne", immNone, "ff>i"},
	{OpF32Lt, "f32.lt", immNone, "ff>i"},
	{OpF32Gt, "f32.gt", immNone, "ff>i"},
	{OpF32Le, "f32.le", immNone, "ff>i"},
	{OpF32Ge, "f32.ge", immNone, "ff>i"},
	{OpF64Eq, "f64.eq", immNone, "FF>i"},
	{OpF64Ne, "f64.ne", immNone, "FF>i"},
	{OpF64Lt, "f64.lt", immNone, "FF>i"},
	{OpF64Gt, "f64.gt", immNone, "FF>i"},
	{OpF64Le, "f64.le", immNone, "FF>i"},
	{OpF64Ge, "f64.ge", immNone, "FF>i"},
	{OpI32Clz, "i32.clz", immNone, "i>i"},
	{OpI32Ctz, "i32.ctz", immNone, "i>i"},
	{OpI32Popcnt, "i32.popcnt", immNone, "i>i"},
	{OpI32Add, "i32.add", immNone, "ii>i"},
	{OpI32Sub, "i32.sub", immNone, "ii>i"},
	{OpI32Mul, "i32.mul", immNone, "ii>i"},
	{OpI32DivS, "i32.div_s", immNone, "ii>i"},
	{OpI32DivU, "i32.div_u", immNone, "ii>i"},
	{OpI32RemS, "i32.rem_s", immNone, "ii>i"},
	{OpI32RemU, "i32.rem_u", immNone, "ii>i"},
	{OpI32And, "i32.and", immNone, "ii>i"},
	{OpI32Or, "i32.or", immNone, "ii>i"},
	{OpI32Xor, "i32.xor", immNone, "ii>i"},
	{OpI32Shl, "i32.shl", immNone, "ii>i"},
	{OpI32ShrS, "i32.shr_s", immNone, "ii>i"},
	{OpI32ShrU, "i32.shr_u", immNone, "ii>i"},
	{OpI32Rotl, "i32.rotl", immNone, "ii>i"},
	{OpI32Rotr, "i32.rotr", immNone, "ii>i"},
	{OpI64Clz, "i64.clz", immNone, "I>I"},
	{OpI64Ctz, "i64.ctz", immNone, "I>I"},
	{OpI64Popcnt, "i64.popcnt", immNone, "I>I"},
	{OpI64Add, "i64.add", immNone, "II>I"},
	{OpI64Sub, "i64.sub", immNone, "II>I"},
	{OpI64Mul, "i64.mul", immNone, "II>I"},
	{OpI64DivS, "i64.div_s", immNone, "II>I"},
	{OpI64DivU, "i64.div_u", immNone, "II>I"},
	{OpI64RemS, "i64.rem_s", immNone, "II>I"},
	{OpI64RemU, "i64.rem_u", immNone, "II>I"},
	{OpI64And, "i64.and", immNone, "II>I"},
	{OpI64Or, "i64.or", immNone, "II>I"},
	{OpI64Xor, "i64.xor", immNone, "II>I"},
	{OpI64Shl, "i64.shl", immNone, "II>I"},
	{OpI64ShrS, "i64.shr_s", immNone, "II>I"},
	{OpI64ShrU, "i64.shr_u", immNone, "II>I"},
	{OpI64Rotl, "i64.rotl", immNone, "II>I"},
	{OpI64Rotr, "i64.rotr", immNone, "II>I"},
	{OpF32Abs, "f32.abs", immNone, "f>f"},
	{OpF32Neg, "f32.neg", immNone, "f>f"},
	{OpF32Ceil, "f32.ceil", immNone, "f>f"},
	{OpF32Floor, "f32.floor", immNone, "f>f"},
	{OpF32Trunc, "f32.trunc", immNone, "f>f"},
	{OpF32Nearest, "f32.nearest", immNone, "f>f"},
	{OpF32Sqrt, "f32.sqrt", immNone, "f>f"},
	{OpF32Add, "f32.add", immNone, "ff>f"},
	{OpF32Sub, "f32.sub", immNone, "ff>f"},
	{OpF32Mul, "f32.mul", immNone, "ff>f"},
	{OpF32Div, "f32.div", immNone, "ff>f"},
	{OpF32Min, "f32.min", immNone, "ff>f"},
	{OpF32Max, "f32.max", immNone, "ff>f"},
	{OpF32Copysign, "f32.copysign", immNone, "ff>f"},
	{OpF64Abs, "f64.abs", immNone, "F>F"},
	{OpF64Neg, "f64.neg", immNone, "F>F"},
	{OpF64Ceil, "f64.ceil", immNone, "F>F"},
	{OpF64Floor, "f64.floor", immNone, "F>F"},
	{OpF64Trunc, "f64.trunc", immNone, "F>F"},
	{OpF64Nearest, "f64.nearest", immNone, "F>F"},
	{OpF64Sqrt, "f64.sqrt", immNone, "F>F"},
	{OpF64Add, "f64.add", immNone, "FF>F"},
	{OpF64Sub, "f64.sub", immNone, "FF>F"},
	{OpF64Mul, "f64.mul", immNone, "FF>F"},
	{OpF64Div, "f64.div", immNone, "FF>F"},
	{OpF64Min, "f64.min", immNone, "FF>F"},
	{OpF64Max, "f64.max", immNone, "FF>F"},
	{OpF64Copysign, "f64.copysign", immNone, "FF>F"},
	{OpI32WrapI64, "i32.wrap_i64", immNone, "I>i"},
	{OpI32TruncF32S, "i32.trunc_f32_s", immNone, "f>i"},
	{OpI32TruncF32U, "i32.trunc_f32_u", immNone, "f>i"},
	{OpI32TruncF64S, "i32.trunc_f64_s", immNone, "F>i"},
	{OpI32TruncF64U, "i32.trunc_f64_u", immNone, "F>i"},
	{OpI64ExtendI32S, "i64.extend_i32_s", immNone, "i>I"},
	{OpI64ExtendI32U, "i64.extend_i32_u", immNone, "i>I"},
	{OpI64TruncF32S, "i64.trunc_f32_s", immNone, "f>I"},
	{OpI64TruncF32U, "i64.trunc_f32_u", immNone, "f>I"},
	{OpI64TruncF64S, "i64.trunc_f64_s", immNone, "F>I"},
	{OpI64TruncF64U, "i64.trunc_f64_u", immNone, "F>I"},
	{OpF32ConvertI32S, "f32.convert_i32_s", immNone, "i>f"},
	{OpF32ConvertI32U, "f32.convert_i32_u", immNone, "i>f"},
	{OpF32ConvertI64S, "f32.convert_i64_s", immNone, "I>f"},
	{OpF32ConvertI64U, "f32.convert_i64_u", immNone, "I>f"},
	{OpF32DemoteF64, "f32.demote_f64", immNone, "F>f"},
	{OpF64ConvertI32S, "f64.convert_i32_s", immNone, "i>F"},
	{OpF64ConvertI32U, "f64.convert_i32_u", immNone, "i>F"},
	{OpF64ConvertI64S, "f64.convert_i64_s", immNone, "I>F"},
	{OpF64ConvertI64U, "f64.convert_i64_u", immNone, "I>F"},
	{OpF64PromoteF32, "f64.promote_f32", immNone, "f>F"},
	{OpI32ReinterpretF32, "i32.reinterpret_f32", immNone, "f>i"},
	{OpI64ReinterpretF64, "i64.reinterpret_f64", immNone, "F>I"},
	{OpF32ReinterpretI32, "f32.reinterpret_i32", immNone, "i>f"},
	{OpF64ReinterpretI64, "f64.reinterpret_i64", immNone, "I>F"},
	{OpI32Extend8S, "i32.extend8_s", immNone, "i>i"},
	{OpI32Extend16S, "i32.extend16_s", immNone, "i>i"},
	{OpI64Extend8S, "i64.extend8_s", immNone, "I>I"},
	{OpI64Extend16S, "i64.extend16_s", immNone, "I>I"},
	{OpI64Extend32S, "i64.extend32_s", immNone, "I>I"},
	{OpRefNull, "ref.null", immHeapType, "*"},
	{OpRefIsNull, "ref.is_null", immNone, "*"},
	{OpRefFunc, "ref.func", immFunc, "*"},
	{OpRefEq, "ref.eq", immNone, "*"},
	{OpRefAsNonNull, "ref.as_non_null", immNone, "*"},
	{OpBrOnNull, "br_on_null", immLabel, "*"},
	{OpBrOnNonNull, "br_on_non_null", immLabel, "*"},
	{OpI32TruncSatF32S, "i32.trunc_sat_f32_s", immNone, "f>i"},
	{OpI32TruncSatF32U, "i32.trunc_sat_f32_u", immNone, "f>i"},
	{OpI32TruncSatF64S, "i32.trunc_sat_f64_s", immNone, "F>i"},
	{OpI32TruncSatF64U, "i32.trunc_sat_f64_u", immNone, "F>i"},
	{OpI64TruncSatF32S, "i64.trunc_sat_f32_s", immNone, "f>I"},
	{OpI64TruncSatF32U, "i64.trunc_sat_f32_u", immNone, "f>I"},
	{OpI64TruncSatF64S, "i64.trunc_sat_f64_s", immNone, "F>I"},
	{OpI64TruncSatF64U, "i64.trunc_sat_f64_u", immNone, "F>I"},
	{OpMemoryInit, "memory.init", immMemoryInit, "iii>"},
	{OpDataDrop, "data.drop", immData, ">"},
	{OpMemoryCopy, "memory.copy", immMemoryCopy, "iii>"},
	{OpMemoryFill, "memory.fill", immMemory, "iii>"},
	{OpTableInit, "table.init", immTableInit, "iii>"},
	{OpElemDrop, "elem.drop", immElem, ">"},
	{OpTableCopy, "table.copy", immTableCopy, "iii>"},
	{OpTableGrow, "table.grow", immTable, "*"},
	{OpTableSize, "table.size", immTable, ">i"},
	{OpTableFill, "table.fill", immTable, "*"},
	{OpMemoryAtomicNotify, "memory.atomic.notify", immMemArg, "ii>i"},
	{OpMemoryAtomicWait32, "memory.atomic.wait32", immMemArg, "iiI>i"},
	{OpMemoryAtomicWait64, "memory.atomic.wait64", immMemArg, "iII>i"},
	{OpAtomicFence, "atomic.fence", immFence, ">"},
	{OpI32AtomicLoad, "i32.atomic.load", immMemArg, "i>i"},
	{OpI64AtomicLoad, "i64.atomic.load", immMemArg, "i>I"},
	{OpI32AtomicLoad8U, "i32.atomic.load8_u", immMemArg, "i>i"},
	{OpI32AtomicLoad16U, "i32.atomic.load16_u", immMemArg, "i>i"},
	{OpI64AtomicLoad8U, "i64.atomic.load8_u", immMemArg, "i>I"},
	{OpI64AtomicLoad16U, "i64.atomic.load16_u", immMemArg, "i>I"},
	{OpI64AtomicLoad32U, "i64.atomic.load32_u", immMemArg, "i>I"},
	{OpI32AtomicStore, "i32.atomic.store", immMemArg, "ii>"},
	{OpI64AtomicStore, "i64.atomic.store", immMemArg, "iI>"},
	{OpI32AtomicStore8, "i32.atomic.store8", immMemArg, "ii>"},
	{OpI32AtomicStore16, "i32.atomic.store16", immMemArg, "ii>"},
	{OpI64AtomicStore8, "i64.atomic.store8", immMemArg, "iI>"},
	{OpI64AtomicStore16, "i64.atomic.store16", immMemArg, "iI>"},
	{OpI64AtomicStore32, "i64.atomic.store32", immMemArg, "iI>"},
	{OpI32AtomicRmwAdd, "i32.atomic.rmw.add", immMemArg, "ii>i"},
	{OpI64AtomicRmwAdd, "i64.atomic.rmw.add", immMemArg, "iI>I"},
	{OpI32AtomicRmw8AddU, "i32.atomic.rmw8.add_u", immMemArg, "ii>i"},
	{OpI32AtomicRmw16AddU, "i32.atomic.rmw16.add_u", immMemArg, "ii>i"},
	{OpI64AtomicRmw8AddU, "i64.atomic.rmw8.add_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw16AddU, "i64.atomic.rmw16.add_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw32AddU, "i64.atomic.rmw32.add_u", immMemArg, "iI>I"},
	{OpI32AtomicRmwSub, "i32.atomic.rmw.sub", immMemArg, "ii>i"},
	{OpI64AtomicRmwSub, "i64.atomic.rmw.sub", immMemArg, "iI>I"},
	{OpI32AtomicRmw8SubU, "i32.atomic.rmw8.sub_u", immMemArg, "ii>i"},
	{OpI32AtomicRmw16SubU, "i32.atomic.rmw16.sub_u", immMemArg, "ii>i"},
	{OpI64AtomicRmw8SubU, "i64.atomic.rmw8.sub_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw16SubU, "i64.atomic.rmw16.sub_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw32SubU, "i64.atomic.rmw32.sub_u", immMemArg, "iI>I"},
	{OpI32AtomicRmwAnd, "i32.atomic.rmw.and", immMemArg, "ii>i"},
	{OpI64AtomicRmwAnd, "i64.atomic.rmw.and", immMemArg, "iI>I"},
	{OpI32AtomicRmw8AndU, "i32.atomic.rmw8.and_u", immMemArg, "ii>i"},
	{OpI32AtomicRmw16AndU, "i32.atomic.rmw16.and_u", immMemArg, "ii>i"},
	{OpI64AtomicRmw8AndU, "i64.atomic.rmw8.and_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw16AndU, "i64.atomic.rmw16.and_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw32AndU, "i64.atomic.rmw32.and_u", immMemArg, "iI>I"},
	{OpI32AtomicRmwOr, "i32.atomic.rmw.or", immMemArg, "ii>i"},
	{OpI64AtomicRmwOr, "i64.atomic.rmw.or", immMemArg, "iI>I"},
	{OpI32AtomicRmw8OrU, "i32.atomic.rmw8.or_u", immMemArg, "ii>i"},
	{OpI32AtomicRmw16OrU, "i32.atomic.rmw16.or_u", immMemArg, "ii>i"},
	{OpI64AtomicRmw8OrU, "i64.atomic.rmw8.or_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw16OrU, "i64.atomic.rmw16.or_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw32OrU, "i64.atomic.rmw32.or_u", immMemArg, "iI>I"},
	{OpI32AtomicRmwXor, "i32.atomic.rmw.xor", immMemArg, "ii>i"},
	{OpI64AtomicRmwXor, "i64.atomic.rmw.xor", immMemArg, "iI>I"},
	{OpI32AtomicRmw8XorU, "i32.atomic.rmw8.xor_u", immMemArg, "ii>i"},
	{OpI32AtomicRmw16XorU, "i32.atomic.rmw16.xor_u", immMemArg, "ii>i"},
	{OpI64AtomicRmw8XorU, "i64.atomic.rmw8.xor_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw16XorU, "i64.atomic.rmw16.xor_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw32XorU, "i64.atomic.rmw32.xor_u", immMemArg, "iI>I"},
	{OpI32AtomicRmwXchg, "i32.atomic.rmw.xchg", immMemArg, "ii>i"},
	{OpI64AtomicRmwXchg, "i64.atomic.rmw.xchg", immMemArg, "iI>I"},
	{OpI32AtomicRmw8XchgU, "i32.atomic.rmw8.xchg_u", immMemArg, "ii>i"},
	{OpI32AtomicRmw16XchgU, "i32.atomic.rmw16.xchg_u", immMemArg, "ii>i"},
	{OpI64AtomicRmw8XchgU, "i64.atomic.rmw8.xchg_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw16XchgU, "i64.atomic.rmw16.xchg_u", immMemArg, "iI>I"},
	{OpI64AtomicRmw32XchgU, "i64.atomic.rmw32.xchg_u", immMemArg, "iI>I"},
	{OpI32AtomicRmwCmpxchg, "i32.atomic.rmw.cmpxchg", immMemArg, "iii>i"},
	{OpI64AtomicRmwCmpxchg, "i64.atomic.rmw.cmpxchg", immMemArg, "iII>I"},
	{OpI32AtomicRmw8CmpxchgU, "i32.atomic.rmw8.cmpxchg_u", immMemArg, "iii>i"},
	{OpI32AtomicRmw16CmpxchgU, "i32.atomic.rmw16.cmpxchg_u", immMemArg, "iii>i"},
	{OpI64AtomicRmw8CmpxchgU, "i64.atomic.rmw8.cmpxchg_u", immMemArg, "iII>I"},
	{OpI64AtomicRmw16CmpxchgU, "i64.atomic.rmw16.cmpxchg_u", immMemArg, "iII>I"},
	{OpI64AtomicRmw32CmpxchgU, "i64.atomic.rmw32.cmpxchg_u", immMemArg, "iII>I"},
	{OpV128Load, "v128.load", immMemArg, "i>v"},
	{OpV128Load8x8S, "v128.load8x8_s", immMemArg, "i>v"},
	{OpV128Load8x8U, "v128.load8x8_u", immMemArg, "i>v"},
	{OpV128Load16x4S, "v128.load16x4_s", immMemArg, "i>v"},
	{OpV128Load16x4U, "v128.load16x4_u", immMemArg, "i>v"},
	{OpV128Load32x2S, "v128.load32x2_s", immMemArg, "i>v"},
	{OpV128Load32x2U, "v128.load32x2_u", immMemArg, "i>v"},
	{OpV128Load8Splat, "v128.load8_splat", immMemArg, "i>v"},
	{OpV128Load16Splat, "v128.load16_splat", immMemArg, "i>v"},
	{OpV128Load32Splat, "v128.load32_splat", immMemArg, "i>v"},
	{OpV128Load64Splat, "v128.load64_splat", immMemArg, "i>v"},
	{OpV128Store, "v128.store", immMemArg, "iv>"},
	{OpV128Const, "v128.const", immV128, ">v"},
	{OpI8x16Shuffle, "i8x16.shuffle", immShuffle, "vv>v"},
	{OpI8x16Swizzle, "i8x16.swizzle", immNone, "vv>v"},
	{OpI8x16Splat, "i8x16.splat", immNone, "i>v"},
	{OpI16x8Splat, "i16x8.splat", immNone, "i>v"},
	{OpI32x4Splat, "i32x4.splat", immNone, "i>v"},
	{OpI64x2Splat, "i64x2.splat", immNone, "I>v"},
	{OpF32x4Splat, "f32x4.splat", immNone, "f>v"},
	{OpF64x2Splat, "f64x2.splat", immNone, "F>v"},
	{OpI8x16ExtractLaneS, "i8x16.extract_lane_s", immLane, "v>i"},
	{OpI8x16ExtractLaneU, "i8x16.extract_lane_u", immLane, "v>i"},
	{OpI8x16ReplaceLane, "i8x16.replace_lane", immLane, "vi>v"},
	{OpI16x8ExtractLaneS, "i16x8.extract_lane_s", immLane, "v>i"},
	{OpI16x8ExtractLaneU, "i16x8.extract_lane_u", immLane, "v>i"},
	{OpI16x8ReplaceLane, "i16x8.replace_lane", immLane, "vi>v"},
	{OpI32x4ExtractLane, "i32x4.extract_lane", immLane, "v>i"},
	{OpI32x4ReplaceLane, "i32x4.replace_lane", immLane, "vi>v"},
	{OpI64x2ExtractLane, "i64x2.extract_lane", immLane, "v>I"},
	{OpI64x2ReplaceLane, "i64x2.replace_lane", immLane, "vI>v"},
	{OpF32x4ExtractLane, "f32x4.extract_lane", immLane, "v>f"},
	{OpF32x4ReplaceLane, "f32x4.replace_lane", immLane, "vf>v"},
	{OpF64x2ExtractLane, "f64x2.extract_lane", immLane, "v>F"},
	{OpF64x2ReplaceLane, "f64x2.replace_lane", immLane, "vF>v"},
	{OpI8x16Eq, "i8x16.eq", immNone, "vv>v"},
	{OpI8x16Ne, "i8x16.ne", immNone, "vv>v"},
	{OpI8x16LtS, "i8x16.lt_s", immNone, "vv>v"},
	{OpI8x16LtU, "i8x16.lt_u", immNone, "vv>v"},
	{OpI8x16GtS, "i8x16.gt_s", immNone, "vv>v"},
	{OpI8x16GtU, "i8x16.gt_u", immNone, "vv>v"},
	{OpI8x16LeS, "i8x16.le_s", immNone, "vv>v"},
	{OpI8x16LeU, "i8x16.le_u", immNone, "vv>v"},
	{OpI8x16GeS, "i8x16.ge_s", immNone, "vv>v"},
	{OpI8x16GeU, "i8x16.ge_u", immNone, "vv>v"},
	{OpI16x8Eq, "i16x8.eq", immNone, "vv>v"},
	{OpI16x8Ne, "i16x8.ne", immNone, "vv>v"},
	{OpI16x8LtS, "i16x8.lt_s", immNone, "vv>v"},
	{OpI16x8LtU, "i16x8.lt_u", immNone, "vv>v"},
	{OpI16x8GtS, "i16x8.gt_s", immNone, "vv>v"},
	{OpI16x8GtU, "i16x8.gt_u", immNone, "vv>v"},
	{OpI16x8LeS, "i16x8.le_s", immNone, "vv>v"},
	{OpI16x8LeU, "i16x8.le_u", immNone, "vv>v"},
	{OpI16x8GeS, "i16x8.ge_s", immNone, "vv>v"},
	{OpI16x8GeU, "i16x8.ge_u", immNone, "vv>v"},
	{OpI32x4Eq, "i32x4.eq", immNone, "vv>v"},
	{OpI32x4Ne, "i32x4.ne", immNone, "vv>v"},
	{OpI32x4LtS, "i32x4.lt_s", immNone, "vv>v"},
	{OpI32x4LtU, "i32x4.lt_u", immNone, "vv>v"},
	{OpI32x4GtS, "i32x4.gt_s", immNone, "vv>v"},
	{OpI32x4GtU, "i32x4.gt_u", immNone, "vv>v"},
	{OpI32x4LeS, "i32x4.le_s", immNone, "vv>v"},
	{OpI32x4LeU, "i32x4.le_u", immNone, "vv>v"},
	{OpI32x4GeS, "i32x4.ge_s", immNone, "vv>v"},
	{OpI32x4GeU, "i32x4.ge_u", immNone, "vv>v"},
	{OpF32x4Eq, "f32x4.eq", immNone, "vv>v"},
	{OpF32x4Ne, "f32x4.ne", immNone, "vv>v"},
	{OpF32x4Lt, "f32x4.lt", immNone, "vv>v"},
	{OpF32x4Gt, "f32x4.gt", immNone, "vv>v"},
	{OpF32x4Le, "f32x4.le", immNone, "vv>v"},
	{OpF32x4Ge, "f32x4.ge", immNone, "vv>v"},
	{OpF64x2Eq, "f64x2.eq", immNone, "vv>v"},
	{OpF64x2Ne, "f64x2.ne", immNone, "vv>v"},
	{OpF64x2Lt, "f64x2.lt", immNone, "vv>v"},
	{OpF64x2Gt, "f64x2.gt", immNone, "vv>v"},
	{OpF64x2Le, "f64x2.le", immNone, "vv>v"},
	{OpF64x2Ge, "f64x2.ge", immNone, "vv>v"},
	{OpV128Not, "v128.not", immNone, "v>v"},
	{OpV128And, "v128.and", immNone, "vv>v"},
	{OpV128Andnot, "v128.andnot", immNone, "vv>v"},
	{OpV128Or, "v128.or", immNone, "vv>v"},
	{OpV128Xor, "v128.xor", immNone, "vv>v"},
	{OpV128Bitselect, "v128.bitselect", immNone, "vvv>v"},
	{OpV128AnyTrue, "v128.any_true", immNone, "v>i"},
	{OpV128Load8Lane, "v128.load8_lane", immMemArgLane, "iv>v"},
	{OpV128Load16Lane, "v128.load16_lane", immMemArgLane, "iv>v"},
	{OpV128Load32Lane, "v128.load32_lane", immMemArgLane, "iv>v"},
	{OpV128Load64Lane, "v128.load64_lane", immMemArgLane, "iv>v"},
	{OpV128Store8Lane, "v128.store8_lane", immMemArgLane, "iv>"},
	{OpV128Store16Lane, "v128.store16_lane", immMemArgLane, "iv>"},
	{OpV128Store32Lane, "v128.store32_lane", immMemArgLane, "iv>"},
	{OpV128Store64Lane, "v128.store64_lane", immMemArgLane, "iv>"},
	{OpV128Load32Zero, "v128.load32_zero", immMemArg, "i>v"},
	{OpV128Load64Zero, "v128.load64_zero", immMemArg, "i>v"},
	{OpF32x4DemoteF64x2Zero, "f32x4.demote_f64x2_zero", immNone, "v>v"},
	{OpF64x2PromoteLowF32x4, "f64x2.promote_low_f32x4", immNone, "v>v"},
	{OpI8x16Abs, "i8x16.abs", immNone, "v>v"},
	{OpI8x16Neg, "i8x16.neg", immNone, "v>v"},
	{OpI8x16Popcnt, "i8x16.popcnt", immNone, "v>v"},
	{OpI8x16AllTrue, "i8x16.all_true", immNone, "v>i"},
	{OpI8x16Bitmask, "i8x16.bitmask", immNone, "v>i"},
	{OpI8x16NarrowI16x8S, "i8x16.narrow_i16x8_s", immNone, "vv>v"},
	{OpI8x16NarrowI16x8U, "i8x16.narrow_i16x8_u", immNone, "vv>v"},
	{OpF32x4Ceil, "f32x4.ceil", immNone, "v>v"},
	{OpF32x4Floor, "f32x4.floor", immNone, "v>v"},
	{OpF32x4Trunc, "f32x4.trunc", immNone, "v>v"},
	{OpF32x4Nearest, "f32x4.nearest", immNone, "v>v"},
	{OpI8x16Shl, "i8x16.shl", immNone, "vi>v"},
	{OpI8x16ShrS, "i8x16.shr_s", immNone, "vi>v"},
	{OpI8x16ShrU, "i8x16.shr_u", immNone, "vi>v"},
	{OpI8x16Add, "i8x16.add", immNone, "vv>v"},
	{OpI8x16AddSatS, "i8x16.add_sat_s", immNone, "vv>v"},
	{OpI8x16AddSatU, "i8x16.add_sat_u", immNone, "vv>v"},
	{OpI8x16Sub, "i8x16.sub", immNone, "vv>v"},
	{OpI8x16SubSatS, "i8x16.sub_sat_s", immNone, "vv>v"},
	{OpI8x16SubSatU, "i8x16.sub_sat_u", immNone, "vv>v"},
	{OpF64x2Ceil, "f64x2.ceil", immNone, "v>v"},
	{OpF64x2Floor, "f64x2.floor", immNone, "v>v"},
	{OpI8x16MinS, "i8x16.min_s", immNone, "vv>v"},
	{OpI8x16MinU, "i8x16.min_u", immNone, "vv>v"},
	{OpI8x16MaxS, "i8x16.max_s", immNone, "vv>v"},
	{OpI8x16MaxU, "i8x16.max_u", immNone, "vv>v"},
	{OpF64x2Trunc, "f64x2.trunc", immNone, "v>v"},
	{OpI8x16AvgrU, "i8x16.avgr_u", immNone, "vv>v"},
	{OpI16x8ExtaddPairwiseI8x16S, "i16x8.extadd_pairwise_i8x16_s", immNone, "v>v"},
	{OpI16x8ExtaddPairwiseI8x16U, "i16x8.extadd_pairwise_i8x16_u", immNone, "v>v"},
	{OpI32x4ExtaddPairwiseI16x8S, "i32x4.extadd_pairwise_i16x8_s", immNone, "v>v"},
	{OpI32x4ExtaddPairwiseI16x8U, "i32x4.extadd_pairwise_i16x8_u", immNone, "v>v"},
	{OpI16x8Abs, "i16x8.abs", immNone, "v>v"},
	{OpI16x8Neg, "i16x8.neg", immNone, "v>v"},
	{OpI16x8Q15mulrSatS, "i16x8.q15mulr_sat_s", immNone, "vv>v"},
	{OpI16x8AllTrue, "i16x8.all_true", immNone, "v>i"},
	{OpI16x8Bitmask, "i16x8.bitmask", immNone, "v>i"},
	{OpI16x8NarrowI32x4S, "i16x8.narrow_i32x4_s", immNone, "vv>v"},
	{OpI16x8NarrowI32x4U, "i16x8.narrow_i32x4_u", immNone, "vv>v"},
	{OpI16x8ExtendLowI8x16S, "i16x8.extend_low_i8x16_s", immNone, "v>v"},
	{OpI16x8ExtendHighI8x16S, "i16x8.extend_high_i8x16_s", immNone, "v>v"},
	{OpI16x8ExtendLowI8x16U, "i16x8.extend_low_i8x16_u", immNone, "v>v"},
	{OpI16x8ExtendHighI8x16U, "i16x8.extend_high_i8x16_u", immNone, "v>v"},
	{OpI16x8Shl, "i16x8.shl", immNone, "vi>v"},
	{OpI16x8ShrS, "i16x8.shr_s", immNone, "vi>v"},
	{OpI16x8ShrU, "i16x8.shr_u", immNone, "vi>v"},
	{OpI16x8Add, "i16x8.add", immNone, "vv>v"},
	{OpI16x8AddSatS, "i16x8.add_sat_s", immNone, "vv>v"},
	{OpI16x8AddSatU, "i16x8.add_sat_u", immNone, "vv>v"},
	{OpI16x8Sub, "i16x8.sub", immNone, "vv>v"},
	{OpI16x8SubSatS, "i16x8.sub_sat_s", immNone, "vv>v"},
	{OpI16x8SubSatU, "i16x8.sub_sat_u", immNone, "vv>v"},
	{OpF64x2Nearest, "f64x2.nearest", immNone, "v>v"},
	{OpI16x8Mul, "i16x8.mul", immNone, "vv>v"},
	{OpI16x8MinS, "i16x8.min_s", immNone, "vv>v"},
	{OpI16x8MinU, "i16x8.min_u", immNone, "vv>v"},
	{OpI16x8MaxS, "i16x8.max_s", immNone, "vv>v"},
	{OpI16x8MaxU, "i16x8.max_u", immNone, "vv>v"},
	{OpI16x8AvgrU, "i16x8.avgr_u", immNone, "vv>v"},
	{OpI16x8ExtmulLowI8x16S, "i16x8.extmul_low_i8x16_s", immNone, "vv>v"},
	{OpI16x8ExtmulHighI8x16S, "i16x8.extmul_high_i8x16_s", immNone, "vv>v"},
	{OpI16x8ExtmulLowI8x16U, "i16x8.extmul_low_i8x16_u", immNone, "vv>v"},
	{OpI16x8ExtmulHighI8x16U, "i16x8.extmul_high_i8x16_u", immNone, "vv>v"},
	{OpI32x4Abs, "i32x4.abs", immNone, "v>v"},
	{OpI32x4Neg, "i32x4.neg", immNone, "v>v"},
	{OpI32x4AllTrue, "i32x4.all_true", immNone, "v>i"},
	{OpI32x4Bitmask, "i32x4.bitmask", immNone, "v>i"},
	{OpI32x4ExtendLowI16x8S, "i32x4.extend_low_i16x8_s", immNone, "v>v"},
	{OpI32x4ExtendHighI16x8S, "i32x4.extend_high_i16x8_s", immNone, "v>v"},
	{OpI32x4ExtendLowI16x8U, "i32x4.extend_low_i16x8_u", immNone, "v>v"},
	{OpI32x4ExtendHighI16x8U, "i32x4.extend_high_i16x8_u", immNone, "v>v"},
	{OpI32x4Shl, "i32x4.shl", immNone, "vi>v"},
	{OpI32x4ShrS, "i32x4.shr_s", immNone, "vi>v"},
	{OpI32x4ShrU, "i32x4.shr_u", immNone, "vi>v"},
	{OpI32x4Add, "i32x4.add", immNone, "vv>v"},
	{OpI32x4Sub, "i32x4.sub", immNone, "vv>v"},
	{OpI32x4Mul, "i32x4.mul", immNone, "vv>v"},
	{OpI32x4MinS, "i32x4.min_s", immNone, "vv>v"},
	{OpI32x4MinU, "i32x4.min_u", immNone, "vv>v"},
	{OpI32x4MaxS, "i32x4.max_s", immNone, "vv>v"},
	{OpI32x4MaxU, "i32x4.max_u", immNone, "vv>v"},
	{OpI32x4DotI16x8S, "i32x4.dot_i16x8_s", immNone, "vv>v"},
	{OpI32x4ExtmulLowI16x8S, "i32x4.extmul_low_i16x8_s", immNone, "vv>v"},
	{OpI32x4ExtmulHighI16x8S, "i32x4.extmul_high_i16x8_s", immNone, "vv>v"},
	{OpI32x4ExtmulLowI16x8U, "i32x4.extmul_low_i16x8_u", immNone, "vv>v"},
	{OpI32x4ExtmulHighI16x8U, "i32x4.extmul_high_i16x8_u", immNone, "vv>v"},
	{OpI64x2Abs, "i64x2.abs", immNone, "v>v"},
	{OpI64x2Neg, "i64x2.neg", immNone, "v>v"},
	{OpI64x2AllTrue, "i64x2.all_true", immNone, "v>i"},
	{OpI64x2Bitmask, "i64x2.bitmask", immNone, "v>i"},
	{OpI64x2ExtendLowI32x4S, "i64x2.extend_low_i32x4_s", immNone, "v>v"},
	{OpI64x2ExtendHighI32x4S, "i64x2.extend_high_i32x4_s", immNone, "v>v"},
	{OpI64x2ExtendLowI32x4U, "i64x2.extend_low_i32x4_u", immNone, "v>v"},
	{OpI64x2ExtendHighI32x4U, "i64x2.extend_high_i32x4_u", immNone, "v>v"},
	{OpI64x2Shl, "i64x2.shl", immNone, "vi>v"},
	{OpI64x2ShrS, "i64x2.shr_s", immNone, "vi>v"},
	{OpI64x2ShrU, "i64x2.shr_u", immNone, "vi>v"},
	{OpI64x2Add, "i64x2.add", immNone, "vv>v"},
	{OpI64x2Sub, "i64x2.sub", immNone, "vv>v"},
	{OpI64x2Mul, "i64x2.mul", immNone, "vv>v"},
	{OpI64x2Eq, "i64x2.eq", immNone, "vv>v"},
	{OpI64x2Ne, "i64x2.ne", immNone, "vv>v"},
	{OpI64x2LtS, "i64x2.lt_s", immNone, "vv>v"},
	{OpI64x2GtS, "i64x2.gt_s", immNone, "vv>v"},
	{OpI64x2LeS, "i64x2.le_s", immNone, "vv>v"},
	{OpI64x2GeS, "i64x2.ge_s", immNone, "vv>v"},
	{OpI64x2ExtmulLowI32x4S, "i64x2.extmul_low_i32x4_s", immNone, "vv>v"},
	{OpI64x2ExtmulHighI32x4S, "i64x2.extmul_high_i32x4_s", immNone, "vv>v"},
	{OpI64x2ExtmulLowI32x4U, "i64x2.extmul_low_i32x4_u", immNone, "vv>v"},
	{OpI64x2ExtmulHighI32x4U, "i64x2.extmul_high_i32x4_u", immNone, "vv>v"},
	{OpF32x4Abs, "f32x4.abs", immNone, "v>v"},
	{OpF32x4Neg, "f32x4.neg", immNone, "v>v"},
	{OpF32x4Sqrt, "f32x4.sqrt", immNone, "v>v"},
	{OpF32x4Add, "f32x4.add", immNone, "vv>v"},
	{OpF32x4Sub, "f32x4.sub", immNone, "vv>v"},
	{OpF32x4Mul, "f32x4.mul", immNone, "vv>v"},
	{OpF32x4Div, "f32x4.div", immNone, "vv>v"},
	{OpF32x4Min, "f32x4.min", immNone, "vv>v"},
	{OpF32x4Max, "f32x4.max", immNone, "vv>v"},
	{OpF32x4Pmin, "f32x4.pmin", immNone, "vv>v"},
	{OpF32x4Pmax, "f32x4.pmax", immNone, "vv>v"},
	{OpF64x2Abs, "f64x2.abs", immNone, "v>v"},
	{OpF64x2Neg, "f64x2.neg", immNone, "v>v"},
	{OpF64x2Sqrt, "f64x2.sqrt", immNone, "v>v"},
	{OpF64x2Add, "f64x2.add", immNone, "vv>v"},
	{OpF64x2Sub, "f64x2.sub", immNone, "vv>v"},
	{OpF64x2Mul, "f64x2.mul", immNone, "vv>v"},
	{OpF64x2Div, "f64x2.div", immNone, "vv>v"},
	{OpF64x2Min, "f64x2.min", immNone, "vv>v"},
	{OpF64x2Max, "f64x2.max", immNone, "vv>v"},
	{OpF64x2Pmin, "f64x2.pmin", immNone, "vv>v"},
	{OpF64x2Pmax, "f64x2.pmax", immNone, "vv>v"},
	{OpI32x4TruncSatF32x4S, "i32x4.trunc_sat_f32x4_s", immNone, "v>v"},
	{OpI32x4TruncSatF32x4U, "i32x4.trunc_sat_f32x4_u", immNone, "v>v"},
	{OpF32x4ConvertI32x4S, "f32x4.convert_i32x4_s", immNone, "v>v"},
	{OpF32x4ConvertI32x4U, "f32x4.convert_i32x4_u", immNone, "v>v"},
	{OpI32x4TruncSatF64x2SZero, "i32x4.trunc_sat_f64x2_s_zero", immNone, "v>v"},
	{OpI32x4TruncSatF64x2UZero, "i32x4.trunc_sat_f64x2_u_zero", immNone, "v>v"},
	{OpF64x2ConvertLowI32x4S, "f64x2.convert_low_i32x4_s", immNone, "v>v"},
	{OpF64x2ConvertLowI32x4U, "f64x2.convert_low_i32x4_u", immNone, "v>v"},
	{OpI8x16RelaxedSwizzle, "i8x16.relaxed_swizzle", immNone, "vv>v"},
	{OpI32x4RelaxedTruncF32x4S, "i32x4.relaxed_trunc_f32x4_s", immNone, "v>v"},
	{OpI32x4RelaxedTruncF32x4U, "i32x4.relaxed_trunc_f32x4_u", immNone, "v>v"},
	{OpI32x4RelaxedTruncF64x2SZero, "i32x4.relaxed_trunc_f64x2_s_zero", immNone, "v>v"},
	{OpI32x4RelaxedTruncF64x2UZero, "i32x4.relaxed_trunc_f64x2_u_zero", immNone, "v>v"},
	{OpF32x4RelaxedMadd, "f32x4.relaxed_madd", immNone, "vvv>v"},
	{OpF32x4RelaxedNmadd, "f32x4.relaxed_nmadd", immNone, "vvv>v"},
	{OpF64x2RelaxedMadd, "f64x2.relaxed_madd", immNone, "vvv>v"},
	{OpF64x2RelaxedNmadd, "f64x2.relaxed_nmadd", immNone, "vvv>v"},
	{OpI8x16RelaxedLaneselect, "i8x16.relaxed_laneselect", immNone, "vvv>v"},
	{OpI16x8RelaxedLaneselect, "i16x8.relaxed_laneselect", immNone, "vvv>v"},
	{OpI32x4RelaxedLaneselect, "i32x4.relaxed_laneselect", immNone, "vvv>v"},
	{OpI64x2RelaxedLaneselect, "i64x2.relaxed_laneselect", immNone, "vvv>v"},
	{OpF32x4RelaxedMin, "f32x4.relaxed_min", immNone, "vv>v"},
	{OpF32x4RelaxedMax, "f32x4.relaxed_max", immNone, "vv>v"},
	{OpF64x2RelaxedMin, "f64x2.relaxed_min", immNone, "vv>v"},
	{OpF64x2RelaxedMax, "f64x2.relaxed_max", immNone, "vv>v"},
	{OpI16x8RelaxedQ15mulrS, "i16x8.relaxed_q15mulr_s", immNone, "vv>v"},
	{OpI16x8RelaxedDotI8x16I7x16S, "i16x8.relaxed_dot_i8x16_i7x16_s", immNone, "vv>v"},
	{OpI32x4RelaxedDotI8x16I7x16AddS, "i32x4.relaxed_dot_i8x16_i7x16_add_s", immNone, "vvv>v"},
}

// immKind says which immediates follow an opcode and where Instr keeps them.
type immKind byte

const (
	immNone         immKind = iota
	immBlockType            // Imm: BlockType
	immLabel                // X: label depth
	immBrTable              // Ext.Labels: targets; X: default target
	immFunc                 // X: function index
	immCallIndirect         // X: type index, Y: table index
	immType                 // X: type index
	immLocal                // X: local index
	immGlobal               // X: global index
	immTable                // X: table index
	immTag                  // X: tag index
	immMemArg               // X: alignment exponent, Y: memory index, Imm: offset
	immMemArgLane           // as immMemArg, plus Lane
	immMemory               // X: memory index
	immMemoryCopy           // X: destination memory, Y: source memory
	immMemoryInit           // X: data segment, Y: memory
	immData                 // X: data segment
	immTableInit            // X: element segment, Y: table
	immElem                 // X: element segment
	immTableCopy            // X: destination table, Y: source table
	immI32                  // Imm: the value, zero-extended from 32 bits
	immI64                  // Imm: the value
	immF32                  // Imm: the IEEE 754 bits
	immF64                  // Imm: the IEEE 754 bits
	immV128                 // the 16 bytes: see Instr.V128
	immShuffle              // the 16 lane indices: see Instr.V128
	immLane                 // Lane
	immSelectT              // Ext.Types
	immHeapType             // Imm: HeapType
	immTryTable             // Imm: BlockType, Ext.Catches
	immFence                // a reserved zero byte
)

type opcodeDef struct {
	op   Opcode
	name string
	imm  immKind
	sig  string
}

// opInfo is what the codec and the type tracker know about an opcode.
type opInfo struct {
	name string
	imm  immKind
	// in and out are the fixed signature; contextual marks instructions the
	// tracker types from immediates and context instead.
	in, out    []ValType
	contextual bool
	// access is the number of bytes a memory instruction reads or writes
	// (its natural alignment), lanes the number of lanes a lane index
	// selects from; 0 for other instructions.
	access, lanes byte
	// checked marks instructions with immediates the tracker checks
	// beyond their types: indices of memories, segments and tables, an
	// alignment, lanes.
	checked bool
}

// memoryAccess lists the memory instructions by the number of bytes they
// access.
var memoryAccess = [...]struct {
	bytes byte
	ops   []Opcode
}{
	{1, []Opcode{OpI32Load8S, OpI32Load8U, OpI64Load8S, OpI64Load8U, OpI32Store8, OpI64Store8,
		OpI32AtomicLoad8U, OpI64AtomicLoad8U, OpI32AtomicStore8, OpI64AtomicStore8,
		OpI32AtomicRmw8AddU, OpI64AtomicRmw8AddU, OpI32AtomicRmw8SubU, OpI64AtomicRmw8SubU,
		OpI32AtomicRmw8AndU, OpI64AtomicRmw8AndU, OpI32AtomicRmw8OrU, OpI64AtomicRmw8OrU,
		OpI32AtomicRmw8XorU, OpI64AtomicRmw8XorU, OpI32AtomicRmw8XchgU, OpI64AtomicRmw8XchgU,
		OpI32AtomicRmw8CmpxchgU, OpI64AtomicRmw8CmpxchgU,
		OpV128Load8Splat, OpV128Load8Lane, OpV128Store8Lane}},
	{2, []Opcode{OpI32Load16S, OpI32Load16U, OpI64Load16S, OpI64Load16U, OpI32Store16, OpI64Store16,
		OpI32AtomicLoad16U, OpI64AtomicLoad16U, OpI32AtomicStore16, OpI64AtomicStore16,
		OpI32AtomicRmw16AddU, OpI64AtomicRmw16AddU, OpI32AtomicRmw16SubU, OpI64AtomicRmw16SubU,
		OpI32AtomicRmw16AndU, OpI64AtomicRmw16AndU, OpI32AtomicRmw16OrU, OpI64AtomicRmw16OrU,
		OpI32AtomicRmw16XorU, OpI64AtomicRmw16XorU, OpI32AtomicRmw16XchgU, OpI64AtomicRmw16XchgU,
		OpI32AtomicRmw16CmpxchgU, OpI64AtomicRmw16CmpxchgU,
		OpV128Load16Splat, OpV128Load16Lane, OpV128Store16Lane}},
	{4, []Opcode{OpI32Load, OpF32Load, OpI64Load32S, OpI64Load32U, OpI32Store, OpF32Store, OpI64Store32,
		OpMemoryAtomicNotify, OpMemoryAtomicWait32,
		OpI32AtomicLoad, OpI64AtomicLoad32U, OpI32AtomicStore, OpI64AtomicStore32,
		OpI32AtomicRmwAdd, OpI64AtomicRmw32AddU, OpI32AtomicRmwSub, OpI64AtomicRmw32SubU,
		OpI32AtomicRmwAnd, OpI64AtomicRmw32AndU, OpI32AtomicRmwOr, OpI64AtomicRmw32OrU,
		OpI32AtomicRmwXor, OpI64AtomicRmw32XorU, OpI32AtomicRmwXchg, OpI64AtomicRmw32XchgU,
		OpI32AtomicRmwCmpxchg, OpI64AtomicRmw32CmpxchgU,
		OpV128Load32Splat, OpV128Load32Lane, OpV128Store32Lane, OpV128Load32Zero}},
	{8, []Opcode{OpI64Load, OpF64Load, OpI64Store, OpF64Store,
		OpMemoryAtomicWait64, OpI64AtomicLoad, OpI64AtomicStore,
		OpI64AtomicRmwAdd, OpI64AtomicRmwSub, OpI64AtomicRmwAnd, OpI64AtomicRmwOr,
		OpI64AtomicRmwXor, OpI64AtomicRmwXchg, OpI64AtomicRmwCmpxchg,
		OpV128Load8x8S, OpV128Load8x8U, OpV128Load16x4S, OpV128Load16x4U, OpV128Load32x2S, OpV128Load32x2U,
		OpV128Load64Splat, OpV128Load64Lane, OpV128Store64Lane, OpV128Load64Zero}},
	{16, []Opcode{OpV128Load, OpV128Store}},
}

// lanesByShape is the number of lanes of each SIMD shape, by the prefix
// of the lane instructions' names.
var lanesByShape = map[string]byte{"i8x16": 16, "i16x8": 8, "i32x4": 4, "f32x4": 4, "i64x2": 2, "f64x2": 2}

// Lookup tables by sub-opcode for each prefix; a nil entry is an unknown opcode.
var (
	opsPlain [256]*opInfo
	opsFC    [0x12]*opInfo
	opsFD    [0x114]*opInfo
	opsFE    [0x4F]*opInfo
)

func init() {
	for i := range opcodeDefs {
		d := &opcodeDefs[i]
		info := &opInfo{name: d.name, imm: d.imm}
		if d.sig == "*" {
			info.contextual = true
		} else {
			in, out, _ := strings.Cut(d.sig, ">")
			info.in, info.out = sigTypes(in), sigTypes(out)
		}
		switch d.imm {
		case immMemArg, immMemArgLane, immMemory, immMemoryCopy, immMemoryInit, immData,
			immTableInit, immElem, immTableCopy, immTable, immLane, immShuffle:
			info.checked = !info.contextual // the contextual ones check their own
		}
		if d.imm == immLane {
			shape, _, _ := strings.Cut(d.name, ".")
			info.lanes = lanesByShape[shape]
		}
		sub := d.op & 0xFFFF
		switch d.op >> 16 {
		case 0:
			opsPlain[sub] = info
		case 0xFC:
			opsFC[sub] = info
		case 0xFD:
			opsFD[sub] = info
		case 0xFE:
			opsFE[sub] = info
		}
	}
	for _, group := range memoryAccess {
		for _, op := range group.ops {
			info := op.info()
			info.access = group.bytes
			if info.imm == immMemArgLane {
				info.lanes = 16 / group.bytes
			}
		}
	}
}

// sigTypes turns a signature string into types; equal strings share one slice.
func sigTypes(s string) []ValType {
	if s == "" {
		return nil
	}
	if ts, ok := sigCache[s]; ok {
		return ts
	}
	ts := make([]ValType, len(s))
	for i := range s {
		switch s[i] {
		case 'i':
			ts[i] = I32
		case 'I':
			ts[i] = I64
		case 'f':
			ts[i] = F32
		case 'F':
			ts[i] = F64
		case 'v':
			ts[i] = V128
		}
	}
	sigCache[s] = ts
	return ts
}

var sigCache = map[string][]ValType{}

// info returns what is known about op, or nil for an unknown opcode.
func (op Opcode) info() *opInfo {
	sub := op & 0xFFFF
	var table []*opInfo
	switch op >> 16 {
	case 0:
		table = opsPlain[:]
	case 0xFC:
		table = opsFC[:]
	case 0xFD:
		table = opsFD[:]
	case 0xFE:
		table = opsFE[:]
	}
	if int(sub) < len(table) {
		return table[sub]
	}
	return nil
}

// Signature returns the types op pops and pushes, for an instruction
// whose typing does not depend on immediates or context; ok is false for
// the others and for unknown opcodes.
func (op Opcode) Signature() (params, results []ValType, ok bool) {
	info := op.info()
	if info == nil || info.contextual {
		return nil, nil, false
	}
	return info.in, info.out, true
}

// String returns the instruction's text-format name.
func (op Opcode) String() string {
	if info := op.info(); info != nil {
		return info.name
	}
	if op>>16 != 0 {
		return fmt.Sprintf("unknown(0x%x 0x%x)", uint32(op>>16), uint32(op&0xFFFF))
	}
	return fmt.Sprintf("unknown(0x%x)", uint32(op))
}
