package hostrt

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmsr/wasmsr/hostrt/blob"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// A snapshot store (a directory or an S3 bucket, package blob) holds a
// job's snapshots and what they need:
//
//	snapshot-NNNNNN.wsm   manifests (format version 3), by sequence number
//	snapshot-NNNNNN.wsr   whole snapshots, as wasmsr wrote them before
//	packs/XX/ID           the manifests' chunks, many to a pack (XX: the
//	                      id's first two hex digits)
//	chunks/XX/ADDRESS     chunks one to an object, as manifests of format
//	                      version 3 name them
//	module-HASH.wasm      the module (the first 16 hex digits of its
//	                      SHA-256), so that a resume finds it even if the
//	                      original moved
//
// Packs are shared by every manifest of the store. A manifest is written
// after all of its packs, so a reader never sees one that names a chunk
// not there yet, and a writer killed halfway leaves packs no manifest
// names, which the collector removes.

const (
	snapshotPrefix = "snapshot-"
	manifestSuffix = ".wsm"
	wholeSuffix    = ".wsr"
	modulePrefix   = "module-"
	chunkPrefix    = "chunks/"
	packPrefix     = "packs/"
)

// DefaultChunkGrace is how long a chunk no manifest names stays in a store
// before the collector removes it (Store.Grace).
const DefaultChunkGrace = 10 * time.Minute

// Store writes a job's snapshots into a snapshot store.
type Store struct {
	Blobs blob.Store
	// Keep is how many snapshots to keep (the newest); 0 keeps all.
	Keep int
	// Keys, when set, sign the snapshots.
	Keys *snapshot.Keys
	// Encryption, when set, encrypts the chunks and manifests it writes,
	// and decrypts the manifests its collector reads: a store is written
	// with one encryption, or none.
	Encryption *snapshot.Encryption
	// Grace protects the chunks that other writers to the same store may
	// be about to name: the collector removes only chunks written longer
	// than Grace ago, and a writer relies on a chunk it finds in the
	// store only if it was written less than Grace/2 ago, and otherwise
	// writes it again. A snapshot that takes longer than Grace/2 to write
	// fails rather than name chunks the collector may have removed. (The
	// clocks of the writers, the collectors and the store are taken to
	// agree to well within Grace/4.)
	Grace time.Duration
	// Stats describes the chunks of the last snapshot written.
	Stats snapshot.ChunkStats
	// Timeline is the timeline the store writes to ("": the default;
	// see Fork).
	Timeline string

	enc     *snapshot.Encoder
	chunker *snapshot.Chunker
	// manifestsListed, in tests, runs when collect has read the manifests.
	manifestsListed func()
	// last is the largest sequence number in the store, once looked at.
	last   uint64
	looked bool
	// resumed is what the snapshot the job was resumed from names in
	// this store, until the first Write seeds the chunker with it.
	resumed *snapshot.Refs
}

// OpenStore opens the snapshot store at location: a directory (made if
// needed) or s3://BUCKET/PREFIX, or a named timeline of one, STORE/NAME.
func OpenStore(location string, keep int) (*Store, error) {
	blobs, timeline, err := openLocation(context.Background(), location)
	if err != nil {
		return nil, err
	}
	s := &Store{Blobs: blobs, Keep: keep, Grace: DefaultChunkGrace, Timeline: timeline, enc: snapshot.NewEncoder()}
	s.chunker = snapshot.NewChunker(nil)
	s.chunker.Packs = storeChunks{s}
	return s, nil
}

// ContinueFrom makes the store's first snapshot name the chunks it shares
// with l, the snapshot the job was resumed from, where l's store holds
// them, rather than store them again: those in packs written less than
// Grace/2 before that snapshot starts (the collector may remove older
// ones no manifest names by the time it is written).
func (s *Store) ContinueFrom(l *Loaded) {
	if l != nil && l.refs != nil && l.store == s.Blobs.String() {
		s.Continue(*l.refs)
	}
}

// Continue is ContinueFrom for a manifest of this store the job was
// restored from otherwise (a migration through a shared store).
func (s *Store) Continue(refs snapshot.Refs) { s.resumed = &refs }

// maxManifest bounds the manifests ReadManifest reads: one of a 4 GiB
// memory names 65536 chunks in 3 MiB.
const maxManifest = 64 << 20

// ReadManifest reads the manifest name (as WriteNamed returned it) from
// the store.
func (s *Store) ReadManifest(ctx context.Context, name string) ([]byte, error) {
	dir, base := path.Split(name)
	if !isSnapshotName(base) || !strings.HasSuffix(base, manifestSuffix) || dir != "" && CheckTimelineName(strings.TrimSuffix(dir, "/")) != nil {
		return nil, fmt.Errorf("%s: %q is not the name of a manifest", s.Blobs, name)
	}
	info, err := s.Blobs.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(name), err)
	}
	if info.Size > maxManifest {
		return nil, fmt.Errorf("%s: a manifest of %d bytes (at most %d)", s.where(name), info.Size, maxManifest)
	}
	data, err := s.Blobs.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(name), err)
	}
	return data, nil
}

// Chunks is where the store's manifests find their chunks, for
// OpenSnapshot.
func (s *Store) Chunks() snapshot.ChunkSource { return storeChunks{s} }

// seedChunker seeds the chunker with the young packs of the snapshot the
// job was resumed from.
func (s *Store) seedChunker(ctx context.Context) {
	refs := *s.resumed
	s.resumed = nil
	packs := map[snapshot.PackID]uint32{}
	checked := map[snapshot.PackID]bool{}
	for _, l := range refs.Locations {
		if checked[l.Pack] {
			continue
		}
		checked[l.Pack] = true
		info, err := s.Blobs.Stat(ctx, packName(l.Pack))
		if err == nil && time.Since(info.Modified) < s.Grace/2 && info.Size <= math.MaxUint32 {
			packs[l.Pack] = uint32(info.Size)
		}
	}
	s.chunker.Seed(refs, packs)
}

// where names an object of the store for people: a path, or a URL.
func (s *Store) where(name string) string {
	if _, local := s.Blobs.(*blob.Dir); local {
		return filepath.Join(s.Blobs.String(), filepath.FromSlash(name))
	}
	return s.Blobs.String() + "/" + name
}

// SaveModule stores the module once and returns where its copy is.
func (s *Store) SaveModule(module []byte) (string, error) {
	name := ModuleFileName(sha256.Sum256(module))
	ctx := context.Background()
	if old, err := s.Blobs.Get(ctx, name); err == nil && bytes.Equal(old, module) {
		return s.whereAbs(name)
	}
	if err := s.Blobs.Put(ctx, name, module); err != nil {
		return "", err
	}
	return s.whereAbs(name)
}

// whereAbs is where, as an absolute path for a directory.
func (s *Store) whereAbs(name string) (string, error) {
	w := s.where(name)
	if _, local := s.Blobs.(*blob.Dir); local {
		return filepath.Abs(w)
	}
	return w, nil
}

// ModuleFileName is the name of a module's copy in a snapshot store.
func ModuleFileName(sum [32]byte) string {
	return modulePrefix + hex.EncodeToString(sum[:8]) + ".wasm"
}

// Write stores a snapshot, its chunks first and then its manifest
// snapshot-N.wsm, and removes the oldest ones beyond Keep with the chunks
// no manifest names any more. It returns where the manifest is; its
// errors name the store. N is the snapshot's sequence number, or one past
// the store's largest when that is larger: a job resumed from an older
// snapshot than the newest makes a new timeline, and its snapshots must
// neither overwrite the old one's nor sort before them (a resume takes the
// largest N).
func (s *Store) Write(snap *snapshot.Snapshot) (string, error) {
	name, err := s.WriteNamed(snap)
	if name == "" {
		return "", err
	}
	return s.where(name), err
}

// WriteNamed is Write, returning the manifest's name in the store (with
// its timeline) rather than where it is; it is "" when no manifest was
// written.
func (s *Store) WriteNamed(snap *snapshot.Snapshot) (string, error) {
	ctx := context.Background()
	if !s.looked {
		all, err := listSnapshots(ctx, s.Blobs, s.Timeline)
		if err != nil {
			return "", err
		}
		if len(all) > 0 {
			s.last = all[len(all)-1].seq
		}
		s.looked = true
	}
	n := max(snap.Meta.Seq, s.last+1)
	name := timelinePath(s.Timeline) + fmt.Sprintf("%s%06d%s", snapshotPrefix, n, manifestSuffix)
	start := time.Now()
	var manifest bytes.Buffer
	s.enc.Keys = s.Keys
	if s.chunker.Encryption != s.Encryption {
		// The last manifest's addresses were made with another key.
		s.chunker.Encryption = s.Encryption
		s.chunker.Forget()
	}
	if s.resumed != nil {
		s.seedChunker(ctx)
	}
	if err := s.enc.EncodeChunked(ctx, &manifest, snap, s.chunker); err != nil {
		return "", fmt.Errorf("%s: %w", s.where(name), err)
	}
	data := manifest.Bytes()
	if s.Encryption != nil {
		var err error
		if data, err = s.Encryption.Seal(data); err != nil {
			return "", fmt.Errorf("%s: %w", s.where(name), err)
		}
	}
	if took := time.Since(start); took > s.Grace/2 {
		// Chunks it found in the store may be gone by now.
		s.chunker.Forget()
		return "", fmt.Errorf("%s: writing the chunks took %s, longer than half the store's grace period (%s): not written", s.where(name), took.Round(time.Millisecond), s.Grace)
	}
	if err := s.Blobs.Put(ctx, name, data); err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err // the path is where's
		}
		return "", fmt.Errorf("%s: %w", s.where(name), err)
	}
	s.chunker.Commit()
	s.Stats = s.chunker.Stats
	s.last = n
	if s.Keep > 0 {
		if err := s.collect(ctx); err != nil {
			return name, err
		}
	}
	return name, nil
}

// collect removes the snapshots beyond Keep, then the chunks that no
// manifest names and that were written longer than Grace ago. Manifests
// are listed before chunks: a writer that relied on a chunk wrote its
// manifest within Grace/2 of finding the chunk no older than Grace/2, so
// before the listing of any collector that finds the chunk older than
// Grace.
func (s *Store) collect(ctx context.Context) error {
	all, err := listSnapshots(ctx, s.Blobs, s.Timeline)
	if err != nil {
		return err
	}
	for _, old := range all[:max(0, len(all)-s.Keep)] {
		if err := s.Blobs.Delete(ctx, old.name); err != nil {
			return err
		}
	}
	listed := time.Now()
	named := map[snapshot.Address]bool{}
	namedPacks := map[snapshot.PackID]bool{}
	// Every timeline's manifests name chunks.
	names, err := timelines(ctx, s.Blobs)
	if err != nil {
		return err
	}
	var manifests []snapshotFile
	for _, t := range names {
		files, err := listSnapshots(ctx, s.Blobs, t)
		if err != nil {
			return err
		}
		manifests = append(manifests, files...)
	}
	for _, m := range manifests {
		if !strings.HasSuffix(m.name, manifestSuffix) {
			continue
		}
		data, err := s.Blobs.Get(ctx, m.name)
		if blob.IsNotExist(err) {
			continue // removed by another collector meanwhile: its chunks are not needed
		}
		if err != nil {
			return err
		}
		refs, err := snapshot.ManifestRefs(data, s.Encryption)
		if err != nil {
			// A manifest that cannot be read cannot be resumed either;
			// its chunks are kept, in case it is repaired.
			return fmt.Errorf("%s: %w", s.where(m.name), err)
		}
		if refs.Locations != nil {
			for _, l := range refs.Locations {
				namedPacks[l.Pack] = true
			}
			continue
		}
		for _, a := range refs.Chunks {
			named[a] = true
		}
	}
	if s.manifestsListed != nil {
		s.manifestsListed()
	}
	old := func(info blob.Info) bool { return info.Modified.Before(listed.Add(-s.Grace)) }
	if err := s.deleteUnnamed(ctx, chunkPrefix, func(c blob.Info) bool {
		a, ok := parseChunkName(c.Name)
		return ok && !named[a] && old(c)
	}); err != nil {
		return err
	}
	return s.deleteUnnamed(ctx, packPrefix, func(p blob.Info) bool {
		id, ok := parsePackName(p.Name)
		return ok && !namedPacks[id] && old(p)
	})
}

// deleteUnnamed deletes the objects under prefix that unnamed says no
// manifest names.
func (s *Store) deleteUnnamed(ctx context.Context, prefix string, unnamed func(blob.Info) bool) error {
	infos, err := s.Blobs.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, info := range infos {
		if !unnamed(info) {
			continue
		}
		if err := s.Blobs.Delete(ctx, info.Name); err != nil {
			return err
		}
	}
	return nil
}

// Chunks and packs are named PREFIX/XX/HEX, where HEX is the address or
// id in hex and XX its first two digits: a directory store keeps a few
// hundred entries per directory.
func chunkName(a snapshot.Address) string { return fanOutName(chunkPrefix, a[:]) }
func packName(id snapshot.PackID) string  { return fanOutName(packPrefix, id[:]) }

func fanOutName(prefix string, id []byte) string {
	h := hex.EncodeToString(id)
	return prefix + h[:2] + "/" + h
}

func parseChunkName(name string) (a snapshot.Address, ok bool) {
	return a, parseFanOutName(name, chunkPrefix, a[:])
}

func parsePackName(name string) (id snapshot.PackID, ok bool) {
	return id, parseFanOutName(name, packPrefix, id[:])
}

// parseFanOutName decodes the id of name into id, reporting whether name
// is one fanOutName makes.
func parseFanOutName(name, prefix string, id []byte) bool {
	h, ok := strings.CutPrefix(name, prefix)
	if !ok || len(h) != 3+2*len(id) || h[2] != '/' || h[:2] != h[3:5] {
		return false
	}
	_, err := hex.Decode(id, []byte(h[3:]))
	return err == nil
}

// storeChunks keeps a manifest's chunks in its store.
type storeChunks struct{ s *Store }

func (c storeChunks) Get(ctx context.Context, a snapshot.Address) ([]byte, error) {
	return c.s.Blobs.Get(ctx, chunkName(a))
}

func (c storeChunks) PutPack(ctx context.Context, id snapshot.PackID, data []byte) error {
	return c.s.Blobs.Put(ctx, packName(id), data)
}

func (c storeChunks) GetPack(ctx context.Context, id snapshot.PackID, off, n int64) ([]byte, error) {
	return c.s.Blobs.GetRange(ctx, packName(id), off, n)
}

type snapshotFile struct {
	seq  uint64
	name string
}

// listSnapshots lists the snapshots (manifests and whole files) of a
// store's timeline, oldest first.
func listSnapshots(ctx context.Context, blobs blob.Store, timeline string) ([]snapshotFile, error) {
	dir := timelinePath(timeline)
	infos, err := blobs.List(ctx, dir+snapshotPrefix)
	if err != nil {
		return nil, err
	}
	var files []snapshotFile
	for _, info := range infos {
		name := strings.TrimPrefix(info.Name, dir)
		number, ok := strings.CutSuffix(strings.TrimPrefix(name, snapshotPrefix), manifestSuffix)
		if !ok {
			number, ok = strings.CutSuffix(strings.TrimPrefix(name, snapshotPrefix), wholeSuffix)
		}
		seq, err := strconv.ParseUint(number, 10, 64)
		if !ok || err != nil || strings.Contains(name, "/") {
			continue
		}
		files = append(files, snapshotFile{seq, info.Name})
	}
	slices.SortStableFunc(files, func(a, b snapshotFile) int { return cmp.Compare(a.seq, b.seq) })
	return files, nil
}

// timelinePath is the prefix of a timeline's manifests.
func timelinePath(timeline string) string {
	if timeline == "" {
		return ""
	}
	return timeline + "/"
}

// Newest returns where the newest snapshot of a store (or of a timeline,
// STORE/NAME) is.
func Newest(location string) (string, error) {
	s, name, err := locate(location)
	if err != nil {
		return "", err
	}
	return s.where(name), nil
}
