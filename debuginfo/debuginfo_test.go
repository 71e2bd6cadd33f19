package debuginfo

import (
	"fmt"
	"os"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestLocals: main's parameters of lines.c built -O2 live in wasm locals
// for its first instructions only, by a location list: .debug_loc in
// DWARF 4, .debug_loclists (DW_FORM_loclistx, DW_LLE_startx_length
// through .debug_addr) in DWARF 5.
func TestLocals(t *testing.T) {
	for _, name := range []string{"lines-O2", "lines-O2-dwarf5"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(corpus.Built(t, "debug/"+name+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := (&wasm.Decoder{KeepSource: true}).Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			in, err := Read(m)
			if err != nil {
				t.Fatal(err)
			}
			starts := BodyStarts(m)
			names := in.FuncNames(starts)
			var main uint64
			for a, fn := range starts {
				if names[fn] == "main" {
					main = a
				}
			}
			for _, tc := range []struct {
				pc   uint64
				want string
			}{{0, "[{argc 0} {argv 1}]"}, {0x20, "[{argc 0} {argv 1}]"}, {0x30, "[]"}} {
				if got := fmt.Sprint(in.Locals(main, main+tc.pc)); got != tc.want {
					t.Errorf("main+0x%x: %s, want %s", tc.pc, got, tc.want)
				}
			}
		})
	}
}
