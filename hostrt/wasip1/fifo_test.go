//go:build unix

package wasip1

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/internal/corpus"
)

func mkfifo(t *testing.T) (dir, name string) {
	t.Helper()
	dir = t.TempDir()
	if err := mkfifoAt(filepath.Join(dir, "fifo")); err != nil {
		t.Fatal(err)
	}
	return dir, "fifo"
}

func mkfifoAt(p string) error { return syscall.Mkfifo(p, 0o666) }

// TestNonblockingFIFO is wazero's Test_NonblockingFile: zig-cc's wasi.c
// opens a FIFO non-blocking and prints a dot every 100 ms until it reads
// something. The number of dots depends on timing, so the output is
// checked by shape rather than against wazero's.
func TestNonblockingFIFO(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join(corpus.WazeroDir(t), "imports", "wasi_snapshot_preview1", "testdata", "zig-cc", "wasi.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	dir, name := mkfifo(t)
	done := make(chan result, 1)
	go func() {
		done <- runOurs(t, wasm, Config{
			Args:   []string{"wasi", "nonblock", "/" + name},
			Mounts: []Mount{{HostDir: dir, GuestPath: "/"}},
			Clock:  newSystemClock(),
		})
	}()
	// Opening for writing waits for the guest to open for reading.
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	time.Sleep(250 * time.Millisecond) // a few dots
	if _, err := f.WriteString("wazero"); err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, done, "the guest")
	lines := strings.Split(r.stdout, "\n")
	if r.exit != 0 || r.failed || len(lines) < 2 || !strings.HasPrefix(lines[0], ".") || lines[1] != "wazero" {
		t.Errorf("got %+v, want dots then wazero", r)
	}
}

// TestGateFIFO pauses a blocking read of an empty FIFO, which gives up
// through a read deadline, and checks that the re-issued read gets what
// was written meanwhile.
func TestGateFIFO(t *testing.T) {
	dir, name := mkfifo(t)
	g := newFakeGate()
	p := newProxy(t, mustNew(t, Config{Gate: g, Mounts: []Mount{{HostDir: dir, GuestPath: "/"}}}, nil))
	writer := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
		if err != nil {
			panic(err)
		}
		writer <- f
	}()
	fd, e := p.open(3, name, 0, 0, rightFdRead)
	if e != errnoSuccess {
		t.Fatalf("open: errno %d", e)
	}
	w := waitFor(t, writer, "the writer")
	defer w.Close()
	for len(g.entered) > 0 {
		<-g.entered
	}

	p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 16))
	pausedCall(t, p, g, "fd_read", uint64(fd), memIovec, 1, memResult)

	if _, err := w.WriteString("fifo data"); err != nil {
		t.Fatal(err)
	}
	g.resume()
	if got, e := p.readFD(fd, 16); e != errnoSuccess || string(got) != "fifo data" {
		t.Errorf("re-issued read: %q, errno %d", got, e)
	}
}

// TestRestoreBlockingMode: a restore opens files non-blocking (so that a
// FIFO in a file's place cannot make it wait) and then gives each the
// mode it had: blocking unless the guest asked for O_NONBLOCK.
func TestRestoreBlockingMode(t *testing.T) {
	f := newRestoreFixture(t)
	st := f.save(t, SaveOptions{})
	fdOf(st, fixtureOut).FDFlags |= fdflagNonblock
	w := mustNew(t, Config{Mounts: f.mounts}, st)
	nonblocking := func(fd uint32) bool {
		rc, err := w.fds[fd].file.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var flags uintptr
		var errno syscall.Errno
		rc.Control(func(sysfd uintptr) {
			flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, sysfd, syscall.F_GETFL, 0)
		})
		if errno != 0 {
			t.Fatal(errno)
		}
		return flags&syscall.O_NONBLOCK != 0
	}
	if nonblocking(fixtureIn) {
		t.Error("the input is non-blocking")
	}
	if !nonblocking(fixtureOut) {
		t.Error("the output, non-blocking for the guest, is blocking")
	}
}
