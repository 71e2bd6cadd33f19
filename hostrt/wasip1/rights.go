package wasip1

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// Rights. Every descriptor starts with all of them, as in wasmtime and
// wazero, which ignore the rights path_open asks for; a guest can only drop
// them, with fd_fdstat_set_rights, and a descriptor opened through a
// directory starts without the rights the directory's inheriting rights
// lack. A call that needs a dropped right is ENOTCAPABLE. The dropped
// rights are part of a saved State (FD.DroppedBase), so a restored guest
// cannot get them back.

// capable returns fd's entry if it is open and holds the rights need:
// EBADF if it is not open, ENOTCAPABLE if it lacks one of them.
func (w *WASI) capable(fd uint32, need uint64) (*entry, errno) {
	e := w.lookup(fd)
	if e == nil {
		return nil, errnoBadf
	}
	return e, e.capable(need)
}

// capable is ENOTCAPABLE when the guest dropped one of the rights need.
func (e *entry) capable(need uint64) errno {
	if e.droppedBase&need != 0 {
		return errnoNotcapable
	}
	return errnoSuccess
}

// rights are the rights fd_fdstat_get reports: those of e's kind, as wazero
// reports them, less those the guest dropped.
func (w *WASI) rights(e *entry) (base, inheriting uint64) {
	base = fileRights
	switch {
	case e.isDir():
		base, inheriting = dirRights, fileRights|dirRights
	case e.isSocket():
		base = socketRights
	case e.ftype == filetypeCharacterDevice:
		// wasi-libc's isatty: a character device that cannot seek.
		base &^= rightFdSeek | rightFdTell
	case e.kind == KindFile:
		if !e.readable {
			base &^= rightFdRead
		}
		if !e.writable {
			base &^= rightFdWrite
		}
	}
	return base &^ e.droppedBase, inheriting &^ e.droppedInheriting
}

// fdFdstatSetRights drops rights: asking for one that fd_fdstat_get does
// not report is ENOTCAPABLE, as the specification says. wasmtime answers
// ENOTSUP to every call (see RATIONALE.md).
func (w *WASI) fdFdstatSetRights(_ context.Context, _ api.Module, stack []uint64) errno {
	fd, base, inheriting := uint32(stack[0]), stack[1], stack[2]
	e := w.lookup(fd)
	if e == nil {
		return errnoBadf
	}
	haveBase, haveInheriting := w.rights(e)
	if base&^haveBase != 0 || inheriting&^haveInheriting != 0 {
		return errnoNotcapable
	}
	e.droppedBase |= rightsAll &^ base
	e.droppedInheriting |= rightsAll &^ inheriting
	return errnoSuccess
}
