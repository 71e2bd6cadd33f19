package wasip1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// FileCheck is how a restore decides that a file the guest had open is
// the one it saved, when the file's contents did not travel in the State.
// Whichever it is, a file open only for reading must also have the
// SHA-256 that SaveOptions.HashInputs recorded, and a file that was
// regular must still be one: a FIFO, device or socket in its place is
// refused even when Config.AllowChangedFiles lets changed files through.
// A change the guest itself made after the save, before it stopped, looks
// like anyone else's, except that files open for writing may grow.
type FileCheck uint8

const (
	// CheckSameHost is for a restore where the save happened, on the same
	// files: a file open only for reading must have kept its size,
	// modification time and inode; a file open for writing its inode, and
	// at least its size (the guest may have written more after the save).
	CheckSameHost FileCheck = iota
	// CheckOtherHost is for a restore on copies of the files, whose inodes
	// and modification times differ: only sizes are compared, as above.
	CheckOtherHost
)

// ErrFileChanged is in the error of a restore that found a file changed
// since the save (see FileCheck and Config.AllowChangedFiles).
var ErrFileChanged = errors.New("changed since the snapshot")

// restore takes the guest's view from st; the mounts are open already.
// A State is outside input (a snapshot travels between hosts): restore
// checks all of it before it touches the disk, and reopens and checks
// every file that stays as it is before it writes the saved contents, so
// that a refused restore leaves the mounts as they were.
func (w *WASI) restore(st *State, cfg Config) error {
	w.args, w.env = slices.Clone(st.Args), slices.Clone(st.Env)
	w.monoBase = st.Monotonic
	if st.Poll != nil {
		w.pending = &PendingPoll{Subscriptions: slices.Clone(st.Poll.Subscriptions), Start: st.Poll.Start}
	}
	p, err := w.planRestore(st)
	if err != nil {
		return err
	}
	if err := w.takeListeners(st); err != nil {
		return err
	}
	p.check, p.allowChanged = cfg.FileCheck, cfg.AllowChangedFiles
	entries := make([]*entry, len(st.FDs))
	placed := false
	defer func() {
		if !placed {
			for _, e := range entries {
				if e != nil && e.file != nil {
					e.file.Close()
				}
			}
		}
	}()
	reopenAll := func(rewritten bool) error {
		for i := range st.FDs {
			s := &st.FDs[i]
			if p.rewritten(s) != rewritten {
				continue
			}
			if entries[i], err = w.reopen(s, p); err != nil {
				return fmt.Errorf("wasip1: restore fd %d: %w", s.FD, err)
			}
		}
		return nil
	}
	// Everything that stays as it is on disk is reopened and checked
	// first, and the files to be rewritten are checked, so that nothing
	// is written when something would be refused.
	if err := reopenAll(false); err != nil {
		return err
	}
	for _, s := range p.contents {
		if err := checkRewritable(p.mounts[s.Preopen], s.Path); err != nil {
			return fmt.Errorf("wasip1: restore fd %d: cannot write %s: %w", s.FD, p.guestPath(s), err)
		}
	}
	for _, s := range p.contents {
		m := p.mounts[s.Preopen]
		if err := writeContent(m, s.Path, s.Content); err != nil {
			return fmt.Errorf("wasip1: restore fd %d: re-creating %s in mount %q: %w", s.FD, s.Path, m.guestPath, err)
		}
	}
	if err := reopenAll(true); err != nil {
		return err
	}
	for i := range st.FDs {
		if err := finish(entries[i], &st.FDs[i]); err != nil {
			return fmt.Errorf("wasip1: restore fd %d: %w", st.FDs[i].FD, err)
		}
	}
	// The last change, once nothing else can fail but another cut.
	for i := range st.FDs {
		if err := cutAppended(entries[i], &st.FDs[i]); err != nil {
			return fmt.Errorf("wasip1: restore fd %d: truncating %s: %w", st.FDs[i].FD, st.FDs[i].Path, err)
		}
	}
	for i := range st.FDs {
		w.place(st.FDs[i].FD, entries[i])
	}
	placed = true
	return nil
}

// restorePlan is a State checked against the mounts, before the disk is
// touched.
type restorePlan struct {
	// mounts and writable are by preopen index: a preopen is writable
	// when the host's mount is and the saved one was.
	mounts   []*mount
	writable []bool
	// files are the files the fds name; contents are the fds whose
	// contents are written, one per file, in fd order.
	files    map[fileKey]*savedFile
	contents []*FD

	check        FileCheck
	allowChanged bool
}

// savedFile is what the fds of one file say about it.
type savedFile struct {
	// written is set when some fd has the file open for writing.
	written bool
	// content is the fd whose saved contents are written to the file.
	content *FD
}

func (p *restorePlan) rewritten(s *FD) bool {
	f := p.files[fileKey{s.Preopen, s.Path}]
	return s.Kind == KindFile && f != nil && f.content != nil
}

// guestPath is where the guest sees a file, for messages.
func (p *restorePlan) guestPath(s *FD) string {
	if uint64(s.Preopen) < uint64(len(p.mounts)) && fs.ValidPath(s.Path) {
		return path.Join(p.mounts[s.Preopen].guestPath, s.Path)
	}
	return s.Path
}

// planRestore checks st as a whole against the mounts.
func (w *WASI) planRestore(st *State) (*restorePlan, error) {
	p := &restorePlan{
		mounts:   make([]*mount, len(st.Preopens)),
		writable: make([]bool, len(st.Preopens)),
		files:    make(map[fileKey]*savedFile),
	}
	for i, pre := range st.Preopens {
		guest := normalGuestPath(pre.GuestPath)
		for _, m := range w.mounts {
			if m.guestPath == guest {
				p.mounts[i] = m
			}
		}
		if p.mounts[i] == nil {
			return nil, fmt.Errorf("wasip1: restore: no mount for guest path %q", guest)
		}
		if j := slices.Index(p.mounts[:i], p.mounts[i]); j >= 0 {
			return nil, fmt.Errorf("wasip1: restore: preopens %d and %d are both at guest path %q", j, i, guest)
		}
		p.writable[i] = !p.mounts[i].readOnly && !pre.ReadOnly
	}
	if err := checkPending(st); err != nil {
		return nil, fmt.Errorf("wasip1: restore: %w", err)
	}
	var used [maxFDs / 8]byte
	for i := range st.FDs {
		s := &st.FDs[i]
		if s.FD >= maxFDs {
			return nil, fmt.Errorf("wasip1: restore: fd %d is out of range", s.FD)
		}
		if used[s.FD/8]&(1<<(s.FD%8)) != 0 {
			return nil, fmt.Errorf("wasip1: restore: fd %d is saved twice", s.FD)
		}
		used[s.FD/8] |= 1 << (s.FD % 8)
		if err := p.checkFD(s); err != nil {
			if s.Kind < KindFile || s.Kind.isSocket() {
				return nil, fmt.Errorf("wasip1: restore fd %d: %w", s.FD, err)
			}
			return nil, fmt.Errorf("wasip1: restore fd %d (%s): %w", s.FD, p.guestPath(s), err)
		}
	}
	for i, pre := range st.Preopens {
		if pre.ReadOnly {
			// The saved mount was read-only: the restored one is too.
			p.mounts[i].readOnly = true
		}
	}
	return p, nil
}

// checkFD checks what a restore can check of a saved fd without the disk,
// and notes which file it names.
func (p *restorePlan) checkFD(s *FD) error {
	switch s.Kind {
	case KindStdin, KindStdout, KindStderr, KindFile, KindDir, KindPreopen, KindListener, KindConn:
	default:
		return fmt.Errorf("unknown kind %d", s.Kind)
	}
	isDir := s.Kind == KindDir || s.Kind == KindPreopen
	switch {
	case s.Dir != nil && !isDir:
		return fmt.Errorf("a directory position on a %s", kindName(s.Kind))
	case s.Dir != nil:
		if err := s.Dir.check(); err != nil {
			return err
		}
	case s.Content != nil && s.Kind != KindFile:
		return fmt.Errorf("saved contents on a %s", kindName(s.Kind))
	case s.Version != nil && s.Kind != KindFile:
		return fmt.Errorf("a file version on a %s", kindName(s.Kind))
	}
	if (s.DroppedBase|s.DroppedInheriting)&^rightsAll != 0 {
		return fmt.Errorf("unknown rights %#x, %#x dropped", s.DroppedBase, s.DroppedInheriting)
	}
	if s.Kind < KindFile {
		return nil // the Config's streams
	}
	if s.Kind.isSocket() {
		return checkSocketFD(s)
	}
	if uint64(s.Preopen) >= uint64(len(p.mounts)) {
		return fmt.Errorf("preopen %d of %d", s.Preopen, len(p.mounts))
	}
	m := p.mounts[s.Preopen]
	switch {
	case !fs.ValidPath(s.Path):
		return fmt.Errorf("invalid path %q", s.Path)
	case s.Kind == KindPreopen && s.Path != ".":
		return fmt.Errorf("a preopen at path %q", s.Path)
	case s.Kind == KindFile && s.Path == ".":
		return errors.New("a file at the mount's root")
	case s.Writable && !p.writable[s.Preopen]:
		return fmt.Errorf("%s is open for writing but mount %q is read-only", s.Path, m.guestPath)
	case s.Offset < 0 || s.Size < 0:
		return fmt.Errorf("negative offset %d or size %d", s.Offset, s.Size)
	}
	if v := s.Version; v != nil {
		switch {
		case v.Size < 0:
			return fmt.Errorf("negative saved size %d", v.Size)
		case v.SHA256 != nil && len(v.SHA256) != sha256Size:
			return fmt.Errorf("a SHA-256 of %d bytes", len(v.SHA256))
		case v.SHA256 != nil && s.Writable:
			return errors.New("a content hash on a file open for writing")
		}
	}
	if s.Kind != KindFile {
		return nil
	}
	key := fileKey{s.Preopen, s.Path}
	f := p.files[key]
	if f == nil {
		f = new(savedFile)
		p.files[key] = f
	}
	f.written = f.written || s.Writable
	c := s.Content
	if c == nil {
		return nil
	}
	switch {
	case !s.Writable:
		return errors.New("saved contents for a file that was not open for writing")
	case c.Size < 0:
		return fmt.Errorf("saved contents of negative size %d", c.Size)
	case c.Data != nil && int64(len(c.Data)) != c.Size:
		return fmt.Errorf("saved contents of %d bytes, but their size says %d", len(c.Data), c.Size)
	case c.Data == nil && c.Open == nil && c.Size > 0:
		return fmt.Errorf("the %d bytes of its saved contents are missing", c.Size)
	case f.content == nil:
		f.content = s
		p.contents = append(p.contents, s)
	case f.content.Content.Size != c.Size || c.Data != nil && f.content.Content.Data != nil && !bytes.Equal(c.Data, f.content.Content.Data):
		return fmt.Errorf("saved contents differ from those of fd %d", f.content.FD)
	}
	return nil
}

const sha256Size = 32

// checkPending checks what a restored system keeps of st as it is, and
// saves again.
func checkPending(st *State) error {
	if st.StdinOffset < int64(len(st.Stdin)) {
		return fmt.Errorf("stdin offset %d is less than the %d pending bytes", st.StdinOffset, len(st.Stdin))
	}
	if p := st.Poll; p != nil && (len(p.Subscriptions) == 0 || len(p.Subscriptions)%sizeSubscription != 0) {
		return fmt.Errorf("pending poll with %d bytes of subscriptions", len(p.Subscriptions))
	}
	return nil
}

// check checks the entries a restored directory serves as they are.
func (d *DirCursor) check() error {
	for _, e := range d.Entries {
		if e.Type > filetypeSymbolicLink {
			return fmt.Errorf("directory entry %q has unknown type %d", e.Name, e.Type)
		}
	}
	return nil
}

func kindName(k Kind) string {
	switch k {
	case KindFile:
		return "file"
	case KindDir, KindPreopen:
		return "directory"
	case KindListener, KindConn:
		return "socket"
	}
	return "standard stream"
}

// reopen opens a saved fd again and checks that it is what was saved.
func (w *WASI) reopen(s *FD, p *restorePlan) (*entry, error) {
	if s.Kind.isSocket() {
		return w.reopenSocket(s), nil
	}
	if s.Kind < KindFile {
		e := w.stdioEntry(s.Kind)
		e.fdflags = s.FDFlags
		return e, nil
	}
	m := p.mounts[s.Preopen]
	if s.Kind == KindPreopen {
		e, err := openPreopen(m)
		if err != nil {
			return nil, fmt.Errorf("reopening mount %q: %w", m.guestPath, err)
		}
		return e, nil
	}
	e, err := openNonblocking(m, s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s is missing from mount %q", s.Path, m.guestPath)
	case err != nil && s.Version != nil:
		// Opening a FIFO for writing fails when nobody reads it; a
		// directory fails to open for writing.
		if fi, serr := m.root.Stat(s.Path); serr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular(p.guestPath(s), fi.Mode())
		}
		fallthrough
	case err != nil:
		return nil, fmt.Errorf("reopening %s in mount %q: %w", s.Path, m.guestPath, err)
	}
	if err := p.checkFile(e, s); err != nil {
		e.file.Close()
		return nil, err
	}
	return e, nil
}

// openNonblocking opens a saved file or directory without waiting: a FIFO
// in a file's place would otherwise block the open until someone opened
// its other end. The fd then gets the blocking mode it had.
func openNonblocking(m *mount, s *FD) (*entry, error) {
	e, err := openEntry(m, s.Path, osFlags(s.Readable, s.Writable, s.FDFlags)|syscall.O_NONBLOCK, s.Kind == KindDir)
	if err == nil && s.FDFlags&fdflagNonblock == 0 {
		if err = setBlocking(e.file); err != nil {
			e.file.Close()
		}
	}
	return e, err
}

// checkFile checks a reopened file or directory against its saved fd.
func (p *restorePlan) checkFile(e *entry, s *FD) error {
	m := p.mounts[s.Preopen]
	if e.kind != s.Kind {
		return fmt.Errorf("%s in mount %q is no longer a %s", s.Path, m.guestPath, kindName(s.Kind))
	}
	v := s.Version
	if v == nil {
		return nil
	}
	fi, err := e.file.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular(p.guestPath(s), fi.Mode())
	}
	if p.allowChanged || p.rewritten(s) {
		return nil
	}
	written := p.files[fileKey{s.Preopen, s.Path}].written
	var changes []string
	switch size := fi.Size(); {
	case written && size < v.Size:
		changes = append(changes, fmt.Sprintf("size %d -> %d (shorter than at the snapshot)", v.Size, size))
	case !written && size != v.Size:
		changes = append(changes, fmt.Sprintf("size %d -> %d", v.Size, size))
	}
	if p.check == CheckSameHost {
		if ino := statOf(fi).ino; ino != v.Inode {
			changes = append(changes, fmt.Sprintf("inode %d -> %d", v.Inode, ino))
		}
		if mtime := fi.ModTime().UnixNano(); !written && mtime != v.ModTime {
			changes = append(changes, fmt.Sprintf("modified %s -> %s", formatTime(v.ModTime), formatTime(mtime)))
		}
	}
	if v.SHA256 != nil && !written && len(changes) == 0 {
		sum, err := hashFile(e.file, fi.Size())
		if err != nil {
			return fmt.Errorf("hashing %s: %w", p.guestPath(s), err)
		}
		if !bytes.Equal(sum, v.SHA256) {
			changes = append(changes, fmt.Sprintf("SHA-256 %x… -> %x…", v.SHA256[:4], sum[:4]))
		}
	}
	if len(changes) > 0 {
		return fmt.Errorf("%s %w: %s", p.guestPath(s), ErrFileChanged, strings.Join(changes, ", "))
	}
	return nil
}

func formatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func notRegular(guestPath string, mode fs.FileMode) error {
	return fmt.Errorf("%s is no longer a regular file: it is %s", guestPath, describeType(mode))
}

func describeType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "of an unknown type"
}

// checkRewritable refuses to rewrite a file whose place holds something
// else than a regular file or nothing, before any file is written.
func checkRewritable(m *mount, p string) error {
	if dir := path.Dir(p); dir != "." {
		fi, err := m.root.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // created with the file
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is %s", dir, describeType(fi.Mode()))
		}
	}
	fi, err := m.root.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("it is %s", describeType(fi.Mode()))
	}
	return nil
}

// writeContent writes saved contents over a file, creating it and its
// directories if need be. It opens without waiting and writes only to a
// regular file, whatever took its place since checkRewritable.
func writeContent(m *mount, p string, c *Content) error {
	if err := m.root.MkdirAll(path.Dir(p), 0o777); err != nil {
		return err
	}
	f, err := m.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|syscall.O_NONBLOCK, os.FileMode(c.Perm).Perm())
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("it is %s", describeType(fi.Mode()))
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	switch {
	case c.Data != nil:
		if _, err := f.Write(c.Data); err != nil {
			return err
		}
	case c.Open != nil:
		if err := copyContent(f, c); err != nil {
			return err
		}
	}
	return f.Close()
}

// copyContent copies contents kept elsewhere to f, checking their size.
func copyContent(f *os.File, c *Content) error {
	r, err := c.Open()
	if err != nil {
		return err
	}
	err = copyExactly(f, r, c.Size)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyExactly copies size bytes from r to f, and fails unless r has
// exactly that many.
func copyExactly(f *os.File, r io.Reader, size int64) error {
	n, err := io.Copy(f, io.LimitReader(r, size))
	switch {
	case err != nil:
		return err
	case n < size:
		return fmt.Errorf("saved contents end after %d of %d bytes", n, size)
	}
	var extra [1]byte
	if k, _ := io.ReadFull(r, extra[:]); k > 0 {
		return fmt.Errorf("saved contents are longer than their size %d", size)
	}
	return nil
}

// finish gives a reopened entry the rest of its saved state but for
// cutAppended's.
func finish(e *entry, s *FD) error {
	e.droppedBase, e.droppedInheriting = s.DroppedBase, s.DroppedInheriting
	if e.file == nil {
		return nil // a standard stream
	}
	e.readable, e.writable = s.Readable || e.kind != KindFile, s.Writable
	e.oflags, e.fdflags = s.OFlags, s.FDFlags
	e.rightsBase, e.rightsInheriting = s.RightsBase, s.RightsInheriting
	if e.kind == KindFile && !e.stream {
		// A filesystem may refuse an offset past its largest file.
		if _, err := e.file.Seek(s.Offset, io.SeekStart); err != nil {
			return fmt.Errorf("seeking %s: %w", s.Path, err)
		}
	}
	if d := s.Dir; d != nil && e.isDir() {
		e.dir = &dirListing{base: d.Cookie, entries: slices.Clone(d.Entries), cursor: d.Cookie}
	}
	return nil
}

// cutAppended truncates a file open for appending back to its saved
// length: what a guest appended after a snapshot, before it crashed, it
// appends again once resumed from that snapshot. A file that became
// shorter is left alone (a restore refuses it unless changed files are
// allowed).
func cutAppended(e *entry, s *FD) error {
	if e.kind != KindFile || e.stream || !s.Writable || s.FDFlags&fdflagAppend == 0 {
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
