package wasm_test

import (
	"testing"

	"github.com/wasmsr/wasmsr/wasm"
)

// TestFindCustom checks the header walk on modules built byte by byte:
// what it finds, and its exact error for each way the headers can be wrong.
func TestFindCustom(t *testing.T) {
	const header = "\x00asm\x01\x00\x00\x00"
	custom := func(name, content string) string {
		return "\x00" + string(rune(1+len(name)+len(content))) + string(rune(len(name))) + name + content
	}
	typeSection := "\x01\x04\x01\x60\x00\x00" // one type: () -> ()
	tests := []struct {
		name    string
		module  string
		content string
		found   bool
		err     string
	}{
		{"found after another section", header + typeSection + custom("wasmsr", "abc"), "abc", true, ""},
		{"the first of two", header + custom("wasmsr", "1") + custom("wasmsr", "2"), "1", true, ""},
		{"another name", header + custom("wasmsr.x", "abc"), "", false, ""},
		{"empty content", header + custom("wasmsr", ""), "", true, ""},
		{"no sections", header, "", false, ""},
		{"not a module", "\x7fELF\x02\x01\x01\x00", "", false, "module header at offset 0x0: magic header not detected"},
		{"cut in the magic", "\x00as", "", false, "truncated module header at offset 0x3"},
		{"another version", "\x00asm\x02\x00\x00\x00", "", false, "module header at offset 0x4: unknown binary version"},
		{"section larger than the module", header + "\x00\x09\x06wasmsr", "", false, "truncated custom section at offset 0x11"},
		{"name larger than its section", header + "\x00\x02\x06w", "", false, "truncated custom section at offset 0xc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			content, found, err := wasm.FindCustom([]byte(tc.module), "wasmsr")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || found != tc.found || string(content) != tc.content {
				t.Fatalf("got %q, %v, %v; want %q, %v", content, found, err, tc.content, tc.found)
			}
		})
	}
}
