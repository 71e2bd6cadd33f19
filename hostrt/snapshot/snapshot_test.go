package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

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
		WASI:  []byte("wasi state"),
		Files: []File{{FD: 4, Data: []byte("output so far\n")}, {FD: 9, Data: []byte{}}},
	}
}

func encode(t testing.TB, s *Snapshot) []byte {
	return encodeWith(t, s, nil)
}

func encodeWith(t testing.TB, s *Snapshot, keys *Keys) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := NewEncoder()
	enc.Keys = keys
	if err := enc.Encode(&b, s); err != nil {
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
}

// TestVersion1: files written by the previous format are still read.
func TestVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/version1.wsr")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, limits)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	want.Files = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("version 1 file:\ngot  %+v\nwant %+v", got, want)
	}
}

// TestMemoryCopy: the memory goes straight into the instance's memory; a
// page that is zero in the snapshot is cleared where the fresh instance
// had data.
func TestMemoryCopy(t *testing.T) {
	s := sample()
	lazy := openLazy(t, encode(t, s))
	if lazy.Instance.Memory != nil || lazy.MemorySize() != 5*PageSize {
		t.Fatalf("memory read before it is copied, or wrong size %d", lazy.MemorySize())
	}
	dst := bytes.Repeat([]byte{0xAA}, 5*PageSize)
	if err := lazy.Memory().CopyTo(dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, s.Instance.Memory) {
		t.Error("the copied memory differs from the snapshot's")
	}
	if err := lazy.Memory().CopyTo(dst[:PageSize]); err == nil || err.Error() != "memory of 327680 bytes into 65536" {
		t.Errorf("copy into a smaller memory: %v", err)
	}
}

// TestChangedWhileRead: bytes that change between Open's check and the
// read are an error, not other data.
func TestChangedWhileRead(t *testing.T) {
	for _, keys := range []*Keys{nil, testKeys(t, 1)} {
		data := encodeWith(t, sample(), keys)
		file := &mutableFile{data: append([]byte(nil), data...)}
		rd, err := Open(file, int64(len(data)), keys)
		if err != nil {
			t.Fatal(err)
		}
		s, err := rd.Snapshot(limits)
		if err != nil {
			t.Fatal(err)
		}
		// Change the last byte of the memory section's stored bytes.
		mem := rd.sections[1]
		file.data[mem.off+int64(mem.stored)-1] ^= 1
		err = s.Memory().CopyTo(make([]byte, s.MemorySize()))
		if err == nil || !strings.Contains(err.Error(), "section 2 changed while it was read") {
			t.Errorf("keys %v: memory changed after Open: %v", keys != nil, err)
		}
	}
}

// openLazy opens an encoded snapshot as a Reader does, its memory and
// files left in the bytes.
func openLazy(t *testing.T, data []byte) *Snapshot {
	t.Helper()
	rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rd.Snapshot(limits)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type mutableFile struct{ data []byte }

func (f *mutableFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.data).ReadAt(p, off)
}

func TestFiles(t *testing.T) {
	s := sample()
	lazy := openLazy(t, encode(t, s))
	for i, f := range lazy.Files {
		if f.Data != nil {
			t.Errorf("file %d read before it is opened", i)
		}
		if f.FD != s.Files[i].FD || f.Size() != int64(len(s.Files[i].Data)) {
			t.Errorf("file %d: fd %d size %d, want fd %d size %d", i, f.FD, f.Size(), s.Files[i].FD, len(s.Files[i].Data))
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, s.Files[i].Data) {
			t.Errorf("file %d: %q, %v; want %q", i, got, err, s.Files[i].Data)
		}
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
		{"other version", badVersion, limits, "not a valid wasmsr snapshot: format version 99, this wasmsr reads versions 1 to 4"},
		{"truncated", good[:len(good)-3], limits, "not a valid wasmsr snapshot: truncated: section 5 needs 17 bytes, 14 left"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), limits, "not a valid wasmsr snapshot: 1 bytes after the last section"},
		{"memory over the module's limit", good, Limits{MaxMemory: 4 * PageSize}, "not a valid wasmsr snapshot: memory of 327680 bytes is more than the module's limit of 262144"},
		{"memory under the module's initial size", good, Limits{MinMemory: 6 * PageSize, MaxMemory: 1 << 32}, "not a valid wasmsr snapshot: memory of 327680 bytes is less than the module's initial 393216"},
		{"memory over the host's limit", good, Limits{MaxMemory: 1 << 32, HostMemory: 4 * PageSize}, "the snapshot's memory of 320.0 KiB is more than the 256.0 KiB this host gives a program"},
		{"memory not in pages", withRawLen(t, good, sectionMemory, 5*PageSize-1), limits, "not a valid wasmsr snapshot: memory of 327679 bytes is not a whole number of pages"},
		{"memory declared smaller", withRawLen(t, good, sectionMemory, 4*PageSize), limits, "not a valid wasmsr snapshot: memory: the page bitmap names pages past the end"},
		{"memory declared larger", withRawLen(t, good, sectionMemory, 9*PageSize), limits, "not a valid wasmsr snapshot: memory: page 4: missing"},
		// Declared raw lengths beyond a section's bound are refused before
		// anything is decompressed; within it, they must be exact.
		{"metadata declared too large", withRawLen(t, good, sectionMeta, maxMetaSection+1), limits,
			"not a valid wasmsr snapshot: section 1 (metadata) declares 1048577 bytes, more than the 1048576 it may hold"},
		{"instance declared too large", withRawLen(t, good, sectionInstance, maxInstanceSection+1), limits,
			"not a valid wasmsr snapshot: section 3 (instance) declares 268435457 bytes, more than the 268435456 it may hold"},
		{"instance beyond the host's limit", withRawLen(t, good, sectionInstance, 400<<10), Limits{MaxMemory: 1 << 32, HostMemory: 320 << 10},
			"not a valid wasmsr snapshot: section 3 (instance) declares 409600 bytes, more than the 327680 it may hold"},
		{"WASI state declared too large", withRawLen(t, good, sectionWASI, 1<<62), limits,
			"not a valid wasmsr snapshot: section 4 (WASI state) declares 4611686018427387904 bytes, more than the 16777216 it may hold"},
		{"WASI state declared one byte longer", withRawLen(t, good, sectionWASI, uint64(len("wasi state"))+1), limits,
			"not a valid wasmsr snapshot: section 4 (WASI state): holds 10 bytes, its header declares 11"},
		{"WASI state declared one byte shorter", withRawLen(t, good, sectionWASI, uint64(len("wasi state"))-1), limits,
			"not a valid wasmsr snapshot: section 4 (WASI state): holds more than the 9 bytes its header declares"},
		{"metadata declared shorter", withRawLen(t, good, sectionMeta, 3), limits,
			"not a valid wasmsr snapshot: section 1 (metadata): holds more than the 3 bytes its header declares"},
		{"file declared longer", withRawLen(t, good, sectionFile, 14+1), limits,
			"not a valid wasmsr snapshot: file of fd 4 is 1 bytes shorter than declared"},
		{"file declared shorter", withRawLen(t, good, sectionFile, 13), limits,
			"not a valid wasmsr snapshot: file of fd 4: holds more than the 0 bytes its header declares"},
		{"file without descriptor", withStored(t, good, sectionFile, []byte{4, 0, 0}), limits, "not a valid wasmsr snapshot: a file section of 3 bytes"},
		{"files beyond the bound", withRawLen(t, good, sectionFile, maxFiles+1), limits, "not a valid wasmsr snapshot: the embedded files hold more than 1073741824 bytes"},
		{"sections out of order", swapSections(t, good, sectionInstance, sectionWASI), limits, "not a valid wasmsr snapshot: section 4 where section 3 (instance) belongs"},
		{"file twice", withFD(t, good, 1, 4), limits, "not a valid wasmsr snapshot: two files for fd 4"},
		{"window too large", withStored(t, good, sectionWASI, hugeWindowFrame(t)), limits, "not a valid wasmsr snapshot: section 4 (WASI state): window size exceeded"},
	}
	for _, tc := range tests {
		s, err := Decode(tc.data, tc.limits)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if s != nil {
			t.Errorf("%s: a snapshot with the error", tc.name)
		}
	}
}

// rawSection is a section as a test takes files apart and puts them
// together again.
type rawSection struct {
	id, flags byte
	raw       uint64
	stored    []byte
}

// split takes a file apart.
func split(t testing.TB, data []byte) (header []byte, sections []rawSection) {
	t.Helper()
	for off := headerSize; off < len(data); {
		n := int(binary.LittleEndian.Uint64(data[off+4:]))
		sections = append(sections, rawSection{id: data[off], flags: data[off+1], raw: binary.LittleEndian.Uint64(data[off+12:]),
			stored: data[off+sectionHeaderSize : off+sectionHeaderSize+n]})
		off += sectionHeaderSize + n
	}
	return data[:headerSize], sections
}

// join puts a file together, every checksum right.
func join(header []byte, sections []rawSection) []byte {
	out := append([]byte(nil), header...)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(sections)))
	binary.LittleEndian.PutUint32(out[headerSize-4:], crc32.Checksum(out[:headerSize-4], castagnoli))
	for _, s := range sections {
		sh := []byte{s.id, s.flags, 0, 0}
		sh = binary.LittleEndian.AppendUint64(sh, uint64(len(s.stored)))
		sh = binary.LittleEndian.AppendUint64(sh, s.raw)
		sh = binary.LittleEndian.AppendUint32(sh, crc32.Update(crc32.Checksum(sh, castagnoli), castagnoli, s.stored))
		out = append(append(out, sh...), s.stored...)
	}
	return out
}

// edit returns data with its sections changed by f.
func edit(t testing.TB, data []byte, f func([]rawSection) []rawSection) []byte {
	t.Helper()
	h, secs := split(t, data)
	return join(h, f(append([]rawSection(nil), secs...)))
}

// find returns the index of the n-th section id.
func find(secs []rawSection, id byte, n int) int {
	for i, s := range secs {
		if s.id == id {
			if n == 0 {
				return i
			}
			n--
		}
	}
	panic(fmt.Sprintf("no section %d", id))
}

// withRawLen returns data with section id's declared raw length set to n.
func withRawLen(t *testing.T, data []byte, id byte, n uint64) []byte {
	return edit(t, data, func(secs []rawSection) []rawSection {
		secs[find(secs, id, 0)].raw = n
		return secs
	})
}

// compressed is raw compressed as the encoder does.
func compressed(t testing.TB, raw []byte) []byte {
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(raw, nil)
}

// withContent returns data with section id's content replaced by raw.
func withContent(t *testing.T, data []byte, id byte, n int, raw []byte) []byte {
	return edit(t, data, func(secs []rawSection) []rawSection {
		i := find(secs, id, n)
		secs[i].stored, secs[i].raw, secs[i].flags = compressed(t, raw), uint64(len(raw)), flagZstd
		return secs
	})
}

// swapSections returns data with two sections swapped.
func swapSections(t *testing.T, data []byte, a, b byte) []byte {
	return edit(t, data, func(secs []rawSection) []rawSection {
		i, j := find(secs, a, 0), find(secs, b, 0)
		secs[i], secs[j] = secs[j], secs[i]
		return secs
	})
}

// hugeWindowFrame is a zstd frame of 10 bytes that asks for a 512 MiB
// window: frame header descriptor 0 (a window descriptor follows, no
// size), window 2^(10+19), then one raw block, the last.
func hugeWindowFrame(t *testing.T) []byte {
	return append([]byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, 19 << 3, 10<<3 | 1, 0, 0}, "wasi state"...)
}

// withStored returns data with section id's stored bytes replaced.
func withStored(t *testing.T, data []byte, id byte, stored []byte) []byte {
	return edit(t, data, func(secs []rawSection) []rawSection {
		secs[find(secs, id, 0)].stored = stored
		return secs
	})
}

// testKeys returns a key file's keys: n keys made from the seed bytes
// 1..n, the first signing.
func testKeys(t testing.TB, seeds ...byte) *Keys {
	t.Helper()
	var lines []string
	for _, seed := range seeds {
		line, err := NewKey(bytes.NewReader(bytes.Repeat([]byte{seed}, minKeySize)))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	ks, err := ParseKeys([]byte("# test keys\n\n" + strings.Join(lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return ks
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

// TestSigned: a signed file is read with its key, and with a key file that
// rotates to a new key; one changed byte anywhere, another key, or no
// signature, and Open refuses it before anything is decoded.
func TestSigned(t *testing.T) {
	s := sample()
	signed := encodeWith(t, s, testKeys(t, 1))
	for _, keys := range []*Keys{testKeys(t, 1), testKeys(t, 2, 1)} {
		rd, err := Open(bytes.NewReader(signed), int64(len(signed)), keys)
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := rd.Signature(); id != testKeys(t, 1).SigningKeyID() || !ok {
			t.Errorf("signature %q verified %v", id, ok)
		}
	}
	// Without keys the file reads as any other, its signer named but not
	// verified.
	rd, err := Open(bytes.NewReader(signed), int64(len(signed)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := rd.Signature(); id != testKeys(t, 1).SigningKeyID() || ok {
		t.Errorf("unverified signature %q verified %v", id, ok)
	}
	if got, err := Decode(signed, limits); err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("signed file read without keys: %v", err)
	}

	keys := testKeys(t, 1)
	for i := range len(signed) {
		bad := append([]byte(nil), signed...)
		bad[i] ^= 0x20
		_, err := Open(bytes.NewReader(bad), int64(len(bad)), keys)
		if err == nil {
			t.Fatalf("byte %d changed: accepted", i)
		}
		if i >= headerSize && !errors.Is(err, ErrSignature) {
			t.Fatalf("byte %d changed: %v, not a signature error", i, err)
		}
	}
	want := map[string]string{
		"another key":   "snapshot signature: signed with key " + testKeys(t, 1).SigningKeyID() + ", which is not one of the keys given",
		"unsigned":      "snapshot signature: the file is not signed",
		"re-signed":     "snapshot signature: the signature does not match: the file was changed after it was signed",
		"checksum kept": "snapshot signature: section 3 was changed after it was signed",
	}
	// A file whose content was changed and whose checksums were made
	// right again (as an attacker would) is refused for its signature.
	changed := withContent(t, signed, sectionInstance, 0, encodeInstance(&unwind.InstanceState{Export: "_stavt"}))
	// One that keeps the old checksum of the changed section is refused
	// for that.
	h, secs := split(t, signed)
	secs[2].stored = append([]byte(nil), secs[2].stored...)
	secs[2].stored[len(secs[2].stored)/2] ^= 1
	stale := join(h, secs)
	off := headerSize
	for _, sec := range secs[:2] {
		off += sectionHeaderSize + len(sec.stored)
	}
	copy(stale[off:off+sectionHeaderSize], signed[off:off+sectionHeaderSize])
	for name, tc := range map[string]struct {
		data []byte
		keys *Keys
	}{
		"another key":   {signed, testKeys(t, 2)},
		"unsigned":      {encode(t, s), keys},
		"re-signed":     {changed, keys},
		"checksum kept": {stale, keys},
	} {
		_, err := Open(bytes.NewReader(tc.data), int64(len(tc.data)), tc.keys)
		if err == nil || err.Error() != want[name] || !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want %q", name, err, want[name])
		}
	}
}

func TestParseKeys(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"", "no key in the file"},
		{"# only a comment\n", "no key in the file"},
		{"not base64!\n", "line 1: not a base64 key"},
		{"\nc2hvcnQ=\n", "line 2: a key of 5 bytes (want at least 32)"},
	} {
		if _, err := ParseKeys([]byte(tc.file)); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestDeclaredSizesCostNothing: a small file that declares a large memory
// costs nothing until the memory is copied, and copying it into fresh
// memory touches only the pages it holds.
func TestDeclaredSizesCostNothing(t *testing.T) {
	s := sample()
	s.Instance.Memory = make([]byte, 1<<30)
	s.Instance.Memory[1<<29] = 7
	data := encode(t, s)
	if len(data) > 8<<10 {
		t.Fatalf("%d bytes for a 1 GiB memory of one non-zero page", len(data))
	}
	s.Instance.Memory = nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := rd.Snapshot(limits)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("reading a 1 GiB snapshot's small sections allocated %d bytes", n)
	}
	if lazy.MemorySize() != 1<<30 {
		t.Errorf("memory size %d", lazy.MemorySize())
	}
}

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

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sample()))
	f.Add(encodeWith(f, sample(), testKeys(f, 1)))
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

// withFD returns data with the n-th file section's descriptor set to fd.
func withFD(t *testing.T, data []byte, n int, fd uint32) []byte {
	return edit(t, data, func(secs []rawSection) []rawSection {
		i := find(secs, sectionFile, n)
		secs[i].stored = append(binary.LittleEndian.AppendUint32(nil, fd), secs[i].stored[4:]...)
		return secs
	})
}

func TestSignData(t *testing.T) {
	keys := testKeys(t, 1)
	sig := keys.SignData("job header", []byte("header"))
	if err := testKeys(t, 2, 1).VerifyData("job header", []byte("header"), sig); err != nil {
		t.Errorf("a rotated key file refuses the old key's signature: %v", err)
	}
	for _, tc := range []struct {
		keys          *Keys
		purpose, data string
		sig, want     string
	}{
		{keys, "job header", "headex", sig, "snapshot signature: the signature of the job header does not match"},
		{keys, "module", "header", sig, "snapshot signature: the signature of the module does not match"},
		{keys, "job header", "header", "", "snapshot signature: the job header is not signed"},
		{keys, "job header", "header", "zz:00", "snapshot signature: a malformed signature of the job header"},
		{testKeys(t, 2), "job header", "header", sig, "snapshot signature: the job header is signed with key " + keys.SigningKeyID() + ", which is not one of the keys given"},
	} {
		if err := tc.keys.VerifyData(tc.purpose, []byte(tc.data), tc.sig); err == nil || err.Error() != tc.want || !errors.Is(err, ErrSignature) {
			t.Errorf("%q %q %q: %v, want %q", tc.purpose, tc.data, tc.sig, err, tc.want)
		}
	}
}
