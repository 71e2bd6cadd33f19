package snapshot

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Reader reads a snapshot file in two steps, so that nothing in it is
// decoded before all of it is checked. Open reads every byte once: the
// header, the section headers and their checksums, and with keys the
// signature. Snapshot then decodes the small sections, checking every
// declared size against the module's and the host's limits before
// allocating it; the memory and the files stay in the file, and are read
// (and checked again, as they are read) only when they are copied where
// they go.
type Reader struct {
	r        io.ReaderAt
	size     int64
	version  uint32
	module   [32]byte
	sections []*sectionSource
	// Chunks is the store of a manifest's chunks (format versions 3 and
	// 4): set it before Snapshot.
	Chunks ChunkSource
	// signer is the key id of the file's signature, and verified says
	// that it was checked with that key.
	signer   string
	verified bool
	// key decrypts the chunks of a manifest that was encrypted.
	key *sealKey
}

// sectionSource is one section of a file, read through checks.
type sectionSource struct {
	r           io.ReaderAt
	id, flags   byte
	header      []byte // the section header's first 20 bytes
	off         int64  // of the stored bytes
	stored, raw uint64
	crc         uint32
	// digest is the SHA-256 of the stored bytes when the file was
	// verified with a key: reading the bytes again checks it too.
	digest *[sha256.Size]byte
	// fd is a file section's descriptor, its first 4 stored bytes; the
	// compressed content follows.
	fd uint32
}

// Open checks a snapshot file of size bytes: its header, every section's
// framing and checksum, and — with keys — its signature, all in one read
// of the file. With keys, a file that is not signed with one of them is
// refused (ErrSignature). Nothing is decoded.
// An encrypted manifest is refused (ErrEncrypted): see OpenEncrypted.
func Open(r io.ReaderAt, size int64, keys *Keys) (*Reader, error) {
	return OpenEncrypted(r, size, keys, nil)
}

func open(r io.ReaderAt, size int64, keys *Keys) (*Reader, error) {
	rd := &Reader{r: r, size: size}
	var mac hash.Hash
	if keys != nil {
		var err error
		if mac, err = rd.signature(keys); err != nil {
			return nil, err
		}
	}
	if err := rd.scan(mac); err != nil {
		if mac != nil && !errors.Is(err, ErrSignature) {
			return nil, fmt.Errorf("%w cannot be checked: %w", ErrSignature, err)
		}
		return nil, err
	}
	return rd, nil
}

// signature reads the file's signature section, the last signatureSize
// bytes, and returns the MAC to check it with.
func (rd *Reader) signature(keys *Keys) (hash.Hash, error) {
	if rd.size < headerSize+signatureSize {
		return nil, fmt.Errorf("%w: the file is not signed", ErrSignature)
	}
	var sig [signatureSize]byte
	if _, err := rd.r.ReadAt(sig[:], rd.size-signatureSize); err != nil {
		return nil, err
	}
	if sig[0] != sectionSignature || sig[1] != 0 || sig[2] != 0 || sig[3] != 0 ||
		binary.LittleEndian.Uint64(sig[4:]) != signatureBody || binary.LittleEndian.Uint64(sig[12:]) != signatureBody ||
		sig[sectionHeaderSize] != sigAlgHMACSHA256 {
		return nil, fmt.Errorf("%w: the file is not signed", ErrSignature)
	}
	var id [keyIDSize]byte
	copy(id[:], sig[sectionHeaderSize+1:])
	mac, ok := keys.verifier(id)
	if !ok {
		return nil, fmt.Errorf("%w: signed with key %x, which is not one of the keys given", ErrSignature, id)
	}
	rd.signer = hex.EncodeToString(id[:])
	return mac, nil
}

// scan reads the whole file once, checking its framing and checksums, and
// with mac its signature.
func (rd *Reader) scan(mac hash.Hash) error {
	in := bufio.NewReaderSize(io.NewSectionReader(rd.r, 0, rd.size), 256<<10)
	var hdr [headerSize]byte
	if n, err := io.ReadFull(in, hdr[:]); err != nil {
		if n >= len(Magic) && string(hdr[:len(Magic)]) != Magic {
			return formatError("bad magic")
		}
		return formatError("truncated header (%d bytes)", n)
	}
	if string(hdr[:len(Magic)]) != Magic {
		return formatError("bad magic")
	}
	rd.version = binary.LittleEndian.Uint32(hdr[8:])
	if rd.version < 1 || rd.version > PackedVersion {
		return fmt.Errorf("%w: format version %d, this wasmsr reads versions 1 to %d", ErrFormat, rd.version, PackedVersion)
	}
	if crc32.Checksum(hdr[:headerSize-4], castagnoli) != binary.LittleEndian.Uint32(hdr[headerSize-4:]) {
		return formatError("header checksum mismatch")
	}
	count := binary.LittleEndian.Uint32(hdr[12:])
	copy(rd.module[:], hdr[16:48])
	if mac != nil {
		mac.Write(hdr[:])
	}
	pos := int64(headerSize)
	buf := make([]byte, 64<<10)
	for k := range count {
		var sh [sectionHeaderSize]byte
		if _, err := io.ReadFull(in, sh[:]); err != nil {
			return formatError("truncated: section %d of %d is missing", k+1, count)
		}
		pos += sectionHeaderSize
		s := &sectionSource{r: rd.r, id: sh[0], flags: sh[1], header: append([]byte(nil), sh[:sectionHeaderSize-4]...), off: pos,
			stored: binary.LittleEndian.Uint64(sh[4:]), raw: binary.LittleEndian.Uint64(sh[12:]), crc: binary.LittleEndian.Uint32(sh[20:])}
		if err := rd.checkOrder(s, k, count); err != nil {
			return err
		}
		if s.stored > uint64(rd.size-pos) {
			return formatError("truncated: section %d needs %d bytes, %d left", s.id, s.stored, rd.size-pos)
		}
		crc := crc32.Checksum(s.header, castagnoli)
		var digest hash.Hash
		if mac != nil {
			digest = sha256.New()
		}
		if s.id == sectionFile && s.stored < 4 {
			return formatError("a file section of %d bytes", s.stored)
		}
		var body []byte // the signature's, kept
		for left := s.stored; left > 0; {
			n := int(min(left, uint64(len(buf))))
			if _, err := io.ReadFull(in, buf[:n]); err != nil {
				return formatError("truncated: section %d: %v", s.id, err)
			}
			if s.id == sectionFile && left == s.stored {
				s.fd = binary.LittleEndian.Uint32(buf)
			}
			crc = crc32.Update(crc, castagnoli, buf[:n])
			if digest != nil {
				digest.Write(buf[:n])
			}
			if s.id == sectionSignature {
				body = append(body, buf[:n]...)
			}
			left -= uint64(n)
		}
		pos += int64(s.stored)
		if crc != s.crc {
			if mac != nil {
				return fmt.Errorf("%w: section %d was changed after it was signed", ErrSignature, s.id)
			}
			return formatError("section %d checksum mismatch", s.id)
		}
		if s.id == sectionSignature {
			if mac != nil && !hmac.Equal(mac.Sum(nil), body[1+keyIDSize:]) {
				return fmt.Errorf("%w: the signature does not match: the file was changed after it was signed", ErrSignature)
			}
			if mac == nil {
				rd.signer = hex.EncodeToString(body[1 : 1+keyIDSize])
			}
			rd.verified = mac != nil
			continue
		}
		if digest != nil {
			var d [sha256.Size]byte
			digest.Sum(d[:0])
			s.digest = &d
			signSection(mac, sh[:], d)
		}
		rd.sections = append(rd.sections, s)
	}
	if pos != rd.size {
		return formatError("%d bytes after the last section", rd.size-pos)
	}
	if mac != nil && !rd.verified {
		return fmt.Errorf("%w: the file is not signed", ErrSignature)
	}
	return nil
}

// checkOrder checks that section s may come k-th of count: meta, memory,
// instance, WASI, then (version 2) files and an optional signature, last.
func (rd *Reader) checkOrder(s *sectionSource, k, count uint32) error {
	if s.header[2] != 0 || s.header[3] != 0 {
		return formatError("section %d has reserved bits set", s.id)
	}
	if s.flags&^flagZstd != 0 {
		return formatError("section %d has unknown flags 0x%x", s.id, s.flags)
	}
	switch {
	case k < 4:
		if s.id != byte(k+1) {
			return formatError("section %d where section %d (%s) belongs", s.id, k+1, sectionNames[k+1])
		}
	case rd.version == 1:
		return formatError("%d sections (version 1 has 4)", count)
	case s.id == sectionSignature:
		if k != count-1 {
			return formatError("the signature is not the last section")
		}
		if s.flags != 0 || s.stored != signatureBody || s.raw != signatureBody {
			return formatError("malformed signature section")
		}
	case s.id != sectionFile:
		return formatError("section %d after the file sections", s.id)
	}
	if s.id == sectionMeta && s.flags != 0 {
		return formatError("compressed metadata")
	}
	// A manifest names its memory's and its files' chunks, as is; a file
	// holds them compressed.
	if chunked := rd.chunked(); (s.id == sectionMemory || s.id == sectionFile) && (s.flags == 0) != chunked {
		return formatError("section %d has flags 0x%x in a version %d file", s.id, s.flags, rd.version)
	}
	return nil
}

// Version is the file's format version.
func (rd *Reader) Version() uint32 { return rd.version }

// ModuleSHA256 is the hash of the instrumented module the file belongs to.
func (rd *Reader) ModuleSHA256() [32]byte { return rd.module }

// Signature returns the id of the key the file is signed with, and
// whether Open checked the signature with it ("", false when unsigned).
func (rd *Reader) Signature() (keyID string, verified bool) { return rd.signer, rd.verified }

// Meta decodes the metadata.
func (rd *Reader) Meta() (*Meta, error) {
	raw, err := rd.sections[0].readAll(maxMetaSection)
	if err != nil {
		return nil, err
	}
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, formatError("metadata: %v", err)
	}
	return &meta, nil
}

// Limits bound what a snapshot may restore: what the module can hold, and
// what the host gives.
type Limits struct {
	// MinMemory and MaxMemory are the module's memory limits in bytes:
	// its initial size and its maximum (4 GiB when it declares none).
	MinMemory, MaxMemory uint64
	// HostMemory is the most memory the host gives a program, in bytes
	// (0: MaxMemory); it bounds the memory and the other sections.
	HostMemory uint64
	// Module, when set, bounds the instance section by what the module
	// has (see Shape): a snapshot cannot make the host allocate tables
	// or globals its module does not have.
	Module *Shape
}

// Shape is what a module holds that the instance section restores.
type Shape struct {
	// Globals is the number of mutable globals.
	Globals int
	// Tables gives the most elements each table whose contents are saved
	// can hold, by table index.
	Tables map[uint32]uint64
	// DroppedData and DroppedElems are the number of segments that can
	// be dropped.
	DroppedData, DroppedElems int
}

// host is the host bound, MaxMemory when none is set.
func (l Limits) host() uint64 {
	if l.HostMemory == 0 {
		return l.MaxMemory
	}
	return l.HostMemory
}

// Snapshot decodes the file's metadata, instance and WASI state within
// limits. Its memory and files stay in the file: the Reader's ReaderAt
// must stay readable until they have been copied out.
func (rd *Reader) Snapshot(limits Limits) (*Snapshot, error) {
	meta, err := rd.Meta()
	if err != nil {
		return nil, err
	}
	s := &Snapshot{ModuleSHA256: rd.module, Meta: *meta}
	mem := rd.sections[1]
	switch {
	case mem.raw%PageSize != 0:
		return nil, formatError("memory of %d bytes is not a whole number of pages", mem.raw)
	case mem.raw > limits.MaxMemory:
		return nil, formatError("memory of %d bytes is more than the module's limit of %d", mem.raw, limits.MaxMemory)
	case mem.raw < limits.MinMemory:
		return nil, formatError("memory of %d bytes is less than the module's initial %d", mem.raw, limits.MinMemory)
	case mem.raw > limits.host():
		return nil, fmt.Errorf("the snapshot's memory of %s is more than the %s this host gives a program", FormatBytes(int64(mem.raw)), FormatBytes(int64(limits.host())))
	}
	var packs Packer
	if rd.chunked() {
		if rd.Chunks == nil {
			return nil, fmt.Errorf("snapshot: a manifest (format version %d) is read from its store, which holds its chunks", rd.version)
		}
		if rd.version == PackedVersion {
			var ok bool
			if packs, ok = rd.Chunks.(Packer); !ok {
				return nil, fmt.Errorf("snapshot: a manifest of packs (format version %d) is read from a store of packs", rd.version)
			}
		}
		m, err := mem.chunkedMemory(rd.version)
		if err != nil {
			return nil, err
		}
		m.store, m.packs, m.key = rd.Chunks, packs, rd.key
		s.memory = m
	} else {
		s.memory = &memorySection{src: mem}
	}
	instance, err := rd.sections[2].readAll(min(sectionLimit(sectionInstance, rd.version), limits.host()))
	if err != nil {
		return nil, err
	}
	if s.Instance, err = decodeInstance(instance, limits.Module, limits.host()); err != nil {
		return nil, formatError("instance: %v", err)
	}
	if s.WASI, err = rd.sections[3].readAll(min(sectionLimit(sectionWASI, rd.version), limits.host())); err != nil {
		return nil, err
	}
	var files uint64
	fds := map[uint32]bool{}
	for _, f := range rd.sections[4:] {
		if files += f.raw; files > maxFiles {
			return nil, formatError("the embedded files hold more than %d bytes", int64(maxFiles))
		}
		if fds[f.fd] {
			return nil, formatError("two files for fd %d", f.fd)
		}
		fds[f.fd] = true
		if !rd.chunked() {
			s.Files = append(s.Files, File{FD: f.fd, size: int64(f.raw), src: f})
			continue
		}
		cf, err := f.chunkedFile(rd.version)
		if err != nil {
			return nil, err
		}
		cf.store, cf.packs, cf.key = rd.Chunks, packs, rd.key
		s.Files = append(s.Files, File{FD: f.fd, size: int64(f.raw), chunked: cf})
	}
	return s, nil
}

// Decode reads a whole snapshot from data, memory and files included
// (tests, and small snapshots in memory).
func Decode(data []byte, limits Limits) (*Snapshot, error) {
	rd, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, err
	}
	s, err := rd.Snapshot(limits)
	if err != nil {
		return nil, err
	}
	if err := s.Load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads the memory and the files of a snapshot that a Reader left in
// its file into Instance.Memory and Files[i].Data.
func (s *Snapshot) Load() error {
	if s.memory != nil {
		mem := make([]byte, s.memory.Size())
		if err := s.memory.CopyTo(mem); err != nil {
			return err
		}
		s.Instance.Memory, s.memory = mem, nil
	}
	for i := range s.Files {
		f := &s.Files[i]
		if f.src == nil && f.chunked == nil {
			continue
		}
		r, err := f.Open()
		if err != nil {
			return err
		}
		data := make([]byte, f.size)
		err = readExactly(r, data)
		r.Close()
		if err != nil {
			return err
		}
		*f = File{FD: f.FD, Data: data}
	}
	return nil
}

// checked reads a section's stored bytes, and at their end checks them
// against the checksum (and the digest) Open verified: a file that
// changed since is an error, not different data.
type checked struct {
	s      *sectionSource
	r      *io.SectionReader
	crc    uint32
	digest hash.Hash
}

func (s *sectionSource) open() *checked {
	c := &checked{s: s, r: io.NewSectionReader(s.r, s.off, int64(s.stored)), crc: crc32.Checksum(s.header, castagnoli)}
	if s.digest != nil {
		c.digest = sha256.New()
	}
	return c
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	if c.digest != nil {
		c.digest.Write(p[:n])
	}
	if err == io.EOF {
		if c.crc != c.s.crc || c.digest != nil && !bytes.Equal(c.digest.Sum(nil), c.s.digest[:]) {
			return n, fmt.Errorf("section %d changed while it was read", c.s.id)
		}
	}
	return n, err
}

// explain returns err, or that the section's bytes changed since Open
// checked them when they did: a decoder's error about a changed file would
// be misleading.
func (s *sectionSource) explain(err error) error {
	if err == nil {
		return nil
	}
	if _, rerr := io.Copy(io.Discard, s.open()); rerr != nil {
		return rerr
	}
	return err
}

// decoder returns the section's raw bytes as a stream (a file's after its
// descriptor).
func (s *sectionSource) decoder() (io.ReadCloser, error) {
	in := s.open()
	if s.id == sectionFile {
		var fd [4]byte
		if _, err := io.ReadFull(in, fd[:]); err != nil || binary.LittleEndian.Uint32(fd[:]) != s.fd {
			return nil, formatError("the file section of fd %d changed while it was read", s.fd)
		}
	}
	if s.flags&flagZstd == 0 {
		return io.NopCloser(in), nil
	}
	zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(encoderWindow))
	if err != nil {
		return nil, err
	}
	return zr.IOReadCloser(), nil
}

// readAll reads a small section whole, its declared raw length checked
// against bound first.
func (s *sectionSource) readAll(bound uint64) ([]byte, error) {
	if s.raw > bound {
		return nil, formatError("section %d (%s) declares %d bytes, more than the %d it may hold", s.id, sectionNames[s.id], s.raw, bound)
	}
	r, err := s.decoder()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	raw := make([]byte, s.raw)
	if err := s.explain(readExactly(r, raw)); err != nil {
		return nil, wrapFormat(fmt.Sprintf("section %d (%s)", s.id, sectionNames[s.id]), err)
	}
	return raw, nil
}

// readStored reads the stored bytes of a section kept as is (a manifest's
// memory or file section), bound checked first.
func (s *sectionSource) readStored(bound uint64) ([]byte, error) {
	if s.stored > bound {
		return nil, formatError("section %d (%s) holds %d bytes, more than the %d it may", s.id, sectionNames[s.id], s.stored, bound)
	}
	raw := make([]byte, s.stored)
	if err := readExactly(s.open(), raw); err != nil {
		return nil, wrapFormat(fmt.Sprintf("section %d (%s)", s.id, sectionNames[s.id]), err)
	}
	return raw, nil
}

// readExactly fills p from r and checks that r ends there.
func readExactly(r io.Reader, p []byte) error {
	if n, err := io.ReadFull(r, p); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return fmt.Errorf("holds %d bytes, its header declares %d", n, len(p))
		}
		return err
	}
	return expectEnd(r, len(p))
}

// expectEnd checks that r has nothing left after its declared n bytes.
func expectEnd(r io.Reader, n int) error {
	var one [1]byte
	switch m, err := io.ReadFull(r, one[:]); {
	case m > 0:
		return fmt.Errorf("holds more than the %d bytes its header declares", n)
	case err != io.EOF:
		return err
	}
	return nil
}

// openFile returns a file section's content, exactly size bytes.
func (s *sectionSource) openFile(fd uint32, size int64) (io.ReadCloser, error) {
	r, err := s.decoder()
	if err != nil {
		return nil, err
	}
	return &fileContent{r: r, src: s, left: size, fd: fd}, nil
}

// fileContent is a file's content: exactly its declared size, then the
// end of its section.
type fileContent struct {
	r    io.ReadCloser
	src  *sectionSource
	left int64
	fd   uint32
}

func (f *fileContent) Read(p []byte) (int, error) {
	if f.left == 0 {
		if err := expectEnd(f.r, 0); err != nil {
			return 0, wrapFormat(fmt.Sprintf("file of fd %d", f.fd), f.src.explain(err))
		}
		return 0, io.EOF
	}
	n, err := f.r.Read(p[:min(int64(len(p)), f.left)])
	f.left -= int64(n)
	switch {
	case err == io.EOF:
		return n, f.src.explain(formatError("file of fd %d is %d bytes shorter than declared", f.fd, f.left))
	case err != nil:
		return n, wrapFormat(fmt.Sprintf("file of fd %d", f.fd), f.src.explain(err))
	}
	return n, nil
}

func (f *fileContent) Close() error { return f.r.Close() }

// memorySection is a snapshot's memory left in its file.
type memorySection struct {
	src *sectionSource
}

// Size implements unwind.MemoryImage.
func (m *memorySection) Size() uint64 { return m.src.raw }

// CopyTo implements unwind.MemoryImage: it decompresses the memory's pages
// straight into dst, page by page, and clears the pages that are zero in
// the snapshot but not in dst (a fresh instance's data segments), without
// writing to those that are zero in both, so that memory the program never
// used costs nothing.
func (m *memorySection) CopyTo(dst []byte) error {
	if uint64(len(dst)) != m.src.raw {
		return fmt.Errorf("memory of %d bytes into %d", m.src.raw, len(dst))
	}
	r, err := m.src.decoder()
	if err != nil {
		return err
	}
	defer r.Close()
	err = m.src.explain(copyPages(r, dst))
	if err != nil && !errors.Is(err, ErrFormat) {
		err = wrapFormat("memory", err)
	}
	return err
}

func copyPages(r io.Reader, dst []byte) error {
	pages := len(dst) / PageSize
	bitmap := make([]byte, (pages+7)/8)
	if _, err := io.ReadFull(r, bitmap); err != nil {
		return formatError("memory: truncated page bitmap")
	}
	if pages%8 != 0 && bitmap[len(bitmap)-1]>>(pages%8) != 0 {
		return formatError("memory: the page bitmap names pages past the end")
	}
	for p := range pages {
		page := dst[p*PageSize : (p+1)*PageSize]
		if bitmap[p/8]&(1<<(p%8)) == 0 {
			if !isZero(page) {
				clear(page)
			}
			continue
		}
		if _, err := io.ReadFull(r, page); err != nil {
			return formatError("memory: page %d: %v", p, truncated(err))
		}
	}
	var one [1]byte
	switch n, err := io.ReadFull(r, one[:]); {
	case n > 0:
		return formatError("memory: more bytes than the pages its bitmap names")
	case err != io.EOF:
		return formatError("memory: %v", err)
	}
	return nil
}

// wrapFormat says where err happened, as a format error unless it is one
// already.
func wrapFormat(where string, err error) error {
	if errors.Is(err, ErrFormat) {
		return fmt.Errorf("%s: %w", where, err)
	}
	return formatError("%s: %v", where, err)
}

func truncated(err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return errors.New("missing")
	}
	return err
}

// FormatBytes writes a byte count for people: 512 B, 1.5 KiB, 64.0 MiB,
// 4.0 GiB.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
