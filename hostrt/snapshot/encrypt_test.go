package snapshot

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
)

// marker is written into the memory, a file and the metadata of
// secretSample: no stored object may contain it.
const marker = "PLAINTEXT-MARKER"

func secretSample() *Snapshot {
	s := sample()
	for p := 0; p < 3; p++ {
		copy(s.Instance.Memory[p*PageSize+100:], strings.Repeat(marker, 50))
	}
	s.Files[0].Data = []byte(strings.Repeat(marker+"\n", 1000))
	s.Meta.Reason = marker
	return s
}

func testEncryption(t testing.TB, seeds ...byte) *Encryption {
	t.Helper()
	e, err := NewEncryption(testKeys(t, seeds...))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sealChunked writes s as an encrypted manifest through c, returning the
// envelope.
func sealChunked(t testing.TB, s *Snapshot, c *Chunker) []byte {
	t.Helper()
	envelope, err := c.Encryption.Seal(encodeChunked(t, s, c))
	if err != nil {
		t.Fatal(err)
	}
	return envelope
}

// openSealed reads an encrypted manifest whole, its chunks from store.
func openSealed(data []byte, store Chunks, enc *Encryption) (*Snapshot, error) {
	rd, err := OpenEncrypted(bytes.NewReader(data), int64(len(data)), nil, enc)
	if err != nil {
		return nil, err
	}
	rd.Chunks = store
	s, err := rd.Snapshot(limits)
	if err != nil {
		return nil, err
	}
	return s, s.Load()
}

// TestEncryptedRoundTrip: an encrypted manifest and its chunks give back
// the snapshot, hold nothing of it in clear, and the next manifest stores
// only the chunks that changed.
func TestEncryptedRoundTrip(t *testing.T) {
	store := newMemChunks()
	enc := testEncryption(t, 1)
	c := NewChunker(store)
	c.Encryption = enc
	s := secretSample()
	envelope := sealChunked(t, s, c)
	got, err := openSealed(envelope, store, enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatal("round trip changed the snapshot")
	}
	if c.Stats.Written != 5 || c.Stats.Chunks != 6 {
		t.Errorf("first manifest: %+v, want 5 of 6 chunks written (5 pages, two of them equal, and a file chunk)", c.Stats)
	}
	objects := [][]byte{envelope}
	for _, chunk := range store.chunks {
		objects = append(objects, chunk)
	}
	for _, o := range objects {
		for _, secret := range []string{marker, "m.wasm", "wasi state", "_start"} {
			if bytes.Contains(o, []byte(secret)) {
				t.Errorf("a stored object of %d bytes holds %q in clear", len(o), secret)
			}
		}
	}

	s.Instance.Memory[2*PageSize+1] = 9
	envelope = sealChunked(t, s, c)
	if c.Stats.Written != 1 || c.Stats.Chunks != 6 {
		t.Errorf("second manifest: %+v, want 1 of 6 chunks written", c.Stats)
	}
	if got, err := openSealed(envelope, store, enc); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("second manifest: %v", err)
	}
	// A key file's other keys open what its first one sealed.
	if _, err := openSealed(envelope, store, testEncryption(t, 2, 1)); err != nil {
		t.Errorf("with the key second in the file: %v", err)
	}
}

// TestEncryptedAddresses: the same content has unrelated addresses under
// two keys and without one.
func TestEncryptedAddresses(t *testing.T) {
	var sets []map[Address]bool
	for _, enc := range []*Encryption{nil, testEncryption(t, 1), testEncryption(t, 2)} {
		store := newMemChunks()
		c := NewChunker(store)
		c.Encryption = enc
		encodeChunked(t, secretSample(), c)
		set := map[Address]bool{}
		for a := range store.chunks {
			set[a] = true
		}
		for _, other := range sets {
			for a := range set {
				if other[a] {
					t.Errorf("chunk %s is named the same under two keys", a)
				}
			}
		}
		sets = append(sets, set)
	}
}

// TestEncryptedErrors: each way an encrypted snapshot can fail to open is
// one exact line, and nothing is restored.
func TestEncryptedErrors(t *testing.T) {
	enc := testEncryption(t, 1)
	id := enc.KeyID()
	s := secretSample()
	victim := enc.sealing().addressOf(s.Instance.Memory[:PageSize])
	other := enc.sealing().addressOf(s.Instance.Memory[PageSize : 2*PageSize])
	for _, tc := range []struct {
		name   string
		damage func(envelope []byte, m *memChunks) []byte
		enc    *Encryption
		want   string
	}{
		{"no key", nil, nil, "the snapshot is encrypted (key " + id + ")"},
		{"wrong key", nil, testEncryption(t, 2), "encrypted with key " + id + ", not with the key given"},
		{"wrong keys", nil, testEncryption(t, 2, 3), "encrypted with key " + id + ", not with any of the keys given"},
		{"plain manifest", func(_ []byte, m *memChunks) []byte {
			c := NewChunker(m)
			return encodeChunked(t, s, c)
		}, enc, "the snapshot is not encrypted, and with an encryption key only encrypted snapshots are read"},
		{"tampered manifest", func(e []byte, _ *memChunks) []byte {
			e[len(e)-40] ^= 1
			return e
		}, enc, "not a valid wasmsr snapshot: the encrypted manifest does not decrypt with key " + id + ": it was changed"},
		{"tampered header", func(e []byte, _ *memChunks) []byte {
			e[13] = 1 // reserved
			return e
		}, enc, "not a valid wasmsr snapshot: unknown encryption algorithm 1"},
		{"truncated", func(e []byte, _ *memChunks) []byte { return e[:envelopeHeaderSize+3] }, enc,
			"not a valid wasmsr snapshot: truncated: the encrypted manifest is 3 bytes"},
		{"tampered chunk", func(e []byte, m *memChunks) []byte {
			m.chunks[victim][40] ^= 1
			return e
		}, enc, "memory: bad chunk " + victim.String() + ": does not decrypt with key " + id + ": it was changed, or is another chunk"},
		{"swapped chunk", func(e []byte, m *memChunks) []byte {
			m.chunks[victim] = m.chunks[other]
			return e
		}, enc, "memory: bad chunk " + victim.String() + ": does not decrypt with key " + id + ": it was changed, or is another chunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemChunks()
			c := NewChunker(store)
			c.Encryption = enc
			envelope := sealChunked(t, s, c)
			if tc.damage != nil {
				envelope = tc.damage(envelope, store)
			}
			got, err := openSealed(envelope, store, tc.enc)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, %v\nwant %s", got != nil, err, tc.want)
			}
		})
	}
}

// TestChunkCheckedAfterDecryption: a chunk sealed under its address by a
// writer with the key but with other content is refused by its keyed
// address.
func TestChunkCheckedAfterDecryption(t *testing.T) {
	enc := testEncryption(t, 1)
	store := newMemChunks()
	c := NewChunker(store)
	c.Encryption = enc
	s := secretSample()
	envelope := sealChunked(t, s, c)
	k := enc.sealing()
	victim := k.addressOf(s.Instance.Memory[:PageSize])
	zw, _ := chunkCodec()
	store.chunks[victim] = k.sealChunk(victim, zw.EncodeAll(s.Instance.Memory[PageSize:2*PageSize], nil))
	_, err := openSealed(envelope, store, enc)
	if want := "memory: bad chunk " + victim.String() + ": its content does not match its address"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func FuzzUnseal(f *testing.F) {
	enc := testEncryption(f, 1)
	store := newMemChunks()
	c := NewChunker(store)
	c.Encryption = enc
	manifest := encodeChunked(f, sample(), c)
	good, err := enc.Seal(manifest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(EnvelopeMagic))
	f.Add(good[:envelopeHeaderSize])
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := OpenEncrypted(bytes.NewReader(data), int64(len(data)), nil, enc)
		if err == nil {
			// The seeds are sealed with other nonces in each fuzzing
			// process: what opens must hold the manifest sealed.
			if inner, _, _ := enc.unseal(data); !bytes.Equal(inner, manifest) {
				t.Fatalf("an envelope that is not one sealed opened")
			}
			rd.Chunks = store
			if _, err := rd.Snapshot(limits); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := OpenEncrypted(bytes.NewReader(data), int64(len(data)), nil, nil); err == nil && bytes.HasPrefix(data, []byte(EnvelopeMagic)) {
			t.Fatalf("an envelope opened without a key")
		}
	})
}

// BenchmarkChunkWrite writes 64 MiB of changed memory chunks, with and
// without encryption.
func BenchmarkChunkWrite(b *testing.B) {
	memory := make([]byte, 64<<20)
	for i := range memory {
		memory[i] = byte(i*7 + i>>13) // compressible, no two pages alike
	}
	for _, bc := range []struct {
		name string
		enc  *Encryption
	}{{"plain", nil}, {"encrypted", testEncryption(b, 1)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(memory)))
			for b.Loop() {
				c := NewChunker(discardChunks{})
				c.Encryption = bc.enc
				c.begin()
				if _, _, err := c.name(context.Background(), memory, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardChunks is a store that has nothing and keeps nothing.
type discardChunks struct{}

func (discardChunks) Has(context.Context, Address) (bool, error) { return false, nil }
func (discardChunks) Put(context.Context, Address, []byte) error { return nil }
func (discardChunks) Get(context.Context, Address) ([]byte, error) {
	panic("not kept")
}
