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

// Chunks is a store of chunks, by address, one to an object.
type Chunks interface {
	// Has reports whether the store holds the chunk, and will still hold
	// it when the manifest being written that names it is complete.
	Has(ctx context.Context, a Address) (bool, error)
	// Put stores a chunk's stored (compressed) bytes.
	Put(ctx context.Context, a Address, stored []byte) error
	ChunkSource
}

// ChunkSource is where a reader finds a manifest's chunks: by address
// (format version 3), and when it is also a Packer, in packs (version 4).
type ChunkSource interface {
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
func readChunk(ctx context.Context, store ChunkSource, k *sealKey, a Address, dst []byte) error {
	stored, err := store.Get(ctx, a)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrChunk, a, err)
	}
	return decodeChunk(k, a, stored, dst)
}

// decodeChunk decrypts a chunk's stored bytes with k (nil: a store without
// encryption) and decompresses them into dst, which must be exactly its
// raw length, checking them against the chunk's address.
func decodeChunk(k *sealKey, a Address, stored, dst []byte) error {
	stored, err := k.openChunk(a, stored)
	if err != nil {
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
	// Packs, when set, is where the chunks go instead of Store: many to
	// a pack, and the manifests (format version 4) say where (packs.go).
	Packs Packer
	// Encryption, when set, names chunks by their keyed hash and seals
	// them (encrypt.go). Call Forget after changing it.
	Encryption *Encryption
	// Stats describes the last manifest's chunks.
	Stats ChunkStats

	seeds [2]maphash.Seed
	last  chunkMemory
	next  chunkMemory

	// The manifest being named: its open pack, and the chunks stored for
	// it so far (and where, in packs).
	pack   packWriter
	mu     sync.Mutex
	stored map[Address]bool
	placed map[Address]Location
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
	// In packs: the size of every pack the manifest names, and where
	// each of its chunks is, by address (a page that moved is not
	// stored again).
	packs  map[PackID]uint32
	byAddr map[Address]Location
}

type memo struct {
	fingerprint [2]uint64
	addr        Address
	loc         Location // in packs
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
	// repack stores the chunk again even if a pack of the last
	// manifest holds it.
	repack bool
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
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if err := c.chunk(ctx, j); err != nil {
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
	if c.Packs != nil {
		// A chunk that another job stored is where that job put it.
		for i := range jobs {
			if out := jobs[i].out; out.loc.Length == 0 {
				out.loc = c.placed[out.addr]
			}
		}
	}
	return nil
}

func (c *Chunker) chunk(ctx context.Context, j *chunkJob) error {
	fp := [2]uint64{maphash.Bytes(c.seeds[0], j.data), maphash.Bytes(c.seeds[1], j.data)}
	if j.old != nil && j.old.fingerprint == fp && !j.repack {
		// Named by the last manifest, which stays until this one is
		// complete: the store holds it.
		*j.out = *j.old
		return nil
	}
	key := c.Encryption.sealing()
	addr := key.addressOf(j.data)
	*j.out = memo{fingerprint: fp, addr: addr}
	if loc, ok := c.last.byAddr[addr]; ok && !j.repack {
		j.out.loc = loc
		return nil
	}
	c.mu.Lock()
	done := c.stored[addr]
	c.stored[addr] = true
	c.mu.Unlock()
	if done {
		return nil
	}
	if c.Packs == nil {
		has, err := c.Store.Has(ctx, addr)
		if err != nil || has {
			return err
		}
	}
	enc, _ := chunkCodec()
	out := key.sealChunk(addr, enc.EncodeAll(j.data, make([]byte, 0, len(j.data)/2)))
	var full *closedPack
	if c.Packs != nil {
		j.out.loc, full = c.pack.add(out)
	} else if err := c.Store.Put(ctx, addr, out); err != nil {
		return err
	}
	c.mu.Lock()
	c.Stats.Written++
	c.Stats.WrittenBytes += int64(len(out))
	if c.Packs != nil {
		c.placed[addr] = j.out.loc
	}
	c.mu.Unlock()
	if full != nil {
		return c.Packs.PutPack(ctx, full.id, full.data)
	}
	return nil
}

// name names the chunks of memory and of files, storing those the store
// lacks, and returns the raw content of the manifest's memory section and
// of its file sections.
func (c *Chunker) name(ctx context.Context, memory []byte, files []File) ([]byte, [][]byte, error) {
	chunks := len(memory) / MemoryChunkSize
	bitmap := make([]byte, (chunks+7)/8)
	c.next.memory = make([]memo, chunks)
	var jobs []chunkJob
	var memoryMemos []*memo
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
		memoryMemos = append(memoryMemos, j.out)
	}
	c.Stats.Chunks += int64(len(jobs))
	c.Stats.Bytes += int64(len(jobs)) * MemoryChunkSize
	c.next.files = map[uint32][]memo{}
	for i := range files {
		f := &files[i]
		data, err := f.content()
		if err != nil {
			return nil, nil, err
		}
		n := (len(data) + FileChunkSize - 1) / FileChunkSize
		memos := make([]memo, n)
		c.next.files[f.FD] = memos
		last := c.last.files[f.FD]
		for k := range n {
			j := chunkJob{data: data[k*FileChunkSize : min(len(data), (k+1)*FileChunkSize)], out: &memos[k]}
			if k < len(last) {
				j.old = &last[k]
			}
			jobs = append(jobs, j)
		}
		c.Stats.Chunks += int64(n)
		c.Stats.Bytes += int64(len(data))
	}
	if err := c.chunkAll(ctx, jobs); err != nil {
		return nil, nil, err
	}
	if c.Packs != nil {
		if err := c.repack(ctx, jobs); err != nil {
			return nil, nil, err
		}
		if p := c.pack.flush(); p != nil {
			if err := c.Packs.PutPack(ctx, p.id, p.data); err != nil {
				return nil, nil, err
			}
		}
		c.next.packs = map[PackID]uint32{}
		for _, j := range jobs {
			id := j.out.loc.Pack
			if size, ok := c.pack.sizes[id]; ok {
				c.next.packs[id] = size
			} else {
				c.next.packs[id] = c.last.packs[id]
			}
		}
	}
	mem := binary.LittleEndian.AppendUint32(nil, MemoryChunkSize)
	mem = append(mem, bitmap...)
	mem = c.appendChunks(mem, memoryMemos)
	named := make([][]byte, len(files))
	for i, f := range files {
		out := binary.LittleEndian.AppendUint32(nil, f.FD)
		out = binary.LittleEndian.AppendUint32(out, FileChunkSize)
		memos := c.next.files[f.FD]
		ptrs := make([]*memo, len(memos))
		for k := range memos {
			ptrs[k] = &memos[k]
		}
		named[i] = c.appendChunks(out, ptrs)
	}
	return mem, named, nil
}

// appendChunks appends the addresses of a section's chunks, and in packs
// their locations.
func (c *Chunker) appendChunks(out []byte, memos []*memo) []byte {
	for _, m := range memos {
		out = append(out, m.addr[:]...)
	}
	if c.Packs != nil {
		out = appendLocations(out, memos, c.next.packs)
	}
	return out
}

// repack stores again, in the new packs, the chunks the manifest would
// name in a pack of the last one that it uses less than a quarter of.
func (c *Chunker) repack(ctx context.Context, jobs []chunkJob) error {
	live := map[PackID]int64{}
	counted := map[Location]bool{}
	for _, j := range jobs {
		if loc := j.out.loc; !counted[loc] {
			counted[loc] = true
			live[loc.Pack] += int64(loc.Length)
		}
	}
	var again []chunkJob
	for _, j := range jobs {
		size, old := c.last.packs[j.out.loc.Pack]
		if old && 4*live[j.out.loc.Pack] < int64(size) {
			again = append(again, chunkJob{data: j.data, out: j.out, repack: true})
		}
	}
	if len(again) == 0 {
		return nil
	}
	return c.chunkAll(ctx, again)
}

// content returns a file's content, read whole.
func (f *File) content() ([]byte, error) {
	if f.src == nil && f.chunked == nil {
		return f.Data, nil
	}
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data := make([]byte, f.size)
	if err := readExactly(r, data); err != nil {
		return nil, fmt.Errorf("snapshot: the content of fd %d: %w", f.FD, err)
	}
	return data, nil
}

// version is the format version of the manifests the chunker names
// chunks for.
func (c *Chunker) version() uint32 {
	if c.Packs != nil {
		return PackedVersion
	}
	return ChunkedVersion
}

// begin starts a manifest.
func (c *Chunker) begin() {
	c.Stats = ChunkStats{}
	c.next = chunkMemory{}
	c.pack = packWriter{}
	c.stored = map[Address]bool{}
	c.placed = map[Address]Location{}
}

// Commit tells the chunker that the manifest it just named chunks for is
// stored: the next one may rely on its chunks. Until then (a manifest that
// could not be written) it relies on the one before.
func (c *Chunker) Commit() {
	c.last, c.next = c.next, chunkMemory{}
	if c.Packs == nil {
		return
	}
	c.last.byAddr = map[Address]Location{}
	for _, m := range c.last.memory {
		if m.loc.Length != 0 {
			c.last.byAddr[m.addr] = m.loc
		}
	}
	for _, memos := range c.last.files {
		for _, m := range memos {
			c.last.byAddr[m.addr] = m.loc
		}
	}
}

// Forget makes the next manifest check every chunk with the store again
// (after the store may have dropped the last manifest's).
func (c *Chunker) Forget() { c.last = chunkMemory{} }

// Seed makes the next manifest name, rather than store again, the chunks
// of refs (a manifest the job was restored from) that are in packs, a
// pack's id mapped to its size. The caller vouches that the packs stay
// until that manifest is stored.
func (c *Chunker) Seed(refs Refs, packs map[PackID]uint32) {
	c.last = chunkMemory{packs: packs, byAddr: map[Address]Location{}}
	for i, l := range refs.Locations {
		if _, ok := packs[l.Pack]; ok {
			c.last.byAddr[refs.Chunks[i]] = l
		}
	}
}

// chunkedMemory is the memory of a manifest, in its store.
type chunkedMemory struct {
	size   uint64
	bitmap []byte
	addrs  []Address
	locs   []Location // in packs (format version 4)
	store  ChunkSource
	packs  Packer
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
	targets := m.nonZero(dst)
	if m.locs != nil {
		chunks := make([]packedChunk, len(targets))
		for a, chunk := range targets {
			chunks[a] = packedChunk{m.addrs[a], m.locs[a], chunk}
		}
		if err := readPacked(context.Background(), m.packs, m.key, chunks); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(chunkTransfers, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range next {
				if err := readChunk(ctx, m.store, m.key, m.addrs[a], targets[a]); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for a := range targets {
		select {
		case next <- a:
		case <-ctx.Done():
		}
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

// nonZero clears the chunks of dst that the snapshot's bitmap says are
// zero (where dst is not already) and returns the others, in the order
// of the addresses that name them.
func (m *chunkedMemory) nonZero(dst []byte) [][]byte {
	targets := make([][]byte, 0, len(m.addrs))
	for k := range len(dst) / MemoryChunkSize {
		chunk := dst[k*MemoryChunkSize : (k+1)*MemoryChunkSize]
		if m.bitmap[k/8]&(1<<(k%8)) != 0 {
			targets = append(targets, chunk)
		} else if !isZero(chunk) {
			clear(chunk)
		}
	}
	return targets
}

// chunkedMemory reads a manifest's memory section, its stored length
// bounded by what a memory of its raw length (at most 4 GiB) names.
func (s *sectionSource) chunkedMemory(version uint32) (*chunkedMemory, error) {
	chunks := min(s.raw, 1<<32) / MemoryChunkSize
	raw, err := s.readStored(4 + (chunks+7)/8 + namesSize(chunks, version))
	if err != nil {
		return nil, err
	}
	return parseChunkedMemory(raw, s.raw, version)
}

// chunkedFile reads a manifest's file section, its stored length bounded
// by what a file of its raw length (at most maxFiles) names.
func (s *sectionSource) chunkedFile(version uint32) (*chunkedFile, error) {
	chunks := (min(s.raw, maxFiles) + FileChunkSize - 1) / FileChunkSize
	raw, err := s.readStored(8 + namesSize(chunks, version))
	if err != nil {
		return nil, err
	}
	return parseChunkedFile(raw, s.raw, version)
}

// namesSize bounds what names chunks chunks in a section: their addresses,
// and in a manifest of packs (version 4) their locations.
func namesSize(chunks uint64, version uint32) uint64 {
	if version == PackedVersion {
		return chunks*sha256.Size + locationsSize(chunks)
	}
	return chunks * sha256.Size
}

// parseAddresses decodes n addresses at the start of raw, and in a
// manifest of packs (version 4) their locations, which are the rest of
// raw.
func parseAddresses(raw []byte, n int, version uint32) ([]Address, []Location, error) {
	if uint64(len(raw)) < uint64(n)*sha256.Size || version != PackedVersion && len(raw) != n*sha256.Size {
		return nil, nil, formatError("%d bytes of addresses for %d chunks", len(raw), n)
	}
	addrs := make([]Address, n)
	for i := range addrs {
		copy(addrs[i][:], raw[i*sha256.Size:])
	}
	if version != PackedVersion {
		return addrs, nil, nil
	}
	locs, err := parseLocations(raw[n*sha256.Size:], n)
	return addrs, locs, err
}

// parseChunkedMemory decodes a manifest's memory section.
func parseChunkedMemory(raw []byte, size uint64, version uint32) (*chunkedMemory, error) {
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
	var err error
	if m.addrs, m.locs, err = parseAddresses(raw, set, version); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
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
	locs  []Location // in packs (format version 4)
	store ChunkSource
	packs Packer
	key   *sealKey
}

// parseChunkedFile decodes a manifest's file section, whose raw length
// (the content's size) was checked against the limits.
func parseChunkedFile(raw []byte, size uint64, version uint32) (*chunkedFile, error) {
	if len(raw) < 8 {
		return nil, formatError("a file section of %d bytes", len(raw))
	}
	f := &chunkedFile{fd: binary.LittleEndian.Uint32(raw), size: int64(size)}
	if binary.LittleEndian.Uint32(raw[4:]) != FileChunkSize {
		return nil, formatError("file of fd %d: a chunk size other than %d", f.fd, FileChunkSize)
	}
	n := (size + FileChunkSize - 1) / FileChunkSize
	var err error
	if f.addrs, f.locs, err = parseAddresses(raw[8:], int(n), version); err != nil {
		return nil, fmt.Errorf("file of fd %d: %w", f.fd, err)
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
		var err error
		if r.f.locs != nil {
			err = readPacked(context.Background(), r.f.packs, r.f.key, []packedChunk{{r.f.addrs[r.next], r.f.locs[r.next], r.buf[:n]}})
		} else {
			err = readChunk(context.Background(), r.f.store, r.f.key, r.f.addrs[r.next], r.buf[:n])
		}
		if err != nil {
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

// Refs is what a manifest names in its store.
type Refs struct {
	Chunks []Address
	// Locations are where the chunks are, by the index of Chunks, in a
	// manifest of packs (format version 4); nil in one of version 3.
	Locations []Location
}

// ManifestRefs lists the chunks and packs a manifest names, for a
// collector: its checksums are checked, its other sections are not
// decoded. enc decrypts it in an encrypted store.
func ManifestRefs(manifest []byte, enc *Encryption) (Refs, error) {
	rd, err := OpenEncrypted(bytes.NewReader(manifest), int64(len(manifest)), nil, enc)
	if err != nil {
		return Refs{}, err
	}
	return rd.Refs()
}

// Refs lists the chunks and packs the manifest names.
func (rd *Reader) Refs() (Refs, error) {
	if !rd.chunked() {
		return Refs{}, formatError("format version %d, not a manifest", rd.version)
	}
	var refs Refs
	for _, sec := range rd.sections {
		switch sec.id {
		case sectionMemory:
			m, err := sec.chunkedMemory(rd.version)
			if err != nil {
				return Refs{}, err
			}
			refs.Chunks = append(refs.Chunks, m.addrs...)
			refs.Locations = append(refs.Locations, m.locs...)
		case sectionFile:
			f, err := sec.chunkedFile(rd.version)
			if err != nil {
				return Refs{}, err
			}
			refs.Chunks = append(refs.Chunks, f.addrs...)
			refs.Locations = append(refs.Locations, f.locs...)
		}
	}
	return refs, nil
}

// chunked reports whether the file is a manifest, whose chunks are in a
// store.
func (rd *Reader) chunked() bool { return rd.version == ChunkedVersion || rd.version == PackedVersion }
