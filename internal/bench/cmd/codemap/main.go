// Command codemap says where each function of a module lies in the file
// wazero's compilation cache keeps its compiled code in, so that
// scripts/spills.sh can count a disassembly's spills per function:
//
//	codemap MODULE.wasm CACHEFILE
//
// It prints "# code OFFSET LENGTH", where the code lies in CACHEFILE (and
// so how large wazero's mapping of it is when it runs), then a line per
// function the module defines, in the order of their code (wazero's, not
// the module's): the offset in CACHEFILE where the function's machine code
// starts, its index in the module's function index space (imports first),
// and its name from the module's name section, or "-". The cache file's layout is
// wazero's own (v1.12.0's internal/engine/wazevo/engine_cache.go): a
// "WAZEVO" magic, the wazero version, the number of functions and each
// one's offset in the code (8 bytes each), the code's length, then the
// code.
package main

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/wasmsr/wasmsr/wasm"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: codemap MODULE.wasm CACHEFILE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "codemap:", err)
		os.Exit(1)
	}
}

func run(modulePath, cachePath string) error {
	data, err := os.ReadFile(modulePath)
	if err != nil {
		return err
	}
	m, err := wasm.Decode(data)
	if err != nil {
		return fmt.Errorf("%s: %v", modulePath, err)
	}
	cache, err := os.ReadFile(cachePath)
	if err != nil {
		return err
	}
	code, length, starts, err := codeLayout(cache)
	if err != nil {
		return fmt.Errorf("%s: %v", cachePath, err)
	}
	if len(starts) != len(m.Code) {
		return fmt.Errorf("%s holds %d functions, %s defines %d: not its compiled code", cachePath, len(starts), modulePath, len(m.Code))
	}
	imports := uint32(m.NumImported(wasm.KindFunc))
	var names wasm.NameMap
	if m.Names != nil {
		names = m.Names.Functions
	}
	// wazero lays the functions out in its own order.
	order := make([]int, len(starts))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(starts[a], starts[b]) })
	var out bytes.Buffer
	fmt.Fprintf(&out, "# code %d %d\n", code, length)
	for _, k := range order {
		fmt.Fprintf(&out, "%d\t%d\t%s\n", starts[k], imports+uint32(k), field(names.Lookup(imports+uint32(k))))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

// field makes a function's name one field of a line: a name is any
// string, and "-" stands for none.
func field(name string) string {
	if name == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, name)
}

// codeLayout returns where the code starts in a cache file, its length,
// and where each function's code starts in the file: the header's
// offsets, moved past the header.
func codeLayout(cache []byte) (code, length uint64, starts []uint64, err error) {
	const magic = "WAZEVO"
	if !bytes.HasPrefix(cache, []byte(magic)) {
		return 0, 0, nil, errors.New("not a wazero compilation cache file (no WAZEVO magic)")
	}
	p := len(magic)
	if p >= len(cache) {
		return 0, 0, nil, errors.New("truncated before the wazero version")
	}
	p += 1 + int(cache[p])
	if p+4 > len(cache) {
		return 0, 0, nil, errors.New("truncated before the number of functions")
	}
	n := uint64(binary.LittleEndian.Uint32(cache[p:]))
	p += 4
	if n > uint64(len(cache)-p)/8 {
		return 0, 0, nil, fmt.Errorf("%d functions do not fit in %d bytes", n, len(cache))
	}
	offsets := make([]uint64, n)
	for k := range offsets {
		offsets[k] = binary.LittleEndian.Uint64(cache[p:])
		p += 8
	}
	if p+8 > len(cache) {
		return 0, 0, nil, errors.New("truncated before the code's length")
	}
	length = binary.LittleEndian.Uint64(cache[p:])
	p += 8
	if length > uint64(len(cache)-p) {
		return 0, 0, nil, fmt.Errorf("%d bytes of code do not fit in %d bytes", length, len(cache))
	}
	for k, off := range offsets {
		if off >= length {
			return 0, 0, nil, fmt.Errorf("function %d's code offset %d is past the code's %d bytes", k, off, length)
		}
		offsets[k] = uint64(p) + off
	}
	return uint64(p), length, offsets, nil
}
