package wasip1

import (
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// sampleState has every field set.
func sampleState() *State {
	return &State{
		Args:     []string{"prog", "", "ünïcode"},
		Env:      []string{"HOME=/"},
		Preopens: []Preopen{{GuestPath: "/", ReadOnly: true}, {GuestPath: "/work"}},
		FDs: []FD{
			{FD: 0, Kind: KindStdin, FDFlags: fdflagNonblock, Readable: true, Writable: true},
			{FD: 1, Kind: KindStdout},
			{FD: 3, Kind: KindPreopen, Preopen: 0, Path: ".", Readable: true, Dir: &DirCursor{Cookie: 3, Entries: []DirEntry{{Name: "a", Type: filetypeRegularFile, Ino: 1 << 40}}}},
			{FD: 7, Kind: KindFile, Preopen: 1, Path: "x/y.txt", Writable: true, OFlags: oflagCreat, FDFlags: fdflagAppend,
				RightsBase: 1<<64 - 1, RightsInheriting: 5, Offset: 1 << 33, Content: &Content{Data: []byte("data"), Perm: 0o640}},
			{FD: 9, Kind: KindDir, Preopen: 1, Path: "x", Readable: true, Offset: -1},
		},
		Monotonic:   -5,
		Stdin:       []byte("pending"),
		StdinOffset: 100,
		Poll:        &PendingPoll{Subscriptions: make([]byte, sizeSubscription), Start: 1 << 50},
	}
}

// encodeBody frames body as an encoded state: magic, version, body and
// checksum, so that tests and the fuzzer can reach the body's decoder.
func encodeBody(body []byte) []byte {
	b := append([]byte(stateMagic), stateVersion)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func TestStateRoundTrip(t *testing.T) {
	for _, st := range []*State{{}, sampleState()} {
		roundTrip(t, st)
	}
}

func TestStateDecodeErrors(t *testing.T) {
	good, err := sampleState().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	body := good[len(stateMagic)+1 : len(good)-4]
	// A state of the next version with an empty body, checksummed.
	versionTwo := append([]byte(stateMagic), stateVersion+1, 0, 0, 0, 0, 0, 0, 0, 0)
	versionTwo = binary.LittleEndian.AppendUint32(versionTwo, crc32.Checksum(versionTwo, castagnoli))
	tests := []struct {
		name, want string
		data       []byte
	}{
		{"empty", "not a saved WASI state", nil},
		{"other data", "not a saved WASI state", []byte("\x00asm\x01\x00\x00\x00")},
		{"flipped bit", "checksum mismatch", flipped},
		{"truncated", "checksum mismatch", good[:len(good)-1]},
		{"newer version", "version 4, want 3", versionTwo},
		{"truncated body", "truncated", encodeBody(body[:len(body)-3])},
		{"trailing bytes", "after the end", encodeBody(append(append([]byte(nil), body...), 0))},
		{"huge arg count", "larger than the input allows", encodeBody([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"huge string", "larger than the input allows", encodeBody([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"bad varint", "bad or truncated varint", encodeBody([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})},
		{"unknown kind", "unknown kind 9", encodeBody([]byte{0, 0, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
		{"fd outside the preopens", "preopen 0 of 0", encodeBody([]byte{0, 0, 0, 1, 0, byte(KindFile), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
		{"bad boolean", "bad boolean", encodeBody([]byte{0, 0, 1, 1, '/', 2})},
		{"bad poll", "pending poll with 1 bytes", encodeBody([]byte{0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0})},
		{"stdin offset", "stdin offset 0 is less than the 1 pending bytes", encodeBody([]byte{0, 0, 0, 0, 0, 1, 'x', 0, 0})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := sampleState()
			err := st.UnmarshalBinary(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if !reflect.DeepEqual(st, sampleState()) {
				t.Error("a failed decode changed the state")
			}
		})
	}
}

// TestStateDecodeMemory decodes inputs that claim huge lists and strings
// and checks that decoding allocates in proportion to the input.
func TestStateDecodeMemory(t *testing.T) {
	for _, body := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x0f},                                    // 2^32 args
		append([]byte{0x80, 0x80, 0x04}, make([]byte, 1<<16)...),          // 65536 empty args
		append([]byte{0, 0, 0, 0x80, 0x80, 0x04}, make([]byte, 1<<16)...), // fds, then too short
	} {
		data := encodeBody(body)
		// Many runs, so that what other goroutines allocate meanwhile
		// (TotalAlloc counts everything) does not matter.
		const runs = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			var st State
			st.UnmarshalBinary(data)
		}
		runtime.ReadMemStats(&after)
		if alloc := (after.TotalAlloc - before.TotalAlloc) / runs; alloc > uint64(64*len(data)+1024) {
			t.Errorf("decoding %d bytes allocated %d", len(data), alloc)
		}
	}
}

// footprint estimates the memory a decoded state holds.
func footprint(st *State) int {
	n := int(unsafe.Sizeof(*st))
	for _, ss := range [][]string{st.Args, st.Env} {
		for _, s := range ss {
			n += int(unsafe.Sizeof(s)) + len(s)
		}
	}
	for _, p := range st.Preopens {
		n += int(unsafe.Sizeof(p)) + len(p.GuestPath)
	}
	for _, fd := range st.FDs {
		n += int(unsafe.Sizeof(fd)) + len(fd.Path)
		if fd.Dir != nil {
			for _, e := range fd.Dir.Entries {
				n += int(unsafe.Sizeof(e)) + len(e.Name)
			}
		}
		if fd.Content != nil {
			n += len(fd.Content.Data)
		}
	}
	if st.Poll != nil {
		n += len(st.Poll.Subscriptions)
	}
	return n + len(st.Stdin)
}

// FuzzUnmarshalState decodes arbitrary bytes, as they are and framed with
// a valid magic and checksum so that the body's decoder sees them too: it
// must not panic, what it decodes must hold memory in proportion to the
// input, and it must encode and decode back to itself.
func FuzzUnmarshalState(f *testing.F) {
	for _, st := range []*State{{}, sampleState()} {
		data, err := st.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[len(stateMagic)+1 : len(data)-4])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, encodeBody(data)} {
			var st State
			if err := st.UnmarshalBinary(in); err != nil {
				continue
			}
			if n := footprint(&st); n > 128*len(in)+1024 {
				t.Fatalf("%d bytes decode to a state of about %d bytes", len(in), n)
			}
			roundTrip(t, &st)
		}
	})
}
