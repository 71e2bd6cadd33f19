// Package snapshot reads and writes wasmsr snapshot files: the state of a
// paused program (its instance: memory, globals, tables, dropped segments
// and the paused call; and its WASI state) bound to the instrumented
// module it belongs to.
//
// A file is a fixed header followed by sections:
//
//	header   magic "WASMSR\x00S", u32 format version, u32 section count,
//	         [32]byte SHA-256 of the instrumented module, u32 CRC-32C of
//	         the preceding 48 bytes
//	section  u8 id, u8 flags, u16 reserved (0), u64 stored length,
//	         u64 raw length, u32 CRC-32C of the section header's first
//	         20 bytes and the stored bytes, then the stored bytes
//	         (zstd-compressed when flags has bit 0)
//
// Sections are meta (1, JSON), memory (2), instance (3) and WASI (4), each
// exactly once; a reader of this version refuses any other.
//
// All integers are little-endian. The memory section elides all-zero
// 64 KiB pages: it is a page bitmap followed by the non-zero pages. Every
// length is checked against a limit before anything is allocated, and
// decompression stops at the declared raw length, which the reader bounds
// (memory by the module's memory limit, the other sections by constants:
// see maxStateSection), so a hostile file cannot make a reader allocate
// without bound.
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
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/wasmsr/wasmsr/unwind"
)

// Magic starts every snapshot file.
const Magic = "WASMSR\x00S"

// Version is the format version this package writes and reads.
const Version = 1

// PageSize is the granularity of zero-page elision: WebAssembly's page.
const PageSize = 65536

// Section ids.
const (
	sectionMeta     = 1
	sectionMemory   = 2
	sectionInstance = 3
	sectionWASI     = 4
)

const flagZstd = 1

const headerSize = 8 + 4 + 4 + 32 + 4
const sectionHeaderSize = 1 + 1 + 2 + 8 + 8 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a paused program.
type Snapshot struct {
	// ModuleSHA256 identifies the instrumented module the state belongs to.
	ModuleSHA256 [32]byte
	Meta         Meta
	Instance     *unwind.InstanceState
	// WASI is the encoded state of the host's WASI implementation.
	WASI []byte
}

// Meta describes a snapshot for people and tools; nothing in it is needed
// to resume.
type Meta struct {
	Created time.Time `json:"created"`
	// Module is where the module was loaded from when the snapshot was taken.
	Module string `json:"module,omitempty"`
	// Seq counts the snapshots of one job.
	Seq uint64 `json:"seq"`
	// Reason says what triggered the snapshot (an interval, a signal...).
	Reason string `json:"reason,omitempty"`
	// Paused says how long the program was paused for the capture.
	Paused time.Duration `json:"paused_ns"`
	// Host names the machine that took it.
	Host string `json:"host,omitempty"`
	// StdoutOffset and StderrOffset are how far the program's output had
	// gone into a regular file at the snapshot (-1: not a regular file), so
	// that a resume writing to the same file drops what came after.
	StdoutOffset int64 `json:"stdout_offset"`
	StderrOffset int64 `json:"stderr_offset"`
	// Mounts are the job's directories, HOST:GUEST[:ro], for a resume on
	// the same host to mount them again by default.
	Mounts []string `json:"mounts,omitempty"`
}

// ErrFormat is wrapped by every error about the content of a file.
var ErrFormat = errors.New("not a valid wasmsr snapshot")

func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Encoder encodes snapshots. It keeps its zstd encoder and its output
// buffer between uses, so that taking snapshots over and over does not
// leave tens of megabytes of garbage each time (hostrt runs the collector
// in a paused program's time).
type Encoder struct {
	zw  *zstd.Encoder
	out bytes.Buffer
}

// NewEncoder returns an encoder.
func NewEncoder() *Encoder {
	// The level is the default: fast enough to keep up with the snapshot
	// interval on large memories, and zero pages are elided anyway.
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // only invalid options fail
	}
	return &Encoder{zw: zw}
}

// Encode writes s to w.
func (e *Encoder) Encode(w io.Writer, s *Snapshot) error {
	meta, err := json.Marshal(s.Meta)
	if err != nil {
		return err
	}
	sections := []struct {
		id       byte
		compress bool
		parts    [][]byte // the raw bytes, in pieces
		rawLen   uint64
	}{
		{sectionMeta, false, [][]byte{meta}, uint64(len(meta))},
		{sectionMemory, true, nonZeroPages(s.Instance.Memory), uint64(len(s.Instance.Memory))},
		{sectionInstance, true, [][]byte{encodeInstance(s.Instance)}, 0},
		{sectionWASI, true, [][]byte{s.WASI}, 0},
	}
	// What a reader would refuse is not written (see maxStateSection).
	for _, sec := range sections {
		if sec.id == sectionMemory {
			continue
		}
		n := 0
		for _, p := range sec.parts {
			n += len(p)
		}
		if bound := sectionLimit(sec.id); uint64(n) > bound {
			what := ""
			if sec.id == sectionWASI {
				what = " (the contents of embedded files count)"
			}
			return fmt.Errorf("snapshot: the %s is %d bytes, more than the %d a snapshot may hold%s", sectionNames[sec.id], n, bound, what)
		}
	}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, Magic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, Version)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(sections)))
	hdr = append(hdr, s.ModuleSHA256[:]...)
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, sec := range sections {
		var stored []byte
		var flags byte
		rawLen := sec.rawLen
		if sec.compress {
			e.out.Reset()
			e.zw.Reset(&e.out)
			n := 0
			for _, p := range sec.parts {
				e.zw.Write(p) // writes to a bytes.Buffer do not fail
				n += len(p)
			}
			if err := e.zw.Close(); err != nil {
				return err
			}
			stored, flags = e.out.Bytes(), flagZstd
			if rawLen == 0 {
				rawLen = uint64(n)
			}
		} else {
			stored = sec.parts[0]
		}
		sh := make([]byte, 0, sectionHeaderSize)
		sh = append(sh, sec.id, flags, 0, 0)
		sh = binary.LittleEndian.AppendUint64(sh, uint64(len(stored)))
		sh = binary.LittleEndian.AppendUint64(sh, rawLen)
		sh = binary.LittleEndian.AppendUint32(sh, crc32.Update(crc32.Checksum(sh, castagnoli), castagnoli, stored))
		if _, err := w.Write(sh); err != nil {
			return err
		}
		if _, err := w.Write(stored); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes s to path atomically: to a temporary file in the same
// directory, synced, then renamed over path, so that a crash leaves either
// the old file or the new one, never a torn one.
func (e *Encoder) WriteFile(path string, s *Snapshot) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := e.Encode(f, s); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	// The rename itself must reach the disk too.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// nonZeroPages is memory's section content without copying it: a bitmap
// of its non-zero pages, then those pages.
func nonZeroPages(mem []byte) [][]byte {
	pages := (len(mem) + PageSize - 1) / PageSize
	bitmap := make([]byte, (pages+7)/8)
	parts := [][]byte{bitmap}
	var zero [PageSize]byte
	for p := range pages {
		page := mem[p*PageSize : min((p+1)*PageSize, len(mem))]
		if !bytes.Equal(page, zero[:len(page)]) {
			bitmap[p/8] |= 1 << (p % 8)
			parts = append(parts, page)
		}
	}
	return parts
}

// Header is what a file says before its sections.
type Header struct {
	Version      uint32
	ModuleSHA256 [32]byte
	sections     uint32
}

// ReadHeader reads and checks a file's header, so that the caller can find
// the module before reading the rest.
func ReadHeader(data []byte) (*Header, error) {
	if len(data) < headerSize {
		if len(data) >= len(Magic) && string(data[:len(Magic)]) != Magic {
			return nil, formatError("bad magic")
		}
		return nil, formatError("truncated header (%d bytes)", len(data))
	}
	if string(data[:len(Magic)]) != Magic {
		return nil, formatError("bad magic")
	}
	h := &Header{Version: binary.LittleEndian.Uint32(data[8:])}
	if h.Version != Version {
		return nil, fmt.Errorf("%w: format version %d, this wasmsr reads version %d", ErrFormat, h.Version, Version)
	}
	if crc32.Checksum(data[:headerSize-4], castagnoli) != binary.LittleEndian.Uint32(data[headerSize-4:]) {
		return nil, formatError("header checksum mismatch")
	}
	h.sections = binary.LittleEndian.Uint32(data[12:])
	copy(h.ModuleSHA256[:], data[16:48])
	return h, nil
}

// Limits bound what a reader accepts.
type Limits struct {
	// MaxMemory is the largest memory the module can have, in bytes.
	MaxMemory uint64
}

// Bounds of the sections other than memory, on their raw (decompressed)
// length. Memory is bounded by the module's memory limit (Limits), as the
// program cannot have more. The others hold state that lives outside
// linear memory, which that limit does not bound, so they get constants:
//
//   - the metadata is a few fields of JSON (its largest part is the list
//     of mounts): a few KiB, so 1 MiB is generous;
//   - the instance section holds the globals, the tables that can change
//     and the dropped segments as varints: a few KiB for real programs,
//     and 1 GiB holds even a table at wazero's limit of 2^27 elements
//     (function references, at most 5 bytes each);
//   - the WASI state is small (descriptors, arguments, environment, at
//     most ~80 KiB of unread stdin) unless --snapshot-files embeds the
//     contents of the files the program has open for writing, which can
//     be large and are unrelated to its memory. The bound is the same
//     1 GiB, what `wasmsr serve` accepts as a whole job by default.
//
// The encoder refuses to write a section beyond its bound, so that every
// snapshot written can be read back: a job whose open files are too large
// to embed fails to snapshot, with a clear error, rather than leaving a
// snapshot that no resume accepts. A reader thus never decompresses more
// than the larger of the module's memory limit and 1 GiB, whatever the
// file declares: every declared raw length is checked before anything is
// decompressed, and the bytes must then be exactly that many.
const (
	maxMetaSection  = 1 << 20
	maxStateSection = 1 << 30
)

// sectionNames name the sections in errors.
var sectionNames = [...]string{sectionMeta: "metadata", sectionMemory: "memory", sectionInstance: "instance", sectionWASI: "WASI state"}

// sectionLimit is the bound of a section other than memory's raw length.
func sectionLimit(id byte) uint64 {
	if id == sectionMeta {
		return maxMetaSection
	}
	return maxStateSection
}

// Decode reads a snapshot from data. It checks every checksum and refuses
// memory larger than limits.MaxMemory.
func Decode(data []byte, limits Limits) (*Snapshot, error) {
	h, err := ReadHeader(data)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{ModuleSHA256: h.ModuleSHA256}
	zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(max(limits.MaxMemory, maxStateSection)))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	rest := data[headerSize:]
	seen := map[byte]bool{}
	var memory []byte
	for k := range h.sections {
		if len(rest) < sectionHeaderSize {
			return nil, formatError("truncated: section %d of %d is missing", k+1, h.sections)
		}
		id, flags, sh := rest[0], rest[1], rest[:sectionHeaderSize-4]
		storedLen := binary.LittleEndian.Uint64(rest[4:])
		rawLen := binary.LittleEndian.Uint64(rest[12:])
		sum := binary.LittleEndian.Uint32(rest[20:])
		rest = rest[sectionHeaderSize:]
		if storedLen > uint64(len(rest)) {
			return nil, formatError("truncated: section %d needs %d bytes, %d left", id, storedLen, len(rest))
		}
		stored := rest[:storedLen]
		rest = rest[storedLen:]
		if crc32.Update(crc32.Checksum(sh, castagnoli), castagnoli, stored) != sum {
			return nil, formatError("section %d checksum mismatch", id)
		}
		if seen[id] {
			return nil, formatError("section %d appears twice", id)
		}
		seen[id] = true
		if id < sectionMeta || id > sectionWASI {
			return nil, formatError("unknown section %d", id)
		}
		// limit bounds the raw bytes; exact says they must be rawLen.
		var limit uint64
		exact := id != sectionMemory
		if id == sectionMemory {
			if rawLen > limits.MaxMemory {
				return nil, formatError("memory of %d bytes is more than the module's limit of %d", rawLen, limits.MaxMemory)
			}
			// The memory's raw length is its size; the bytes are a page
			// bitmap and the non-zero pages.
			pages := (rawLen + PageSize - 1) / PageSize
			limit = (pages+7)/8 + rawLen
		} else {
			if bound := sectionLimit(id); rawLen > bound {
				return nil, formatError("section %d (%s) declares %d bytes, more than the %d it may hold", id, sectionNames[id], rawLen, bound)
			}
			limit = rawLen
		}
		raw := stored
		if flags&flagZstd != 0 {
			if raw, err = decompress(zr, stored, limit); err != nil {
				return nil, formatError("section %d: %v", id, err)
			}
		} else if flags != 0 {
			return nil, formatError("section %d has unknown flags 0x%x", id, flags)
		}
		if exact && uint64(len(raw)) != rawLen {
			return nil, formatError("section %d (%s) holds %d bytes, its header declares %d", id, sectionNames[id], len(raw), rawLen)
		}
		if uint64(len(raw)) > limit {
			return nil, formatError("section %d is larger than %d bytes", id, limit)
		}
		switch id {
		case sectionMeta:
			if err := json.Unmarshal(raw, &s.Meta); err != nil {
				return nil, formatError("metadata: %v", err)
			}
		case sectionMemory:
			if memory, err = restoreZeroPages(raw, rawLen); err != nil {
				return nil, formatError("memory: %v", err)
			}
		case sectionInstance:
			if s.Instance, err = decodeInstance(raw); err != nil {
				return nil, formatError("instance: %v", err)
			}
		case sectionWASI:
			s.WASI = raw
		default:
			return nil, formatError("unknown section %d", id)
		}
	}
	if len(rest) != 0 {
		return nil, formatError("%d bytes after the last section", len(rest))
	}
	for _, id := range []byte{sectionMeta, sectionMemory, sectionInstance, sectionWASI} {
		if !seen[id] {
			return nil, formatError("section %d is missing", id)
		}
	}
	s.Instance.Memory = memory
	return s, nil
}

// decompress decompresses a zstd frame, stopping past limit bytes.
func decompress(zr *zstd.Decoder, stored []byte, limit uint64) ([]byte, error) {
	if err := zr.Reset(bytes.NewReader(stored)); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(raw)) > limit {
		return nil, fmt.Errorf("decompresses to more than %d bytes", limit)
	}
	return raw, nil
}

func restoreZeroPages(raw []byte, size uint64) ([]byte, error) {
	pages := int((size + PageSize - 1) / PageSize)
	if len(raw) < (pages+7)/8 {
		return nil, errors.New("truncated page bitmap")
	}
	bitmap, data := raw[:(pages+7)/8], raw[(pages+7)/8:]
	mem := make([]byte, size)
	for p := range pages {
		if bitmap[p/8]&(1<<(p%8)) == 0 {
			continue
		}
		n := min(PageSize, int(size)-p*PageSize)
		if len(data) < n {
			return nil, fmt.Errorf("page %d is missing", p)
		}
		copy(mem[p*PageSize:], data[:n])
		data = data[n:]
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("%d bytes beyond the pages the bitmap names", len(data))
	}
	return mem, nil
}

// ReadFile reads a snapshot file; limits returns the limits once the
// module is known from the header.
func ReadFile(path string, limits func(*Header) (Limits, error)) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := ReadHeader(data)
	if err != nil {
		return nil, err
	}
	l, err := limits(h)
	if err != nil {
		return nil, err
	}
	return Decode(data, l)
}

// DecodeMeta reads only a file's metadata, checking the header and the
// metadata section (the first): enough to describe a snapshot or find its
// module before the whole file is read.
func DecodeMeta(data []byte) (*Header, *Meta, error) {
	h, err := ReadHeader(data)
	if err != nil {
		return nil, nil, err
	}
	rest := data[headerSize:]
	if h.sections == 0 || len(rest) < sectionHeaderSize || rest[0] != sectionMeta || rest[1] != 0 {
		return nil, nil, formatError("the metadata section does not come first")
	}
	storedLen := binary.LittleEndian.Uint64(rest[4:])
	if storedLen > uint64(len(rest)-sectionHeaderSize) {
		return nil, nil, formatError("truncated metadata")
	}
	if storedLen > maxMetaSection {
		return nil, nil, formatError("section %d (%s) declares %d bytes, more than the %d it may hold", sectionMeta, sectionNames[sectionMeta], storedLen, maxMetaSection)
	}
	stored := rest[sectionHeaderSize : sectionHeaderSize+storedLen]
	if crc32.Update(crc32.Checksum(rest[:sectionHeaderSize-4], castagnoli), castagnoli, stored) != binary.LittleEndian.Uint32(rest[20:]) {
		return nil, nil, formatError("section %d checksum mismatch", sectionMeta)
	}
	var meta Meta
	if err := json.Unmarshal(stored, &meta); err != nil {
		return nil, nil, formatError("metadata: %v", err)
	}
	return h, &meta, nil
}
