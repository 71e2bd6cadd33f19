package debuginfo

import "testing"

func TestDemangle(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"_ZN4main3run17h183e6ec280388372E", "main::run"}, // Rust, legacy: the hash goes
		{"_ZN5alloc7raw_vec19RawVec$LT$T$C$A$GT$7reserve17h0123456789abcdefE", "alloc::raw_vec::RawVec<T,A>::reserve"},
		{"_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example"}, // Rust, v0
		{"_ZNSt3__16vectorIiNS_9allocatorIiEEE9push_backERKi", "std::__1::vector<int, std::__1::allocator<int> >::push_back"},
		{"_Z4workv", "work"},
		{"main", "main"},
		{"__original_main", "__original_main"},
		{"_Z", "_Z"}, // not a whole name
		{"", ""},
	} {
		if got := Demangle(c.in); got != c.want {
			t.Errorf("Demangle(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
