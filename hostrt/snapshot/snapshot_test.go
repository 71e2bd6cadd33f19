package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/unwind"
)

func sample() *Snapshot {
	mem := make([]byte, 5*PageSize)
	copy(mem[10:], "hello")
	mem[3*PageSize+7] = 0xFF
	mem[5*PageSize-1] = 1
	return &Snapshot{
		ModuleSHA256: [32]byte{1, 2, 3},
		Meta:         Meta{Created: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Module: "m.wasm", Seq: 7, Reason: "interval", Paused: 1500 * time.Microsecond},
		Instance: &unwind.InstanceState{
			Memory:      mem,
			Globals:     []unwind.GlobalValue{{Index: 0, Lo: 65536}, {Index: 3, Lo: 1, Hi: 1 << 63}},
			Tables:      []unwind.TableValues{{Index: 1, Values: []uint64{0, 5, 9}}},
			DroppedData: []uint32{2},
			Export:      "_start",
			Params:      []uint64{42},
			Buffer:      4 * PageSize,
		},
		WASI: []byte("wasi state"),
	}
}

func encode(t testing.TB, s *Snapshot) []byte {
	var b bytes.Buffer
	if err := NewEncoder().Encode(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var limits = Limits{MaxMemory: 1 << 32}

func TestRoundTrip(t *testing.T) {
	s := sample()
	data := encode(t, s)
	got, err := Decode(data, limits)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip changed the snapshot:\ngot  %+v\nwant %+v", got, s)
	}
	// Zero pages are elided: two non-zero pages of five are stored, and
	// they compress.
	if len(data) > 2*PageSize {
		t.Errorf("%d bytes for 2 non-zero pages", len(data))
	}
	// Memory that is not a whole number of pages (never produced by wasm,
	// but the format allows it).
	s.Instance.Memory = s.Instance.Memory[:3*PageSize+100]
	if got, err := Decode(encode(t, s), limits); err != nil || !bytes.Equal(got.Instance.Memory, s.Instance.Memory) {
		t.Errorf("partial page: %v", err)
	}
}

func TestBadSnapshots(t *testing.T) {
	good := encode(t, sample())
	badVersion := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badVersion[8:], 99)
	binary.LittleEndian.PutUint32(badVersion[headerSize-4:], crc32.Checksum(badVersion[:headerSize-4], castagnoli))
	tests := []struct {
		name   string
		data   []byte
		limits Limits
		want   string
	}{
		{"empty", nil, limits, "not a valid wasmsr snapshot: truncated header (0 bytes)"},
		{"not a snapshot", []byte("\x00asm\x01\x00\x00\x00 a wasm module, not a snapshot........................."), limits, "not a valid wasmsr snapshot: bad magic"},
		{"other version", badVersion, limits, "not a valid wasmsr snapshot: format version 99, this wasmsr reads version 1"},
		{"truncated", good[:len(good)-3], limits, "not a valid wasmsr snapshot: truncated: section 4 needs 23 bytes, 20 left"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), limits, "not a valid wasmsr snapshot: 1 bytes after the last section"},
		{"memory over the limit", good, Limits{MaxMemory: 4 * PageSize}, "not a valid wasmsr snapshot: memory of 327680 bytes is more than the module's limit of 262144"},
		// Declared raw lengths beyond a section's bound are refused before
		// anything is decompressed; within it, they must be exact.
		{"metadata declared too large", withRawLen(t, good, sectionMeta, maxMetaSection+1), limits,
			"not a valid wasmsr snapshot: section 1 (metadata) declares 1048577 bytes, more than the 1048576 it may hold"},
		{"instance declared too large", withRawLen(t, good, sectionInstance, maxStateSection+1), limits,
			"not a valid wasmsr snapshot: section 3 (instance) declares 1073741825 bytes, more than the 1073741824 it may hold"},
		{"WASI state declared too large", withRawLen(t, good, sectionWASI, 1<<62), limits,
			"not a valid wasmsr snapshot: section 4 (WASI state) declares 4611686018427387904 bytes, more than the 1073741824 it may hold"},
		{"WASI state declared one byte longer", withRawLen(t, good, sectionWASI, uint64(len("wasi state"))+1), limits,
			"not a valid wasmsr snapshot: section 4 (WASI state) holds 10 bytes, its header declares 11"},
		{"WASI state declared one byte shorter", withRawLen(t, good, sectionWASI, uint64(len("wasi state"))-1), limits,
			"not a valid wasmsr snapshot: section 4: decompresses to more than 9 bytes"},
		{"metadata declared shorter", withRawLen(t, good, sectionMeta, 3), limits,
			fmt.Sprintf("not a valid wasmsr snapshot: section 1 (metadata) holds %d bytes, its header declares 3", metaLen(t, good))},
	}
	for _, tc := range tests {
		_, err := Decode(tc.data, tc.limits)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// sectionAt returns the offset of section id's header in data.
func sectionAt(t *testing.T, data []byte, id byte) int {
	t.Helper()
	for off := headerSize; off+sectionHeaderSize <= len(data); off += sectionHeaderSize + int(binary.LittleEndian.Uint64(data[off+4:])) {
		if data[off] == id {
			return off
		}
	}
	t.Fatalf("no section %d", id)
	return 0
}

// withRawLen returns data with section id's declared raw length set to n
// (its checksum updated).
func withRawLen(t *testing.T, data []byte, id byte, n uint64) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	off := sectionAt(t, out, id)
	binary.LittleEndian.PutUint64(out[off+12:], n)
	stored := out[off+sectionHeaderSize : off+sectionHeaderSize+int(binary.LittleEndian.Uint64(out[off+4:]))]
	sum := crc32.Update(crc32.Checksum(out[off:off+sectionHeaderSize-4], castagnoli), castagnoli, stored)
	binary.LittleEndian.PutUint32(out[off+sectionHeaderSize-4:], sum)
	return out
}

// metaLen is the length of a file's metadata section (stored raw).
func metaLen(t *testing.T, data []byte) uint64 {
	return binary.LittleEndian.Uint64(data[sectionAt(t, data, sectionMeta)+4:])
}

// TestEncodeBounds: a section the reader would refuse is not written.
func TestEncodeBounds(t *testing.T) {
	s := sample()
	s.Meta.Reason = strings.Repeat("x", maxMetaSection)
	meta, err := json.Marshal(s.Meta)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = NewEncoder().Encode(&b, s)
	want := fmt.Sprintf("snapshot: the metadata is %d bytes, more than the 1048576 a snapshot may hold", len(meta))
	if err == nil || err.Error() != want || b.Len() != 0 {
		t.Errorf("Encode: %v, %d bytes written; want %q and nothing written", err, b.Len(), want)
	}
}

// TestEveryCorruption: every truncation and every single-bit flip of a
// snapshot is refused, never accepted and never a panic.
func TestEveryCorruption(t *testing.T) {
	good := encode(t, sample())
	for n := range len(good) {
		if _, err := Decode(good[:n], limits); err == nil {
			t.Fatalf("truncation to %d bytes accepted", n)
		}
	}
	for i := range len(good) {
		for bit := range 8 {
			bad := append([]byte(nil), good...)
			bad[i] ^= 1 << bit
			if _, err := Decode(bad, limits); err == nil {
				t.Fatalf("flip of bit %d at byte %d accepted", bit, i)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sample()))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data, Limits{MaxMemory: 1 << 24})
		if err == nil {
			// What decodes must encode and decode to the same.
			again, err := Decode(encode(t, s), Limits{MaxMemory: 1 << 24})
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Fatalf("re-encoding a decoded snapshot: %v", err)
			}
		}
	})
}
