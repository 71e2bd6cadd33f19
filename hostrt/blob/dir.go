package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/wasmsr/wasmsr/internal/atomicfile"
)

// Dir is a Store in a local directory: each object is a file, written
// atomically (atomicfile), in subdirectories for the slashes of its name.
type Dir struct {
	root string
}

// OpenDir makes the directory if needed and removes what writers that
// were killed left in it (their temporary files).
func OpenDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	d := &Dir{root: root}
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return err
		}
		_, err = atomicfile.RemoveStale(path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dir) String() string { return d.root }

func (d *Dir) path(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d *Dir) Put(_ context.Context, name string, data []byte) error {
	path, err := d.path(name)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
	err = atomicfile.Write(path, write)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		err = atomicfile.Write(path, write)
	}
	// The object names the error, not its temporary twin.
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = &fs.PathError{Op: "write", Path: path, Err: pathErr.Err}
	}
	return err
}

func (d *Dir) Get(_ context.Context, name string) ([]byte, error) {
	path, err := d.path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	return data, notThere(err)
}

func (d *Dir) GetRange(_ context.Context, name string, off, n int64) ([]byte, error) {
	path, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("blob: %s: a range of %d bytes at %d", name, n, off)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, notThere(err)
	}
	defer f.Close()
	data := make([]byte, n)
	got, err := f.ReadAt(data, off)
	if errors.Is(err, io.EOF) {
		return nil, errShort(name, off, n, int64(got))
	}
	return data, err
}

// notThere makes "a/b, where a is a file" an object that is not there, as
// an object store says it.
func notThere(err error) error {
	var pathErr *fs.PathError
	if errors.Is(err, syscall.ENOTDIR) && errors.As(err, &pathErr) {
		return &fs.PathError{Op: pathErr.Op, Path: pathErr.Path, Err: syscall.ENOENT}
	}
	return err
}

func (d *Dir) Stat(_ context.Context, name string) (Info, error) {
	path, err := d.path(name)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Info{}, notThere(err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%s: not a regular file", path)
	}
	return Info{Name: name, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

func (d *Dir) List(_ context.Context, prefix string) ([]Info, error) {
	// Walk only the directory the prefix's slashes lead to.
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	var infos []Info
	err := filepath.WalkDir(start, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == start {
				return fs.SkipAll
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.root, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) || CheckName(name) != nil {
			return nil // temporary files, and whatever else is not an object
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		infos = append(infos, Info{Name: name, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

func (d *Dir) Delete(_ context.Context, name string) error {
	path, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
