package wasip1

import (
	"context"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/tetratelabs/wazero/api"
)

// The path_* functions. Every path goes through resolve and then the
// mount's os.Root.

func (w *WASI) pathCreateDirectory(_ context.Context, mod api.Module, stack []uint64) errno {
	m, rel, errno := w.resolve(mod.Memory(), uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), rightPathCreateDirectory)
	if errno != errnoSuccess {
		return errno
	}
	if m.readOnly {
		return errnoRofs
	}
	return toErrno(m.root.Mkdir(rel, 0o777))
}

func (w *WASI) pathFilestatGet(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, flags, ptr, n, result := uint32(stack[0]), uint16(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4])
	mem := mod.Memory()
	m, rel, errno := w.resolve(mem, fd, ptr, n, rightPathFilestatGet)
	if errno != errnoSuccess {
		return errno
	}
	var fi fs.FileInfo
	var err error
	if flags&lookupSymlinkFollow != 0 {
		fi, err = m.root.Stat(rel)
	} else {
		fi, err = m.root.Lstat(rel)
	}
	if err != nil {
		return toErrno(err)
	}
	b, ok := mem.Read(result, sizeFilestat)
	if !ok {
		return errnoFault
	}
	st := statOf(fi)
	writeFilestat(b, &st)
	return errnoSuccess
}

func (w *WASI) pathFilestatSetTimes(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, flags, ptr, n := uint32(stack[0]), uint16(stack[1]), uint32(stack[2]), uint32(stack[3])
	atim, mtim, errno := w.times(stack[4], stack[5], uint16(stack[6]))
	if errno != errnoSuccess {
		return errno
	}
	m, rel, errno := w.resolve(mod.Memory(), fd, ptr, n, rightPathFilestatSetTimes)
	if errno != errnoSuccess {
		return errno
	}
	if m.readOnly {
		return errnoRofs
	}
	if flags&lookupSymlinkFollow == 0 {
		// os.Root can only set the times of a link's target.
		if fi, err := m.root.Lstat(rel); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return toErrno(setLinkTimes(m, rel, atim, mtim))
		}
	}
	return toErrno(m.root.Chtimes(rel, atim, mtim))
}

func (w *WASI) pathLink(_ context.Context, mod api.Module, stack []uint64) errno {
	m, oldRel, newRel, errno := w.resolveTwo(mod.Memory(), [3]uint64{stack[0], stack[2], stack[3]}, [3]uint64(stack[4:7]),
		rightPathLinkSource, rightPathLinkTarget)
	switch {
	case errno != errnoSuccess:
		return errno
	case uint16(stack[1])&lookupSymlinkFollow != 0:
		// As wasmtime, whatever the source is: linkat's
		// AT_SYMLINK_FOLLOW is not portable, and os.Root has no way
		// to follow a link only as far as the mount's edge.
		return errnoInval
	}
	return toErrno(m.root.Link(oldRel, newRel))
}

// resolveTwo resolves the two paths of a link or a rename, each given as
// directory fd, pointer and length, whose directories must hold the rights
// oldNeed and newNeed: they must lie in the same writable mount.
func (w *WASI) resolveTwo(mem api.Memory, oldPath, newPath [3]uint64, oldNeed, newNeed uint64) (m *mount, oldRel, newRel string, errno errno) {
	oldM, oldRel, errno := w.resolve(mem, uint32(oldPath[0]), uint32(oldPath[1]), uint32(oldPath[2]), oldNeed)
	if errno != errnoSuccess {
		return nil, "", "", errno
	}
	m, newRel, errno = w.resolve(mem, uint32(newPath[0]), uint32(newPath[1]), uint32(newPath[2]), newNeed)
	switch {
	case errno != errnoSuccess:
		return nil, "", "", errno
	case oldM != m:
		return nil, "", "", errnoXdev
	case m.readOnly:
		return nil, "", "", errnoRofs
	}
	return m, oldRel, newRel, errnoSuccess
}

func (w *WASI) pathOpen(_ context.Context, mod api.Module, stack []uint64) errno {
	dirfd, dirflags, ptr, n := uint32(stack[0]), uint16(stack[1]), uint32(stack[2]), uint32(stack[3])
	oflags, rightsBase, rightsInheriting := uint16(stack[4]), stack[5], stack[6]
	fdflags, result := uint16(stack[7]), uint32(stack[8])
	mem := mod.Memory()
	need := rightPathOpen
	if oflags&oflagCreat != 0 {
		need |= rightPathCreateFile
	}
	if oflags&oflagTrunc != 0 {
		need |= rightPathFilestatSetSize
	}
	m, rel, errno := w.resolve(mem, dirfd, ptr, n, need)
	if errno != errnoSuccess {
		return errno
	}
	if n == 0 {
		return errnoInval
	}
	// What the directory does not pass on, the new descriptor lacks; it
	// cannot be opened for reading or writing without that right.
	dropped := w.fds[dirfd].droppedInheriting
	if rightsBase&dropped&(rightFdRead|rightFdWrite) != 0 {
		return errnoNotcapable
	}
	wantDir := oflags&oflagDirectory != 0
	if wantDir && oflags&oflagCreat != 0 {
		return errnoInval // path_create_directory makes directories
	}
	readable, writable := access(oflags, fdflags, rightsBase)
	if m.readOnly && (writable || oflags&(oflagCreat|oflagTrunc) != 0) {
		return errnoRofs
	}
	if dirflags&lookupSymlinkFollow == 0 {
		// os.Root always follows a final symbolic link (inside the root).
		if fi, err := m.root.Lstat(rel); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if oflags&(oflagCreat|oflagExcl) == oflagCreat|oflagExcl {
				return errnoExist
			}
			return errnoLoop
		}
	}
	flag := osFlags(readable, writable, fdflags)
	if oflags&oflagCreat != 0 {
		flag |= os.O_CREATE
	}
	if oflags&oflagExcl != 0 && !wantDir {
		flag |= os.O_EXCL
	}
	if oflags&oflagTrunc != 0 {
		flag |= os.O_TRUNC
	}
	e, err := openEntry(m, rel, flag, wantDir)
	if err != nil {
		return toErrno(err)
	}
	e.readable, e.writable = readable, writable
	e.oflags = oflags
	e.fdflags = fdflags & (fdflagAppend | fdflagDsync | fdflagNonblock | fdflagRsync | fdflagSync)
	if e.kind != KindFile || e.stream {
		e.fdflags &^= fdflagAppend
	}
	e.rightsBase, e.rightsInheriting = rightsBase, rightsInheriting
	e.droppedBase, e.droppedInheriting = dropped, dropped
	fd, errno := w.insert(e)
	if errno == errnoSuccess {
		errno = putUint32(mem, result, fd)
		if errno != errnoSuccess {
			w.fds[fd] = nil
		}
	}
	if errno != errnoSuccess {
		e.file.Close()
	}
	return errno
}

// access is how path_open opens a file. Like wazero it goes by the rights
// FD_READ and FD_WRITE, the only way preview1 says so; without them,
// creating, truncating or appending means reading and writing.
func access(oflags, fdflags uint16, rights uint64) (readable, writable bool) {
	readable, writable = rights&rightFdRead != 0, rights&rightFdWrite != 0
	if !readable && !writable {
		readable = true
		writable = oflags&(oflagCreat|oflagTrunc) != 0 || fdflags&fdflagAppend != 0
	}
	return readable, writable
}

// osFlags are the open flags for an access and fd flags. Appending is left
// out: fdWrite seeks to the end itself, so that fd_fdstat_set_flags can
// change it and a restore reopens the file the same way.
func osFlags(readable, writable bool, fdflags uint16) int {
	flag := os.O_RDONLY
	switch {
	case readable && writable:
		flag = os.O_RDWR
	case writable:
		flag = os.O_WRONLY
	}
	if fdflags&(fdflagDsync|fdflagRsync|fdflagSync) != 0 {
		flag |= os.O_SYNC
	}
	if fdflags&fdflagNonblock != 0 {
		// Opening a FIFO would wait for the other end otherwise.
		flag |= syscall.O_NONBLOCK
	}
	return flag
}

// openEntry opens rel in m and describes what it found.
func openEntry(m *mount, rel string, flag int, wantDir bool) (*entry, error) {
	f, err := m.root.OpenFile(rel, flag, 0o666)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if wantDir && !fi.IsDir() {
		f.Close()
		return nil, syscall.ENOTDIR
	}
	e := &entry{kind: KindFile, file: f, mount: m, path: strings.TrimSuffix(rel, "/"),
		ftype: filetypeOf(fi.Mode()), stream: isStream(fi.Mode())}
	if fi.IsDir() {
		e.kind = KindDir
	}
	return e, nil
}

func (w *WASI) pathReadlink(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, ptr, n, buf, size, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4]), uint32(stack[5])
	if n == 0 {
		return errnoInval
	}
	mem := mod.Memory()
	m, rel, errno := w.resolve(mem, fd, ptr, n, rightPathReadlink)
	if errno != errnoSuccess {
		return errno
	}
	target, err := m.root.Readlink(rel)
	if err != nil {
		return toErrno(err)
	}
	if uint64(len(target)) > uint64(size) {
		// As wasmtime and readlink(2): the guest gets what fits, and
		// tries again with a larger buffer if it filled this one.
		target = target[:size]
	}
	if !mem.WriteString(buf, target) {
		return errnoFault
	}
	return putUint32(mem, result, uint32(len(target)))
}

func (w *WASI) pathRemoveDirectory(_ context.Context, mod api.Module, stack []uint64) errno {
	return w.remove(mod, stack, true, rightPathRemoveDirectory)
}

func (w *WASI) pathUnlinkFile(_ context.Context, mod api.Module, stack []uint64) errno {
	return w.remove(mod, stack, false, rightPathUnlinkFile)
}

// remove serves both removals: os.Root has one Remove for files and empty
// directories, so the kind is checked first.
func (w *WASI) remove(mod api.Module, stack []uint64, dir bool, need uint64) errno {
	m, rel, errno := w.resolve(mod.Memory(), uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), need)
	if errno != errnoSuccess {
		return errno
	}
	if m.readOnly {
		return errnoRofs
	}
	fi, err := m.root.Lstat(rel)
	switch {
	case err != nil:
		return toErrno(err)
	case dir && !fi.IsDir():
		return errnoNotdir
	case !dir && fi.IsDir():
		return errnoIsdir
	}
	return toErrno(m.root.Remove(rel))
}

func (w *WASI) pathRename(_ context.Context, mod api.Module, stack []uint64) errno {
	newM, oldRel, newRel, errno := w.resolveTwo(mod.Memory(), [3]uint64(stack[0:3]), [3]uint64(stack[3:6]),
		rightPathRenameSource, rightPathRenameTarget)
	if errno != errnoSuccess {
		return errno
	}
	rename := newM.root.Rename
	if fi, err := newM.root.Lstat(newRel); err == nil && fi.IsDir() {
		// os.Root refuses to replace a directory; rename(2) replaces an
		// empty one, as the guest expects.
		rename = func(oldRel, newRel string) error { return renameOverDir(newM, oldRel, newRel) }
	}
	if err := rename(oldRel, newRel); err != nil {
		return toErrno(err)
	}
	// Open files keep their paths up to date for Save.
	oldRel, newRel = strings.TrimSuffix(oldRel, "/"), strings.TrimSuffix(newRel, "/")
	for _, e := range w.fds {
		switch {
		case e == nil || e.mount != newM:
		case e.path == oldRel:
			e.path = newRel
		case strings.HasPrefix(e.path, oldRel+"/"):
			e.path = newRel + e.path[len(oldRel):]
		}
	}
	return errnoSuccess
}

func (w *WASI) pathSymlink(_ context.Context, mod api.Module, stack []uint64) errno {
	oldPtr, oldLen, fd, newPtr, newLen := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4])
	if e := w.lookup(fd); e == nil {
		return errnoBadf
	} else if !e.isDir() {
		return errnoNotdir
	}
	if oldLen == 0 || newLen == 0 {
		return errnoInval
	}
	mem := mod.Memory()
	b, ok := mem.Read(oldPtr, oldLen)
	if !ok {
		return errnoFault
	}
	target := string(b)
	m, rel, errno := w.resolve(mem, fd, newPtr, newLen, rightPathSymlink)
	switch {
	case errno != errnoSuccess:
		return errno
	case path.IsAbs(target):
		// As wazero: the link would name a host path. os.Root would
		// refuse to follow it anyway.
		return errnoPerm
	case m.readOnly:
		return errnoRofs
	}
	return toErrno(m.root.Symlink(target, rel))
}
