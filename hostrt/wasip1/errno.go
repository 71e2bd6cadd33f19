package wasip1

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// errnoOf maps the host's syscall errors to WASI's numbering. The host
// numbers differ between operating systems, so this goes by name.
var errnoOf = map[syscall.Errno]errno{
	syscall.EACCES:       errnoAcces,
	syscall.EAGAIN:       errnoAgain,
	syscall.EBADF:        errnoBadf,
	syscall.EBUSY:        errnoBusy,
	syscall.ECANCELED:    errnoCanceled,
	syscall.EDQUOT:       errnoDquot,
	syscall.EEXIST:       errnoExist,
	syscall.EFAULT:       errnoFault,
	syscall.EFBIG:        errnoFbig,
	syscall.EINTR:        errnoIntr,
	syscall.EINVAL:       errnoInval,
	syscall.EIO:          errnoIo,
	syscall.EISDIR:       errnoIsdir,
	syscall.ELOOP:        errnoLoop,
	syscall.EMFILE:       errnoMfile,
	syscall.EMLINK:       errnoMlink,
	syscall.ENAMETOOLONG: errnoNametoolong,
	syscall.ENFILE:       errnoNfile,
	syscall.ENODEV:       errnoNodev,
	syscall.ENOENT:       errnoNoent,
	syscall.ENOMEM:       errnoNomem,
	syscall.ENOSPC:       errnoNospc,
	syscall.ENOSYS:       errnoNosys,
	syscall.ENOTDIR:      errnoNotdir,
	syscall.ENOTEMPTY:    errnoNotempty,
	syscall.ENOTSUP:      errnoNotsup,
	syscall.ENOTTY:       errnoNotty,
	syscall.ENXIO:        errnoNxio,
	syscall.EOVERFLOW:    errnoOverflow,
	syscall.EPERM:        errnoPerm,
	syscall.EPIPE:        errnoPipe,
	syscall.ERANGE:       errnoRange,
	syscall.EROFS:        errnoRofs,
	syscall.ESPIPE:       errnoSpipe,
	syscall.ETXTBSY:      errnoTxtbsy,
	syscall.EXDEV:        errnoXdev,
}

// escapeMessage is the text of os.Root's (unexported) error for a path, or
// a symbolic link on it, that leads out of the root.
const escapeMessage = "path escapes from parent"

// toErrno maps an error from the os package to a WASI errno. Escaping a
// mount is EPERM, as wazero answers a path with "..": the guest learns
// nothing about what lies outside.
func toErrno(err error) errno {
	var sysErr syscall.Errno
	switch {
	case err == nil:
		return errnoSuccess
	case errors.As(err, &sysErr):
		if e, ok := errnoOf[sysErr]; ok {
			return e
		}
		if sysErr == syscall.EOPNOTSUPP { // the same as ENOTSUP on Linux, so not in the map
			return errnoNotsup
		}
		return errnoIo
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errnoAgain
	case errors.Is(err, fs.ErrClosed):
		return errnoBadf
	case errors.Is(err, fs.ErrNotExist):
		return errnoNoent
	case errors.Is(err, fs.ErrExist):
		return errnoExist
	case errors.Is(err, fs.ErrPermission):
		return errnoPerm
	case errors.Is(err, fs.ErrInvalid):
		return errnoInval
	}
	if inner := errors.Unwrap(err); inner != nil && inner.Error() == escapeMessage {
		return errnoPerm
	}
	return errnoIo
}
