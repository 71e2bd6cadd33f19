package hostrt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt/blob"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/wasm"
)

// ReadOptions say how a snapshot is checked.
type ReadOptions struct {
	// Keys, when set, refuse a snapshot not signed with one of them.
	Keys *snapshot.Keys
	// Encryption, when set, decrypts an encrypted snapshot and its chunks,
	// and refuses one that is not encrypted. Without it, an encrypted
	// snapshot is refused (snapshot.ErrEncrypted).
	Encryption *snapshot.Encryption
	// MaxMemory is the most memory the restored program may have, in
	// bytes (0: DefaultMaxMemory).
	MaxMemory uint64
	// Chunks holds the chunks of a manifest that OpenSnapshot reads: a
	// migration receiver's own chunk store.
	Chunks snapshot.ChunkSource
	// Facts, when set, are OpenSnapshot's module's (ReadModuleFacts), read
	// once for many snapshots.
	Facts *ModuleFacts
}

// LoadOptions say how Load finds and checks a snapshot.
type LoadOptions struct {
	ReadOptions
	// Module is the path of the instrumented module. Empty: the copy
	// beside the snapshot, else the path the snapshot's metadata records.
	// Either way the module must be a regular file with the snapshot's
	// hash (ErrModuleNotFound otherwise).
	Module string
}

// MaxModuleSize bounds the modules Load reads.
const MaxModuleSize = 1 << 30

// ErrModuleNotFound is returned by Load when it finds no module with the
// snapshot's hash.
var ErrModuleNotFound = errors.New("cannot find the snapshot's module")

// Loaded is a snapshot with the module it belongs to. Its memory and files
// are read from the snapshot file when the job is restored: Close it after.
type Loaded struct {
	Snapshot   *snapshot.Snapshot
	Module     []byte
	ModulePath string
	// Path is the snapshot file, Size its size and Version its format
	// version.
	Path    string
	Size    int64
	Version uint32
	// Signer is the id of the key the file was signed with ("" if not
	// signed), and Verified says whether Load checked it.
	Signer   string
	Verified bool
	// Encryption is the id of the key the snapshot was encrypted with (""
	// if it was not).
	Encryption string

	file *os.File
	// store and refs are the store the snapshot is in and what it names
	// there, for the store a resumed job writes to (Store.ContinueFrom).
	store string
	refs  *snapshot.Refs
}

// Close closes the snapshot file, if it was read from one.
func (l *Loaded) Close() error {
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}

// Load reads a snapshot — a file, an object of a snapshot store, or the
// newest in a store (a directory or s3://BUCKET/PREFIX) — and finds its
// module. The snapshot is checked whole (checksums, and the signature with
// keys) before any of it is decoded, and everything it declares is checked
// against the module's limits and opts.MaxMemory before it is allocated;
// a manifest's chunks are checked against their addresses as they are
// read.
func Load(location string, opts LoadOptions) (*Loaded, error) {
	store, name, err := locate(location)
	if err != nil {
		return nil, err
	}
	where := store.where(name)
	var (
		r    io.ReaderAt
		size int64
		file *os.File
	)
	if _, local := store.Blobs.(*blob.Dir); local {
		if file, size, err = openRegular(where); err != nil {
			return nil, err
		}
		r = file
	} else {
		info, err := store.Blobs.Stat(context.Background(), name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if info.Size > maxStoredSnapshot {
			return nil, fmt.Errorf("%s: a snapshot of %d bytes (at most %d are read from object storage)", where, info.Size, int64(maxStoredSnapshot))
		}
		data, err := store.Blobs.Get(context.Background(), name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		r, size = bytes.NewReader(data), int64(len(data))
	}
	l, err := load(r, size, store, where, opts)
	if err != nil {
		if file != nil {
			file.Close()
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	l.file = file
	return l, nil
}

// maxStoredSnapshot bounds the whole snapshots (format versions 1 and 2)
// read from object storage, which are held in memory: a manifest is small.
const maxStoredSnapshot = 4 << 30

// locate splits a location into its store and the name of a snapshot in
// it: the one named, or the newest.
func locate(location string) (*Store, string, error) {
	dir, base := StoreLocation(location), ""
	switch {
	case dir == location:
	case blob.IsRemote(location):
		base = location[len(dir)+1:]
	default:
		base = filepath.Base(location)
	}
	if !blob.IsRemote(dir) {
		// Reading makes no directory.
		if _, err := os.Stat(dir); err != nil {
			return nil, "", err
		}
	}
	blobs, timeline, err := openLocation(context.Background(), dir)
	if err != nil {
		return nil, "", err
	}
	store := &Store{Blobs: blobs, Grace: DefaultChunkGrace, Timeline: timeline}
	if base != "" {
		return store, timelinePath(timeline) + base, nil
	}
	files, err := listSnapshots(context.Background(), blobs, timeline)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", location, err)
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("%s: %w (%s*%s or %s*%s)", location, errNoSnapshots, snapshotPrefix, manifestSuffix, snapshotPrefix, wholeSuffix)
	}
	return store, files[len(files)-1].name, nil
}

// StoreLocation is the store a snapshot location is in: the location
// itself when it is a store, else the store that holds the snapshot it
// names.
func StoreLocation(location string) string {
	if blob.IsRemote(location) {
		if i := strings.LastIndexByte(location, '/'); i > len("s3://") && isSnapshotName(location[i+1:]) {
			return location[:i]
		}
		return location
	}
	if fi, err := os.Stat(location); err == nil && !fi.IsDir() {
		return filepath.Dir(location)
	}
	return location
}

func isSnapshotName(name string) bool {
	return strings.HasPrefix(name, snapshotPrefix) && (strings.HasSuffix(name, manifestSuffix) || strings.HasSuffix(name, wholeSuffix))
}

func load(r io.ReaderAt, size int64, store *Store, where string, opts LoadOptions) (*Loaded, error) {
	rd, err := snapshot.OpenEncrypted(r, size, opts.Keys, opts.Encryption)
	if err != nil {
		return nil, err
	}
	rd.Chunks = storeChunks{store}
	l := &Loaded{Path: where, Size: size, Version: rd.Version(), Encryption: rd.Encryption(), store: store.Blobs.String()}
	if refs, err := rd.Refs(); err == nil {
		l.refs = &refs
	}
	l.Signer, l.Verified = rd.Signature()
	meta, err := rd.Meta()
	if err != nil {
		return nil, err
	}
	sum := rd.ModuleSHA256()
	var why []string
	if opts.Module != "" {
		if l.Module, err = readModule(opts.Module, sum); err != nil {
			return nil, err
		}
		l.ModulePath = opts.Module
	} else if l.Module, l.ModulePath, err = store.readModule(sum); err != nil {
		why = append(why, err.Error())
		if meta.Module != "" {
			if l.Module, err = readModule(meta.Module, sum); err == nil {
				l.ModulePath = meta.Module
			} else {
				why = append(why, err.Error())
			}
		}
	}
	if l.Module == nil {
		return nil, fmt.Errorf("%w (sha256 %x): %s", ErrModuleNotFound, sum[:8], joinReasons(why))
	}
	limits, err := SnapshotLimits(l.Module, opts.MaxMemory)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.ModulePath, err)
	}
	if l.Snapshot, err = rd.Snapshot(limits); err != nil {
		return nil, err
	}
	return l, nil
}

// readModule reads the store's copy of the module with the given hash.
func (s *Store) readModule(sum [32]byte) ([]byte, string, error) {
	name := ModuleFileName(sum)
	where := s.where(name)
	if _, local := s.Blobs.(*blob.Dir); local {
		module, err := readModule(where, sum)
		return module, where, err
	}
	ctx := context.Background()
	info, err := s.Blobs.Stat(ctx, name)
	if err != nil {
		return nil, where, fmt.Errorf("%s: %w", where, err)
	}
	if info.Size > MaxModuleSize {
		return nil, where, fmt.Errorf("%s: a module of %d bytes (at most %d)", where, info.Size, MaxModuleSize)
	}
	module, err := s.Blobs.Get(ctx, name)
	if err != nil {
		return nil, where, fmt.Errorf("%s: %w", where, err)
	}
	if got := sha256.Sum256(module); got != sum {
		return nil, where, fmt.Errorf("%s: not the snapshot's module (sha256 %x, the snapshot's is %x)", where, got[:8], sum[:8])
	}
	return module, where, nil
}

// OpenSnapshot checks and opens a snapshot of module held in r (size
// bytes, a body received or a buffer), as Load does a file. The snapshot's
// memory and files are read from r when the job is restored.
func OpenSnapshot(r io.ReaderAt, size int64, module []byte, opts ReadOptions) (*snapshot.Snapshot, error) {
	rd, err := snapshot.Open(r, size, opts.Keys)
	if err != nil {
		return nil, err
	}
	rd.Chunks = opts.Chunks
	facts, err := opts.Facts.of(module)
	if err != nil {
		return nil, err
	}
	if want, sum := rd.ModuleSHA256(), facts.SHA256; want != sum {
		return nil, fmt.Errorf("the snapshot belongs to another module (sha256 %x, this one is %x)", want[:8], sum[:8])
	}
	limits := facts.limits(opts.MaxMemory)
	return rd.Snapshot(limits)
}

func joinReasons(why []string) string {
	if len(why) == 0 {
		return "no path to look at"
	}
	out := why[0]
	for _, w := range why[1:] {
		out += "; " + w
	}
	return out
}

// openRegular opens a file that must be a regular file, without blocking
// on a FIFO or a device, and returns its size.
func openRegular(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return nil, 0, fmt.Errorf("%s: %w", path, pathErr.Err)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readModule reads a module that must be a regular file of at most
// MaxModuleSize bytes with the given hash. The hash is checked on the
// bytes read; a file too large or of another hash is refused before it is
// held in memory.
func readModule(path string, sum [32]byte) ([]byte, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > MaxModuleSize {
		return nil, fmt.Errorf("%s: a module of %d bytes (at most %d)", path, size, MaxModuleSize)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return nil, err
	}
	if [32]byte(h.Sum(nil)) != sum {
		return nil, fmt.Errorf("%s: not the snapshot's module (sha256 %x, the snapshot's is %x)", path, h.Sum(nil)[:8], sum[:8])
	}
	module := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), module); err != nil {
		return nil, err
	}
	if sha256.Sum256(module) != sum {
		return nil, fmt.Errorf("%s changed while it was read", path)
	}
	return module, nil
}

// SnapshotLimits are the limits a snapshot of an instrumented module is
// read within: the module's memory limits, the tables and globals it
// saves, and the host's maxMemory (0: DefaultMaxMemory).
func SnapshotLimits(module []byte, maxMemory uint64) (snapshot.Limits, error) {
	info, err := readInfo(module)
	if err != nil {
		return snapshot.Limits{}, err
	}
	memory, tables, err := moduleLimits(module)
	if err != nil {
		return snapshot.Limits{}, err
	}
	return (&ModuleFacts{info: info, memory: memory, tables: tables}).limits(maxMemory), nil
}

// memoryLimits are a memory's limits in bytes.
type memoryLimits struct{ min, max uint64 }

// moduleLimits reads a module's memory limits (a module without memory
// can have none: 0 to 4 GiB) and its tables, without decoding its code.
func moduleLimits(module []byte) (memoryLimits, []wasm.TableType, error) {
	m, err := wasm.Decode(limitSections(module))
	if err != nil {
		return memoryLimits{}, nil, err
	}
	var memories []wasm.Limits
	var tables []wasm.TableType
	for _, imp := range m.Imports {
		switch imp.Kind {
		case wasm.KindMemory:
			memories = append(memories, imp.Memory)
		case wasm.KindTable:
			tables = append(tables, imp.Table)
		}
	}
	memories = append(memories, m.Memories...)
	tables = append(tables, m.Tables...)
	limits := memoryLimits{max: 1 << 32}
	if len(memories) > 0 {
		limits.min = uint64(memories[0].Min) * pageSize
		if memories[0].HasMax {
			limits.max = uint64(memories[0].Max) * pageSize
		}
	}
	return limits, tables, nil
}

// maxTableElements is wazero's limit on a table's size.
const maxTableElements = 1 << 27

// shape is what a module's snapshots may restore besides memory.
func shape(info *abi.Info, tables []wasm.TableType) *snapshot.Shape {
	s := &snapshot.Shape{Globals: len(info.Mutable), Tables: map[uint32]uint64{},
		DroppedData: len(info.DroppedData), DroppedElems: len(info.DroppedElems)}
	for _, t := range info.Tables {
		limit := uint64(maxTableElements)
		if int(t) < len(tables) && tables[t].Limits.HasMax {
			limit = min(limit, uint64(tables[t].Limits.Max))
		}
		s.Tables[t] = limit
	}
	return s
}

// limitSections returns a module made of module's type, import, table and
// memory sections, which hold its memory and table limits, so that
// SnapshotLimits decodes no code (gofmt's took 80 ms of each resume). A
// module whose sections cannot be walked is returned whole, for the
// decoder's error.
func limitSections(module []byte) []byte {
	if len(module) < 8 {
		return module
	}
	out := append([]byte(nil), module[:8]...)
	for pos := 8; pos < len(module); {
		id := module[pos]
		size, n := binary.Uvarint(module[pos+1:])
		if n <= 0 || n > 5 || size > uint64(len(module)-pos-1-n) {
			return module
		}
		end := pos + 1 + n + int(size)
		switch wasm.SectionID(id) {
		case wasm.SectionType, wasm.SectionImport, wasm.SectionTable, wasm.SectionMemory:
			out = append(out, module[pos:end]...)
		}
		pos = end
	}
	return out
}
