package wasip1

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// manualClock is a fake clock that moves only when told to. After records
// the durations it is asked for and returns a channel that fires when the
// clock is advanced past the deadline.
type manualClock struct {
	virtualClock
	waits  chan time.Duration // the durations After was called with
	timers []manualTimer
}

type manualTimer struct {
	at int64
	ch chan time.Time
}

func newManualClock(mono int64) *manualClock {
	c := &manualClock{waits: make(chan time.Duration, 100)}
	c.wall, c.mono = 1700000000*int64(time.Second), mono
	return c
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, manualTimer{at: c.mono + int64(d), ch: ch})
	c.waits <- d
	return ch
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall += int64(d)
	c.mono += int64(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at <= c.mono {
			tm.ch <- time.Unix(0, c.wall)
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
}

func mustNew(t testing.TB, cfg Config, restore *State) *WASI {
	t.Helper()
	w, err := New(cfg, restore)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// roundTrip encodes and decodes st, checking that nothing is lost.
func roundTrip(t *testing.T, st *State) *State {
	t.Helper()
	data, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, st) {
		t.Fatalf("state changed by encoding:\n%+v\n%+v", st, &back)
	}
	return &back
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSaveRestore saves a guest's system after it opened, read, wrote,
// seeked, renumbered and renamed files, read part of a directory and of
// stdin, and checks that a system restored from the encoded state looks
// the same to the guest through every fd.
func TestSaveRestore(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a.txt": "0123456789abcdef", "sub/b.txt": "bbb"}
	for i := range 20 {
		files[fmt.Sprintf("list/entry-%02d", i)] = ""
	}
	writeFiles(t, dir, files)
	mounts := []Mount{{HostDir: dir, GuestPath: "/work"}, {HostDir: t.TempDir(), GuestPath: "/ro", ReadOnly: true}}
	clock := newManualClock(int64(time.Hour))
	w := mustNew(t, Config{
		Args: []string{"prog", "arg"}, Env: []string{"A=1"}, Mounts: mounts, Clock: clock,
		Stdin: strings.NewReader("stdin: some consumed, the rest pending"),
	}, nil)
	p := newProxy(t, w)
	const preopen = 3
	check := func(what string, e errno) {
		t.Helper()
		if e != errnoSuccess {
			t.Fatalf("%s: errno %d", what, e)
		}
	}

	a, e := p.open(preopen, "a.txt", 0, 0, rightFdRead)
	check("open a.txt", e)
	_, e = p.readFD(a, 4)
	check("read a.txt", e)
	b, e := p.open(preopen, "sub/b.txt", 0, fdflagAppend, rightFdRead|rightFdWrite)
	check("open sub/b.txt", e)
	check("write sub/b.txt", p.writeFD(b, []byte("+")))
	out, e := p.open(preopen, "out.txt", oflagCreat|oflagTrunc, 0, rightFdWrite)
	check("create out.txt", e)
	check("write out.txt", p.writeFD(out, []byte("hello, world")))
	_, e = p.seek(out, 5, 0)
	check("seek out.txt", e)
	check("renumber out.txt over stdout", p.call("fd_renumber", uint64(out), 1))
	check("drop a.txt's rights to seek", p.call("fd_fdstat_set_rights", uint64(a), rightFdRead|rightFdFilestatGet, 0))
	old, newName := "sub", "sub2"
	p.write(memPath, []byte(old+newName))
	check("rename sub", p.call("path_rename", preopen, memPath, uint64(len(old)), preopen, memPath+uint64(len(old)), uint64(len(newName))))
	list, e := p.open(preopen, "list", oflagDirectory, 0, rightFdReaddir)
	check("open list", e)
	names, cookies, e := p.readdir(list, 0, 100)
	check("readdir list", e)
	if len(names) < 2 {
		t.Fatalf("first readdir got %v", names)
	}
	cookie := cookies[len(cookies)-1]
	names, _, e = p.readdir(list, cookie, 80)
	check("readdir list again", e)
	if len(names) == 0 {
		t.Fatal("second readdir got nothing")
	}
	check("drop list's inheriting rights", p.call("fd_fdstat_set_rights", uint64(list), dirRights, rightFdRead))
	hole, e := p.open(preopen, "a.txt", 0, 0, rightFdRead)
	check("open a.txt again", e)
	check("close", p.call("fd_close", uint64(hole)))
	got, e := p.readFD(0, 7)
	check("read stdin", e)
	if string(got) != "stdin: " {
		t.Fatalf("stdin gave %q", got)
	}
	check("nonblocking stdin", p.call("fd_fdstat_set_flags", 0, uint64(fdflagNonblock)))

	st, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st = roundTrip(t, st)
	if string(st.Stdin) != "some consumed, the rest pending" {
		t.Errorf("pending stdin %q", st.Stdin)
	}
	if len(st.FDs) != 8 { // 0-2 (out.txt at 1), two preopens, a, b, list
		t.Errorf("saved %d fds: %+v", len(st.FDs), st.FDs)
	}

	fds := []uint32{0, 1, 2, preopen, preopen + 1, a, b, list, hole}
	want := observe(p, fds, cookie)
	w2 := mustNew(t, Config{Mounts: mounts, Clock: newManualClock(int64(time.Second))}, st)
	if got := observe(newProxy(t, w2), fds, cookie); got != want {
		t.Errorf("restored system differs\nbefore:\n%s\nafter:\n%s", want, got)
	}
}

// observe describes what the guest can see through fds (and consumes it).
func observe(p *proxy, fds []uint32, cookie uint64) string {
	var sb strings.Builder
	sizes := func(name string) {
		e := p.call(name, memResult, memResult+4)
		fmt.Fprintf(&sb, "%s: %d %d %d\n", name, e, p.u32(memResult), p.u32(memResult+4))
	}
	sizes("args_sizes_get")
	sizes("environ_sizes_get")
	for _, fd := range fds {
		fmt.Fprintf(&sb, "fd %d:", fd)
		if e := p.call("fd_fdstat_get", uint64(fd), memResult); e != errnoSuccess {
			fmt.Fprintf(&sb, " errno %d\n", e) // closed
			continue
		}
		fmt.Fprintf(&sb, " fdstat %x", p.read(memResult, sizeFdstat))
		if e := p.call("fd_filestat_get", uint64(fd), memResult); e == errnoSuccess {
			st := p.read(memResult, sizeFilestat)
			fmt.Fprintf(&sb, " type %d size %d", st[16], le.Uint64(st[32:]))
		}
		if off, e := p.seek(fd, 0, 1); e == errnoSuccess {
			fmt.Fprintf(&sb, " offset %d", off)
		}
		if e := p.call("fd_prestat_get", uint64(fd), memResult); e == errnoSuccess {
			n := p.u32(memResult + 4)
			p.call("fd_prestat_dir_name", uint64(fd), memBuf, uint64(n))
			fmt.Fprintf(&sb, " preopen %q", p.read(memBuf, n))
		}
		if names, cookies, e := p.readdir(fd, cookie, 4096); e == errnoSuccess {
			fmt.Fprintf(&sb, " entries %v %v", names, cookies)
		}
		if data, e := p.readFD(fd, 4096); e == errnoSuccess {
			fmt.Fprintf(&sb, " data %q", data)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// TestRestoreFileContents restores a file open for writing from the
// contents embedded in the state, on a disk that lacks it.
func TestRestoreFileContents(t *testing.T) {
	dir := t.TempDir()
	w := mustNew(t, Config{Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}}, nil)
	p := newProxy(t, w)
	if _, e := p.open(3, "deep/out.txt", oflagCreat, 0, rightFdWrite|rightFdRead); e != errnoNoent {
		t.Fatalf("open in a missing directory: errno %d", e)
	}
	if e := p.call("path_create_directory", append([]uint64{3}, pathArgs(p, "deep")...)...); e != errnoSuccess {
		t.Fatalf("mkdir: errno %d", e)
	}
	fd, e := p.open(3, "deep/out.txt", oflagCreat, 0, rightFdWrite)
	if e != errnoSuccess {
		t.Fatalf("open: errno %d", e)
	}
	if e := p.writeFD(fd, []byte("hello world")); e != errnoSuccess {
		t.Fatalf("write: errno %d", e)
	}
	if _, e := p.seek(fd, 6, 0); e != errnoSuccess {
		t.Fatalf("seek: errno %d", e)
	}
	plain, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := w.Save(SaveOptions{FileContents: true})
	if err != nil {
		t.Fatal(err)
	}
	full = roundTrip(t, full)
	w.Close()
	if err := os.RemoveAll(filepath.Join(dir, "deep")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		state   *State
		mounts  []Mount
		wantErr string
	}{
		{"no contents", plain, []Mount{{HostDir: dir, GuestPath: "/"}}, `restore fd 4: deep/out.txt is missing from mount "/"`},
		{"contents", full, []Mount{{HostDir: dir, GuestPath: "/"}}, ""},
		{"contents on another disk", full, []Mount{{HostDir: t.TempDir(), GuestPath: "/"}}, ""},
		{"no mount", full, []Mount{{HostDir: dir, GuestPath: "/elsewhere"}}, `no mount for guest path "/"`},
		{"read-only mount", full, []Mount{{HostDir: dir, GuestPath: "/", ReadOnly: true}}, "is open for writing but mount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(Config{Mounts: tc.mounts}, tc.state)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			p := newProxy(t, w)
			if off, e := p.seek(fd, 0, 1); e != errnoSuccess || off != 6 {
				t.Errorf("tell: %d, errno %d; want 6", off, e)
			}
			if e := p.writeFD(fd, []byte("W")); e != errnoSuccess {
				t.Fatalf("write: errno %d", e)
			}
			data, err := os.ReadFile(filepath.Join(tc.mounts[0].HostDir, "deep", "out.txt"))
			if err != nil || string(data) != "hello World" {
				t.Errorf("file holds %q (%v), want %q", data, err, "hello World")
			}
		})
	}
}

func pathArgs(p *proxy, s string) []uint64 {
	ptr, n := p.path(s)
	return []uint64{ptr, n}
}

// TestMonotonicAcrossRestore restores on a host whose clock is far behind
// and checks that the guest's monotonic clock carries on from the save.
func TestMonotonicAcrossRestore(t *testing.T) {
	monotonic := func(p *proxy) uint64 {
		if e := p.call("clock_time_get", uint64(clockMonotonic), 1, memResult); e != errnoSuccess {
			t.Fatalf("clock_time_get: errno %d", e)
		}
		return p.u64(memResult)
	}
	clock := newManualClock(int64(10 * time.Hour))
	w := mustNew(t, Config{Clock: clock}, nil)
	p := newProxy(t, w)
	clock.advance(time.Minute)
	before := monotonic(p)
	clock.advance(time.Second)
	st, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st = roundTrip(t, st)
	if uint64(st.Monotonic) != before+uint64(time.Second) {
		t.Errorf("saved monotonic %d, want %d", st.Monotonic, before+uint64(time.Second))
	}

	clock2 := newManualClock(int64(time.Millisecond))
	p2 := newProxy(t, mustNew(t, Config{Clock: clock2}, st))
	after := monotonic(p2)
	if after != uint64(st.Monotonic) {
		t.Errorf("monotonic after restore %d, want %d (the saved value)", after, st.Monotonic)
	}
	clock2.advance(time.Second)
	if later := monotonic(p2); later != after+uint64(time.Second) {
		t.Errorf("monotonic a second later %d, want %d", later, after+uint64(time.Second))
	}
}

// TestPendingStdin restores the bytes read from stdin that the guest had
// not consumed, ahead of the new stdin.
func TestPendingStdin(t *testing.T) {
	w := mustNew(t, Config{Stdin: strings.NewReader("abcdef")}, nil)
	p := newProxy(t, w)
	if got, e := p.readFD(0, 2); e != errnoSuccess || string(got) != "ab" {
		t.Fatalf("read %q, errno %d", got, e)
	}
	st, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st = roundTrip(t, st)
	p2 := newProxy(t, mustNew(t, Config{Stdin: strings.NewReader("ghi")}, st))
	var all []byte
	for {
		got, e := p2.readFD(0, 3)
		if e != errnoSuccess {
			t.Fatalf("read: errno %d", e)
		}
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
	}
	if string(all) != "cdefghi" {
		t.Errorf("restored stdin gave %q, want %q", all, "cdefghi")
	}
}

// TestRestoreKindChanged restores a file that has become a directory.
func TestRestoreKindChanged(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"x": "data"})
	w := mustNew(t, Config{Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}}, nil)
	if _, e := newProxy(t, w).open(3, "x", 0, 0, rightFdRead); e != errnoSuccess {
		t.Fatalf("open: errno %d", e)
	}
	st, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}}, st)
	if want := `restore fd 4: x in mount "/" is no longer a file`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestRestoreCutsAppended: what a guest appended after a save (before a
// crash, say) is cut off on restore, since the resumed guest appends it
// again; a file open for plain writing is left as it is.
func TestRestoreCutsAppended(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"log.txt": "one\n", "data.bin": "0123456789"})
	mounts := []Mount{{HostDir: dir, GuestPath: "/work"}}
	w := mustNew(t, Config{Mounts: mounts}, nil)
	p := newProxy(t, w)
	log, e := p.open(3, "log.txt", 0, fdflagAppend, rightFdWrite)
	if e != errnoSuccess {
		t.Fatalf("open log.txt: errno %d", e)
	}
	data, e := p.open(3, "data.bin", 0, 0, rightFdWrite)
	if e != errnoSuccess {
		t.Fatalf("open data.bin: errno %d", e)
	}
	if e := p.writeFD(log, []byte("two\n")); e != errnoSuccess {
		t.Fatalf("append: errno %d", e)
	}
	st, err := w.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st = roundTrip(t, st)
	// The guest goes on past the save, then dies.
	p.writeFD(log, []byte("three\n"))
	p.writeFD(data, []byte("ab"))
	w2 := mustNew(t, Config{Mounts: mounts}, st)
	p2 := newProxy(t, w2)
	p2.writeFD(log, []byte("three\n"))
	for name, want := range map[string]string{"log.txt": "one\ntwo\nthree\n", "data.bin": "ab23456789"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}
