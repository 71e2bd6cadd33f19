package wasip1

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
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
	ReadOnly  bool
}

// Kind is what a file descriptor refers to.
type Kind uint8

// The kinds of file descriptors. The standard streams are the Config's,
// wherever the guest moved them; files and directories live in a mount.
const (
	KindStdin Kind = iota + 1
	KindStdout
	KindStderr
	KindFile
	KindDir
	KindPreopen
)

// FD is a saved file descriptor.
type FD struct {
	FD   uint32
	Kind Kind
	// Preopen indexes State.Preopens for files, directories and preopens.
	Preopen uint32
	// Path is the file's slash-separated path relative to the preopen,
	// "." for the preopen itself.
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
	// Offset is a file's offset.
	Offset int64
	// Size is the length of a file open for appending, so that a restore
	// can drop what was appended after the save (by the same guest, before
	// it stopped): the guest appends it again.
	Size int64
	// Dir is where fd_readdir is in a directory, or nil before the first
	// fd_readdir.
	Dir *DirCursor
	// Content is the file's content, when Save was asked for it.
	Content *Content
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

// Content is a saved file's content.
type Content struct {
	Data []byte
	// Perm is the file's permission bits, used if it has to be created.
	Perm uint32
}

// SaveOptions says what Save puts in the State besides the guest's view.
type SaveOptions struct {
	// FileContents saves the contents of the files open for writing, for a
	// restore where the disk is not shared; the restore writes them back
	// before reopening the files.
	FileContents bool
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
	for fd, e := range w.fds {
		if e == nil {
			continue
		}
		s := FD{
			FD: uint32(fd), Kind: e.kind, Path: e.path, Readable: e.readable, Writable: e.writable,
			OFlags: e.oflags, FDFlags: e.fdflags, RightsBase: e.rightsBase, RightsInheriting: e.rightsInheriting,
		}
		if e.mount != nil {
			s.Preopen = index[e.mount]
		}
		if e.kind == KindFile && !e.stream {
			off, err := e.file.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("wasip1: save fd %d (%s): %w", fd, e.path, err)
			}
			s.Offset = off
			if e.writable && e.fdflags&fdflagAppend != 0 {
				fi, err := e.file.Stat()
				if err != nil {
					return nil, fmt.Errorf("wasip1: save fd %d (%s): %w", fd, e.path, err)
				}
				s.Size = fi.Size()
			}
			if opts.FileContents && e.writable {
				c, err := contents(e)
				if err != nil {
					return nil, fmt.Errorf("wasip1: save fd %d (%s): %w", fd, e.path, err)
				}
				s.Content = c
			}
		}
		if d := e.dir; d != nil {
			s.Dir = &DirCursor{Cookie: d.cursor, Entries: slices.Clone(d.entries[d.cursor-d.base:])}
		}
		st.FDs = append(st.FDs, s)
	}
	return st, nil
}

// contents reads a file through its descriptor when it can (the file may
// have been renamed or removed), or else by its path.
func contents(e *entry) (*Content, error) {
	fi, err := e.file.Stat()
	if err != nil {
		return nil, err
	}
	var data []byte
	if e.readable {
		data, err = io.ReadAll(io.NewSectionReader(e.file, 0, fi.Size()))
	} else {
		data, err = e.mount.root.ReadFile(e.path)
	}
	if err != nil {
		return nil, err
	}
	return &Content{Data: data, Perm: uint32(fi.Mode().Perm())}, nil
}

// restore takes the guest's view from st; the mounts are open already.
func (w *WASI) restore(st *State) error {
	w.args, w.env = slices.Clone(st.Args), slices.Clone(st.Env)
	w.monoBase = st.Monotonic
	if st.Poll != nil {
		w.pending = &PendingPoll{Subscriptions: slices.Clone(st.Poll.Subscriptions), Start: st.Poll.Start}
	}
	mounts := make([]*mount, len(st.Preopens))
	for i, p := range st.Preopens {
		guest := normalGuestPath(p.GuestPath)
		for _, m := range w.mounts {
			if m.guestPath == guest {
				mounts[i] = m
			}
		}
		if mounts[i] == nil {
			return fmt.Errorf("wasip1: restore: no mount for guest path %q", guest)
		}
		if p.ReadOnly {
			mounts[i].readOnly = true
		}
	}
	for i := range st.FDs {
		s := &st.FDs[i]
		if s.FD >= maxFDs || w.lookup(s.FD) != nil {
			return fmt.Errorf("wasip1: restore: fd %d is out of range or saved twice", s.FD)
		}
		e, err := w.restoreEntry(s, mounts)
		if err != nil {
			return fmt.Errorf("wasip1: restore fd %d: %w", s.FD, err)
		}
		w.place(s.FD, e)
	}
	return nil
}

func (w *WASI) restoreEntry(s *FD, mounts []*mount) (*entry, error) {
	switch s.Kind {
	case KindStdin, KindStdout, KindStderr:
		e := w.stdioEntry(s.Kind)
		e.fdflags = s.FDFlags
		return e, nil
	case KindFile, KindDir, KindPreopen:
	default:
		return nil, fmt.Errorf("unknown kind %d", s.Kind)
	}
	if uint64(s.Preopen) >= uint64(len(mounts)) {
		return nil, fmt.Errorf("preopen %d of %d", s.Preopen, len(mounts))
	}
	m := mounts[s.Preopen]
	if !fs.ValidPath(s.Path) {
		return nil, fmt.Errorf("invalid path %q", s.Path)
	}
	var e *entry
	var err error
	switch {
	case s.Kind == KindPreopen:
		e, err = openPreopen(m)
	case s.Writable && m.readOnly:
		return nil, fmt.Errorf("%s is open for writing but mount %q is read-only", s.Path, m.guestPath)
	default:
		if s.Content != nil && s.Kind == KindFile {
			if err := writeContent(m, s.Path, s.Content); err != nil {
				return nil, fmt.Errorf("re-creating %s in mount %q: %w", s.Path, m.guestPath, err)
			}
		}
		e, err = openEntry(m, s.Path, osFlags(s.Readable, s.Writable, s.FDFlags), s.Kind == KindDir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing from mount %q", s.Path, m.guestPath)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reopening %s in mount %q: %w", s.Path, m.guestPath, err)
	}
	if e.kind != s.Kind {
		e.file.Close()
		return nil, fmt.Errorf("%s in mount %q is no longer a %s", s.Path, m.guestPath, kindName(s.Kind))
	}
	e.readable, e.writable = s.Readable || e.kind != KindFile, s.Writable
	e.oflags, e.fdflags = s.OFlags, s.FDFlags
	e.rightsBase, e.rightsInheriting = s.RightsBase, s.RightsInheriting
	if e.kind == KindFile && !e.stream {
		if err := cutAppended(e, s); err != nil {
			e.file.Close()
			return nil, fmt.Errorf("truncating %s: %w", s.Path, err)
		}
		if _, err := e.file.Seek(s.Offset, io.SeekStart); err != nil {
			e.file.Close()
			return nil, fmt.Errorf("seeking %s: %w", s.Path, err)
		}
	}
	if d := s.Dir; d != nil && e.isDir() {
		e.dir = &dirListing{base: d.Cookie, entries: slices.Clone(d.Entries), cursor: d.Cookie}
	}
	return e, nil
}

func kindName(k Kind) string {
	if k == KindFile {
		return "file"
	}
	return "directory"
}

func writeContent(m *mount, p string, c *Content) error {
	if err := m.root.MkdirAll(path.Dir(p), 0o777); err != nil {
		return err
	}
	return m.root.WriteFile(p, c.Data, os.FileMode(c.Perm).Perm())
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

// cutAppended truncates a file open for appending back to its saved
// length: what a guest appended after a snapshot, before it crashed, it
// appends again once resumed from that snapshot. A file that became
// shorter is left alone (someone else changed it).
func cutAppended(e *entry, s *FD) error {
	if !s.Writable || s.FDFlags&fdflagAppend == 0 {
		return nil
	}
	fi, err := e.file.Stat()
	if err != nil {
		return err
	}
	if fi.Size() <= s.Size {
		return nil
	}
	return e.file.Truncate(s.Size)
}
