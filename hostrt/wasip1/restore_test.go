package wasip1

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// treeDigest describes everything under dir that a restore could change:
// names, types, permissions, sizes, modification times, contents and
// link targets. It opens no FIFO.
func treeDigest(t testing.TB, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&sb, "%s %v %d", rel, fi.Mode(), fi.Size())
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, " %d %x", fi.ModTime().UnixNano(), sha256.Sum256(data))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, " -> %s", target)
		}
		sb.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// restoreFixture is a guest's system with an input open in a read-only
// mount and an output in a writable one, and a directory outside both.
type restoreFixture struct {
	base, in, out, outside string
	mounts                 []Mount
}

func newRestoreFixture(t testing.TB) *restoreFixture {
	t.Helper()
	base := t.TempDir()
	f := &restoreFixture{base: base, in: filepath.Join(base, "in"), out: filepath.Join(base, "out"), outside: filepath.Join(base, "outside")}
	writeFiles(t, f.in, map[string]string{"a.txt": "original input", "sub/b.txt": "b"})
	writeFiles(t, f.out, map[string]string{"o.txt": "output so far"})
	writeFiles(t, f.outside, map[string]string{"secret": "secret"})
	for _, dir := range []string{f.in, f.out} {
		if err := os.Symlink("../outside", filepath.Join(dir, "escape")); err != nil {
			t.Fatal(err)
		}
	}
	f.mounts = []Mount{{HostDir: f.in, GuestPath: "/in", ReadOnly: true}, {HostDir: f.out, GuestPath: "/out"}}
	return f
}

// digest describes the whole fixture.
func (f *restoreFixture) digest(t testing.TB) string {
	return treeDigest(t, f.base)
}

// The fds of the state saveFixture returns.
const (
	fixtureIn  = 5 // /in/a.txt, read-only
	fixtureOut = 6 // /out/o.txt, write-only, contents saved
)

// save opens the fixture's input and output and saves the system with
// opts.
func (f *restoreFixture) save(t *testing.T, opts SaveOptions) *State {
	t.Helper()
	w := mustNew(t, Config{Mounts: f.mounts}, nil)
	p := newProxy(t, w)
	if fd, e := p.open(3, "a.txt", 0, 0, rightFdRead); e != errnoSuccess || fd != fixtureIn {
		t.Fatalf("open a.txt: fd %d, errno %d", fd, e)
	}
	if fd, e := p.open(4, "o.txt", 0, 0, rightFdWrite); e != errnoSuccess || fd != fixtureOut {
		t.Fatalf("open o.txt: fd %d, errno %d", fd, e)
	}
	st, err := w.Save(opts)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return roundTrip(t, st)
}

func fdOf(st *State, fd uint32) *FD {
	for i := range st.FDs {
		if st.FDs[i].FD == fd {
			return &st.FDs[i]
		}
	}
	panic(fmt.Sprintf("no fd %d", fd))
}

// TestRestoreRefusesWrites restores crafted states that would write where
// the guest could not: each is refused with an error naming the fd and
// the file, and the mounts and what is around them are left byte for byte
// as they were, even when the fd at fault comes after one whose contents
// could be written.
func TestRestoreRefusesWrites(t *testing.T) {
	pwned := func() *Content { return &Content{Data: []byte("pwned"), Size: 5, Perm: 0o644} }
	tests := []struct {
		name    string
		craft   func(st *State)
		wantErr string
	}{
		{"contents on a read-only input", func(st *State) {
			fdOf(st, fixtureIn).Content = pwned()
		}, "wasip1: restore fd 5 (/in/a.txt): saved contents for a file that was not open for writing"},
		{"contents for a new file in the read-only mount", func(st *State) {
			st.FDs = append(st.FDs, FD{FD: 7, Kind: KindFile, Preopen: 0, Path: "new/new.txt", Readable: true, Content: pwned()})
		}, "wasip1: restore fd 7 (/in/new/new.txt): saved contents for a file that was not open for writing"},
		{"writing in a read-only mount", func(st *State) {
			fd := fdOf(st, fixtureIn)
			fd.Writable, fd.Content = true, pwned()
		}, `wasip1: restore fd 5 (/in/a.txt): a.txt is open for writing but mount "/in" is read-only`},
		{"the state makes a read-only mount writable", func(st *State) {
			st.Preopens[0].ReadOnly = false
			fd := fdOf(st, fixtureIn)
			fd.Writable, fd.Content = true, pwned()
		}, `wasip1: restore fd 5 (/in/a.txt): a.txt is open for writing but mount "/in" is read-only`},
		{"the state makes a writable mount read-only", func(st *State) {
			st.Preopens[1].ReadOnly = true
		}, `wasip1: restore fd 6 (/out/o.txt): o.txt is open for writing but mount "/out" is read-only`},
		{"contents on a preopen", func(st *State) {
			fdOf(st, 4).Content = pwned()
		}, "wasip1: restore fd 4 (/out): saved contents on a directory"},
		{"contents on stdout", func(st *State) {
			fdOf(st, 1).Content = pwned()
		}, "wasip1: restore fd 1: saved contents on a standard stream"},
		{"rights preview1 does not have", func(st *State) {
			fdOf(st, 1).DroppedBase = rightsAll + 1
		}, "wasip1: restore fd 1: unknown rights 0x40000000, 0x0 dropped"},
		{"contents on a directory", func(st *State) {
			st.FDs = append(st.FDs, FD{FD: 7, Kind: KindDir, Preopen: 1, Path: "d", Writable: true, Content: pwned()})
		}, "wasip1: restore fd 7 (/out/d): saved contents on a directory"},
		{"an invalid fd after good contents", func(st *State) {
			fdOf(st, fixtureOut).Content = pwned()
			st.FDs = append(st.FDs, FD{FD: 7, Kind: KindFile, Preopen: 1, Path: "../escape", Readable: true})
		}, `wasip1: restore fd 7 (../escape): invalid path "../escape"`},
		{"a missing file after good contents", func(st *State) {
			fdOf(st, fixtureOut).Content = pwned()
			st.FDs = append(st.FDs, FD{FD: 7, Kind: KindFile, Preopen: 1, Path: "missing.txt", Readable: true})
		}, `wasip1: restore fd 7: missing.txt is missing from mount "/out"`},
		{"contents through a link out of the mount", func(st *State) {
			fd := fdOf(st, fixtureOut)
			fd.Path, fd.Content = "escape/secret", pwned()
		}, "wasip1: restore fd 6: cannot write /out/escape/secret: statat escape: path escapes from parent"},
		{"contents into a FIFO", func(st *State) {
			fd := fdOf(st, fixtureOut)
			fd.Path, fd.Content = "fifo", pwned()
		}, "wasip1: restore fd 6: cannot write /out/fifo: it is a FIFO"},
		{"contents under a file", func(st *State) {
			fd := fdOf(st, fixtureOut)
			fd.Path, fd.Content = "o.txt/x", pwned()
		}, "wasip1: restore fd 6: cannot write /out/o.txt/x: o.txt is a regular file"},
		{"two contents for one file", func(st *State) {
			fdOf(st, fixtureOut).Content = pwned()
			st.FDs = append(st.FDs, FD{FD: 7, Kind: KindFile, Preopen: 1, Path: "o.txt", Writable: true, Content: &Content{Data: []byte("other"), Size: 5}})
		}, "wasip1: restore fd 7 (/out/o.txt): saved contents differ from those of fd 6"},
		{"contents without their bytes", func(st *State) {
			fdOf(st, fixtureOut).Content = &Content{Size: 5}
		}, "wasip1: restore fd 6 (/out/o.txt): the 5 bytes of its saved contents are missing"},
		{"an fd saved twice", func(st *State) {
			st.FDs = append(st.FDs, st.FDs[fixtureOut])
		}, "wasip1: restore: fd 6 is saved twice"},
		{"an fd out of range", func(st *State) {
			fdOf(st, fixtureOut).FD = maxFDs
		}, "wasip1: restore: fd 65536 is out of range"},
		{"an fd in a preopen that is not there", func(st *State) {
			fdOf(st, fixtureOut).Preopen = 2
		}, "wasip1: restore fd 6 (o.txt): preopen 2 of 2"},
		{"stdin offset before the pending bytes", func(st *State) {
			st.Stdin, st.StdinOffset = []byte("abc"), 2
		}, "wasip1: restore: stdin offset 2 is less than the 3 pending bytes"},
		{"a pending poll that is not whole subscriptions", func(st *State) {
			st.Poll = &PendingPoll{Subscriptions: make([]byte, sizeSubscription+1)}
		}, "wasip1: restore: pending poll with 49 bytes of subscriptions"},
		{"a directory entry of no type", func(st *State) {
			fdOf(st, 3).Dir = &DirCursor{Entries: []DirEntry{{Name: "x", Type: 200}}}
		}, `wasip1: restore fd 3 (/in): directory entry "x" has unknown type 200`},
		{"two preopens at one guest path", func(st *State) {
			st.Preopens[1].GuestPath = "/in/"
		}, `wasip1: restore: preopens 0 and 1 are both at guest path "/in"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRestoreFixture(t)
			st := f.save(t, SaveOptions{FileContents: true})
			if err := mkfifoAt(filepath.Join(f.out, "fifo")); err != nil {
				t.Skip(err)
			}
			tc.craft(st)
			before := f.digest(t)
			err := newWithin(t, 10*time.Second, Config{Mounts: f.mounts}, st)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error %v\nwant %s", err, tc.wantErr)
			}
			if after := f.digest(t); after != before {
				t.Errorf("the restore changed the disk\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestRestoreCutsLast: a log that grew after the save is cut back only
// once nothing but another cut can fail, here the seek of a later fd to
// an offset the filesystem refuses.
func TestRestoreCutsLast(t *testing.T) {
	f := newRestoreFixture(t)
	probe, err := os.Open(filepath.Join(f.in, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = probe.Seek(math.MaxInt64, io.SeekStart)
	probe.Close()
	if err == nil {
		t.Skip("this filesystem takes any offset")
	}
	st := f.save(t, SaveOptions{})
	out := fdOf(st, fixtureOut)
	out.FDFlags, out.Size = fdflagAppend, 6 // o.txt has grown since
	st.FDs = append(st.FDs, FD{FD: 7, Kind: KindFile, Preopen: 0, Path: "a.txt", Readable: true, Offset: math.MaxInt64})
	before := f.digest(t)
	err = newWithin(t, 10*time.Second, Config{Mounts: f.mounts}, st)
	if want := "wasip1: restore fd 7: seeking a.txt: seek " + filepath.Join(f.in, "a.txt") + ": invalid argument"; err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if after := f.digest(t); after != before {
		t.Errorf("the restore changed the disk\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// newWithin restores st and closes the system, failing the test if New
// takes longer than d (a FIFO would make it wait forever).
func newWithin(t *testing.T, d time.Duration, cfg Config, st *State) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		w, err := New(cfg, st)
		if err == nil {
			w.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("New did not return within %v", d)
		return nil
	}
}

// TestRestoreWritesContents: the saved contents of the fixture's output
// are written back over a file changed after the save, and restored from
// a stream when they are kept outside the state.
func TestRestoreWritesContents(t *testing.T) {
	f := newRestoreFixture(t)
	st := f.save(t, SaveOptions{FileContents: true})
	saved := fdOf(st, fixtureOut).Content
	if string(saved.Data) != "output so far" || saved.Size != 13 {
		t.Fatalf("saved contents %+v", saved)
	}
	writeFiles(t, f.out, map[string]string{"o.txt": "changed after the save, and longer"})
	if err := newWithin(t, 10*time.Second, Config{Mounts: f.mounts}, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(f.out, "o.txt")); string(got) != "output so far" {
		t.Errorf("o.txt holds %q", got)
	}
}

// streamed is saved contents kept outside the state: Open counts its
// calls and Close.
type streamed struct {
	data          string
	openErr       error
	opens, closes int
}

func (s *streamed) open() (io.ReadCloser, error) {
	s.opens++
	if s.openErr != nil {
		return nil, s.openErr
	}
	return closeCounter{strings.NewReader(s.data), s}, nil
}

type closeCounter struct {
	io.Reader
	s *streamed
}

func (c closeCounter) Close() error {
	c.s.closes++
	return nil
}

// TestRestoreStreamedContents restores contents that an encoded state
// holds only the size of, from a reader that must give exactly that many
// bytes.
func TestRestoreStreamedContents(t *testing.T) {
	tests := []struct {
		name    string
		source  streamed
		wantErr string
	}{
		{"exact", streamed{data: "0123456789"}, ""},
		{"short", streamed{data: "0123"}, `wasip1: restore fd 6: re-creating deep/o.txt in mount "/out": saved contents end after 4 of 10 bytes`},
		{"long", streamed{data: "0123456789!"}, `wasip1: restore fd 6: re-creating deep/o.txt in mount "/out": saved contents are longer than their size 10`},
		{"unavailable", streamed{openErr: errors.New("section missing")}, `wasip1: restore fd 6: re-creating deep/o.txt in mount "/out": section missing`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRestoreFixture(t)
			st := f.save(t, SaveOptions{})
			fd := fdOf(st, fixtureOut)
			fd.Path, fd.Version = "deep/o.txt", nil
			fd.Content = &Content{Size: 10, Perm: 0o600}
			data, err := st.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back State
			if err := back.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			if c := fdOf(&back, fixtureOut).Content; c.Data != nil || c.Size != 10 || c.Perm != 0o600 {
				t.Fatalf("decoded contents %+v", c)
			}
			source := tc.source
			fdOf(&back, fixtureOut).Content.Open = source.open
			err = newWithin(t, 10*time.Second, Config{Mounts: f.mounts}, &back)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("error %v\nwant %s", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got, _ := os.ReadFile(filepath.Join(f.out, "deep", "o.txt")); string(got) != source.data {
				t.Errorf("o.txt holds %q", got)
			}
			wantCloses := 1
			if source.openErr != nil {
				wantCloses = 0
			}
			if source.opens != 1 || source.closes != wantCloses {
				t.Errorf("opened %d times, closed %d times; want once each", source.opens, source.closes)
			}
		})
	}
}

// TestSaveContentsOnce: a file open for writing on two fds travels once.
func TestSaveContentsOnce(t *testing.T) {
	f := newRestoreFixture(t)
	w := mustNew(t, Config{Mounts: f.mounts}, nil)
	p := newProxy(t, w)
	for range 2 {
		if _, e := p.open(4, "o.txt", 0, 0, rightFdWrite); e != errnoSuccess {
			t.Fatalf("open: errno %d", e)
		}
	}
	st, err := w.Save(SaveOptions{FileContents: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, d := fdOf(st, 5).Content, fdOf(st, 6).Content; c == nil || d != nil {
		t.Errorf("contents on fd 5: %v, on fd 6: %v; want on fd 5 only", c, d)
	}
}

// TestRestoreChangedFiles changes the fixture's files between a save and
// a restore, as someone else might while a job is stopped, and checks
// what each FileCheck makes of it.
func TestRestoreChangedFiles(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	input := func(f *restoreFixture) string { return filepath.Join(f.in, "a.txt") }
	output := func(f *restoreFixture) string { return filepath.Join(f.out, "o.txt") }
	chtimes := func(t *testing.T, p string, mtime time.Time) {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	rewrite := func(t *testing.T, p, data string, mtime time.Time) {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		chtimes(t, p, mtime)
	}
	inode := func(t *testing.T, p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return statOf(fi).ino
	}
	// replace puts a new file with the same contents and time in p's place.
	replace := func(t *testing.T, p string) string {
		old := inode(t, p)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rewrite(t, p+".new", string(data), t0)
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("inode %d -> %d", old, inode(t, p))
	}
	toFIFO := func(t *testing.T, p string) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := mkfifoAt(p); err != nil {
			t.Skip(err)
		}
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return fmt.Sprintf("%x…", h[:4]) }
	tests := []struct {
		name   string
		save   SaveOptions
		change func(t *testing.T, f *restoreFixture) (wantErr string)
		cfg    Config
		// changed says whether the error is ErrFileChanged.
		changed bool
	}{
		{name: "unchanged", change: func(*testing.T, *restoreFixture) string { return "" }},
		{name: "shortened input", change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "original", t0)
			return "wasip1: restore fd 5: /in/a.txt changed since the snapshot: size 14 -> 8"
		}, changed: true},
		{name: "shortened input, another host", cfg: Config{FileCheck: CheckOtherHost}, change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "original", t0.Add(time.Hour))
			return "wasip1: restore fd 5: /in/a.txt changed since the snapshot: size 14 -> 8"
		}, changed: true},
		{name: "grown input", change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "original input, and more", t0.Add(time.Second))
			return "wasip1: restore fd 5: /in/a.txt changed since the snapshot: size 14 -> 24, modified 2023-11-14T22:13:20Z -> 2023-11-14T22:13:21Z"
		}, changed: true},
		{name: "rewritten input", change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "ORIGINAL INPUT", t0.Add(time.Second))
			return "wasip1: restore fd 5: /in/a.txt changed since the snapshot: modified 2023-11-14T22:13:20Z -> 2023-11-14T22:13:21Z"
		}, changed: true},
		{name: "rewritten input, another host", cfg: Config{FileCheck: CheckOtherHost}, change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "ORIGINAL INPUT", t0.Add(time.Second))
			return "" // the same size: nothing else to compare
		}},
		{name: "rewritten input, another host, hashed", save: SaveOptions{HashInputs: true}, cfg: Config{FileCheck: CheckOtherHost}, change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "ORIGINAL INPUT", t0)
			return "wasip1: restore fd 5: /in/a.txt changed since the snapshot: SHA-256 " + sum("original input") + " -> " + sum("ORIGINAL INPUT")
		}, changed: true},
		{name: "copied input, another host, hashed", save: SaveOptions{HashInputs: true}, cfg: Config{FileCheck: CheckOtherHost}, change: func(t *testing.T, f *restoreFixture) string {
			replace(t, input(f))
			chtimes(t, input(f), t0.Add(time.Hour))
			return ""
		}},
		{name: "replaced input", change: func(t *testing.T, f *restoreFixture) string {
			return "wasip1: restore fd 5: /in/a.txt changed since the snapshot: " + replace(t, input(f))
		}, changed: true},
		{name: "truncated output", change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, output(f), "outpu", t0)
			return "wasip1: restore fd 6: /out/o.txt changed since the snapshot: size 13 -> 5 (shorter than at the snapshot)"
		}, changed: true},
		{name: "truncated output, another host", cfg: Config{FileCheck: CheckOtherHost}, change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, output(f), "", t0)
			return "wasip1: restore fd 6: /out/o.txt changed since the snapshot: size 13 -> 0 (shorter than at the snapshot)"
		}, changed: true},
		{name: "grown output", change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, output(f), "output so far, and what the guest wrote after the save", t0.Add(time.Minute))
			return ""
		}},
		{name: "replaced output", change: func(t *testing.T, f *restoreFixture) string {
			return "wasip1: restore fd 6: /out/o.txt changed since the snapshot: " + replace(t, output(f))
		}, changed: true},
		{name: "allowed: shortened input and truncated output", cfg: Config{AllowChangedFiles: true}, change: func(t *testing.T, f *restoreFixture) string {
			rewrite(t, input(f), "original", t0.Add(time.Second))
			rewrite(t, output(f), "", t0)
			return ""
		}},
		{name: "FIFO in place of the input", change: func(t *testing.T, f *restoreFixture) string {
			toFIFO(t, input(f))
			return "wasip1: restore fd 5: /in/a.txt is no longer a regular file: it is a FIFO"
		}},
		{name: "allowed: FIFO in place of the input", cfg: Config{AllowChangedFiles: true}, change: func(t *testing.T, f *restoreFixture) string {
			toFIFO(t, input(f))
			return "wasip1: restore fd 5: /in/a.txt is no longer a regular file: it is a FIFO"
		}},
		{name: "FIFO in place of the output", change: func(t *testing.T, f *restoreFixture) string {
			toFIFO(t, output(f))
			return "wasip1: restore fd 6: /out/o.txt is no longer a regular file: it is a FIFO"
		}},
		{name: "directory in place of the input", change: func(t *testing.T, f *restoreFixture) string {
			if err := os.Remove(input(f)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(input(f), 0o755); err != nil {
				t.Fatal(err)
			}
			return `wasip1: restore fd 5: a.txt in mount "/in" is no longer a file`
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRestoreFixture(t)
			chtimes(t, input(f), t0)
			chtimes(t, output(f), t0)
			st := f.save(t, tc.save)
			wantErr := tc.change(t, f)
			before := f.digest(t)
			cfg := tc.cfg
			cfg.Mounts = f.mounts
			err := newWithin(t, 10*time.Second, cfg, st)
			if wantErr == "" && err != nil || wantErr != "" && (err == nil || err.Error() != wantErr) {
				t.Errorf("error %v\nwant %s", err, wantErr)
			}
			if errors.Is(err, ErrFileChanged) != tc.changed {
				t.Errorf("errors.Is(%v, ErrFileChanged) = %v", err, !tc.changed)
			}
			if err != nil {
				if after := f.digest(t); after != before {
					t.Errorf("a refused restore changed the disk\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
		})
	}
}
