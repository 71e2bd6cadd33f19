package hostrt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/internal/atomicfile"
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
	// Keys, when set, sign the snapshots.
	Keys *snapshot.Keys
	enc  *snapshot.Encoder
	// last is the largest file number in the directory, once looked at.
	last   uint64
	looked bool
}

// OpenStore makes the directory if needed, and removes what writers that
// were killed left there (their temporary files).
func OpenStore(dir string, keep int) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := atomicfile.RemoveStale(dir); err != nil {
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
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(module)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Abs(path)
}

// ModuleFileName is the name of a module's copy in a snapshot directory.
func ModuleFileName(sum [32]byte) string {
	return modulePrefix + hex.EncodeToString(sum[:8]) + ".wasm"
}

// Write writes a snapshot atomically as snapshot-N.wsr and removes the
// oldest ones beyond Keep. It returns the new file's path; its errors
// name the file (or the directory) they are about. N is the
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
	s.enc.Keys = s.Keys
	if err := s.enc.WriteFile(path, snap); err != nil {
		// The file being written names the error, not its temporary twin.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return "", fmt.Errorf("%s: %w", path, err)
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
