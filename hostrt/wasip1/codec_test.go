package wasip1

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// sampleState has every field set.
func sampleState() *State {
	st := sampleStateV3()
	st.FDs[3].Version = &FileVersion{Size: 4, ModTime: -1, Inode: 1 << 63, SHA256: make([]byte, sha256Size)}
	st.FDs = append(st.FDs, FD{FD: 10, Kind: KindFile, Preopen: 1, Path: "big", Writable: true,
		Content: &Content{Size: 1 << 40, Perm: 0o600}, Version: &FileVersion{Size: 1 << 40}})
	st.FDs[4].DroppedBase, st.FDs[4].DroppedInheriting = rightFdReaddir, rightsAll
	return st
}

// sampleStateV3 is testdata/state-v3.bin, which wasmsr encoded at version
// 3 (every field it had set).
func sampleStateV3() *State {
	return &State{
		Args:     []string{"prog", "", "ünïcode"},
		Env:      []string{"HOME=/"},
		Preopens: []Preopen{{GuestPath: "/", ReadOnly: true}, {GuestPath: "/work"}},
		FDs: []FD{
			{FD: 0, Kind: KindStdin, FDFlags: fdflagNonblock, Readable: true, Writable: true},
			{FD: 1, Kind: KindStdout},
			{FD: 3, Kind: KindPreopen, Preopen: 0, Path: ".", Readable: true, Dir: &DirCursor{Cookie: 3, Entries: []DirEntry{{Name: "a", Type: filetypeRegularFile, Ino: 1 << 40}}}},
			{FD: 7, Kind: KindFile, Preopen: 1, Path: "x/y.txt", Writable: true, OFlags: oflagCreat, FDFlags: fdflagAppend,
				RightsBase: 1<<64 - 1, RightsInheriting: 5, Offset: 1 << 33, Content: &Content{Data: []byte("data"), Size: 4, Perm: 0o640}},
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
	empty := sampleState()
	empty.FDs[3].Content.Data, empty.FDs[3].Content.Size = []byte{}, 0
	for _, st := range []*State{{}, sampleState(), empty} {
		roundTrip(t, st)
	}
}

// TestStateDecodeV3 decodes a state that wasmsr wrote before version 4.
func TestStateDecodeV3(t *testing.T) {
	data, err := os.ReadFile("testdata/state-v3.bin")
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := st.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&st, sampleStateV3()) {
		t.Errorf("decoded\n%+v\nwant\n%+v", &st, sampleStateV3())
	}
}

func TestStateEncodeErrors(t *testing.T) {
	st := sampleState()
	st.FDs[3].Content.Size = 3
	if _, err := st.MarshalBinary(); err == nil || err.Error() != "wasip1: fd 7: saved contents of 4 bytes, but their size says 3" {
		t.Errorf("error %v", err)
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
	withVersion := func(v byte, body ...byte) []byte {
		b := append(append([]byte(stateMagic), v), body...)
		return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	// An fd that dropped the rights base, as version 4 did not have them.
	fdDropped := func(base uint64) []byte {
		fd := []byte{0, 0, 1, 0, 0, 1, 0, byte(KindFile), 0, 1, 'x', fdDroppedRights, 0, 0, 0, 0, 0, 0}
		return append(binary.AppendUvarint(fd, base), 0)
	}
	// An fd with a version, as version 3 did not have them.
	fdV4 := []byte{0, 0, 1, 0, 0, 1, 0, byte(KindFile), 0, 1, 'x', fdHasVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name, want string
		data       []byte
	}{
		{"empty", "not a saved WASI state", nil},
		{"other data", "not a saved WASI state", []byte("\x00asm\x01\x00\x00\x00")},
		{"flipped bit", "checksum mismatch", flipped},
		{"truncated", "checksum mismatch", good[:len(good)-1]},
		{"newer version", "version 6; this wasmsr reads versions 3 to 5", withVersion(stateVersion+1, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"older version", "version 2; this wasmsr reads versions 3 to 5", withVersion(2, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"version 4 flags in version 3", "fd 0 has unknown flags 0x20", withVersion(3, append(fdV4, 0, 0, 0, 0)...)},
		{"version 5 flags in version 4", "fd 0 has unknown flags 0x40", withVersion(4, append(fdDropped(1), 0, 0, 0, 0)...)},
		{"unknown rights dropped", "fd 0 drops unknown rights 0x40000000", encodeBody(append(fdDropped(rightsAll+1), 0, 0, 0, 0))},
		{"contents elsewhere without contents", "fd 0 has contents elsewhere but no contents",
			encodeBody([]byte{0, 0, 1, 0, 0, 1, 0, byte(KindFile), 0, 1, 'x', fdContentElsewhere, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
		{"too many fds", "number of fds 65537 is out of range", encodeBody(append([]byte{0, 0, 0, 0x81, 0x80, 0x04}, make([]byte, 11*(maxFDs+1))...))},
		{"truncated body", "truncated", encodeBody(body[:len(body)-3])},
		{"trailing bytes", "after the end", encodeBody(append(append([]byte(nil), body...), 0))},
		{"huge arg count", "larger than the input allows", encodeBody([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"huge string", "larger than the input allows", encodeBody([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"bad varint", "truncated or overlong varint", encodeBody([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})},
		{"socket in version 4", "fd 0 has unknown kind 7", withVersion(4, 0, 0, 0, 1, 0, byte(KindListener), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"listener without an address", `fd 0: a listener at "", not an IP address and port`, encodeBody([]byte{0, 0, 0, 1, 0, byte(KindListener), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
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

// TestStateDecodeMemory decodes inputs made of items that are small
// encoded and large decoded, and checks that decoding allocates at most
// decodeRatio times its input plus decodeSlack, and that every item that
// fits is still decoded.
func TestStateDecodeMemory(t *testing.T) {
	repeat := func(n int, item ...byte) []byte {
		b := binary.AppendUvarint(nil, uint64(n))
		for range n {
			b = append(b, item...)
		}
		return b
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	end := []byte{0, 0, 0, 0} // monotonic, stdin, stdin offset, no poll
	oneFD := []byte{0, byte(KindFile), 0, 1, 'd', fdHasDir, 0, 0, 0, 0, 0, 0, 0}
	minimalFD := []byte{0, byte(KindStdout), 0, 0, 0, 0, 0, 0, 0, 0, 0}
	const big = 4 << 20
	tests := []struct {
		name, wantErr string
		body          []byte
	}{
		{"2^32 args", "larger than the input allows", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"empty args", "bytes plus 8 MiB of memory", join(repeat(big), make([]byte, big))},
		{"one-byte env", "bytes plus 8 MiB of memory", join([]byte{0}, repeat(big/2, 1, 'a'))},
		{"empty directory entries", "bytes plus 8 MiB of memory", join([]byte{0, 0, 1, 0, 0, 1}, oneFD, repeat(big/3, 0, 0, 0), end)},
		{"every fd", "", join([]byte{0, 0, 0}, repeat(maxFDs, minimalFD...), end)},
		{"fds, then too short", "larger than the input allows", join([]byte{0, 0, 0, 0x80, 0x80, 0x04}, make([]byte, 1<<16))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := encodeBody(tc.body)
			// A few runs, so that what other goroutines allocate meanwhile
			// (TotalAlloc counts everything) does not matter.
			const runs = 4
			var before, after runtime.MemStats
			var err error
			runtime.ReadMemStats(&before)
			for range runs {
				var st State
				err = st.UnmarshalBinary(data)
			}
			runtime.ReadMemStats(&after)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			limit := uint64(decodeRatio*len(data) + decodeSlack + 64<<10)
			if alloc := (after.TotalAlloc - before.TotalAlloc) / runs; alloc > limit {
				t.Errorf("decoding %d bytes allocated %d, more than %d", len(data), alloc, limit)
			}
		})
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
		if fd.Version != nil {
			n += int(unsafe.Sizeof(*fd.Version)) + len(fd.Version.SHA256)
		}
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
	v3, err := os.ReadFile("testdata/state-v3.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v3)
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

// TestStateV4 decodes a state of version 4, which had no dropped rights:
// its descriptors keep all their rights.
func TestStateV4(t *testing.T) {
	st := sampleState()
	st.FDs[4].DroppedBase, st.FDs[4].DroppedInheriting = 0, 0
	data, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Without dropped rights, version 5 encodes what version 4 did.
	data[len(stateMagic)] = 4
	body := data[:len(data)-4]
	binary.LittleEndian.PutUint32(data[len(body):], crc32.Checksum(body, castagnoli))
	var got State
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, st) {
		t.Errorf("decoded\n%+v\nwant\n%+v", &got, st)
	}
}
