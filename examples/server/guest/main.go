// Command guest is the server example's WebAssembly program, the seed
// prototype's interactive server: every line it reads from stdin is a
// request, which it serves by incrementing a counter and printing it. The
// counter lives only in the program's memory, so it survives a restart
// only if the program is snapshotted and restored.
//
// Build it for WASI with:
//
//	GOOS=wasip1 GOARCH=wasm go build -o server.wasm ./examples/server/guest
package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	counter := 0
	requests := bufio.NewScanner(os.Stdin)
	for requests.Scan() {
		counter++
		fmt.Printf("counter %d\n", counter)
	}
	if err := requests.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}
