package spectest

import "testing"

// TestSuitesOnWazero runs the suite on plain wazero: the runner itself
// must find no failure.
func TestSuitesOnWazero(t *testing.T) {
	suites, err := Suites()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		t.Run(s.Name, func(t *testing.T) { s.Run(t, Options{}) })
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		v    Value
		want []uint64
	}{
		{Value{Type: "i32", Value: "4294967295"}, []uint64{0xFFFFFFFF}},
		{Value{Type: "i32", Value: "-1"}, []uint64{0xFFFFFFFF}},
		{Value{Type: "i64", Value: "-1"}, []uint64{0xFFFFFFFFFFFFFFFF}},
		{Value{Type: "f32", Value: "1065353216"}, []uint64{0x3F800000}},
		{Value{Type: "externref", Value: "0"}, []uint64{1}},
		{Value{Type: "externref", Value: "null"}, []uint64{0}},
		{Value{Type: "v128", LaneType: "i32", Value: []any{"1", "2", "3", "4294967295"}}, []uint64{2<<32 | 1, 0xFFFFFFFF<<32 | 3}},
		{Value{Type: "v128", LaneType: "i8", Value: []any{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "255"}},
			[]uint64{0x0807060504030201, 0xFF0F0E0D0C0B0A09}},
	}
	for _, tc := range tests {
		got, err := tc.v.words()
		if err != nil || len(got) != len(tc.want) || got[0] != tc.want[0] || len(got) > 1 && got[1] != tc.want[1] {
			t.Errorf("%+v: got %#x, %v; want %#x", tc.v, got, err, tc.want)
		}
	}
	nans := []struct {
		typ, want string
		bits      uint64
		ok        bool
	}{
		{"f32", "nan:canonical", 0x7FC00000, true},
		{"f32", "nan:canonical", 0xFFC00000, true},
		{"f32", "nan:canonical", 0x7FC00001, false},
		{"f32", "nan:arithmetic", 0x7FC00001, true},
		{"f32", "nan:arithmetic", 0x7F800001, false},
		{"f64", "nan:canonical", 0x7FF8000000000000, true},
		{"f64", "nan:arithmetic", 0x7FF8000000000001, true},
		{"f64", "nan:arithmetic", 0x7FF0000000000001, false},
		{"f64", "nan:canonical", 0x3FF0000000000000, false},
	}
	for _, n := range nans {
		if err := matchScalar(n.typ, n.want, n.bits); (err == nil) != n.ok {
			t.Errorf("%s %#x as %s: %v, want ok=%v", n.typ, n.bits, n.want, err, n.ok)
		}
	}
}
