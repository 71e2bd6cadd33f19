//go:build wasip1

// Command compute is CPU-bound Go: it renders a small Mandelbrot set as ASCII
// art (float64 loops), hashes generated data with SHA-256 and runs a sieve,
// printing everything so that any corruption of state across a pause shows.
// Optional argument: a work scale factor (default 1).
package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

func mandelbrot(w, h, maxIter int) (string, int) {
	const chars = " .:-=+*#%@"
	var sb strings.Builder
	total := 0
	for y := 0; y < h; y++ {
		ci := -1.2 + 2.4*float64(y)/float64(h-1)
		for x := 0; x < w; x++ {
			cr := -2.1 + 2.8*float64(x)/float64(w-1)
			zr, zi := 0.0, 0.0
			i := 0
			for ; i < maxIter && zr*zr+zi*zi <= 4; i++ {
				zr, zi = zr*zr-zi*zi+cr, 2*zr*zi+ci
			}
			total += i
			// sqrt spreads the escape times over the palette.
			sb.WriteByte(chars[int(float64(len(chars)-1)*math.Sqrt(float64(i)/float64(maxIter)))])
		}
		sb.WriteByte('\n')
	}
	return sb.String(), total
}

func sieve(n int) (int, int) {
	composite := make([]bool, n+1)
	count, last := 0, 0
	for i := 2; i <= n; i++ {
		if composite[i] {
			continue
		}
		count, last = count+1, i
		for j := i * i; j <= n; j += i {
			composite[j] = true
		}
	}
	return count, last
}

func main() {
	scale := 1
	if len(os.Args) > 1 {
		s, err := strconv.Atoi(os.Args[1])
		if err != nil || s < 1 {
			fmt.Fprintln(os.Stderr, "usage: compute [scale]")
			os.Exit(2)
		}
		scale = s
	}

	art, iters := mandelbrot(72, 28, 500*scale)
	fmt.Print(art)
	fmt.Println("mandelbrot iterations:", iters)

	// Chained SHA-256 over 1 MiB of xorshift data, per scale.
	data := make([]byte, 1<<20)
	x := uint64(88172645463325252)
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = byte(x)
	}
	sum := sha256.Sum256(data)
	for r := 1; r < 4*scale; r++ {
		copy(data[r*32:], sum[:])
		sum = sha256.Sum256(data)
	}
	fmt.Printf("sha256: %x\n", sum)

	count, last := sieve(2000000 * scale)
	fmt.Println("primes:", count, "largest:", last)
}
