package wasip1

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// The fd_* functions. Guest memory is read through views that stay valid
// for a call (nothing else runs in the guest meanwhile), but calls that
// block take their views only after the wait.

func (w *WASI) fdAdvise(_ context.Context, _ api.Module, stack []uint64) errno {
	// Advice is a hint; taking none is a correct implementation.
	fd, advice := uint32(stack[0]), uint32(stack[3])
	e := w.lookup(fd)
	switch {
	case e == nil || e.isDir():
		return errnoBadf
	case advice > 5: // normal, sequential, random, willneed, dontneed, noreuse
		return errnoInval
	}
	return e.capable(rightFdAdvise)
}

func (w *WASI) fdAllocate(_ context.Context, _ api.Module, stack []uint64) errno {
	fd, offset, length := uint32(stack[0]), stack[1], stack[2]
	e := w.lookup(fd)
	if errno := e.regularFile(rightFdAllocate); errno != errnoSuccess {
		return errno
	}
	if e.mount.readOnly {
		return errnoRofs
	}
	end := int64(offset + length)
	if end < 0 || offset+length < offset {
		return errnoInval
	}
	fi, err := e.file.Stat()
	if err != nil {
		return toErrno(err)
	}
	if fi.Size() >= end {
		return errnoSuccess
	}
	return toErrno(e.file.Truncate(end))
}

// regularFile is EBADF, ESPIPE or ENOTCAPABLE unless e is an open file
// that has a size and an offset and the rights need. A directory is EBADF,
// as in wasmtime: it is not open for reading or writing as a file.
func (e *entry) regularFile(need uint64) errno {
	switch {
	case e == nil || e.isDir():
		return errnoBadf
	case e.file == nil || e.stream:
		return errnoSpipe
	}
	return e.capable(need)
}

func (w *WASI) fdClose(_ context.Context, _ api.Module, stack []uint64) errno {
	fd := uint32(stack[0])
	e := w.lookup(fd)
	if e == nil {
		return errnoBadf
	}
	w.fds[fd] = nil
	if e.file == nil {
		return errnoSuccess
	}
	return toErrno(e.file.Close())
}

func (w *WASI) fdSync(_ context.Context, _ api.Module, stack []uint64) errno {
	return w.sync(uint32(stack[0]), rightFdSync)
}

// fdDatasync syncs all: Go has no fdatasync, and syncing more than asked
// is allowed.
func (w *WASI) fdDatasync(_ context.Context, _ api.Module, stack []uint64) errno {
	return w.sync(uint32(stack[0]), rightFdDatasync)
}

// sync serves fd_sync and fd_datasync. A directory is EBADF, as in
// wasmtime.
func (w *WASI) sync(fd uint32, need uint64) errno {
	e := w.lookup(fd)
	switch {
	case e == nil || e.isDir():
		return errnoBadf
	case e.capable(need) != errnoSuccess:
		return errnoNotcapable
	case e.file == nil:
		return errnoSuccess
	}
	return toErrno(e.file.Sync())
}

func (w *WASI) fdFdstatGet(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, ptr := uint32(stack[0]), uint32(stack[1])
	b, ok := mod.Memory().Read(ptr, sizeFdstat)
	if !ok {
		return errnoFault
	}
	e := w.lookup(fd)
	if e == nil {
		return errnoBadf
	}
	base, inheriting := w.rights(e)
	clear(b)
	b[0] = e.ftype
	le.PutUint16(b[2:], e.fdflags)
	le.PutUint64(b[8:], base)
	le.PutUint64(b[16:], inheriting)
	return errnoSuccess
}

func (w *WASI) fdFdstatSetFlags(_ context.Context, _ api.Module, stack []uint64) errno {
	fd, flags := uint32(stack[0]), uint16(stack[1])
	if flags&(fdflagDsync|fdflagRsync|fdflagSync) != 0 {
		// Like wazero: these can only be chosen when opening.
		return errnoInval
	}
	e := w.lookup(fd)
	switch {
	case e == nil || e.isDir():
		return errnoBadf // a directory as in wasmtime
	case e.capable(rightFdFdstatSetFlags) != errnoSuccess:
		return errnoNotcapable
	}
	// Append is kept here and applied by fdWrite, so that it can change
	// on an open file and survives a restore; non-blocking likewise only
	// changes how this package reads.
	settable := fdflagNonblock
	if e.kind == KindFile && !e.stream {
		settable |= fdflagAppend
	}
	e.fdflags = e.fdflags&^settable | flags&settable
	return errnoSuccess
}

func (w *WASI) fdFilestatGet(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, ptr := uint32(stack[0]), uint32(stack[1])
	b, ok := mod.Memory().Read(ptr, sizeFilestat)
	if !ok {
		return errnoFault
	}
	e, errno := w.capable(fd, rightFdFilestatGet)
	if errno != errnoSuccess {
		return errno
	}
	st := deviceStat
	if f := w.osFile(e); f != nil {
		fi, err := f.Stat()
		if err != nil {
			return toErrno(err)
		}
		st = statOf(fi)
	}
	if e.isSocket() {
		st.ftype = filetypeSocketStream // the host's stat has no type for it
	}
	writeFilestat(b, &st)
	return errnoSuccess
}

// osFile is the host file behind e, if there is one.
func (w *WASI) osFile(e *entry) *os.File {
	switch e.kind {
	case KindStdin:
		return w.stdinFile
	case KindStdout:
		return w.stdoutFile
	case KindStderr:
		return w.stderrFile
	}
	return e.file
}

func (w *WASI) fdFilestatSetSize(_ context.Context, _ api.Module, stack []uint64) errno {
	fd, size := uint32(stack[0]), int64(stack[1])
	e := w.lookup(fd)
	if errno := e.regularFile(rightFdFilestatSetSize); errno == errnoSpipe {
		return errnoInval
	} else if errno != errnoSuccess {
		return errno
	}
	switch {
	case e.mount.readOnly:
		return errnoRofs
	case size < 0:
		return errnoInval
	}
	return toErrno(e.file.Truncate(size))
}

func (w *WASI) fdFilestatSetTimes(_ context.Context, _ api.Module, stack []uint64) errno {
	fd := uint32(stack[0])
	e, errno := w.capable(fd, rightFdFilestatSetTimes)
	switch {
	case errno != errnoSuccess:
		return errno
	case e.file == nil || e.mount == nil:
		return errnoNosys
	case e.mount.readOnly:
		return errnoRofs
	}
	atim, mtim, errno := w.times(stack[1], stack[2], uint16(stack[3]))
	if errno != errnoSuccess {
		return errno
	}
	// os.File cannot set its times; the path is the next best thing.
	return toErrno(e.mount.root.Chtimes(e.path, atim, mtim))
}

func (w *WASI) fdPread(_ context.Context, mod api.Module, stack []uint64) errno {
	return w.positioned(mod, stack, rightFdRead|rightFdSeek, func(mem api.Memory, iovs, n uint32, f *os.File, at int64) (uint32, errno) {
		return readFile(mem, iovs, n, f, at)
	})
}

func (w *WASI) fdPwrite(_ context.Context, mod api.Module, stack []uint64) errno {
	return w.positioned(mod, stack, rightFdWrite|rightFdSeek, func(mem api.Memory, iovs, n uint32, f *os.File, at int64) (uint32, errno) {
		return writeFile(mem, iovs, n, nil, f, at)
	})
}

// positioned serves fd_pread and fd_pwrite, which move data with move
// at an offset of a regular file, leaving its position alone; they need
// the rights need.
func (w *WASI) positioned(mod api.Module, stack []uint64, need uint64, move func(mem api.Memory, iovs, n uint32, f *os.File, at int64) (uint32, errno)) errno {
	fd, iovs, n, offset, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), int64(stack[3]), uint32(stack[4])
	e := w.lookup(fd)
	if errno := e.regularFile(need); errno != errnoSuccess {
		return errno
	}
	if offset < 0 {
		return errnoInval
	}
	mem := mod.Memory()
	moved, errno := move(mem, iovs, n, e.file, offset)
	if errno != errnoSuccess {
		return errno
	}
	return putUint32(mem, result, moved)
}

func (w *WASI) fdPrestatGet(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, ptr := uint32(stack[0]), uint32(stack[1])
	e := w.lookup(fd)
	if e == nil || e.kind != KindPreopen {
		return errnoBadf
	}
	// prestat: tag 0 (a directory), then the length of its name.
	if !mod.Memory().WriteUint64Le(ptr, uint64(len(e.mount.guestPath))<<32) {
		return errnoFault
	}
	return errnoSuccess
}

func (w *WASI) fdPrestatDirName(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	e := w.lookup(fd)
	switch {
	case e == nil:
		return errnoBadf
	case e.kind != KindPreopen:
		return errnoNotdir // as wasmtime
	case uint64(len(e.mount.guestPath)) > uint64(n):
		return errnoNametoolong
	}
	if !mod.Memory().WriteString(ptr, e.mount.guestPath) {
		return errnoFault
	}
	return errnoSuccess
}

func (w *WASI) fdRead(ctx context.Context, mod api.Module, stack []uint64) errno {
	fd, iovs, n, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	e := w.lookup(fd)
	var nread uint32
	var errno errno
	switch {
	case e == nil || e.kind == KindStdout || e.kind == KindStderr || e.isDir():
		return errnoBadf // a directory as in wasmtime
	case e.capable(rightFdRead) != errnoSuccess:
		return errnoNotcapable
	case e.isSocket():
		if e, errno = w.connection(fd); errno == errnoSuccess {
			nread, errno = w.recv(ctx, mod, e, iovs, n, 0)
		}
	case e.kind == KindStdin:
		nread, errno = w.readStdin(ctx, mod, e, iovs, n)
	case e.stream:
		nread, errno = w.readStream(ctx, mod, e, iovs, n)
	default:
		nread, errno = readFile(mod.Memory(), iovs, n, e.file, -1)
	}
	if errno != errnoSuccess {
		return errno
	}
	return putUint32(mod.Memory(), result, nread)
}

// iovecs is the guest's array of iovecs, each checked to point into memory.
type iovecs struct {
	mem api.Memory
	vec []byte
}

// guestBuffers returns the n iovecs at ptr, or false when the array or a
// buffer lies outside memory: checked before any buffer is used, so that a
// fault moves no data.
func guestBuffers(mem api.Memory, ptr, n uint32) (iovecs, bool) {
	if n > math.MaxUint32/sizeIovec {
		return iovecs{}, false
	}
	vec, ok := mem.Read(ptr, n*sizeIovec)
	if !ok {
		return iovecs{}, false
	}
	for i := 0; i < len(vec); i += sizeIovec {
		if _, ok := mem.Read(le.Uint32(vec[i:]), le.Uint32(vec[i+4:])); !ok {
			return iovecs{}, false
		}
	}
	return iovecs{mem, vec}, true
}

func (v iovecs) len() int { return len(v.vec) / sizeIovec }

// buf returns the k-th buffer.
func (v iovecs) buf(k int) []byte {
	i := k * sizeIovec
	b, _ := v.mem.Read(le.Uint32(v.vec[i:]), le.Uint32(v.vec[i+4:]))
	return b
}

// transfer moves data through the guest's iovecs at iovs with move, one
// non-empty buffer at a time, as readv and writev do: it stops at the
// first short transfer and reports what it moved before an error (the
// end of a file is no error).
func transfer(mem api.Memory, iovs, n uint32, move func([]byte) (int, error)) (uint32, errno) {
	bufs, ok := guestBuffers(mem, iovs, n)
	if !ok {
		return 0, errnoFault
	}
	var total uint32
	for k := range bufs.len() {
		buf := bufs.buf(k)
		if len(buf) == 0 {
			continue
		}
		m, err := move(buf)
		total += uint32(m)
		if err != nil && err != io.EOF && total == 0 {
			return 0, toErrno(err)
		}
		if err != nil || m < len(buf) {
			break
		}
	}
	return total, errnoSuccess
}

// readFile reads f into the guest's iovecs, at its offset or, when at is
// not negative, at that position.
func readFile(mem api.Memory, iovs, n uint32, f *os.File, at int64) (uint32, errno) {
	return transfer(mem, iovs, n, func(buf []byte) (int, error) {
		if at < 0 {
			return f.Read(buf)
		}
		m, err := f.ReadAt(buf, at)
		at += int64(m)
		return m, err
	})
}

// readStdin fills the iovecs from the stdin buffer, waiting for the first
// byte unless the guest asked not to block. The wait gives up when the
// host pauses: nothing is consumed, and the re-issued read finds the bytes.
func (w *WASI) readStdin(ctx context.Context, mod api.Module, e *entry, iovs, n uint32) (uint32, errno) {
	for {
		avail, err := w.stdin.status()
		if avail > 0 {
			break
		}
		switch {
		case err == io.EOF:
			return 0, errnoSuccess
		case err != nil:
			return 0, toErrno(err)
		case e.fdflags&fdflagNonblock != 0:
			return 0, errnoAgain
		}
		select {
		case <-w.stdin.ready:
		case <-w.pausing():
			if w.gate.Interrupt(ctx, mod) {
				return 0, errnoIntr
			}
		case <-ctx.Done():
			return 0, errnoIntr
		}
	}
	// Every iovec is checked first: bytes taken from the buffer cannot go back.
	bufs, ok := guestBuffers(mod.Memory(), iovs, n)
	if !ok {
		return 0, errnoFault
	}
	var total uint32
	for k := range bufs.len() {
		buf := bufs.buf(k)
		m := w.stdin.take(buf)
		total += uint32(m)
		if m < len(buf) {
			break
		}
	}
	return total, errnoSuccess
}

// readStream reads a pipe, socket or character device into the first
// non-empty iovec. A blocking read gives up when the host pauses, through a
// read deadline, as long as Go can poll the file.
func (w *WASI) readStream(ctx context.Context, mod api.Module, e *entry, iovs, n uint32) (uint32, errno) {
	bufs, ok := guestBuffers(mod.Memory(), iovs, n)
	if !ok {
		return 0, errnoFault
	}
	var buf []byte
	for k := 0; k < bufs.len() && len(buf) == 0; k++ {
		buf = bufs.buf(k)
	}
	if len(buf) == 0 {
		return 0, errnoSuccess
	}
	if e.fdflags&fdflagNonblock != 0 {
		m, err := readNonblock(e.file, buf)
		if err != nil && err != io.EOF {
			return 0, toErrno(err)
		}
		return uint32(m), errnoSuccess
	}
	pausing := w.pausing()
	if (pausing == nil && ctx.Done() == nil) || e.file.SetReadDeadline(time.Time{}) != nil {
		m, err := e.file.Read(buf)
		if err != nil && err != io.EOF {
			return 0, toErrno(err)
		}
		return uint32(m), errnoSuccess
	}
	stop := wakeOnPause(ctx, pausing, e.file.SetReadDeadline)
	m, err := e.file.Read(buf)
	stop()
	switch {
	case m == 0 && errors.Is(err, os.ErrDeadlineExceeded):
		select {
		case <-pausing:
			if !w.gate.Interrupt(ctx, mod) {
				return w.readStream(ctx, mod, e, iovs, n) // wait on, for the next pause
			}
		default:
		}
		return 0, errnoIntr
	case err != nil && err != io.EOF && m == 0:
		return 0, toErrno(err)
	}
	return uint32(m), errnoSuccess
}

// wakeOnPause makes a read or write blocked on a host descriptor give up
// when the host pauses or ctx ends: it sets a deadline in the past with
// set then. The returned stop ends the watch and clears the deadline.
func wakeOnPause(ctx context.Context, pausing <-chan struct{}, set func(time.Time) error) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-pausing:
		case <-ctx.Done():
		case <-done:
			return
		}
		set(time.Unix(1, 0))
	}()
	return func() {
		close(done)
		<-stopped
		set(time.Time{})
	}
}

func (w *WASI) fdReaddir(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, ptr, size, cookie, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), stack[3], uint32(stack[4])
	if size < sizeDirent {
		// As wazero: too small for the header that says how much is needed.
		return errnoInval
	}
	e := w.lookup(fd)
	if e == nil || !e.isDir() {
		// Not ENOTDIR: Rust's standard library aborts on it.
		return errnoBadf
	}
	if errno := e.capable(rightFdReaddir); errno != errnoSuccess {
		return errno
	}
	if cookie == 0 {
		if errno := e.list(); errno != errnoSuccess {
			return errno
		}
	}
	d := e.dir
	if d == nil || cookie < d.base || cookie-d.base > uint64(len(d.entries)) {
		return errnoNoent
	}
	d.cursor = cookie
	mem := mod.Memory()
	b, ok := mem.Read(ptr, size)
	if !ok {
		return errnoFault
	}
	// Entries go one after the other, the last one cut where the buffer
	// ends; a full buffer tells the guest to ask for more.
	pos := 0
	var hdr [sizeDirent]byte
	for i := cookie - d.base; i < uint64(len(d.entries)) && pos < len(b); i++ {
		de := &d.entries[i]
		le.PutUint64(hdr[0:], d.base+i+1)
		le.PutUint64(hdr[8:], de.Ino)
		le.PutUint32(hdr[16:], uint32(len(de.Name)))
		le.PutUint32(hdr[20:], uint32(de.Type))
		pos += copy(b[pos:], hdr[:])
		pos += copy(b[pos:], de.Name)
	}
	return putUint32(mem, result, uint32(pos))
}

// list reads the whole directory, after "." and "..", in the host's order.
func (e *entry) list() errno {
	if _, err := e.file.Seek(0, io.SeekStart); err != nil {
		return toErrno(err)
	}
	infos, err := e.file.Readdir(-1)
	if err != nil {
		return toErrno(err)
	}
	self, err := e.file.Stat()
	if err != nil {
		return toErrno(err)
	}
	entries := make([]DirEntry, 0, len(infos)+2)
	entries = append(entries,
		DirEntry{Name: ".", Type: filetypeDirectory, Ino: statOf(self).ino},
		DirEntry{Name: "..", Type: filetypeDirectory})
	for _, fi := range infos {
		entries = append(entries, DirEntry{Name: fi.Name(), Type: filetypeOf(fi.Mode()), Ino: statOf(fi).ino})
	}
	e.dir = &dirListing{entries: entries}
	return errnoSuccess
}

func (w *WASI) fdRenumber(_ context.Context, _ api.Module, stack []uint64) errno {
	from, to := uint32(stack[0]), uint32(stack[1])
	e, old := w.lookup(from), w.lookup(to)
	switch {
	case e == nil || old == nil:
		// As wasmtime: the target must be open, so that a guest cannot
		// make the table as large as it likes.
		return errnoBadf
	case from == to:
		return errnoSuccess
	}
	// A preopen moves or is replaced like any descriptor, as in
	// wasmtime; its mount stays open for the other descriptors in it.
	if old.file != nil {
		old.file.Close()
	}
	w.fds[from] = nil
	w.fds[to] = e
	return errnoSuccess
}

func (w *WASI) fdSeek(_ context.Context, mod api.Module, stack []uint64) errno {
	fd, offset, whence, result := uint32(stack[0]), int64(stack[1]), uint32(stack[2]), uint32(stack[3])
	need := rightFdSeek
	if offset == 0 && whence == io.SeekCurrent {
		need = rightFdTell // as the specification says of fd_seek
	}
	return w.seek(mod, fd, offset, whence, result, need)
}

func (w *WASI) fdTell(_ context.Context, mod api.Module, stack []uint64) errno {
	return w.seek(mod, uint32(stack[0]), 0, io.SeekCurrent, uint32(stack[1]), rightFdTell)
}

// seek moves fd's offset, with the rights need; WASI's whence values are
// io.Seek*'s.
func (w *WASI) seek(mod api.Module, fd uint32, offset int64, whence, result uint32, need uint64) errno {
	e := w.lookup(fd)
	if errno := e.regularFile(need); errno != errnoSuccess {
		return errno
	}
	if whence > io.SeekEnd {
		return errnoInval
	}
	pos, err := e.file.Seek(offset, int(whence))
	if err != nil {
		return toErrno(err)
	}
	if !mod.Memory().WriteUint64Le(result, uint64(pos)) {
		return errnoFault
	}
	return errnoSuccess
}

func (w *WASI) fdWrite(ctx context.Context, mod api.Module, stack []uint64) errno {
	fd, iovs, n, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	e := w.lookup(fd)
	var dst io.Writer
	switch {
	case e == nil || e.kind == KindStdin || e.isDir():
		return errnoBadf
	case e.capable(rightFdWrite) != errnoSuccess:
		return errnoNotcapable
	case e.isSocket():
		conn, errno := w.connection(fd)
		if errno != errnoSuccess {
			return errno
		}
		return w.send(ctx, mod, conn, iovs, n, result)
	case e.kind == KindStdout:
		dst = w.stdout
	case e.kind == KindStderr:
		dst = w.stderr
	default:
		if e.fdflags&fdflagAppend != 0 {
			if _, err := e.file.Seek(0, io.SeekEnd); err != nil {
				return toErrno(err)
			}
		}
		dst = e.file
	}
	mem := mod.Memory()
	nwritten, errno := writeFile(mem, iovs, n, dst, nil, -1)
	if errno != errnoSuccess {
		return errno
	}
	return putUint32(mem, result, nwritten)
}

// writeFile writes the guest's iovecs to dst or, when at is not negative,
// to f at that position.
func writeFile(mem api.Memory, iovs, n uint32, dst io.Writer, f *os.File, at int64) (uint32, errno) {
	return transfer(mem, iovs, n, func(buf []byte) (int, error) {
		if at < 0 {
			return dst.Write(buf)
		}
		m, err := f.WriteAt(buf, at)
		at += int64(m)
		return m, err
	})
}

func putUint32(mem api.Memory, ptr, v uint32) errno {
	if !mem.WriteUint32Le(ptr, v) {
		return errnoFault
	}
	return errnoSuccess
}
