package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/wasmsr/wasmsr/internal/atomicfile"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encoder encodes snapshots. It keeps its zstd encoder and its output
// buffer between uses, so that taking snapshots over and over does not
// leave tens of megabytes of garbage each time (hostrt runs the collector
// in a paused program's time).
type Encoder struct {
	// Keys, when set, sign every snapshot with their signing key.
	Keys *Keys

	zw  *zstd.Encoder
	out bytes.Buffer
}

// NewEncoder returns an encoder.
func NewEncoder() *Encoder {
	// The level is the default: fast enough to keep up with the snapshot
	// interval on large memories, and zero pages are elided anyway.
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(encoderWindow))
	if err != nil {
		panic(err) // only invalid options fail
	}
	return &Encoder{zw: zw}
}

// smallSection is the size up to which a section is compressed whole.
const smallSection = 1 << 20

// encoderWindow is the zstd window the encoder uses, which the decoder
// allows and no more: a frame asking for a larger one is refused rather
// than given the memory.
const encoderWindow = 8 << 20

// Encode writes s to w.
func (e *Encoder) Encode(w io.Writer, s *Snapshot) error {
	return e.encode(context.Background(), w, s, nil)
}

// EncodeChunked writes s to w as a manifest (format version 3, or 4 when
// c stores packs): its memory and files go to c's store as chunks, which
// the manifest names. Call c.Commit once the manifest is stored.
func (e *Encoder) EncodeChunked(ctx context.Context, w io.Writer, s *Snapshot, c *Chunker) error {
	return e.encode(ctx, w, s, c)
}

func (e *Encoder) encode(ctx context.Context, w io.Writer, s *Snapshot, c *Chunker) error {
	meta, err := json.Marshal(s.Meta)
	if err != nil {
		return err
	}
	memory := s.Instance.Memory
	if s.memory != nil {
		memory = make([]byte, s.memory.Size())
		if err := s.memory.CopyTo(memory); err != nil {
			return err
		}
	}
	if len(memory)%PageSize != 0 {
		return fmt.Errorf("snapshot: memory of %d bytes is not a whole number of pages", len(memory))
	}
	type section struct {
		id       byte
		compress bool
		parts    [][]byte // the raw bytes, in pieces
		file     *File
		// raw is the raw length, when it is not that of parts (rawSet).
		raw    uint64
		rawSet bool
	}
	var files int64
	for i := range s.Files {
		files += s.Files[i].Size()
	}
	// What a reader would refuse is not written.
	if files > maxFiles {
		return fmt.Errorf("snapshot: the files open for writing hold %d bytes, more than the %d a snapshot may hold", files, int64(maxFiles))
	}
	version := uint32(Version)
	memorySection := section{sectionMemory, true, nonZeroPages(memory), nil, uint64(len(memory)), true}
	var namedFiles [][]byte
	if c != nil {
		version = c.version()
		c.begin()
		named, files, err := c.name(ctx, memory, s.Files)
		if err != nil {
			return err
		}
		memorySection = section{sectionMemory, false, [][]byte{named}, nil, uint64(len(memory)), true}
		namedFiles = files
	}
	sections := []section{
		{sectionMeta, false, [][]byte{meta}, nil, 0, false},
		memorySection,
		{sectionInstance, true, [][]byte{encodeInstance(s.Instance)}, nil, 0, false},
		{sectionWASI, true, [][]byte{s.WASI}, nil, 0, false},
	}
	for i := range s.Files {
		f := &s.Files[i]
		if c == nil {
			sections = append(sections, section{id: sectionFile, compress: true, file: f})
		} else {
			sections = append(sections, section{sectionFile, false, [][]byte{namedFiles[i]}, nil, uint64(f.Size()), true})
		}
	}
	for _, sec := range sections[:4] {
		n := 0
		for _, p := range sec.parts {
			n += len(p)
		}
		if bound := sectionLimit(sec.id, version); sec.id != sectionMemory && uint64(n) > bound {
			return fmt.Errorf("snapshot: the %s is %d bytes, more than the %d a snapshot may hold", sectionNames[sec.id], n, bound)
		}
	}
	count := len(sections)
	var mac hash.Hash
	var id [keyIDSize]byte
	if e.Keys != nil {
		mac, id = e.Keys.mac()
		count++
	}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, Magic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, version)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(count))
	hdr = append(hdr, s.ModuleSHA256[:]...)
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if mac != nil {
		mac.Write(hdr)
	}
	for _, sec := range sections {
		stored, flags, rawLen := sec.parts, byte(0), uint64(0)
		if sec.compress {
			var err error
			if rawLen, err = e.compress(sec.parts, sec.file); err != nil {
				return err
			}
			stored, flags = [][]byte{e.out.Bytes()}, flagZstd
		} else {
			rawLen = uint64(len(sec.parts[0]))
		}
		if sec.rawSet {
			rawLen = sec.raw
		}
		sh, err := writeSection(w, sec.id, flags, rawLen, stored[0])
		if err != nil {
			return err
		}
		if mac != nil {
			signSection(mac, sh, sha256.Sum256(stored[0]))
		}
	}
	if mac != nil {
		body := make([]byte, 0, signatureBody)
		body = append(body, sigAlgHMACSHA256)
		body = append(body, id[:]...)
		body = mac.Sum(body)
		if _, err := writeSection(w, sectionSignature, 0, signatureBody, body); err != nil {
			return err
		}
	}
	return nil
}

// compress compresses a section's raw bytes, given in parts or as a file's
// content, into e.out, and returns their length. A section in one small
// part is compressed as one block whose frame says its size, so that the
// reader needs no more memory than that size to decompress it; the large
// ones are streamed with the encoder's window.
func (e *Encoder) compress(parts [][]byte, f *File) (uint64, error) {
	e.out.Reset()
	if f != nil {
		// The descriptor comes first, as it is: Reader.Snapshot lists the
		// files without decompressing them.
		e.out.Write(binary.LittleEndian.AppendUint32(nil, f.FD))
	}
	if f == nil && len(parts) == 1 && len(parts[0]) <= smallSection {
		e.out.Write(e.zw.EncodeAll(parts[0], e.out.AvailableBuffer()))
		return uint64(len(parts[0])), nil
	}
	e.zw.Reset(&e.out)
	var n uint64
	for _, p := range parts {
		e.zw.Write(p) // writes to a bytes.Buffer do not fail
		n += uint64(len(p))
	}
	if f != nil {
		r, err := f.Open()
		if err != nil {
			return 0, err
		}
		copied, err := io.Copy(e.zw, r)
		r.Close()
		if err != nil {
			return 0, fmt.Errorf("snapshot: the content of fd %d: %w", f.FD, err)
		}
		n += uint64(copied)
	}
	return n, e.zw.Close()
}

// writeSection writes a section and returns its header.
func writeSection(w io.Writer, id, flags byte, rawLen uint64, stored []byte) ([]byte, error) {
	sh := make([]byte, 0, sectionHeaderSize)
	sh = append(sh, id, flags, 0, 0)
	sh = binary.LittleEndian.AppendUint64(sh, uint64(len(stored)))
	sh = binary.LittleEndian.AppendUint64(sh, rawLen)
	sh = binary.LittleEndian.AppendUint32(sh, crc32.Update(crc32.Checksum(sh, castagnoli), castagnoli, stored))
	if _, err := w.Write(sh); err != nil {
		return nil, err
	}
	_, err := w.Write(stored)
	return sh, err
}

// WriteFile writes s to path atomically (atomicfile.Write): a crash leaves
// either the old file or the new one, never a torn one.
func (e *Encoder) WriteFile(path string, s *Snapshot) error {
	return atomicfile.Write(path, func(w io.Writer) error { return e.Encode(w, s) })
}

// nonZeroPages is memory's section content without copying it: a bitmap
// of its non-zero pages, then those pages.
func nonZeroPages(mem []byte) [][]byte {
	pages := len(mem) / PageSize
	bitmap := make([]byte, (pages+7)/8)
	parts := [][]byte{bitmap}
	for p := range pages {
		page := mem[p*PageSize : (p+1)*PageSize]
		if !isZero(page) {
			bitmap[p/8] |= 1 << (p % 8)
			parts = append(parts, page)
		}
	}
	return parts
}

var zeroPage [PageSize]byte

func isZero(page []byte) bool { return bytes.Equal(page, zeroPage[:len(page)]) }

// sectionLimit bounds the raw length of a section other than memory in a
// file of the given format version.
func sectionLimit(id byte, version uint32) uint64 {
	switch id {
	case sectionMeta:
		return maxMetaSection
	case sectionInstance:
		return maxInstanceSection
	case sectionWASI:
		if version == 1 {
			return maxWASISectionV1
		}
		return maxWASISection
	case sectionFile:
		return maxFiles
	case sectionSignature:
		return signatureBody
	}
	return 0
}
