package wasip1

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// maxFDs bounds fd numbers, so that fd_renumber to a huge number cannot
// make the table huge.
const maxFDs = 1 << 16

// entry is an open file descriptor.
type entry struct {
	kind Kind
	// file is the open file or directory; nil for the standard streams,
	// which are the Config's.
	file *os.File
	// mount and path say where file lives: path is slash-separated,
	// relative to the mount's root, "." for the root itself. The path is
	// what a restore reopens.
	mount *mount
	path  string
	// ftype is the WASI filetype, found when the file was opened.
	ftype uint8
	// stream is set for pipes, sockets and character devices, whose reads
	// may block and which cannot seek.
	stream   bool
	readable bool
	writable bool
	oflags   uint16
	fdflags  uint16
	// rightsBase and rightsInheriting are the rights the guest asked
	// path_open for: a restore reports them, nothing enforces them.
	rightsBase       uint64
	rightsInheriting uint64
	// droppedBase are the rights the guest took from this descriptor with
	// fd_fdstat_set_rights, or that it did not inherit; droppedInheriting
	// are those that descriptors opened through it lack. Zero, all rights,
	// is what a descriptor starts with (see capable).
	droppedBase       uint64
	droppedInheriting uint64
	// dir is the directory listing fd_readdir serves, read on its first call.
	dir *dirListing
}

func (e *entry) isDir() bool { return e.kind == KindDir || e.kind == KindPreopen }

// dirListing is a directory's entries, "." and ".." first, as fd_readdir
// numbers them: the entry with cookie c is entries[c-base]. The whole
// directory is read at cookie 0 so that any cookie the guest got can be
// served again, and so that the position can be saved without depending
// on the order in which another host lists the directory.
type dirListing struct {
	base    uint64
	entries []DirEntry
	// cursor is the cookie of the last fd_readdir: the guest may ask again
	// for anything from there, so Save keeps the entries from there on.
	cursor uint64
}

// lookup returns the entry of fd, or nil when fd is not open.
func (w *WASI) lookup(fd uint32) *entry {
	if uint64(fd) < uint64(len(w.fds)) {
		return w.fds[fd]
	}
	return nil
}

// insert gives e the lowest free fd number, as POSIX does.
func (w *WASI) insert(e *entry) (uint32, errno) {
	for fd, old := range w.fds {
		if old == nil {
			w.fds[fd] = e
			return uint32(fd), errnoSuccess
		}
	}
	if len(w.fds) >= maxFDs {
		return 0, errnoMfile
	}
	w.fds = append(w.fds, e)
	return uint32(len(w.fds) - 1), errnoSuccess
}

// place puts e at fd, growing the table.
func (w *WASI) place(fd uint32, e *entry) {
	for uint32(len(w.fds)) <= fd {
		w.fds = append(w.fds, nil)
	}
	w.fds[fd] = e
}

// openPreopen opens a mount's root directory as a preopen.
func openPreopen(m *mount) (*entry, error) {
	f, err := m.root.Open(".")
	if err != nil {
		return nil, err
	}
	return &entry{kind: KindPreopen, file: f, mount: m, path: ".", ftype: filetypeDirectory, readable: true}, nil
}

// resolve reads a path from guest memory and returns the mount and the
// mount-relative path it names relative to directory fd, which must hold
// the rights need. A path that is absolute or climbs above fd's directory
// with ".." is EPERM, as in wasmtime; os.Root then refuses symbolic links
// that lead out of the mount.
func (w *WASI) resolve(mem api.Memory, fd, ptr, n uint32, need uint64) (*mount, string, errno) {
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, "", errnoFault
	}
	p := string(b)
	e := w.lookup(fd)
	switch {
	case e == nil:
		return nil, "", errnoBadf
	case !e.isDir():
		return nil, "", errnoNotdir
	case e.capable(need) != errnoSuccess:
		return nil, "", errnoNotcapable
	case strings.HasPrefix(p, "/"):
		return nil, "", errnoPerm
	}
	// Each directory descriptor is a capability for its own tree, as in
	// wasmtime: ".." never leads above it, even where the mount goes on.
	rel := path.Clean(p)
	if !fs.ValidPath(rel) {
		return nil, "", errnoPerm
	}
	rel = path.Join(e.path, rel)
	if strings.HasSuffix(p, "/") && rel != "." {
		// A trailing slash asks for a directory; os.Root checks it.
		rel += "/"
	}
	return e.mount, rel, errnoSuccess
}

// fileStat is the part of a stat the guest sees.
type fileStat struct {
	dev, ino, nlink uint64
	size            int64
	atim, mtim      int64
	ctim            int64
	ftype           uint8
}

func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{nlink: 1, size: fi.Size(), ftype: filetypeOf(fi.Mode())}
	st.mtim = fi.ModTime().UnixNano()
	st.atim, st.ctim = st.mtim, st.mtim
	sysStat(fi, &st)
	return st
}

// deviceStat is what the guest sees of a standard stream that is not a
// file: wazero's choice of a device that is not a terminal.
var deviceStat = fileStat{nlink: 1, ftype: filetypeBlockDevice}

// filetypeOf maps a file mode to a WASI filetype; pipes and sockets have
// none in preview1.
func filetypeOf(m fs.FileMode) uint8 {
	switch {
	case m.IsRegular():
		return filetypeRegularFile
	case m.IsDir():
		return filetypeDirectory
	case m&fs.ModeSymlink != 0:
		return filetypeSymbolicLink
	case m&fs.ModeCharDevice != 0:
		return filetypeCharacterDevice
	case m&fs.ModeDevice != 0:
		return filetypeBlockDevice
	}
	return filetypeUnknown
}

func isStream(m fs.FileMode) bool {
	return m&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice) != 0
}

func writeFilestat(b []byte, st *fileStat) {
	le.PutUint64(b[0:], st.dev)
	le.PutUint64(b[8:], st.ino)
	le.PutUint64(b[16:], uint64(st.ftype))
	le.PutUint64(b[24:], st.nlink)
	le.PutUint64(b[32:], uint64(st.size))
	le.PutUint64(b[40:], uint64(st.atim))
	le.PutUint64(b[48:], uint64(st.mtim))
	le.PutUint64(b[56:], uint64(st.ctim))
}

// times turns fst_flags and the given times into the arguments of
// Chtimes, where a zero time leaves the file's time alone.
func (w *WASI) times(atim, mtim uint64, flags uint16) (time.Time, time.Time, errno) {
	if flags&(fstflagAtim|fstflagAtimNow) == fstflagAtim|fstflagAtimNow ||
		flags&(fstflagMtim|fstflagMtimNow) == fstflagMtim|fstflagMtimNow {
		return time.Time{}, time.Time{}, errnoInval
	}
	var a, m time.Time
	now := time.Unix(0, w.clock.Walltime())
	switch {
	case flags&fstflagAtim != 0:
		a = time.Unix(0, int64(atim))
	case flags&fstflagAtimNow != 0:
		a = now
	}
	switch {
	case flags&fstflagMtim != 0:
		m = time.Unix(0, int64(mtim))
	case flags&fstflagMtimNow != 0:
		m = now
	}
	return a, m, errnoSuccess
}
