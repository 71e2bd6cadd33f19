package wasip1

import (
	"io/fs"
	"syscall"
)

// sysStat fills in what only the host's stat has.
func sysStat(fi fs.FileInfo, st *fileStat) {
	s, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	st.dev, st.ino, st.nlink = uint64(s.Dev), s.Ino, uint64(s.Nlink)
	st.atim = s.Atim.Nano()
	st.ctim = s.Ctim.Nano()
}
