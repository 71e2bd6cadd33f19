package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// A chunked snapshot (format version 3) is a small file, the manifest,
// whose memory and file sections name their content by address instead of
// holding it: the content is cut into chunks (64 KiB pages of memory, 1 MiB
// pieces of a file), each compressed on its own and stored under the
// SHA-256 of its raw bytes (in an encrypted store, under their keyed hash,
// sealed: encrypt.go). Consecutive snapshots of a job, and the jobs
// restored from one snapshot, then share every chunk that did not change,
// and a snapshot writes only the chunks its store lacks.
//
//	memory section (id 2, stored as is; raw length: the memory's size)
//	         u32 chunk size (65536), a bitmap of the non-zero chunks, then
//	         the 32-byte address of each non-zero chunk
//	file section (id 5, stored as is; raw length: the content's size)
//	         u32 descriptor, u32 chunk size (1 MiB), then the address of
//	         each chunk (the last one may be shorter)
//	chunk    a zstd frame of the chunk's raw bytes
//
// The manifest's checksums (and signature) cover the addresses, and a
// chunk is checked against its address when it is read, so a snapshot is
// checked end to end as a version 2 file is.

// ChunkedVersion is the format version of manifests.
const ChunkedVersion = 3

// Chunk sizes: memory's is WebAssembly's page, the unit in which programs
// change it (a job that changes 1 % of its pages writes about 1 % of its
// memory); a file's is larger, since files written while a job runs grow
// at their end.
const (
	MemoryChunkSize = PageSize
	FileChunkSize   = 1 << 20
)

// Address is a chunk's name: the SHA-256 of its raw bytes, or their keyed
// hash in an encrypted store (encrypt.go).
type Address [sha256.Size]byte

func (a Address) String() string { return hex.EncodeToString(a[:]) }

// Chunks is a store of chunks, by address.
type Chunks interface {
	// Has reports whether the store holds the chunk, and will still hold
	// it when the manifest being written that names it is complete.
	Has(ctx context.Context, a Address) (bool, error)
	// Put stores a chunk's stored (compressed) bytes.
	Put(ctx context.Context, a Address, stored []byte) error
	// Get returns a chunk's stored bytes; an error that wraps
	// fs.ErrNotExist when the store lacks it.
	Get(ctx context.Context, a Address) ([]byte, error)
}

// chunkTransfers is how many chunks are read or written at once: enough
// to hide an object store's latency (a few milliseconds a request) behind
// the cores' work; each holds one chunk.
const chunkTransfers = 32

// ErrChunk is wrapped by the errors about a chunk that is missing or is
// not what its address says.
var ErrChunk = errors.New("bad chunk")

// chunkCodec compresses and decompresses chunks; zstd's EncodeAll and
// DecodeAll may be called from many goroutines at once.
var chunkCodec = sync.OnceValues(func() (*zstd.Encoder, *zstd.Decoder) {
	// Entropy-coding every block's literals costs twice the time, but
	// without it a 64 KiB page with no repeats (data of few distinct
	// bytes) is stored as is: half-compressible memory took 100 % of its
	// size, and takes 50 % with it (as a version 2 file's stream does).
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(FileChunkSize),
		zstd.WithAllLitEntropyCompression(true))
	if err != nil {
		panic(err) // only invalid options fail
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxMemory(FileChunkSize),
		zstd.WithDecoderMaxWindow(FileChunkSize))
	if err != nil {
		panic(err)
	}
	return enc, dec
})

// readChunk fetches a chunk, decrypts it with k (nil: a store without
// encryption) and decompresses it into dst, which must be exactly its raw
// length, checking it against its address.
func readChunk(ctx context.Context, store Chunks, k *sealKey, a Address, dst []byte) error {
	stored, err := store.Get(ctx, a)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrChunk, a, err)
	}
	if stored, err = k.openChunk(a, stored); err != nil {
		return fmt.Errorf("%w %s: %v", ErrChunk, a, err)
	}
	_, dec := chunkCodec()
	raw, err := dec.DecodeAll(stored, dst[:0:len(dst)])
	switch {
	case err != nil:
		return fmt.Errorf("%w %s: %v", ErrChunk, a, err)
	case len(raw) != len(dst):
		return fmt.Errorf("%w %s: %d bytes, want %d", ErrChunk, a, len(raw), len(dst))
	}
	copy(dst, raw) // a no-op unless the decoder did not decode in place
	if k.addressOf(dst) != a {
		return fmt.Errorf("%w %s: its content does not match its address", ErrChunk, a)
	}
	return nil
}

// CheckChunk checks a chunk that arrives from elsewhere (a migration's
// sender) before it is stored: its stored bytes must be a zstd frame of
// at most FileChunkSize bytes whose SHA-256 is its address. Only chunks of
// stores without encryption can be checked so.
func CheckChunk(a Address, stored []byte) error {
	buf := checkBuffers.Get().(*[]byte)
	defer checkBuffers.Put(buf)
	_, dec := chunkCodec()
	raw, err := dec.DecodeAll(stored, (*buf)[:0])
	switch {
	case err != nil:
		return fmt.Errorf("%w %s: %v", ErrChunk, a, err)
	case len(raw) == 0 || len(raw) > FileChunkSize:
		return fmt.Errorf("%w %s: %d bytes (1 to %d)", ErrChunk, a, len(raw), FileChunkSize)
	case sha256.Sum256(raw) != a:
		return fmt.Errorf("%w %s: its content does not match its address", ErrChunk, a)
	}
	return nil
}

// checkBuffers hold the chunks CheckChunk decompresses.
var checkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, FileChunkSize); return &b }}

// Chunker writes the chunks of a job's snapshots. It remembers, for each
// memory chunk and file chunk of the last manifest written, a fingerprint
// of its content and its address: a chunk whose fingerprint did not change
// is not hashed, compressed or looked up again. Finding what changed then
// costs about a read of the memory (maphash runs at memory speed; SHA-256
// only over what changed).
type Chunker struct {
	Store Chunks
	// Encryption, when set, names chunks by their keyed hash and seals
	// them (encrypt.go). Call Forget after changing it.
	Encryption *Encryption
	// Stats describes the last manifest's chunks.
	Stats ChunkStats

	seeds [2]maphash.Seed
	last  chunkMemory
	next  chunkMemory
}

// ChunkStats counts the chunks of a manifest.
type ChunkStats struct {
	// Chunks and Bytes count the non-zero chunks the manifest names, and
	// their raw size.
	Chunks, Bytes int64
	// Written and WrittenBytes count the chunks stored for it (the rest
	// were in the store already), and their stored size.
	Written, WrittenBytes int64
}

// chunkMemory is what a Chunker remembers of a manifest: by memory chunk
// index, and by descriptor and chunk index.
type chunkMemory struct {
	memory []memo
	files  map[uint32][]memo
}

type memo struct {
	fingerprint [2]uint64
	addr        Address
}

// NewChunker returns a chunker that writes to store.
func NewChunker(store Chunks) *Chunker {
	return &Chunker{Store: store, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// chunkJob is one chunk to name (and store if new).
type chunkJob struct {
	data []byte
	old  *memo // the same chunk in the last manifest, if any
	out  *memo
}

// chunkAll names every chunk of jobs, storing those the store lacks, on a
// few goroutines: hashing and compressing use the cores, and a remote
// store's latency is hidden behind the other chunks.
func (c *Chunker) chunkAll(ctx context.Context, jobs []chunkJob) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := max(chunkTransfers, runtime.GOMAXPROCS(0))
	next := make(chan *chunkJob)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[Address]bool{} // in this manifest, so far
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if err := c.chunk(ctx, j, &mu, stored); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for i := range jobs {
		select {
		case next <- &jobs[i]:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

func (c *Chunker) chunk(ctx context.Context, j *chunkJob, mu *sync.Mutex, stored map[Address]bool) error {
	fp := [2]uint64{maphash.Bytes(c.seeds[0], j.data), maphash.Bytes(c.seeds[1], j.data)}
	if j.old != nil && j.old.fingerprint == fp {
		// Named by the last manifest, which stays until this one is
		// complete: the store holds it.
		*j.out = *j.old
		return nil
	}
	key := c.Encryption.sealing()
	addr := key.addressOf(j.data)
	*j.out = memo{fp, addr}
	mu.Lock()
	done := stored[addr]
	stored[addr] = true
	mu.Unlock()
	if done {
		return nil
	}
	has, err := c.Store.Has(ctx, addr)
	if err != nil || has {
		return err
	}
	enc, _ := chunkCodec()
	out := key.sealChunk(addr, enc.EncodeAll(j.data, make([]byte, 0, len(j.data)/2)))
	if err := c.Store.Put(ctx, addr, out); err != nil {
		return err
	}
	mu.Lock()
	c.Stats.Written++
	c.Stats.WrittenBytes += int64(len(out))
	mu.Unlock()
	return nil
}

// memorySection names the chunks of memory and returns the raw content of
// a manifest's memory section.
func (c *Chunker) memorySection(ctx context.Context, memory []byte) ([]byte, error) {
	chunks := len(memory) / MemoryChunkSize
	bitmap := make([]byte, (chunks+7)/8)
	c.next.memory = make([]memo, chunks)
	var jobs []chunkJob
	var order []int
	for i := range chunks {
		data := memory[i*MemoryChunkSize : (i+1)*MemoryChunkSize]
		if isZero(data) {
			continue
		}
		bitmap[i/8] |= 1 << (i % 8)
		j := chunkJob{data: data, out: &c.next.memory[i]}
		if i < len(c.last.memory) && c.last.memory[i] != (memo{}) {
			j.old = &c.last.memory[i]
		}
		jobs = append(jobs, j)
		order = append(order, i)
	}
	if err := c.chunkAll(ctx, jobs); err != nil {
		return nil, err
	}
	out := binary.LittleEndian.AppendUint32(nil, MemoryChunkSize)
	out = append(out, bitmap...)
	for _, i := range order {
		out = append(out, c.next.memory[i].addr[:]...)
	}
	c.Stats.Chunks += int64(len(jobs))
	c.Stats.Bytes += int64(len(jobs)) * MemoryChunkSize
	return out, nil
}

// fileSection names the chunks of a file's content and returns the raw
// content of its manifest section.
func (c *Chunker) fileSection(ctx context.Context, f *File) ([]byte, error) {
	data := f.Data
	if f.src != nil || f.chunked != nil {
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		data = make([]byte, f.size)
		err = readExactly(r, data)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("snapshot: the content of fd %d: %w", f.FD, err)
		}
	}
	n := (len(data) + FileChunkSize - 1) / FileChunkSize
	memos := make([]memo, n)
	if c.next.files == nil {
		c.next.files = map[uint32][]memo{}
	}
	c.next.files[f.FD] = memos
	last := c.last.files[f.FD]
	jobs := make([]chunkJob, n)
	for i := range n {
		jobs[i] = chunkJob{data: data[i*FileChunkSize : min(len(data), (i+1)*FileChunkSize)], out: &memos[i]}
		if i < len(last) {
			jobs[i].old = &last[i]
		}
	}
	if err := c.chunkAll(ctx, jobs); err != nil {
		return nil, err
	}
	out := binary.LittleEndian.AppendUint32(nil, f.FD)
	out = binary.LittleEndian.AppendUint32(out, FileChunkSize)
	for _, m := range memos {
		out = append(out, m.addr[:]...)
	}
	c.Stats.Chunks += int64(n)
	c.Stats.Bytes += int64(len(data))
	return out, nil
}

// begin starts a manifest.
func (c *Chunker) begin() {
	c.Stats = ChunkStats{}
	c.next = chunkMemory{}
}

// Commit tells the chunker that the manifest it just named chunks for is
// stored: the next one may rely on its chunks. Until then (a manifest that
// could not be written) it relies on the one before.
func (c *Chunker) Commit() { c.last, c.next = c.next, chunkMemory{} }

// Forget makes the next manifest check every chunk with the store again
// (after the store may have dropped the last manifest's).
func (c *Chunker) Forget() { c.last = chunkMemory{} }

// chunkedMemory is the memory of a manifest, in its store.
type chunkedMemory struct {
	size   uint64
	bitmap []byte
	addrs  []Address
	store  Chunks
	key    *sealKey
}

// Size implements unwind.MemoryImage.
func (m *chunkedMemory) Size() uint64 { return m.size }

// CopyTo implements unwind.MemoryImage: it fetches the chunks (a few at a
// time, to hide a remote store's latency) straight into dst, and clears
// the chunks that are zero in the snapshot but not in dst.
func (m *chunkedMemory) CopyTo(dst []byte) error {
	if uint64(len(dst)) != m.size {
		return fmt.Errorf("memory of %d bytes into %d", m.size, len(dst))
	}
	type fetch struct {
		chunk []byte
		addr  Address
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	next := make(chan fetch)
	var wg sync.WaitGroup
	for range max(chunkTransfers, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				if err := readChunk(ctx, m.store, m.key, f.addr, f.chunk); err != nil {
					cancel(err)
				}
			}
		}()
	}
	a := 0
	for k := range len(dst) / MemoryChunkSize {
		chunk := dst[k*MemoryChunkSize : (k+1)*MemoryChunkSize]
		if m.bitmap[k/8]&(1<<(k%8)) == 0 {
			if !isZero(chunk) {
				clear(chunk)
			}
			continue
		}
		select {
		case next <- fetch{chunk, m.addrs[a]}:
		case <-ctx.Done():
		}
		a++
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("memory: %w", context.Cause(ctx))
	}
	return nil
}

// chunkedMemory reads a manifest's memory section, its stored length
// bounded by what a memory of its raw length (at most 4 GiB) names.
func (s *sectionSource) chunkedMemory() (*chunkedMemory, error) {
	chunks := min(s.raw, 1<<32) / MemoryChunkSize
	raw, err := s.readStored(4 + (chunks+7)/8 + chunks*sha256.Size)
	if err != nil {
		return nil, err
	}
	return parseChunkedMemory(raw, s.raw)
}

// chunkedFile reads a manifest's file section, its stored length bounded
// by what a file of its raw length (at most maxFiles) names.
func (s *sectionSource) chunkedFile() (*chunkedFile, error) {
	chunks := (min(s.raw, maxFiles) + FileChunkSize - 1) / FileChunkSize
	raw, err := s.readStored(8 + chunks*sha256.Size)
	if err != nil {
		return nil, err
	}
	return parseChunkedFile(raw, s.raw)
}

// parseChunkedMemory decodes a manifest's memory section.
func parseChunkedMemory(raw []byte, size uint64) (*chunkedMemory, error) {
	if len(raw) < 4 || binary.LittleEndian.Uint32(raw) != MemoryChunkSize {
		return nil, formatError("memory: a chunk size other than %d", MemoryChunkSize)
	}
	chunks := size / MemoryChunkSize
	m := &chunkedMemory{size: size}
	raw = raw[4:]
	if uint64(len(raw)) < (chunks+7)/8 {
		return nil, formatError("memory: truncated chunk bitmap")
	}
	m.bitmap, raw = raw[:(chunks+7)/8], raw[(chunks+7)/8:]
	if chunks%8 != 0 && m.bitmap[len(m.bitmap)-1]>>(chunks%8) != 0 {
		return nil, formatError("memory: the chunk bitmap names chunks past the end")
	}
	set := 0
	for _, b := range m.bitmap {
		set += bitsSet(b)
	}
	if len(raw) != set*sha256.Size {
		return nil, formatError("memory: %d bytes of addresses for %d chunks", len(raw), set)
	}
	m.addrs = make([]Address, set)
	for i := range m.addrs {
		copy(m.addrs[i][:], raw[i*sha256.Size:])
	}
	return m, nil
}

func bitsSet(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

// chunkedFile is a file's content in a manifest's store.
type chunkedFile struct {
	fd    uint32
	size  int64
	addrs []Address
	store Chunks
	key   *sealKey
}

// parseChunkedFile decodes a manifest's file section, whose raw length
// (the content's size) was checked against the limits.
func parseChunkedFile(raw []byte, size uint64) (*chunkedFile, error) {
	if len(raw) < 8 {
		return nil, formatError("a file section of %d bytes", len(raw))
	}
	f := &chunkedFile{fd: binary.LittleEndian.Uint32(raw), size: int64(size)}
	if binary.LittleEndian.Uint32(raw[4:]) != FileChunkSize {
		return nil, formatError("file of fd %d: a chunk size other than %d", f.fd, FileChunkSize)
	}
	raw = raw[8:]
	n := (size + FileChunkSize - 1) / FileChunkSize
	if uint64(len(raw)) != n*sha256.Size {
		return nil, formatError("file of fd %d: %d bytes of addresses for %d chunks", f.fd, len(raw), n)
	}
	f.addrs = make([]Address, n)
	for i := range f.addrs {
		copy(f.addrs[i][:], raw[i*sha256.Size:])
	}
	return f, nil
}

// open returns the content, chunk after chunk.
func (f *chunkedFile) open() io.ReadCloser {
	return &chunkedFileReader{f: f}
}

type chunkedFileReader struct {
	f    *chunkedFile
	next int
	buf  []byte
	rest []byte
}

func (r *chunkedFileReader) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		if r.next == len(r.f.addrs) {
			return 0, io.EOF
		}
		n := min(FileChunkSize, r.f.size-int64(r.next)*FileChunkSize)
		if r.buf == nil {
			r.buf = make([]byte, FileChunkSize)
		}
		if err := readChunk(context.Background(), r.f.store, r.f.key, r.f.addrs[r.next], r.buf[:n]); err != nil {
			return 0, fmt.Errorf("file of fd %d: %w", r.f.fd, err)
		}
		r.next++
		r.rest = r.buf[:n]
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

func (r *chunkedFileReader) Close() error { return nil }

// ChunkAddresses lists the chunks a manifest names, for a collector: its
// checksums are checked, its other sections are not decoded. enc decrypts
// it in an encrypted store.
func ChunkAddresses(manifest []byte, enc *Encryption) ([]Address, error) {
	rd, err := OpenEncrypted(bytes.NewReader(manifest), int64(len(manifest)), nil, enc)
	if err != nil {
		return nil, err
	}
	if rd.version != ChunkedVersion {
		return nil, formatError("format version %d, not a manifest", rd.version)
	}
	var addrs []Address
	for _, sec := range rd.sections {
		switch sec.id {
		case sectionMemory:
			m, err := sec.chunkedMemory()
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, m.addrs...)
		case sectionFile:
			f, err := sec.chunkedFile()
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, f.addrs...)
		}
	}
	return addrs, nil
}
