package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
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
	}
	for _, tc := range tests {
		_, err := Decode(tc.data, tc.limits)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
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
