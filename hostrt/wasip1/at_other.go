//go:build !linux

package wasip1

import (
	"syscall"
	"time"
)

// setLinkTimes would set a symbolic link's own times: only the Linux build
// does (at_linux.go), so elsewhere the guest gets ENOTSUP.
func setLinkTimes(*mount, string, time.Time, time.Time) error {
	return syscall.ENOTSUP
}

// renameOverDir is os.Root's rename elsewhere than on Linux, which refuses
// to replace a directory (EEXIST).
func renameOverDir(m *mount, oldRel, newRel string) error {
	return m.root.Rename(oldRel, newRel)
}
