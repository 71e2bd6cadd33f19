// Command cat concatenates files as cat(1) does, line by line and, if asked,
// slowly: the cat example's WebAssembly program, whose open files — which
// file, open how, read or written how far — are part of its snapshots.
//
//	cat [-n] [-delay D] [-o OUT] FILE...
//
// -n numbers the lines as GNU cat -n does, -o writes to OUT instead of
// stdout, and -delay waits D after every line, so that a person (or a
// snapshot) can catch the copy half way. Input is read through a 4 KiB
// buffer; output is written a line at a time, unbuffered, so the output
// file's offset is always the end of the last line. A summary goes to
// stderr at the end.
//
// Build it for WASI with:
//
//	GOOS=wasip1 GOARCH=wasm go build -o cat.wasm ./examples/cat/guest
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	number := flag.Bool("n", false, "number the output lines")
	delay := flag.Duration("delay", 0, "wait this long after every line")
	output := flag.String("o", "", "write to this file instead of stdout")
	flag.Parse()

	out := os.Stdout
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			fail(err)
		}
		out = f
	}
	lines, bytes := 0, 0
	for _, name := range flag.Args() {
		in, err := os.Open(name)
		if err != nil {
			fail(err)
		}
		r := bufio.NewReaderSize(in, 4096)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				lines++
				if *number {
					line = fmt.Sprintf("%6d\t%s", lines, line)
				}
				if _, err := io.WriteString(out, line); err != nil {
					fail(err)
				}
				bytes += len(line)
				time.Sleep(*delay)
			}
			if err == io.EOF {
				break
			} else if err != nil {
				fail(err)
			}
		}
		in.Close()
	}
	if err := out.Close(); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "cat: %d lines, %d bytes from %d files\n", lines, bytes, flag.NArg())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cat:", err)
	os.Exit(1)
}
