//go:build wasip1

// Command crash is the Go guest of the crash-recovery and cross-process
// tests (cmd/wasmsr/e2e_test.go), the twin of testdata/crash/crash.c: it
// writes a long deterministic file and a deterministic stdout, block by
// block; each block is made by a loop phase (fill) and a recursion phase (a
// binary tree of calls whose leaves do the work), so a pause lands in
// either. The output file stays open from the start to the end, and so
// does the optional input file, which is read a little per block. At the
// end the file is read back through a new descriptor and its hash printed.
//
//	crash OUT [IN|-] [BLOCKS] [FILL_ROUNDS] [TREE_DEPTH]
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
)

const blockSize = 64 << 10

var block = make([]byte, blockSize)

func xorshift(s *uint64) uint64 {
	x := *s
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*s = x
	return x
}

// fill is the loop phase: rounds passes over the block.
//
//go:noinline
func fill(seed uint64, rounds int) {
	s := seed | 1
	for r := 0; r < rounds; r++ {
		for i := 0; i < blockSize; i += 8 {
			x := xorshift(&s)
			b := block[i : i+8 : i+8]
			b[0] ^= byte('a' + x%26)
			b[1] = byte(x >> 8)
			b[2] = byte(x>>16) & 0x3f
			b[3] = byte(r + i)
			b[4] = ' '
			b[5] = byte(x >> 40)
			b[6] = byte('0' + (x>>50)%10)
			b[7] = '\n'
		}
	}
}

// recurse is the recursion phase: a tree of calls of the given depth; each
// leaf mixes a stretch of the block.
//
//go:noinline
func recurse(depth int, x uint64) uint64 {
	if depth == 0 {
		for i := 0; i < 2048; i++ {
			at := (x >> 3) % blockSize
			x = x*6364136223846793005 + 1442695040888963407 + uint64(block[at])
			block[(at*7)%blockSize] ^= byte(x >> 56)
		}
		return x
	}
	a := recurse(depth-1, x^uint64(depth))
	b := recurse(depth-1, a+0x9e3779b97f4a7c15)
	return (b<<7 | b>>57) ^ a*31
}

func die(err error) {
	fmt.Fprintln(os.Stderr, "crash:", err)
	os.Exit(2)
}

func arg(i, def int) int {
	if len(os.Args) <= i {
		return def
	}
	n, err := strconv.Atoi(os.Args[i])
	if err != nil {
		die(err)
	}
	return n
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crash OUT [IN|-] [BLOCKS] [FILL_ROUNDS] [TREE_DEPTH]")
		os.Exit(2)
	}
	outPath := os.Args[1]
	blocks, rounds, depth := arg(3, 240), arg(4, 20), arg(5, 8)

	out, err := os.Create(outPath)
	if err != nil {
		die(err)
	}
	w := bufio.NewWriterSize(out, 16<<10)
	var in *os.File
	if len(os.Args) > 2 && os.Args[2] != "-" {
		if in, err = os.Open(os.Args[2]); err != nil {
			die(err)
		}
	}

	seed := uint64(0x243f6a8885a308d3)
	for b := 0; b < blocks; b++ {
		fmt.Printf("block %d: fill\n", b)
		fill(seed+uint64(b), rounds)
		fmt.Printf("block %d: recurse\n", b)
		h := recurse(depth, seed^uint64(b))
		if in != nil {
			var extra [16]byte
			n, err := io.ReadFull(in, extra[:])
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				die(err)
			}
			for i := 0; i < n; i++ {
				block[(h+uint64(i))%blockSize] ^= extra[i]
			}
			f := fnv.New32a()
			f.Write(extra[:n])
			h ^= uint64(f.Sum32())
		}
		if _, err := w.Write(block); err != nil {
			die(err)
		}
		seed = seed*6364136223846793005 + h
		fmt.Printf("block %d: %016x\n", b, h)
	}
	if err := w.Flush(); err != nil {
		die(err)
	}
	if err := out.Close(); err != nil {
		die(err)
	}
	if in != nil {
		in.Close()
	}

	back, err := os.Open(outPath)
	if err != nil {
		die(err)
	}
	f := fnv.New32a()
	total, err := io.Copy(f, back)
	if err != nil {
		die(err)
	}
	back.Close()
	fmt.Printf("file: %d bytes, fnv %08x\n", total, f.Sum32())
	fmt.Println("done")
}
