package spectest

import (
	"fmt"
	"strconv"
	"strings"
)

// words returns the value as wazero passes it: one uint64, two for v128
// (low half first). wazero's externref is an opaque pointer where 0 is
// null, so the suite's externref N is N+1 here, as in wazero's own runner.
func (v Value) words() ([]uint64, error) {
	if v.Type == "v128" {
		lanes, ok := v.Value.([]any)
		if !ok {
			return nil, fmt.Errorf("v128 value %v is not a list of lanes", v.Value)
		}
		width, err := laneWidth(v.LaneType)
		if err != nil {
			return nil, err
		}
		if len(lanes)*width != 128 {
			return nil, fmt.Errorf("v128 with %d lanes of %s", len(lanes), v.LaneType)
		}
		var out [2]uint64
		for i, l := range lanes {
			s, _ := l.(string)
			bits, err := scalarBits(v.LaneType, s)
			if err != nil {
				return nil, err
			}
			pos := i * width
			out[pos/64] |= (bits & mask(width)) << (pos % 64)
		}
		return out[:], nil
	}
	s, _ := v.Value.(string)
	if v.Value == nil || s == "null" {
		return []uint64{0}, nil
	}
	switch v.Type {
	case "externref":
		n, err := strconv.ParseUint(s, 10, 64)
		return []uint64{n + 1}, err
	case "funcref", "exnref":
		return []uint64{0}, nil
	}
	bits, err := scalarBits(v.Type, s)
	return []uint64{bits}, err
}

// mask has the low width bits set (all 64 for width 64: Go shifts past
// the width give 0).
func mask(width int) uint64 { return uint64(1)<<width - 1 }

func laneWidth(laneType string) (int, error) {
	switch laneType {
	case "i8":
		return 8, nil
	case "i16":
		return 16, nil
	case "i32", "f32":
		return 32, nil
	case "i64", "f64":
		return 64, nil
	}
	return 0, fmt.Errorf("unknown lane type %q", laneType)
}

// scalarBits parses a number as the suite writes it: unsigned or signed
// decimal, floats as their bits; NaN patterns get a representative.
func scalarBits(typ, s string) (uint64, error) {
	switch s {
	case "nan:canonical", "nan:arithmetic":
		if typ == "f32" {
			return 0x7FC00000, nil
		}
		return 0x7FF8000000000000, nil
	}
	bits := 64
	if strings.HasSuffix(typ, "32") || typ == "i8" || typ == "i16" {
		bits = 32
	}
	if strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 10, bits)
		return uint64(v) & mask(bits), err
	}
	v, err := strconv.ParseUint(s, 10, bits)
	return v, err
}

// match compares results of a call with the expected values.
func match(expected []Value, results []uint64) error {
	k := 0
	for _, exp := range expected {
		words := 1
		if exp.Type == "v128" {
			words = 2
		}
		if k+words > len(results) {
			return fmt.Errorf("got %d result words, want more", len(results))
		}
		got := results[k : k+words]
		k += words
		if err := matchValue(exp, got); err != nil {
			return err
		}
	}
	if k != len(results) {
		return fmt.Errorf("got %d result words, want %d", len(results), k)
	}
	return nil
}

func matchValue(exp Value, got []uint64) error {
	switch exp.Type {
	case "funcref", "externref", "exnref":
		if exp.Value == nil {
			return nil // any reference
		}
	case "v128":
		lanes, _ := exp.Value.([]any)
		width, err := laneWidth(exp.LaneType)
		if err != nil {
			return err
		}
		for i, l := range lanes {
			s, _ := l.(string)
			pos := i * width
			lane := got[pos/64] >> (pos % 64) & mask(width)
			if err := matchScalar(exp.LaneType, s, lane); err != nil {
				return fmt.Errorf("lane %d: %w", i, err)
			}
		}
		return nil
	}
	s, _ := exp.Value.(string)
	if exp.Value == nil || s == "null" {
		if got[0] != 0 {
			return fmt.Errorf("got %#x, want null", got[0])
		}
		return nil
	}
	return matchScalar(exp.Type, s, got[0])
}

func matchScalar(typ, want string, got uint64) error {
	switch {
	case typ == "f32" && strings.HasPrefix(want, "nan:"):
		f := uint32(got)
		if f&0x7F800000 != 0x7F800000 || f&0x7FFFFF == 0 ||
			want == "nan:canonical" && f&0x7FFFFFFF != 0x7FC00000 || want == "nan:arithmetic" && f&0x400000 == 0 {
			return fmt.Errorf("got f32 %#x, want %s", f, want)
		}
		return nil
	case typ == "f64" && strings.HasPrefix(want, "nan:"):
		if got&0x7FF0000000000000 != 0x7FF0000000000000 || got&0xFFFFFFFFFFFFF == 0 ||
			want == "nan:canonical" && got&(1<<63-1) != 0x7FF8000000000000 || want == "nan:arithmetic" && got&(1<<51) == 0 {
			return fmt.Errorf("got f64 %#x, want %s", got, want)
		}
		return nil
	}
	v := Value{Type: typ, Value: want}
	if typ == "externref" {
		words, err := v.words()
		if err != nil {
			return err
		}
		if got != words[0] {
			return fmt.Errorf("got externref %d, want %s", int64(got)-1, want)
		}
		return nil
	}
	bits, err := scalarBits(typ, want)
	if err != nil {
		return err
	}
	width := 64
	switch typ {
	case "i8":
		width = 8
	case "i16":
		width = 16
	case "i32", "f32":
		width = 32
	}
	if m := mask(width); got&m != bits&m {
		return fmt.Errorf("got %s %#x, want %s (%#x)", typ, got&m, want, bits&m)
	}
	return nil
}
