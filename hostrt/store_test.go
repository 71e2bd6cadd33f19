package hostrt

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/unwind"
	"github.com/wasmsr/wasmsr/wasm"
)

// TestModuleLimits checks the memory limits moduleLimits reads without
// decoding the code, against modules with defined, imported, bounded and
// unbounded memories, and with code and other sections around them.
func TestModuleLimits(t *testing.T) {
	fn := wasm.FuncType{Params: []wasm.ValType{wasm.I32}}
	body := []wasm.Instr{wasm.Plain(wasm.OpEnd)}
	tests := []struct {
		name string
		m    wasm.Module
		want memoryLimits
	}{
		{"no memory", wasm.Module{}, memoryLimits{0, 1 << 32}},
		{"defined, no maximum", wasm.Module{Memories: []wasm.Limits{{Min: 1}}}, memoryLimits{65536, 1 << 32}},
		{"defined, maximum", wasm.Module{
			Types:    []wasm.FuncType{fn},
			Funcs:    []uint32{0},
			Memories: []wasm.Limits{{Min: 1, Max: 3, HasMax: true}},
			Code:     []wasm.Code{{Body: body}},
			Customs:  []wasm.CustomSection{{Name: "x", Data: []byte("y"), After: wasm.SectionMemory}},
		}, memoryLimits{65536, 3 * 65536}},
		{"imported after a function", wasm.Module{
			Types: []wasm.FuncType{fn},
			Imports: []wasm.Import{
				{Module: "env", Name: "f", Kind: wasm.KindFunc, TypeIndex: 0},
				{Module: "env", Name: "memory", Kind: wasm.KindMemory, Memory: wasm.Limits{Min: 2, Max: 10, HasMax: true}},
			},
		}, memoryLimits{2 * 65536, 10 * 65536}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module, err := wasm.Encode(&tc.m)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := moduleLimits(module)
			if err != nil || got != tc.want {
				t.Errorf("moduleLimits = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	// A malformed module still gets the decoder's error.
	if _, _, err := moduleLimits([]byte("\x00asm\x01\x00\x00\x00\x05\x09")); err == nil {
		t.Error("moduleLimits of a truncated module: no error")
	}
}

// TestStoreKeep writes snapshots 1 to 5 into a store keeping the newest
// N: after each write exactly the newest N snapshot files remain (all of
// them for N = 0), and the module's copy and other files stay.
func TestStoreKeep(t *testing.T) {
	snap := func(seq uint64) *snapshot.Snapshot {
		return &snapshot.Snapshot{
			Meta:     snapshot.Meta{Seq: seq},
			Instance: &unwind.InstanceState{Memory: make([]byte, snapshot.PageSize), Export: "_start"},
		}
	}
	for _, keep := range []int{0, 1, 2, 5, 7} {
		t.Run(fmt.Sprintf("keep %d", keep), func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenStore(dir, keep)
			if err != nil {
				t.Fatal(err)
			}
			module, err := s.SaveModule([]byte("\x00asm\x01\x00\x00\x00"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(1); seq <= 5; seq++ {
				path, err := s.Write(snap(seq))
				if want := filepath.Join(dir, fmt.Sprintf("snapshot-%06d.wsr", seq)); err != nil || path != want {
					t.Fatalf("Write %d: %q, %v; want %q", seq, path, err, want)
				}
				var want []string
				for k := uint64(1); k <= seq; k++ {
					if keep == 0 || k+uint64(keep) > seq {
						want = append(want, fmt.Sprintf("snapshot-%06d.wsr", k))
					}
				}
				want = append(want, filepath.Base(module), "notes.txt")
				slices.Sort(want)
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range entries {
					got = append(got, e.Name())
				}
				if !slices.Equal(got, want) {
					t.Fatalf("after snapshot %d: %v, want %v", seq, got, want)
				}
			}
			if newest, err := Newest(dir); err != nil || newest != filepath.Join(dir, "snapshot-000005.wsr") {
				t.Errorf("Newest: %q, %v", newest, err)
			}
		})
	}
}

// TestStoreNewTimeline resumes, in effect, from snapshot 3 of a directory
// that holds 1 to 5: the resumed job's snapshots (sequence numbers 4, 5,
// ...) go after the old timeline's as 6, 7, ..., overwrite nothing, and are
// what Newest finds.
func TestStoreNewTimeline(t *testing.T) {
	dir := t.TempDir()
	write := func(s *Store, seq uint64) string {
		t.Helper()
		path, err := s.Write(&snapshot.Snapshot{
			Meta:     snapshot.Meta{Seq: seq},
			Instance: &unwind.InstanceState{Memory: make([]byte, snapshot.PageSize), Export: "_start"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Base(path)
	}
	first, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		write(first, seq)
	}
	old, err := os.ReadFile(filepath.Join(dir, "snapshot-000004.wsr"))
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := uint64(4); seq <= 5; seq++ {
		got = append(got, write(resumed, seq))
	}
	if want := []string{"snapshot-000006.wsr", "snapshot-000007.wsr"}; !slices.Equal(got, want) {
		t.Errorf("the resumed job wrote %v, want %v", got, want)
	}
	if now, err := os.ReadFile(filepath.Join(dir, "snapshot-000004.wsr")); err != nil || string(now) != string(old) {
		t.Errorf("snapshot 4 of the old timeline changed (%v)", err)
	}
	if newest, err := Newest(dir); err != nil || filepath.Base(newest) != "snapshot-000007.wsr" {
		t.Errorf("Newest: %q, %v; want snapshot-000007.wsr", newest, err)
	}
}
