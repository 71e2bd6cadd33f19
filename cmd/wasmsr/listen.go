package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// openListeners opens the TCP listeners of a job and says on stderr where
// each listens, for the person or script that connects to it (with port
// 0, only this line tells). A new job gets one per --listen, as the
// descriptors after its mounts'. A resumed job gets one for each it had
// at the snapshot, on its saved address or on the --listen given in its
// place.
func openListeners(c *cli.Context, restore *snapshot.Snapshot, mounts int) ([]*net.TCPListener, error) {
	addrs := c.StringSlice("listen")
	var fds []uint32
	for i := range addrs {
		fds = append(fds, uint32(3+mounts+i))
	}
	if restore != nil {
		var st wasip1.State
		if err := st.UnmarshalBinary(restore.WASI); err != nil {
			return nil, fmt.Errorf("snapshot: WASI state: %w", err)
		}
		saved := st.Listeners()
		if len(addrs) > 0 && len(addrs) != len(saved) {
			return nil, fmt.Errorf("--listen: the program had %d listening sockets at the snapshot%s; give one --listen for each, or none to listen where they did", len(saved), describeListeners(saved))
		}
		given := len(addrs) > 0
		fds = fds[:0]
		for _, l := range saved {
			fds = append(fds, l.FD)
			if !given {
				addrs = append(addrs, l.Addr)
			}
		}
	}
	var ls []*net.TCPListener
	for i, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			if restore != nil && len(c.StringSlice("listen")) == 0 {
				return nil, fmt.Errorf("listening again where the program's fd %d listened at the snapshot: %w; pass --listen HOST:PORT to listen elsewhere", fds[i], err)
			}
			return nil, fmt.Errorf("--listen %s: %w", addr, err)
		}
		ls = append(ls, l.(*net.TCPListener))
		fmt.Fprintf(c.App.ErrWriter, "wasmsr: listening on %s (fd %d)\n", l.Addr(), fds[i])
	}
	return ls, nil
}

func describeListeners(ls []wasip1.SavedListener) string {
	if len(ls) == 0 {
		return ""
	}
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("fd %d on %s", l.FD, l.Addr))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
