package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWazeroGuests runs every wazero guest program and compares its stdout
// and exit code with the golden ones. With -update it writes the golden
// files instead (check the diff before committing).
func TestWazeroGuests(t *testing.T) {
	for _, p := range WazeroGuests(t) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			stdout, exit := p.Run(t, p.Wasm(t))
			if *update {
				if exit != p.WantExit {
					t.Errorf("exit code %d, want %d (exit codes are in the wazeroGuests table, not golden files)", exit, p.WantExit)
				}
				if err := os.MkdirAll(filepath.Dir(p.Golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.Golden, stdout, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			p.Verify(t, stdout, exit)
		})
	}
}

// TestWazeroGuestsComplete checks the table: unique names, golden files,
// and several toolchains.
func TestWazeroGuestsComplete(t *testing.T) {
	names := map[string]bool{}
	for _, p := range WazeroGuests(t) {
		if names[p.Name] {
			t.Errorf("duplicate guest %s", p.Name)
		}
		names[p.Name] = true
		if p.WantStdout == nil {
			t.Errorf("%s: no golden stdout file %s", p.Name, p.Golden)
		}
	}
	for _, toolchain := range []string{"tinygo", "cargo-wasi", "zig", "zig-cc"} {
		found := false
		for name := range names {
			found = found || strings.HasPrefix(name, "wazero/"+toolchain+"-")
		}
		if !found {
			t.Errorf("no guest built by %s", toolchain)
		}
	}
}
