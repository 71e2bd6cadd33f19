package hostrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
				if want := filepath.Join(dir, fmt.Sprintf("snapshot-%06d.wsm", seq)); err != nil || path != want {
					t.Fatalf("Write %d: %q, %v; want %q", seq, path, err, want)
				}
				var want []string
				for k := uint64(1); k <= seq; k++ {
					if keep == 0 || k+uint64(keep) > seq {
						want = append(want, fmt.Sprintf("snapshot-%06d.wsm", k))
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
			if newest, err := Newest(dir); err != nil || newest != filepath.Join(dir, "snapshot-000005.wsm") {
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
	old, err := os.ReadFile(filepath.Join(dir, "snapshot-000004.wsm"))
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
	if want := []string{"snapshot-000006.wsm", "snapshot-000007.wsm"}; !slices.Equal(got, want) {
		t.Errorf("the resumed job wrote %v, want %v", got, want)
	}
	if now, err := os.ReadFile(filepath.Join(dir, "snapshot-000004.wsm")); err != nil || string(now) != string(old) {
		t.Errorf("snapshot 4 of the old timeline changed (%v)", err)
	}
	if newest, err := Newest(dir); err != nil || filepath.Base(newest) != "snapshot-000007.wsm" {
		t.Errorf("Newest: %q, %v; want snapshot-000007.wsm", newest, err)
	}
}

// TestCollectRacesWriter runs a collector (keeping the newest snapshot)
// in a loop while a job writes 60 snapshots of a memory whose pages take
// one of 6 contents, so that chunks keep falling out of every manifest and
// coming back, and grow older than the grace period every 8 snapshots:
// every snapshot written must restore, whole, from what the collector
// left.
func TestCollectRacesWriter(t *testing.T) {
	dir := t.TempDir()
	const grace = time.Minute
	writer, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	collector, err := OpenStore(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	writer.Grace, collector.Grace = grace, grace
	stop := make(chan struct{})
	collected := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				collected <- nil
				return
			default:
			}
			if err := collector.collect(context.Background()); err != nil {
				collected <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-collected; err != nil {
			t.Errorf("collector: %v", err)
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	mem := make([]byte, 32*snapshot.PageSize)
	for seq := uint64(1); seq <= 60; seq++ {
		for range 4 {
			p := rng.IntN(32)
			page := mem[p*snapshot.PageSize : (p+1)*snapshot.PageSize]
			for i := range page { // one of 6 contents
				page[i] = byte(1 + (seq+uint64(p))%6)
			}
		}
		path, err := writer.Write(&snapshot.Snapshot{
			Meta:     snapshot.Meta{Seq: seq},
			Instance: &unwind.InstanceState{Memory: bytes.Clone(mem), Export: "_start"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readStored(path)
		if err != nil {
			t.Fatalf("snapshot %d: %v", seq, err)
		}
		if !bytes.Equal(got, mem) {
			t.Fatalf("snapshot %d: the memory read back differs", seq)
		}
		if seq%8 == 0 {
			ageChunks(t, dir, grace)
		}
	}
}

// ageChunks makes every chunk and pack of the store in dir older than
// grace, as if that time had passed (a test that slept instead would fail
// on a machine so busy that a write took half of it).
func ageChunks(t *testing.T, dir string, grace time.Duration) {
	t.Helper()
	for _, sub := range []string{"chunks", "packs"} {
		ageFiles(t, filepath.Join(dir, sub), grace)
	}
}

func ageFiles(t *testing.T, dir string, grace time.Duration) {
	t.Helper()
	old := time.Now().Add(-grace - time.Second)
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // removed by the collector meanwhile
		case err != nil || e.IsDir():
			return err
		}
		if err := os.Chtimes(path, old, old); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readStored reads back the memory of the snapshot at path, its chunks
// from the store beside it.
func readStored(path string) ([]byte, error) {
	store, name, err := locate(path)
	if err != nil {
		return nil, err
	}
	return readStoredAt(store, name)
}

// TestCollectDuringWrite: a collector has read the manifests, none of
// which names chunk X any more (and X is older than the grace period),
// when a writer stores a snapshot whose memory is X again. The writer
// must not rely on the X it finds: the collector would remove it.
func TestCollectDuringWrite(t *testing.T) {
	dir := t.TempDir()
	const grace = time.Minute
	writer, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	collector, err := OpenStore(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	writer.Grace, collector.Grace = grace, grace
	x := bytes.Repeat([]byte{'x'}, snapshot.PageSize)
	y := bytes.Repeat([]byte{'y'}, snapshot.PageSize)
	write := func(seq uint64, mem []byte) string {
		t.Helper()
		path, err := writer.Write(&snapshot.Snapshot{Meta: snapshot.Meta{Seq: seq},
			Instance: &unwind.InstanceState{Memory: bytes.Clone(mem), Export: "_start"}})
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	write(1, x)
	write(2, y)
	ageChunks(t, dir, grace) // X, named by snapshot 1 only, is old
	var third string
	collector.manifestsListed = func() { third = write(3, x) }
	if err := collector.collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := readStored(third); err != nil || !bytes.Equal(got, x) {
		t.Fatalf("snapshot 3, written while the collector ran: %v", err)
	}
}

// TestTimelines forks a store's default timeline twice: each fork's
// snapshots go under its name, the default timeline stays as it was, a
// collector of one timeline keeps the chunks the others name, and
// STORE/NAME locates a fork.
func TestTimelines(t *testing.T) {
	dir := t.TempDir()
	write := func(s *Store, seq uint64, fill byte) {
		t.Helper()
		mem := bytes.Repeat([]byte{fill}, 2*snapshot.PageSize)
		if _, err := s.Write(&snapshot.Snapshot{Meta: snapshot.Meta{Seq: seq},
			Instance: &unwind.InstanceState{Memory: mem, Export: "_start"}}); err != nil {
			t.Fatal(err)
		}
	}
	main, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		write(main, seq, byte(seq))
	}
	for _, name := range []string{"a", "b"} {
		fork, err := OpenStore(dir, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := fork.Fork(name, "snapshot-000002.wsm"); err != nil {
			t.Fatal(err)
		}
		write(fork, 3, 'x')
		ageChunks(t, dir, fork.Grace) // collect at once what no manifest names
		write(fork, 4, name[0])
	}
	for _, tc := range []struct{ location, want string }{
		{dir, "snapshot-000003.wsm"},
		{filepath.Join(dir, "a"), "a/snapshot-000004.wsm"},
		{filepath.Join(dir, "b") + "/", "b/snapshot-000004.wsm"},
	} {
		newest, err := Newest(tc.location)
		if want := filepath.Join(dir, tc.want); err != nil || newest != want {
			t.Errorf("Newest(%s) = %q, %v; want %q", tc.location, newest, err, want)
		}
	}
	// Every timeline's kept snapshots read back whole: the collectors of
	// a and b (keep 1) removed their first snapshots' chunk ('x'), and
	// none of the default timeline's.
	for _, name := range []string{"snapshot-000001.wsm", "snapshot-000003.wsm", "a/snapshot-000004.wsm", "b/snapshot-000004.wsm"} {
		if _, err := readStored(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "snapshot-000003.wsm")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a's first snapshot is still there (keep 1): %v", err)
	}
	for _, tc := range []struct{ name, want string }{
		{"a", `timeline "a" already has snapshots: choose another name, or resume it`},
		{"chunks", `"chunks" is not a timeline name`},
		{"x/y", `"x/y" is not a timeline name`},
		{"snapshot-000009.wsm", `"snapshot-000009.wsm" is not a timeline name`},
	} {
		s, err := OpenStore(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Fork(tc.name, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Fork(%q): %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestStoreContinue: a job restored from a manifest of the store names, in
// its first snapshot, the chunks it shares with that manifest, if their
// packs were written less than half the grace period before; older packs
// (which the collector may remove meanwhile) are written again.
func TestStoreContinue(t *testing.T) {
	mem := bytes.Repeat([]byte("continue"), 6*snapshot.PageSize/8)
	snap := func() *snapshot.Snapshot {
		return &snapshot.Snapshot{Instance: &unwind.InstanceState{Memory: bytes.Clone(mem), Export: "_start"}}
	}
	for _, tc := range []struct {
		name    string
		age     bool
		written int64
	}{{"young packs", false, 0}, {"old packs", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := OpenStore(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			name, err := first.WriteNamed(snap())
			if err != nil {
				t.Fatal(err)
			}
			manifest, err := first.ReadManifest(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := snapshot.ManifestRefs(manifest, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.age {
				ageChunks(t, dir, DefaultChunkGrace/2)
			}
			next, err := OpenStore(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			next.Continue(refs)
			if _, err := next.WriteNamed(snap()); err != nil {
				t.Fatal(err)
			}
			if next.Stats.Written != tc.written || next.Stats.Chunks != 6 {
				t.Errorf("%d of %d chunks written, want %d of 6 (the 6 pages are one chunk)", next.Stats.Written, next.Stats.Chunks, tc.written)
			}
		})
	}
}
