package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// memChunks is a chunk store in memory that counts what it is asked.
type memChunks struct {
	mu     sync.Mutex
	chunks map[Address][]byte
	puts   int
}

func newMemChunks() *memChunks { return &memChunks{chunks: map[Address][]byte{}} }

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
func decodeChunked(data []byte, store Chunks) (*Snapshot, error) {
	rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, err
	}
	if rd.Version() != ChunkedVersion {
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
// the next manifest of the same job stores only the chunks that changed.
func TestChunkedRoundTrip(t *testing.T) {
	store := newMemChunks()
	c := NewChunker(store)
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
