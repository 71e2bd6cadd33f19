package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wasmsr/wasmsr/unwind"
)

// memChunks is a chunk store in memory, of chunks and packs, that counts
// what it is asked.
type memChunks struct {
	mu       sync.Mutex
	chunks   map[Address][]byte
	packs    map[PackID][]byte
	puts     int
	packGets int
}

func newMemChunks() *memChunks {
	return &memChunks{chunks: map[Address][]byte{}, packs: map[PackID][]byte{}}
}

func (m *memChunks) PutPack(_ context.Context, id PackID, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.packs[id] = bytes.Clone(data)
	return nil
}

func (m *memChunks) GetPack(_ context.Context, id PackID, off, n int64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.packGets++
	p, ok := m.packs[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("packs/%s: %w", id, fs.ErrNotExist)
	case off+n > int64(len(p)):
		return nil, fmt.Errorf("packs/%s: %d bytes at %d of %d", id, n, off, len(p))
	}
	return bytes.Clone(p[off : off+n]), nil
}

// packSizes maps the store's packs to their sizes.
func (m *memChunks) packSizes() map[PackID]uint32 {
	sizes := map[PackID]uint32{}
	for id, p := range m.packs {
		sizes[id] = uint32(len(p))
	}
	return sizes
}

// newPacker returns a chunker that writes packs to store.
func newPacker(store *memChunks) *Chunker {
	c := NewChunker(nil)
	c.Packs = store
	return c
}

func (m *memChunks) Has(_ context.Context, a Address) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.chunks[a]
	return ok, nil
}

func (m *memChunks) Put(_ context.Context, a Address, stored []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chunks[a] = bytes.Clone(stored)
	m.puts++
	return nil
}

func (m *memChunks) Get(_ context.Context, a Address) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.chunks[a]
	if !ok {
		return nil, fmt.Errorf("chunks/%s: %w", a, fs.ErrNotExist)
	}
	return c, nil
}

// encodeChunked writes s as a manifest through c.
func encodeChunked(t testing.TB, s *Snapshot, c *Chunker) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := NewEncoder().EncodeChunked(context.Background(), &b, s, c); err != nil {
		t.Fatal(err)
	}
	c.Commit()
	return b.Bytes()
}

// decodeChunked reads a manifest whole, its chunks from store.
func decodeChunked(data []byte, store ChunkSource) (*Snapshot, error) {
	rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, err
	}
	if !rd.chunked() {
		return nil, fmt.Errorf("version %d", rd.Version())
	}
	rd.Chunks = store
	s, err := rd.Snapshot(limits)
	if err != nil {
		return nil, err
	}
	return s, s.Load()
}

// TestChunkedRoundTrip: a manifest and its chunks give back the snapshot;
// the next manifest of the same job stores only the chunks that changed;
// so with chunks one to an object (format version 3) and in packs (4).
func TestChunkedRoundTrip(t *testing.T) {
	for _, packed := range []bool{false, true} {
		t.Run(fmt.Sprint("packed=", packed), func(t *testing.T) { testChunkedRoundTrip(t, packed) })
	}
}

func testChunkedRoundTrip(t *testing.T, packed bool) {
	store := newMemChunks()
	c := NewChunker(store)
	version := uint32(ChunkedVersion)
	if packed {
		c, version = newPacker(store), PackedVersion
	}
	s := sample()
	s.Files[0].Data = bytes.Repeat([]byte("output 0123 line\n"[:16]), 2*FileChunkSize/16) // 2 equal chunks
	data := encodeChunked(t, s, c)
	got, err := decodeChunked(data, store)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip changed the snapshot")
	}
	if rd, err := Open(bytes.NewReader(data), int64(len(data)), nil); err != nil || rd.Version() != version {
		t.Fatalf("format version %d (%v), want %d", rd.Version(), err, version)
	}
	// 3 non-zero pages, 2 file chunks of equal content (one stored), and
	// the empty file has none.
	if want := (ChunkStats{Chunks: 5, Bytes: 3*PageSize + int64(len(s.Files[0].Data)), Written: 4}); c.Stats.Chunks != want.Chunks || c.Stats.Bytes != want.Bytes || c.Stats.Written != want.Written {
		t.Errorf("first manifest: %+v, want %+v", c.Stats, want)
	}
	if len(data) > 1024 {
		t.Errorf("a manifest of %d bytes for 5 chunks", len(data))
	}

	// One page changes, one becomes zero, the file grows by a chunk.
	s.Instance.Memory[3*PageSize+8] = 1
	clear(s.Instance.Memory[4*PageSize:])
	s.Files[0].Data = append(s.Files[0].Data, "more\n"...)
	data = encodeChunked(t, s, c)
	if c.Stats.Written != 2 || c.Stats.Chunks != 5 {
		t.Errorf("second manifest: %+v, want 2 of 5 chunks written (the changed page, the file's new last chunk)", c.Stats)
	}
	if got, err = decodeChunked(data, store); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("second manifest: %v", err)
	}
}

// TestChunkErrors: a missing chunk and a chunk that is not what its address
// says are one-line errors, nothing restored.
func TestChunkErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(m *memChunks, a Address)
		want   string
	}{
		{"missing", func(m *memChunks, a Address) { delete(m.chunks, a) }, "file does not exist"},
		{"corrupted", func(m *memChunks, a Address) {
			c := bytes.Clone(m.chunks[a])
			c[len(c)-5] ^= 0xFF
			m.chunks[a] = c
		}, ""},
		{"swapped", func(m *memChunks, a Address) {
			enc, _ := chunkCodec()
			m.chunks[a] = enc.EncodeAll(make([]byte, PageSize), nil)
		}, "its content does not match its address"},
		{"short", func(m *memChunks, a Address) {
			enc, _ := chunkCodec()
			m.chunks[a] = enc.EncodeAll([]byte("short"), nil)
		}, "5 bytes, want 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemChunks()
			s := sample()
			data := encodeChunked(t, s, NewChunker(store))
			victim := (*sealKey)(nil).addressOf(s.Instance.Memory[3*PageSize : 4*PageSize])
			tc.damage(store, victim)
			_, err := decodeChunked(data, store)
			if err == nil || !errors.Is(err, ErrChunk) || !strings.Contains(err.Error(), victim.String()) ||
				!strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line naming chunk %s: %s", err, victim, tc.want)
			}
		})
	}
}

// TestRepack: a manifest names a pack of the last one only if it uses a
// quarter of it or more; otherwise it stores those chunks again, and the
// old pack is named no more.
func TestRepack(t *testing.T) {
	store := newMemChunks()
	c := newPacker(store)
	mem := make([]byte, 16*PageSize)
	fill := func(pages int, b byte) {
		for p := range pages {
			copy(mem[p*PageSize:], bytes.Repeat([]byte{b, byte(p)}, 64))
		}
	}
	fill(16, 1)
	s := &Snapshot{Instance: &unwind.InstanceState{Memory: mem, Export: "_start"}}
	packsOf := func(data []byte) map[PackID]bool {
		refs, err := ManifestRefs(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		packs := map[PackID]bool{}
		for _, l := range refs.Locations {
			packs[l.Pack] = true
		}
		return packs
	}
	first := packsOf(encodeChunked(t, s, c))
	fill(2, 2) // 14 of 16 chunks stay where they are
	second := encodeChunked(t, s, c)
	if c.Stats.Written != 2 || len(packsOf(second)) != 2 {
		t.Fatalf("2 pages changed: %d chunks written, %d packs named; want 2 and 2", c.Stats.Written, len(packsOf(second)))
	}
	fill(13, 3) // 3 of the first pack's 16 chunks stay: a fifth of it
	third := encodeChunked(t, s, c)
	for id := range first {
		if packsOf(third)[id] {
			t.Errorf("the first pack is still named, for %d of its chunks", 3)
		}
	}
	if c.Stats.Written != 16 {
		t.Errorf("13 pages changed, 3 in a sparse pack: %d chunks written, want 16", c.Stats.Written)
	}
	if got, err := decodeChunked(third, store); err != nil || !bytes.Equal(got.Instance.Memory, mem) {
		t.Fatalf("reading back: %v", err)
	}
}

// TestPackSpans: a memory of several packs is read back with one read per
// run of neighbouring chunks of up to spanSize, not one per chunk.
func TestPackSpans(t *testing.T) {
	store := newMemChunks()
	mem := make([]byte, 24<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range mem {
		mem[i] = byte(rng.Uint32() & 0x0f) // half-compressible
	}
	s := &Snapshot{Instance: &unwind.InstanceState{Memory: mem, Export: "_start"}}
	data := encodeChunked(t, s, newPacker(store))
	var stored int
	for _, p := range store.packs {
		stored += len(p)
	}
	if len(store.packs) < 2 {
		t.Fatalf("%d packs for %d stored bytes: the test needs several", len(store.packs), stored)
	}
	got, err := decodeChunked(data, store)
	if err != nil || !bytes.Equal(got.Instance.Memory, mem) {
		t.Fatalf("reading back: %v", err)
	}
	if most := stored/spanSize + 2*len(store.packs); store.packGets > most {
		t.Errorf("%d reads for %d stored bytes in %d packs, want at most %d", store.packGets, stored, len(store.packs), most)
	}
}

// TestSeed: a job restored from a manifest stores only what changed since,
// and the chunks of a pack it is not given again.
func TestSeed(t *testing.T) {
	store := newMemChunks()
	s := sample()
	data := encodeChunked(t, s, newPacker(store))
	refs, err := ManifestRefs(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	resumed := newPacker(store)
	resumed.Seed(refs, store.packSizes())
	s.Instance.Memory[3*PageSize] ^= 1
	encodeChunked(t, s, resumed)
	if resumed.Stats.Written != 1 {
		t.Errorf("seeded, one page changed: %d chunks written, want 1", resumed.Stats.Written)
	}
	unseeded := newPacker(store)
	unseeded.Seed(refs, nil)
	encodeChunked(t, s, unseeded)
	if unseeded.Stats.Written != unseeded.Stats.Chunks {
		t.Errorf("seeded without packs: %d of %d chunks written, want all", unseeded.Stats.Written, unseeded.Stats.Chunks)
	}
}

// TestPackErrors: a pack that is missing, or holds a chunk that was
// changed, is one line naming the pack (and the chunk), nothing restored.
func TestPackErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(m *memChunks, l Location)
		want   string
	}{
		{"missing", func(m *memChunks, l Location) { delete(m.packs, l.Pack) }, "bad chunk: pack %[2]s: packs/%[2]s: file does not exist"},
		{"changed", func(m *memChunks, l Location) { m.packs[l.Pack][l.Offset+l.Length-5] ^= 0xff }, "bad chunk %[1]s: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemChunks()
			data := encodeChunked(t, sample(), newPacker(store))
			refs, err := ManifestRefs(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(store, refs.Locations[0])
			_, err = decodeChunked(data, store)
			want := fmt.Sprintf(tc.want, refs.Chunks[0], refs.Locations[0].Pack)
			if err == nil || !errors.Is(err, ErrChunk) || !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), refs.Locations[0].Pack.String()) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line with %q", err, want)
			}
		})
	}
}

// TestManifestNeedsStore: a manifest read without its store says so.
func TestManifestNeedsStore(t *testing.T) {
	data := encodeChunked(t, sample(), NewChunker(newMemChunks()))
	rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Snapshot(limits); err == nil || !strings.Contains(err.Error(), "read from its store") {
		t.Errorf("got %v", err)
	}
}

// FuzzManifest: a manifest from outside, read with a store that holds
// chunks of a real snapshot, never panics or allocates beyond its limits.
func FuzzManifest(f *testing.F) {
	store := newMemChunks()
	s := sample()
	f.Add(encodeChunked(f, s, NewChunker(store)))
	s.Files[0].Data = bytes.Repeat([]byte("x"), FileChunkSize+1)
	f.Add(encodeChunked(f, s, NewChunker(store)))
	f.Add(encodeChunked(f, s, newPacker(store)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			return
		}
		rd.Chunks = store
		if s, err := rd.Snapshot(Limits{MaxMemory: 1 << 24}); err == nil {
			s.Load()
		}
	})
}
