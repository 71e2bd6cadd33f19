// The guest of examples/http: a net/http server for GOOS=wasip1 that
// answers every request with how many it has answered, counting this one.
// It serves on the first preopened listening socket it finds (wasmsr exec
// --listen): the counter lives in its memory, so it goes on from a
// snapshot.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
)

// listenerFile is kept for as long as the server runs: on wasip1,
// net.FileListener shares the descriptor with the file rather than
// duplicating it, and a collected file closes its descriptor.
var listenerFile *os.File

// preopenedListener is the first descriptor after stdio that is a
// listening socket: wasmsr places them after the preopened directories.
func preopenedListener() (net.Listener, error) {
	for fd := uintptr(3); fd < 64; fd++ {
		f := os.NewFile(fd, "listener")
		l, err := net.FileListener(f)
		if err != nil {
			continue
		}
		// The guest runs one goroutine at a time: the listener must not
		// block it in accept, but let Go's poller wait for connections
		// while the other goroutines serve.
		if err := syscall.SetNonblock(int(fd), true); err != nil {
			return nil, err
		}
		listenerFile = f
		return l, nil
	}
	return nil, fmt.Errorf("no listening socket among the preopened descriptors: run with --listen HOST:PORT")
}

func main() {
	l, err := preopenedListener()
	if err != nil {
		log.Fatal(err)
	}
	var requests atomic.Int64
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", requests.Add(1))
	})
	log.Fatal(http.Serve(l, nil))
}
