package wasip1

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzRestoreState mutates a valid decoded state as the fuzz input says
// (fd numbers, kinds, preopens, paths, access, contents, sizes, versions,
// directory positions, stdin, polls), encodes it again with a valid
// checksum, and restores it, decoded and as it is, over a read-only mount
// and a writable one that both hold a link out of themselves and a FIFO.
// No restore may panic or hang, write in the read-only mount or outside
// the mounts, or decode into more memory than the decoder's budget; a
// restored system must save again.
func FuzzRestoreState(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ops []byte) {
		fx := newRestoreFixture(t)
		writeFiles(t, fx.out, map[string]string{"log.txt": "line 1\n"})
		for _, dir := range []string{fx.in, fx.out} {
			if err := mkfifoAt(filepath.Join(dir, "fifo")); err != nil {
				t.Skip(err)
			}
		}
		st := fuzzSeedState(t, fx)
		cfg := Config{Mounts: fx.mounts}
		mutateState(st, &cfg, &fuzzOps{b: ops})
		untouchable := func() string {
			top, err := os.ReadDir(fx.base)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, len(top))
			for i, e := range top {
				names[i] = e.Name()
			}
			return strings.Join(names, " ") + "\n" + treeDigest(t, fx.in) + treeDigest(t, fx.outside)
		}
		before := untouchable()

		if data, err := st.MarshalBinary(); err == nil {
			var decoded State
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			err := decoded.UnmarshalBinary(data)
			runtime.ReadMemStats(&ms1)
			if alloc, limit := ms1.TotalAlloc-ms0.TotalAlloc, uint64(decodeRatio*len(data)+decodeSlack+1<<20); alloc > limit {
				t.Fatalf("decoding %d bytes allocated %d, more than %d", len(data), alloc, limit)
			}
			if err == nil {
				fuzzRestore(t, cfg, &decoded)
			}
		}
		if err := fuzzRestore(t, cfg, st); len(ops) == 0 && err != nil {
			t.Fatalf("the seed state does not restore: %v", err)
		}
		if after := untouchable(); after != before {
			t.Fatalf("a restore wrote where it must not\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// fuzzRestore restores st; a restored system must save and encode again.
func fuzzRestore(t *testing.T, cfg Config, st *State) error {
	done := make(chan error, 1)
	go func() {
		w, err := New(cfg, st)
		if err != nil {
			done <- err
			return
		}
		defer w.Close()
		saved, err := w.Save(SaveOptions{FileContents: true, HashInputs: true})
		if err != nil {
			t.Errorf("save after restore: %v", err)
		} else if data, err := saved.MarshalBinary(); err != nil {
			t.Errorf("encoding the restored system: %v", err)
		} else if err := new(State).UnmarshalBinary(data); err != nil {
			t.Errorf("decoding the restored system: %v", err)
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("New did not return within 10s")
		return nil
	}
}

// fuzzSeedState is a valid state of the fixture (with log.txt): the
// standard streams, both preopens, the input, the output with saved
// contents, a directory half listed, a log open for appending, pending
// stdin.
func fuzzSeedState(t *testing.T, fx *restoreFixture) *State {
	version := func(p string) *FileVersion {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return &FileVersion{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Inode: statOf(fi).ino}
	}
	log := version(filepath.Join(fx.out, "log.txt"))
	return &State{
		Args:     []string{"prog", "arg"},
		Env:      []string{"A=1"},
		Preopens: []Preopen{{GuestPath: "/in", ReadOnly: true}, {GuestPath: "/out"}},
		FDs: []FD{
			{FD: 0, Kind: KindStdin, Readable: true},
			{FD: 1, Kind: KindStdout, Writable: true},
			{FD: 2, Kind: KindStderr, Writable: true},
			{FD: 3, Kind: KindPreopen, Preopen: 0, Path: ".", Readable: true},
			{FD: 4, Kind: KindPreopen, Preopen: 1, Path: ".", Readable: true},
			{FD: 5, Kind: KindFile, Preopen: 0, Path: "a.txt", Readable: true, Offset: 3, Version: version(filepath.Join(fx.in, "a.txt"))},
			{FD: 6, Kind: KindFile, Preopen: 1, Path: "o.txt", Writable: true, Offset: 8,
				Content: &Content{Data: []byte("restored output"), Size: 15, Perm: 0o644}, Version: &FileVersion{Size: 15}},
			{FD: 7, Kind: KindDir, Preopen: 0, Path: "sub", Readable: true,
				Dir: &DirCursor{Cookie: 2, Entries: []DirEntry{{Name: "b.txt", Type: filetypeRegularFile, Ino: 7}}}},
			{FD: 8, Kind: KindFile, Preopen: 1, Path: "log.txt", Writable: true, FDFlags: fdflagAppend, Offset: log.Size, Size: log.Size, Version: log},
		},
		Monotonic:   int64(time.Hour),
		Stdin:       []byte("pending"),
		StdinOffset: 10,
	}
}

// fuzzOps reads the fuzz input as mutations and their arguments; past its
// end, every read is 0.
type fuzzOps struct{ b []byte }

func (o *fuzzOps) next() byte {
	if len(o.b) == 0 {
		return 0
	}
	c := o.b[0]
	o.b = o.b[1:]
	return c
}

func (o *fuzzOps) pick(n int) int { return int(o.next()) % n }

var (
	fuzzPaths = []string{"a.txt", "o.txt", "log.txt", "sub", "sub/b.txt", ".", "", "..", "../outside/secret",
		"/etc/passwd", "escape", "escape/secret", "fifo", "new/dir/file.txt", "sub/../a.txt", "a.txt/x",
		"missing", "sub/", "o.txt\x00", "sub/b.txt/..", "./a.txt"}
	fuzzInts     = []int64{0, 1, 2, 7, 15, 100, -1, 1 << 31, 1 << 40, math.MaxInt64, math.MinInt64}
	fuzzFDs      = []uint32{0, 1, 2, 3, 4, 5, 6, 9, 200, maxFDs - 1, maxFDs, math.MaxUint32}
	fuzzGuests   = []string{"/in", "/out", "/", "/other", "/in/", "out"}
	fuzzPollSize = []int{0, 1, sizeSubscription, 2 * sizeSubscription, sizeSubscription + 1}
)

// mutateState applies the mutations ops describes to st and cfg. Each
// mutation is a byte that says which, the index of the fd it applies to,
// and its arguments.
func mutateState(st *State, cfg *Config, ops *fuzzOps) {
	for len(ops.b) > 0 {
		op := ops.pick(19)
		if len(st.FDs) == 0 {
			st.FDs = append(st.FDs, FD{Kind: KindFile, Path: "a.txt", Readable: true})
		}
		fd := &st.FDs[ops.pick(len(st.FDs))]
		switch op {
		case 0:
			fd.FD = fuzzFDs[ops.pick(len(fuzzFDs))]
		case 1:
			fd.Kind = Kind(ops.pick(8))
		case 2:
			fd.Preopen = uint32(ops.pick(4))
		case 3:
			fd.Path = fuzzPaths[ops.pick(len(fuzzPaths))]
		case 4:
			fd.Readable = !fd.Readable
		case 5:
			fd.Writable = !fd.Writable
		case 6:
			fd.Content = fuzzContent(ops)
		case 7:
			fd.Offset = fuzzInts[ops.pick(len(fuzzInts))]
		case 8:
			fd.Size = fuzzInts[ops.pick(len(fuzzInts))]
		case 9:
			fd.Version = fuzzVersion(ops)
		case 10:
			fd.Dir = fuzzDir(ops)
		case 11:
			st.Stdin = []byte(strings.Repeat("s", ops.pick(64)))
			st.StdinOffset = fuzzInts[ops.pick(len(fuzzInts))]
		case 12:
			if n := fuzzPollSize[ops.pick(len(fuzzPollSize))]; n > 0 {
				st.Poll = &PendingPoll{Subscriptions: make([]byte, n), Start: fuzzInts[ops.pick(len(fuzzInts))]}
			} else {
				st.Poll = nil
			}
		case 13:
			clone := *fd
			clone.FD = fuzzFDs[ops.pick(len(fuzzFDs))]
			st.FDs = append(st.FDs, clone)
		case 14:
			i := ops.pick(len(st.FDs))
			st.FDs = append(st.FDs[:i], st.FDs[i+1:]...)
		case 15:
			if len(st.Preopens) > 0 {
				p := &st.Preopens[ops.pick(len(st.Preopens))]
				p.GuestPath = fuzzGuests[ops.pick(len(fuzzGuests))]
				p.ReadOnly = ops.next()&1 != 0
			}
		case 16:
			fd.FDFlags = uint16(ops.next()) & (fdflagAppend | fdflagDsync | fdflagNonblock | fdflagRsync | fdflagSync)
		case 17:
			cfg.FileCheck = FileCheck(ops.pick(2))
			cfg.AllowChangedFiles = ops.next()&1 != 0
		case 18:
			// Rights beyond preview1's are refused.
			fd.DroppedBase = uint64(ops.next()) << (ops.pick(4) * 8)
			fd.DroppedInheriting = uint64(ops.next()) << (ops.pick(4) * 8)
		}
	}
}

// fuzzContent is no contents, contents in the state, or contents kept
// elsewhere whose reader may give another number of bytes than their
// size, or be missing.
func fuzzContent(ops *fuzzOps) *Content {
	perm := uint32(ops.next()) << 1
	switch ops.pick(4) {
	case 0:
		return nil
	case 1:
		data := []byte(strings.Repeat("c", ops.pick(32)))
		return &Content{Data: data, Size: int64(len(data)), Perm: perm}
	case 2:
		size, n := fuzzInts[ops.pick(len(fuzzInts))], ops.pick(32)
		return &Content{Size: size, Perm: perm, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(strings.Repeat("e", n))), nil
		}}
	}
	return &Content{Size: fuzzInts[ops.pick(len(fuzzInts))], Perm: perm}
}

func fuzzVersion(ops *fuzzOps) *FileVersion {
	if ops.pick(4) == 0 {
		return nil
	}
	v := &FileVersion{Size: fuzzInts[ops.pick(len(fuzzInts))], ModTime: fuzzInts[ops.pick(len(fuzzInts))], Inode: uint64(ops.next())}
	if n := []int{-1, 0, 5, sha256Size}[ops.pick(4)]; n >= 0 {
		v.SHA256 = make([]byte, n)
	}
	return v
}

func fuzzDir(ops *fuzzOps) *DirCursor {
	if ops.pick(4) == 0 {
		return nil
	}
	d := &DirCursor{Cookie: uint64(fuzzInts[ops.pick(len(fuzzInts))])}
	for range ops.pick(8) {
		d.Entries = append(d.Entries, DirEntry{Name: fuzzPaths[ops.pick(len(fuzzPaths))], Type: uint8(ops.pick(8)), Ino: uint64(ops.next())})
	}
	return d
}
