// Package blob keeps named byte strings where snapshots live: a local
// directory or a bucket of an S3-compatible object store. It knows nothing
// of what it stores; the snapshot store (package hostrt) lays out its
// manifests, chunks and modules in it.
//
// Every Store gives the same guarantees, the ones the snapshot store's
// crash safety rests on: a Put is seen whole or not at all (a reader never
// sees half of an object, even when the writer is killed); a Put, once it
// returned, is seen by every later Get and List, from any process; names
// are plain relative paths, so the same layout works on disk and in a
// bucket.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Store keeps named byte strings.
type Store interface {
	// Put stores data under name, replacing what was there.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the content of name, or an error that wraps
	// fs.ErrNotExist when there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// GetRange returns n bytes of name from offset off: an error when the
	// object ends before them, one that wraps fs.ErrNotExist when there is
	// no object.
	GetRange(ctx context.Context, name string, off, n int64) ([]byte, error)
	// Stat describes name, or returns an error that wraps fs.ErrNotExist.
	Stat(ctx context.Context, name string) (Info, error)
	// List describes the objects whose names start with prefix, sorted by
	// name.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes name; a name that is not there is not an error.
	Delete(ctx context.Context, name string) error
	// String names the store in messages, as the user gave it: a
	// directory, or s3://BUCKET/PREFIX.
	String() string
}

// Info describes a stored object.
type Info struct {
	Name string
	Size int64
	// Modified is when the object was last written, by the store's clock.
	Modified time.Time
}

// CheckName refuses a name that is not a clean relative slash-separated
// path of letters, digits and "._-" (so that no name leaves a directory
// store, and every name means the same object in every store).
func CheckName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return fmt.Errorf("blob: invalid name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, ".") {
			return fmt.Errorf("blob: invalid name %q", name)
		}
		for _, c := range part {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("blob: invalid name %q", name)
			}
		}
	}
	return nil
}

// errShort is returned by GetRange for a range past an object's end.
func errShort(name string, off, n, got int64) error {
	return fmt.Errorf("blob: %s: %d bytes at %d, but the object ends after %d", name, n, off, off+got)
}

// IsNotExist reports whether err says that an object is not there.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
