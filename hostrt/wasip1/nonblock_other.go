//go:build !unix

package wasip1

import "os"

// readNonblock blocks: without the unix read(2) there is no portable way
// to ask a file for what it has now.
func readNonblock(f *os.File, buf []byte) (int, error) {
	return f.Read(buf)
}

// setBlocking has nothing to undo where O_NONBLOCK means nothing.
func setBlocking(*os.File) error { return nil }
