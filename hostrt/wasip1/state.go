package wasip1

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// State is everything a WASI holds for its guest, as plain data: what Save
// returns and New restores. MarshalBinary encodes it.
type State struct {
	// Args and Env are the guest's; a restored guest keeps them.
	Args, Env []string
	// Preopens are the mounts, in the order they were preopened. A restore
	// needs a Mount for each, found by GuestPath.
	Preopens []Preopen
	// FDs are the open file descriptors, by increasing number.
	FDs []FD
	// Monotonic is the guest's monotonic clock in nanoseconds at the save;
	// after the restore the clock carries on from there.
	Monotonic int64
	// Stdin holds the bytes read from Config.Stdin that the guest has not
	// read yet. The restored guest reads them before its Config.Stdin.
	Stdin []byte
	// StdinOffset counts the bytes taken from the stdin stream since the
	// guest started (across restores): a restoring host gives it the
	// stream from there on (for a file, it seeks there).
	StdinOffset int64
	// Poll is the poll_oneoff a pause interrupted, or nil.
	Poll *PendingPoll
}

// Preopen is a saved mount. The host directory is not part of it: the
// restoring host says where the directory is now.
type Preopen struct {
	GuestPath string
	// ReadOnly makes the restored mount read-only too; without it, the
	// restoring host's Mount says.
	ReadOnly bool
}

// Kind is what a file descriptor refers to.
type Kind uint8

// The kinds of file descriptors. The standard streams are the Config's,
// wherever the guest moved them; files and directories live in a mount;
// listeners are the Config's, connections what the guest accepted from
// them (see sock.go).
const (
	KindStdin Kind = iota + 1
	KindStdout
	KindStderr
	KindFile
	KindDir
	KindPreopen
	// Since version 5 of the encoding.
	KindListener
	KindConn
)

// FD is a saved file descriptor.
type FD struct {
	FD   uint32
	Kind Kind
	// Preopen indexes State.Preopens for files, directories and preopens.
	Preopen uint32
	// Path is the file's slash-separated path relative to the preopen,
	// "." for the preopen itself; a listener's address, a connection's
	// peer (host:port).
	Path string
	// Readable and Writable are how the file was opened.
	Readable, Writable bool
	// OFlags are the open flags the guest passed to path_open; a restore
	// ignores O_CREAT, O_EXCL and O_TRUNC.
	OFlags uint16
	// FDFlags are the descriptor's current flags (append, dsync, nonblock,
	// rsync, sync).
	FDFlags uint16
	// RightsBase and RightsInheriting are the rights the guest asked for.
	RightsBase, RightsInheriting uint64
	// DroppedBase are the rights the guest dropped from the descriptor
	// (with fd_fdstat_set_rights, or by opening it through a directory
	// that did not pass them on), and DroppedInheriting those that
	// descriptors opened through it lack. Zero, as in states saved
	// before version 5, leaves all rights.
	DroppedBase, DroppedInheriting uint64
	// Offset is a file's offset.
	Offset int64
	// Size is the length of a file open for appending, so that a restore
	// can drop what was appended after the save (by the same guest, before
	// it stopped): the guest appends it again. (Version.Size is the same,
	// for every regular file.)
	Size int64
	// Dir is where fd_readdir is in a directory, or nil before the first
	// fd_readdir.
	Dir *DirCursor
	// Content is the file's content, when Save was asked for it.
	Content *Content
	// Version is what a regular file was at the save, so that a restore
	// can tell whether it changed meanwhile; nil for anything else (and in
	// states saved before wasmsr recorded it).
	Version *FileVersion
}

// DirCursor is the part of a directory listing that the guest may still
// ask for: the entries from the cookie of its last fd_readdir on. A
// restore serves them from here rather than from the disk, whose order
// may differ on another host; a rewind (cookie 0) lists the disk again.
type DirCursor struct {
	Cookie  uint64
	Entries []DirEntry
}

// DirEntry is a directory entry as fd_readdir reports it.
type DirEntry struct {
	Name string
	// Type is the WASI filetype.
	Type uint8
	Ino  uint64
}

// Content is a saved file's content. A restore writes it only to a file
// the guest had open for writing in a mount the restoring host made
// writable.
type Content struct {
	// Data holds the contents, or is nil when they are kept elsewhere
	// and Open reads them.
	Data []byte
	// Size is the length of the contents, in Data or from Open.
	Size int64
	// Perm is the file's permission bits, used if it has to be created.
	Perm uint32
	// Open, when Data is nil, returns the contents for a restore to copy
	// to the file: it must yield exactly Size bytes. It is not encoded:
	// MarshalBinary records only that the contents are elsewhere, and
	// whoever decodes the state attaches Open again.
	Open func() (io.ReadCloser, error)
}

// FileVersion is what identifies a regular file's version: a restore
// compares it with the file it reopens (see FileCheck).
type FileVersion struct {
	// Size is the file's length.
	Size int64
	// ModTime is its modification time in nanoseconds since the Unix
	// epoch.
	ModTime int64
	// Inode is its inode number, 0 where the host does not report one.
	// There is no device number: it changes for the same files when a
	// container's filesystem is mounted again.
	Inode uint64
	// SHA256 is the hash of a file open only for reading, when
	// SaveOptions.HashInputs asked for it; nil otherwise.
	SHA256 []byte
}

// SaveOptions says what Save puts in the State besides the guest's view.
type SaveOptions struct {
	// FileContents saves the contents of the files open for writing, for a
	// restore where the disk is not shared; the restore writes them back
	// before reopening the files. A file open on several descriptors is
	// saved once, with the first.
	FileContents bool
	// HashInputs saves the SHA-256 of every regular file open only for
	// reading (FileVersion.SHA256), so that a restore on another host can
	// tell a changed input from an unchanged copy. It reads those files
	// whole at every save.
	HashInputs bool
}

// Save returns the state of the guest's system. The guest must not be
// running (it is paused or has not started).
func (w *WASI) Save(opts SaveOptions) (*State, error) {
	st := &State{
		Args:      slices.Clone(w.args),
		Env:       slices.Clone(w.env),
		Monotonic: w.nanotime(),
	}
	st.Stdin, st.StdinOffset = w.stdin.pending()
	if w.pending != nil {
		st.Poll = &PendingPoll{Subscriptions: slices.Clone(w.pending.Subscriptions), Start: w.pending.Start}
	}
	index := make(map[*mount]uint32, len(w.mounts))
	for i, m := range w.mounts {
		st.Preopens = append(st.Preopens, Preopen{GuestPath: m.guestPath, ReadOnly: m.readOnly})
		index[m] = uint32(i)
	}
	contentSaved := make(map[fileKey]bool)
	for fd, e := range w.fds {
		if e == nil {
			continue
		}
		s := FD{
			FD: uint32(fd), Kind: e.kind, Path: e.path, Readable: e.readable, Writable: e.writable,
			OFlags: e.oflags, FDFlags: e.fdflags, RightsBase: e.rightsBase, RightsInheriting: e.rightsInheriting,
			DroppedBase: e.droppedBase, DroppedInheriting: e.droppedInheriting,
		}
		if e.mount != nil {
			s.Preopen = index[e.mount]
		}
		if e.kind == KindFile && !e.stream {
			if err := saveFile(e, &s, opts, contentSaved); err != nil {
				return nil, fmt.Errorf("wasip1: save fd %d (%s): %w", fd, e.path, err)
			}
		}
		if d := e.dir; d != nil {
			s.Dir = &DirCursor{Cookie: d.cursor, Entries: slices.Clone(d.entries[d.cursor-d.base:])}
		}
		st.FDs = append(st.FDs, s)
	}
	return st, nil
}

// fileKey names a file by where the guest opened it.
type fileKey struct {
	preopen uint32
	path    string
}

// saveFile records what a restore needs of a regular file besides its
// descriptor: the offset, the version, and what opts ask for.
func saveFile(e *entry, s *FD, opts SaveOptions, contentSaved map[fileKey]bool) error {
	off, err := e.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	s.Offset = off
	fi, err := e.file.Stat()
	if err != nil {
		return err
	}
	s.Version = &FileVersion{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Inode: statOf(fi).ino}
	if e.writable && e.fdflags&fdflagAppend != 0 {
		s.Size = fi.Size()
	}
	if opts.HashInputs && e.readable && !e.writable {
		if s.Version.SHA256, err = hashFile(e.file, fi.Size()); err != nil {
			return err
		}
	}
	if key := (fileKey{s.Preopen, s.Path}); opts.FileContents && e.writable && !contentSaved[key] {
		if s.Content, err = contents(e, fi); err != nil {
			return err
		}
		contentSaved[key] = true
	}
	return nil
}

// hashFile is the SHA-256 of f's first size bytes, read without moving
// its offset.
func hashFile(f *os.File, size int64) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// contents reads a file through its descriptor when it can (the file may
// have been renamed or removed), or else by its path.
func contents(e *entry, fi fs.FileInfo) (*Content, error) {
	var data []byte
	var err error
	if e.readable {
		data, err = io.ReadAll(io.NewSectionReader(e.file, 0, fi.Size()))
	} else {
		data, err = e.mount.root.ReadFile(e.path)
	}
	if err != nil {
		return nil, err
	}
	return &Content{Data: data, Size: int64(len(data)), Perm: uint32(fi.Mode().Perm())}, nil
}

// stdioEntry describes one of the Config's standard streams: a file is
// what its stat says; anything else is a device that is not a terminal,
// as in wazero.
func (w *WASI) stdioEntry(k Kind) *entry {
	e := &entry{kind: k, ftype: filetypeBlockDevice, readable: true, writable: true}
	if f := w.osFile(e); f != nil {
		if fi, err := f.Stat(); err == nil {
			e.ftype, e.stream = filetypeOf(fi.Mode()), isStream(fi.Mode())
		}
	}
	return e
}
