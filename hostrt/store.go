package hostrt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/wasm"
)

// A snapshot directory holds a job's snapshots, snapshot-NNNNNN.wsr by
// sequence number, and a copy of its module, module-HASH.wasm (the first
// 16 hex digits of its SHA-256), so that a resume finds the module even if
// the original moved.

const (
	snapshotPrefix = "snapshot-"
	snapshotSuffix = ".wsr"
	modulePrefix   = "module-"
)

// Store writes a job's snapshots into a directory.
type Store struct {
	Dir string
	// Keep is how many snapshots to keep (the newest); 0 keeps all.
	Keep int
	enc  *snapshot.Encoder
	// last is the largest file number in the directory, once looked at.
	last   uint64
	looked bool
}

// OpenStore makes the directory if needed.
func OpenStore(dir string, keep int) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Store{Dir: dir, Keep: keep, enc: snapshot.NewEncoder()}, nil
}

// SaveModule copies the module into the directory once and returns the
// copy's path.
func (s *Store) SaveModule(module []byte) (string, error) {
	sum := sha256.Sum256(module)
	path := filepath.Join(s.Dir, ModuleFileName(sum))
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, module) {
		return filepath.Abs(path)
	}
	tmp, err := os.CreateTemp(s.Dir, ".module-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(module)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return filepath.Abs(path)
}

// ModuleFileName is the name of a module's copy in a snapshot directory.
func ModuleFileName(sum [32]byte) string {
	return modulePrefix + hex.EncodeToString(sum[:8]) + ".wasm"
}

// Write writes a snapshot atomically as snapshot-N.wsr and removes the
// oldest ones beyond Keep. It returns the new file's path. N is the
// snapshot's sequence number, or one past the directory's largest when
// that is larger: a job resumed from an older snapshot than the newest
// makes a new timeline, and its snapshots must neither overwrite the old
// one's nor sort before them (resume DIR takes the largest N).
func (s *Store) Write(snap *snapshot.Snapshot) (string, error) {
	if !s.looked {
		all, err := listSnapshots(s.Dir)
		if err != nil {
			return "", err
		}
		if len(all) > 0 {
			s.last = all[len(all)-1].seq
		}
		s.looked = true
	}
	n := max(snap.Meta.Seq, s.last+1)
	path := filepath.Join(s.Dir, fmt.Sprintf("%s%06d%s", snapshotPrefix, n, snapshotSuffix))
	if err := s.enc.WriteFile(path, snap); err != nil {
		return "", err
	}
	s.last = n
	if s.Keep > 0 {
		all, err := listSnapshots(s.Dir)
		if err != nil {
			return path, err
		}
		for _, old := range all[:max(0, len(all)-s.Keep)] {
			if err := os.Remove(old.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return path, err
			}
		}
	}
	return path, nil
}

type snapshotFile struct {
	seq  uint64
	path string
}

// listSnapshots lists a directory's snapshots, oldest first.
func listSnapshots(dir string) ([]snapshotFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []snapshotFile
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, snapshotPrefix) || !strings.HasSuffix(name, snapshotSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, snapshotPrefix), snapshotSuffix), 10, 64)
		if err != nil {
			continue
		}
		files = append(files, snapshotFile{seq, filepath.Join(dir, name)})
	}
	slices.SortFunc(files, func(a, b snapshotFile) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return files, nil
}

// Newest returns the path of the newest snapshot in dir.
func Newest(dir string) (string, error) {
	files, err := listSnapshots(dir)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s: no snapshots (%s*%s)", dir, snapshotPrefix, snapshotSuffix)
	}
	return files[len(files)-1].path, nil
}

// Loaded is a snapshot with the module it belongs to.
type Loaded struct {
	Snapshot   *snapshot.Snapshot
	Module     []byte
	ModulePath string
}

// Load reads a snapshot file (or the newest in a directory) and finds its
// module: modulePath if given, else the copy beside the snapshot, else the
// path its metadata records. The module must have the snapshot's hash.
func Load(path, modulePath string) (*Loaded, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		if path, err = Newest(path); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, meta, err := snapshot.DecodeMeta(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	candidates := []string{modulePath}
	if modulePath == "" {
		// The copy beside the snapshot, then where the module was when the
		// snapshot was taken.
		candidates = []string{filepath.Join(filepath.Dir(path), ModuleFileName(h.ModuleSHA256)), meta.Module}
	}
	var module []byte
	var found string
	for _, c := range candidates {
		if c == "" {
			continue
		}
		m, err := os.ReadFile(c)
		if err == nil {
			module, found = m, c
			break
		}
		if modulePath != "" {
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) {
				err = pathErr.Err
			}
			return nil, fmt.Errorf("%s: %w", c, err)
		}
	}
	if module == nil {
		return nil, fmt.Errorf("%s: cannot find its module (%s beside it, or %q); pass --module", path, ModuleFileName(h.ModuleSHA256), meta.Module)
	}
	if sha256.Sum256(module) != h.ModuleSHA256 {
		return nil, fmt.Errorf("%s: module %s is not the one the snapshot was taken from (sha256 %x, want %x)", path, found, sha256.Sum256(module), h.ModuleSHA256)
	}
	limit, err := MemoryLimit(module)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", found, err)
	}
	snap, err := snapshot.Decode(data, snapshot.Limits{MaxMemory: limit})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Loaded{Snapshot: snap, Module: module, ModulePath: found}, nil
}

// MemoryLimit is the most memory a module can have, in bytes: its memory's
// maximum, or 4 GiB.
func MemoryLimit(module []byte) (uint64, error) {
	m, err := wasm.Decode(memorySections(module))
	if err != nil {
		return 0, err
	}
	var lim *wasm.Limits
	for i := range m.Imports {
		if m.Imports[i].Kind == wasm.KindMemory {
			lim = &m.Imports[i].Memory
			break
		}
	}
	if lim == nil && len(m.Memories) > 0 {
		lim = &m.Memories[0]
	}
	if lim == nil || !lim.HasMax {
		return 1 << 32, nil
	}
	return uint64(lim.Max) * snapshot.PageSize, nil
}

// memorySections returns a module made of module's type, import and
// memory sections, which say where its memory's limits are, so that
// MemoryLimit decodes no code (gofmt's took 80 ms of each resume). A module
// whose sections cannot be walked is returned whole, for the decoder's
// error.
func memorySections(module []byte) []byte {
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
		case wasm.SectionType, wasm.SectionImport, wasm.SectionMemory:
			out = append(out, module[pos:end]...)
		}
		pos = end
	}
	return out
}
