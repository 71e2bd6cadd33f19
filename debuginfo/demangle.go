package debuginfo

import "github.com/ianlancetaylor/demangle"

// Demangle returns a C++ or Rust symbol as its source spells it, without
// parameter types: "main::run" for "_ZN4main3run17h183e6ec280388372E",
// "std::vector<int>::push_back" for its Itanium name. Anything else,
// including what does not demangle within 4 KiB, comes back unchanged.
// Names are only shown this way: --only and its kin match them as the
// module spells them.
func Demangle(name string) string {
	return demangle.Filter(name, demangle.NoParams, demangle.MaxLength(12))
}
