//go:build !unix

package wasip1

import (
	"errors"
	"os"
	"syscall"
)

// Sockets are for unix hosts: elsewhere a guest's listener does nothing.

var errNoSockets = errors.New("wasip1: sockets are only supported on unix hosts")

func acceptNonblock(int) (*os.File, string, error)                      { return nil, "", syscall.ENOTSUP }
func recvNonblock(int, []byte, bool) (int, bool, error)                 { return 0, false, syscall.ENOTSUP }
func sendNonblock(int, []byte) (int, error)                             { return 0, syscall.ENOTSUP }
func shutdown(*os.File, bool, bool) error                               { return syscall.ENOTSUP }
func newSocketWaiter() (*socketWaiter, error)                           { return nil, errNoSockets }
func (*socketWaiter) close()                                            {}
func (*socketWaiter) wait([]*os.File, []bool) (<-chan struct{}, func()) { return nil, func() {} }

type socketWaiter struct{}

type socketReadiness struct {
	readable, writable, hangup bool
	err                        error
	nread                      int
}

func pollSocketsNow(files []*os.File) []socketReadiness { return make([]socketReadiness, len(files)) }
