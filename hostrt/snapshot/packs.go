package snapshot

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// A packed manifest (format version 4) names its chunks by address as a
// version 3 one does, and says where each is: the chunks a snapshot stores
// go into packs, objects of a few megabytes holding many chunks one after
// another, so that restoring 256 MiB from an object store takes a hundred
// requests rather than four thousand. A chunk is still checked against its
// address when it is read: a location only says where to look.
//
// The memory and file sections of a version 4 manifest are those of
// version 3 followed by the locations of their chunks:
//
//	u32 packs, then for each its 16-byte id and u32 size
//	for each chunk named above (in that order): u32 pack (an index into
//	the packs above), u32 offset, u32 length of its stored bytes
//
// A snapshot that changed a few chunks stores only those, in a new pack,
// and names the others where the last manifest found them. A pack that
// the new manifest would use less than a quarter of is not named: its
// chunks are written again into the new pack, so that a store holds at
// most about four times what its manifests name (and the collector
// removes a pack once no manifest names it).

// PackedVersion is the format version of manifests whose chunks are in
// packs.
const PackedVersion = 4

// PackID names a pack. It is random: the name of an object says nothing
// of what it holds, with or without encryption.
type PackID [16]byte

func (id PackID) String() string { return hex.EncodeToString(id[:]) }

// Location is where a chunk's stored bytes are.
type Location struct {
	Pack           PackID
	Offset, Length uint32
}

// A Packer stores chunks in packs.
type Packer interface {
	// PutPack stores a pack, whole.
	PutPack(ctx context.Context, id PackID, data []byte) error
	// GetPack reads n bytes of a pack from offset off; an error that wraps
	// fs.ErrNotExist when the store lacks the pack.
	GetPack(ctx context.Context, id PackID, off, n int64) ([]byte, error)
}

// packSize is the size at which a pack is closed and stored: large enough
// that an object store's per-request cost is small against moving the
// bytes, small enough that a few in flight fit in memory.
const packSize = 8 << 20

// spanSize bounds what one read of a pack fetches, and spanTransfers how
// many such reads are in flight.
const (
	spanSize      = 4 << 20
	spanTransfers = 8
)

// packWriter fills the packs of one manifest.
type packWriter struct {
	mu   sync.Mutex
	id   PackID
	data []byte
	// sizes are the sizes of the packs closed so far.
	sizes map[PackID]uint32
}

// closedPack is a pack ready to be stored.
type closedPack struct {
	id   PackID
	data []byte
}

// add appends a chunk's stored bytes to the open pack, and returns its
// location and, when the pack was full, the pack it closed to make room,
// which the caller stores.
func (p *packWriter) add(stored []byte) (Location, *closedPack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var full *closedPack
	if len(p.data) > 0 && len(p.data)+len(stored) > packSize {
		full = p.close()
	}
	if len(p.data) == 0 {
		rand.Read(p.id[:]) // never fails (crypto/rand)
		p.data = make([]byte, 0, packSize)
	}
	loc := Location{Pack: p.id, Offset: uint32(len(p.data)), Length: uint32(len(stored))}
	p.data = append(p.data, stored...)
	return loc, full
}

// close closes the open pack (p.mu held) and returns it, or nil if it is
// empty.
func (p *packWriter) close() *closedPack {
	if len(p.data) == 0 {
		return nil
	}
	if p.sizes == nil {
		p.sizes = map[PackID]uint32{}
	}
	p.sizes[p.id] = uint32(len(p.data))
	full := &closedPack{p.id, p.data}
	p.data = nil
	return full
}

// flush closes the open pack and returns it, or nil.
func (p *packWriter) flush() *closedPack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.close()
}

// appendLocations appends the locations trailer of a section whose chunks
// are memos; sizes gives the size of every pack they name.
func appendLocations(out []byte, memos []*memo, sizes map[PackID]uint32) []byte {
	index := map[PackID]uint32{}
	var packs []PackID
	for _, m := range memos {
		if _, ok := index[m.loc.Pack]; !ok {
			index[m.loc.Pack] = uint32(len(packs))
			packs = append(packs, m.loc.Pack)
		}
	}
	out = binary.LittleEndian.AppendUint32(out, uint32(len(packs)))
	for _, id := range packs {
		out = append(out, id[:]...)
		out = binary.LittleEndian.AppendUint32(out, sizes[id])
	}
	for _, m := range memos {
		out = binary.LittleEndian.AppendUint32(out, index[m.loc.Pack])
		out = binary.LittleEndian.AppendUint32(out, m.loc.Offset)
		out = binary.LittleEndian.AppendUint32(out, m.loc.Length)
	}
	return out
}

// locationsSize bounds the locations trailer of a section naming chunks
// chunks (it names at most as many packs).
func locationsSize(chunks uint64) uint64 { return 4 + chunks*(16+4) + chunks*12 }

// parseLocations decodes the locations trailer of a section naming n
// chunks, which must be all of raw.
func parseLocations(raw []byte, n int) ([]Location, error) {
	if len(raw) < 4 {
		return nil, formatError("truncated chunk locations")
	}
	packs := binary.LittleEndian.Uint32(raw)
	raw = raw[4:]
	if uint64(packs) > uint64(n) || uint64(len(raw)) != uint64(packs)*20+uint64(n)*12 {
		return nil, formatError("%d bytes of chunk locations for %d chunks in %d packs", len(raw), n, packs)
	}
	ids := make([]PackID, packs)
	packSizes := make([]uint32, packs)
	for i := range ids {
		copy(ids[i][:], raw)
		packSizes[i] = binary.LittleEndian.Uint32(raw[16:])
		raw = raw[20:]
	}
	locs := make([]Location, n)
	for i := range locs {
		pack := binary.LittleEndian.Uint32(raw)
		off, length := binary.LittleEndian.Uint32(raw[4:]), binary.LittleEndian.Uint32(raw[8:])
		raw = raw[12:]
		if pack >= packs || length == 0 || uint64(off)+uint64(length) > uint64(packSizes[pack]) {
			return nil, formatError("chunk %d: %d bytes at %d of pack %d of %d", i, length, off, pack, packs)
		}
		locs[i] = Location{ids[pack], off, length}
	}
	return locs, nil
}

// packedChunk is a chunk to read from a pack into dst, which is exactly
// its raw length.
type packedChunk struct {
	addr Address
	loc  Location
	dst  []byte
}

// readPacked reads chunks from their packs: the chunks that lie next to
// each other in a pack are fetched with one read of up to spanSize, a few
// reads at a time, and each chunk is checked against its address as it is
// decompressed into place.
func readPacked(ctx context.Context, packs Packer, k *sealKey, chunks []packedChunk) error {
	slices.SortFunc(chunks, func(a, b packedChunk) int {
		if c := cmp.Compare(string(a.loc.Pack[:]), string(b.loc.Pack[:])); c != 0 {
			return c
		}
		return cmp.Compare(a.loc.Offset, b.loc.Offset)
	})
	var spans [][]packedChunk
	for i := 0; i < len(chunks); {
		j := i + 1
		for j < len(chunks) && chunks[j].loc.Pack == chunks[i].loc.Pack &&
			chunks[j].loc.Offset == chunks[j-1].loc.Offset+chunks[j-1].loc.Length &&
			chunks[j].loc.Offset+chunks[j].loc.Length-chunks[i].loc.Offset <= spanSize {
			j++
		}
		spans = append(spans, chunks[i:j])
		i = j
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan []packedChunk)
	var wg sync.WaitGroup
	for range max(spanTransfers, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for span := range next {
				if err := readSpan(ctx, packs, k, span); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for _, span := range spans {
		select {
		case next <- span:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// readSpan reads chunks that lie one after another in a pack.
func readSpan(ctx context.Context, packs Packer, k *sealKey, span []packedChunk) error {
	first, last := span[0].loc, span[len(span)-1].loc
	data, err := packs.GetPack(ctx, first.Pack, int64(first.Offset), int64(last.Offset+last.Length-first.Offset))
	if err != nil {
		return fmt.Errorf("%w: pack %s: %w", ErrChunk, first.Pack, err)
	}
	for _, c := range span {
		at := c.loc.Offset - first.Offset
		if err := decodeChunk(k, c.addr, data[at:at+c.loc.Length], c.dst); err != nil {
			return fmt.Errorf("%w (in pack %s)", err, c.loc.Pack)
		}
	}
	return nil
}
