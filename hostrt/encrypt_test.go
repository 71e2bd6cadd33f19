package hostrt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/internal/s3test"
	"github.com/wasmsr/wasmsr/unwind"
)

// secretMarker is written into every page of the memory: no object of an
// encrypted store may hold it.
const secretMarker = "SECRET-MEMORY-MARKER"

func testEncryption(t testing.TB, seed byte) *snapshot.Encryption {
	t.Helper()
	enc, err := snapshot.NewEncryption(testKeys(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// TestEncryptedStore writes two snapshots of a job into an encrypted store
// in a directory and in S3 (versitygw): the second writes only the chunks
// that changed, both read back with the key, the collector reads the
// encrypted manifests, no object holds the memory's content in clear, and
// the same memory under another key is stored under other names.
func TestEncryptedStore(t *testing.T) {
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			location := func() string {
				if kind == "s3" {
					return s3test.Start(t)
				}
				return t.TempDir()
			}
			mem := make([]byte, 16*snapshot.PageSize)
			for p := range 16 {
				copy(mem[p*snapshot.PageSize:], fmt.Sprintf("%s %d", strings.Repeat(secretMarker, 100), p))
			}
			snap := func(seq uint64) *snapshot.Snapshot {
				return &snapshot.Snapshot{Meta: snapshot.Meta{Seq: seq, Reason: secretMarker},
					Instance: &unwind.InstanceState{Memory: bytes.Clone(mem), Export: "_start"}}
			}
			enc := testEncryption(t, 1)
			s, err := OpenStore(location(), 0)
			if err != nil {
				t.Fatal(err)
			}
			s.Encryption = enc
			first, err := s.Write(snap(1))
			if err != nil || s.Stats.Written != 16 {
				t.Fatalf("first snapshot: %v, %+v; want 16 chunks written", err, s.Stats)
			}
			mem[3*snapshot.PageSize+1] = 'x'
			mem[9*snapshot.PageSize+1] = 'y'
			s.Keep = 1 // the collector reads the manifests
			second, err := s.Write(snap(2))
			if err != nil || s.Stats.Written != 2 || s.Stats.Chunks != 16 {
				t.Fatalf("second snapshot: %v, %+v; want 2 of 16 chunks written", err, s.Stats)
			}
			if got, err := readEncrypted(s, second, enc); err != nil || !bytes.Equal(got, mem) {
				t.Fatalf("reading %s back: %v", second, err)
			}
			if _, err := readEncrypted(s, first, enc); err == nil {
				t.Errorf("%s: not collected (keep 1)", first)
			}
			names := storedNames(t, s, func(name string, data []byte) {
				if bytes.Contains(data, []byte(secretMarker)) {
					t.Errorf("%s holds the memory in clear", name)
				}
			})
			// The first snapshot's pack stays: the second names 14 of its
			// 16 chunks.
			if len(names) != 1+2 || !strings.HasPrefix(names[0], packPrefix) || !strings.HasPrefix(names[1], packPrefix) {
				t.Errorf("the store holds %v, want 1 manifest and 2 packs", names)
			}

			other, err := OpenStore(location(), 0)
			if err != nil {
				t.Fatal(err)
			}
			other.Encryption = testEncryption(t, 2)
			third, err := other.Write(snap(2))
			if err != nil {
				t.Fatal(err)
			}
			one, two := manifestRefs(t, s, second, enc), manifestRefs(t, other, third, other.Encryption)
			for _, a := range one.Chunks {
				if slices.Contains(two.Chunks, a) {
					t.Errorf("chunk %s has the same address under both keys", a)
				}
			}
		})
	}
}

// readEncrypted reads back the memory of the snapshot at where (as Write
// returned it), decrypted with enc, its chunks from s.
func readEncrypted(s *Store, where string, enc *snapshot.Encryption) ([]byte, error) {
	name := where[strings.LastIndexAny(where, "/\\")+1:]
	data, err := s.Blobs.Get(context.Background(), name)
	if err != nil {
		return nil, err
	}
	rd, err := snapshot.OpenEncrypted(bytes.NewReader(data), int64(len(data)), nil, enc)
	if err != nil {
		return nil, err
	}
	rd.Chunks = storeChunks{s}
	snap, err := rd.Snapshot(snapshot.Limits{MaxMemory: 1 << 30})
	if err != nil {
		return nil, err
	}
	if err := snap.Load(); err != nil {
		return nil, err
	}
	return snap.Instance.Memory, nil
}

// manifestRefs reads what the manifest at where (as Write returned it)
// names, decrypted with enc.
func manifestRefs(t *testing.T, s *Store, where string, enc *snapshot.Encryption) snapshot.Refs {
	t.Helper()
	data, err := s.Blobs.Get(context.Background(), where[strings.LastIndexAny(where, "/\\")+1:])
	if err != nil {
		t.Fatal(err)
	}
	refs, err := snapshot.ManifestRefs(data, enc)
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// storedNames lists every object of a store, sorted, handing each with its
// content to check (when not nil).
func storedNames(t *testing.T, s *Store, check func(name string, data []byte)) []string {
	t.Helper()
	infos, err := s.Blobs.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, info := range infos {
		names = append(names, info.Name)
		if check == nil {
			continue
		}
		data, err := s.Blobs.Get(context.Background(), info.Name)
		if err != nil {
			t.Fatal(err)
		}
		check(info.Name, data)
	}
	slices.Sort(names)
	return names
}
