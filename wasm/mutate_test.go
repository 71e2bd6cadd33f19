package wasm_test

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/internal/spectest"
	"github.com/wasmsr/wasmsr/wasm"
)

// decodeAll runs everything that reads outside bytes on one input: decoding,
// the layout scan, and for what decodes, encoding, re-decoding, the type
// tracker over every body and the validator. It fails the test on a panic (by not recovering)
// and on an error that is not a *wasm.DecodeError with a sane offset.
func decodeAll(t testing.TB, in []byte) {
	m, err := wasm.Decode(in)
	if _, lerr := wasm.ReadLayout(in); lerr != nil {
		checkDecodeError(t, in, lerr)
	}
	if _, _, ferr := wasm.FindCustom(in, "name"); ferr != nil {
		checkDecodeError(t, in, ferr)
	}
	if err != nil {
		checkDecodeError(t, in, err)
		return
	}
	// The header walk finds what the decoder does: the first custom
	// section of each name (but "name", which the decoder decodes).
	for i, c := range m.Customs {
		if c.Name == "name" || slices.IndexFunc(m.Customs, func(o wasm.CustomSection) bool { return o.Name == c.Name }) != i {
			continue
		}
		data, found, err := wasm.FindCustom(in, c.Name)
		if err != nil || !found || !bytes.Equal(data, c.Data) {
			t.Fatalf("FindCustom(%q) = %d bytes, %v, %v; the decoder has %d bytes", c.Name, len(data), found, err, len(c.Data))
		}
	}
	out, err := wasm.Encode(m)
	if err != nil {
		return // e.g. a decoded element segment the encoder cannot express
	}
	m2, err := wasm.Decode(out)
	if err != nil {
		t.Fatalf("re-encoded module does not decode: %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip changed a decodable module")
	}
	tr := wasm.NewTypeTracker(m)
	for k := range m.Code {
		_ = tr.Walk(uint32(m.NumImported(wasm.KindFunc)+k), nil)
	}
	if err := wasm.Validate(m); err != nil {
		var ve *wasm.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("validation error %v is not a *wasm.ValidationError", err)
		}
	}
}

func checkDecodeError(t testing.TB, in []byte, err error) {
	var de *wasm.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *wasm.DecodeError", err)
	}
	if de.Offset < 0 || de.Offset > len(in) {
		t.Fatalf("error offset %d outside the %d-byte input: %v", de.Offset, len(in), err)
	}
}

// mutationInputs returns the modules the mutation test damages: every valid
// spec-suite module and a few compiled programs.
func mutationInputs(t *testing.T) (spec, programs [][]byte) {
	suites, err := spectest.Suites()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		valid, _, _ := s.Modules()
		for _, ref := range valid {
			spec = append(spec, readFile(t, ref.Path))
		}
	}
	for _, name := range []string{"c/recursion.wasm", "c/simd.wasm", "c/funcptr.wasm"} {
		programs = append(programs, readFile(t, corpus.Built(t, name)))
	}
	return spec, programs
}

func TestMutations(t *testing.T) {
	spec, programs := mutationInputs(t)
	// Every truncation of the programs and of a spread of spec modules.
	for i, in := range programs {
		for n := range len(in) {
			decodeAll(t, in[:n])
		}
		t.Logf("program %d: %d truncations", i, len(in))
	}
	for i := 0; i < len(spec); i += 25 {
		for n := range len(spec[i]) {
			decodeAll(t, spec[i][:n])
		}
	}
	// Single-byte flips at deterministic pseudo-random positions: every
	// byte of the small spec modules, 256 positions of the larger ones and
	// 3000 of each program.
	rng := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return rng
	}
	flip := func(in []byte, pos int) {
		mutant := append([]byte(nil), in...)
		mutant[pos] ^= byte(next()%255) + 1
		decodeAll(t, mutant)
	}
	for _, in := range spec {
		if len(in) <= 256 {
			for pos := range in {
				flip(in, pos)
			}
			continue
		}
		for range 256 {
			flip(in, int(next()%uint64(len(in))))
		}
	}
	for _, in := range programs {
		for range 3000 {
			flip(in, int(next()%uint64(len(in))))
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	// A function with blocks, a br_table and a call.
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00\x0a\x12\x01\x10\x00" +
		"\x02\x7f\x41\x01\x41\x00\x0e\x01\x00\x00\x0b\x1a\x10\x00\x0b"))
	if suites, err := spectest.Suites(); err == nil {
		for _, s := range suites {
			valid, _, _ := s.Modules()
			for i := 0; i < len(valid); i += 50 {
				f.Add(readFile(f, valid[i].Path))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		decodeAll(t, in)
	})
}
