package wasip1

import (
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// What os.Root cannot do, done with the *at system calls on a directory
// that os.Root opened: the directory is inside the mount, and the last
// name is one component that the calls do not follow.

// setLinkTimes sets the times of the symbolic link rel itself; a zero
// time is left as it is.
func setLinkTimes(m *mount, rel string, atim, mtim time.Time) error {
	return inParent(m, rel, func(dirfd int, name string) error {
		return unix.UtimesNanoAt(dirfd, name, []unix.Timespec{timespec(atim), timespec(mtim)}, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// renameOverDir renames oldRel to newRel, where a directory is: rename(2)
// replaces it if it is empty and oldRel is a directory, and says why not
// otherwise.
func renameOverDir(m *mount, oldRel, newRel string) error {
	return inParent(m, oldRel, func(oldDir int, oldName string) error {
		return inParent(m, newRel, func(newDir int, newName string) error {
			return unix.Renameat(oldDir, oldName, newDir, newName)
		})
	})
}

// inParent calls do with the directory that holds rel, opened through the
// mount's root, and rel's last component.
func inParent(m *mount, rel string, do func(dirfd int, name string) error) error {
	rel = strings.TrimSuffix(rel, "/")
	dir, err := m.root.Open(path.Dir(rel))
	if err != nil {
		return err
	}
	defer dir.Close()
	conn, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := conn.Control(func(fd uintptr) { opErr = do(int(fd), path.Base(rel)) }); err != nil {
		return err
	}
	return opErr
}
