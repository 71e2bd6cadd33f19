// Command render draws the Mandelbrot set into a PNG file, row by row. It is
// wasmsr's demo guest: a recognisable job that runs for a while, keeps a lot
// of state in memory and writes a file at the end, so pausing and resuming
// it part way shows up as a byte-identical picture.
//
// Build it for WASI with: GOOS=wasip1 GOARCH=wasm go build -o render.wasm ./examples/render
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
)

func main() {
	width := flag.Int("width", 640, "image width in pixels")
	height := flag.Int("height", 480, "image height in pixels")
	iterations := flag.Int("iterations", 500, "iterations per pixel")
	out := flag.String("o", "mandelbrot.png", "output file")
	flag.Parse()

	fmt.Printf("rendering the Mandelbrot set, %dx%d pixels, up to %d iterations per pixel\n", *width, *height, *iterations)
	img := image.NewRGBA(image.Rect(0, 0, *width, *height))
	// Progress every 5 %: y is the one thing that says how far it got.
	done := 0
	for y := 0; y < *height; y++ {
		for x := 0; x < *width; x++ {
			img.Set(x, y, pixel(x, y, *width, *height, *iterations))
		}
		if pct := (y + 1) * 100 / *height; pct/5 > done/5 {
			done = pct
			fmt.Printf("rendered %3d%% (%d/%d rows)\n", pct, y+1, *height)
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	if err := png.Encode(f, img); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%dx%d)\n", *out, *width, *height)
}

// pixel colours one point by how fast its orbit escapes.
func pixel(x, y, width, height, iterations int) color.RGBA {
	cr := -2.2 + 3.2*float64(x)/float64(width)
	ci := -1.2 + 2.4*float64(y)/float64(height)
	zr, zi := 0.0, 0.0
	n := 0
	for ; n < iterations && zr*zr+zi*zi <= 4; n++ {
		zr, zi = zr*zr-zi*zi+cr, 2*zr*zi+ci
	}
	if n == iterations {
		return color.RGBA{0, 0, 0, 255}
	}
	t := float64(n) / float64(iterations)
	return color.RGBA{uint8(9 * (1 - t) * t * t * t * 255), uint8(15 * (1 - t) * (1 - t) * t * t * 255), uint8(8.5 * (1 - t) * (1 - t) * (1 - t) * t * 255), 255}
}
