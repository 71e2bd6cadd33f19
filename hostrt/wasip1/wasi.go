// Package wasip1 is wasmsr's WASI preview1 ("wasi_snapshot_preview1") for
// wazero: a guest's whole view of the system — file descriptors, preopened
// directories, arguments, environment, clocks and unread stdin — lives here
// so that it can be saved with the guest's memory and restored in another
// process, and every call is a point where the host runtime may pause the
// guest.
//
// Files are only reached through an os.Root per mount, so no path, ".." or
// symbolic link leads out of a mount. Reads of stdin and sleeps in
// poll_oneoff give up when the host asks for a pause (see Gate) and leave
// no trace, so that the call the guest re-issues after its rewind behaves
// as if it had never been interrupted.
//
// A saved State is outside input: it travels between hosts. Decoding one
// allocates at most a fixed multiple of its size. A restore checks the
// whole State before it touches the disk; it writes saved file contents
// only to files the guest had open for writing, in mounts the restoring
// host made writable (a State can make a mount read-only, never
// writable); and it refuses a file that changed since the save (see
// FileCheck) unless told to allow it.
package wasip1

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// ModuleName is the name of the host module the guest imports.
const ModuleName = "wasi_snapshot_preview1"

// Config describes the guest's system. On restore, Args and Env are
// ignored (the guest has seen those of the saved State) and each Mount
// supplies the host directory of the saved preopen with the same GuestPath.
type Config struct {
	// Args are the guest's arguments, argv[0] first.
	Args []string
	// Env holds "NAME=value" entries.
	Env []string
	// Stdin is read ahead in the background (see Save); nil is an empty
	// stream. Stdout and Stderr nil discard the output.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Mounts are preopened as file descriptors 3, 4, ... in this order.
	Mounts []Mount
	// Listeners are preopened after the mounts, as sockets the guest
	// accepts connections from; on restore, they replace the saved
	// guest's listeners in fd order (State.Listeners), one each. The
	// WASI owns them from New on, even when it fails.
	Listeners []*net.TCPListener
	// Clock is the source of time; nil uses the host's clocks.
	Clock Clock
	// Rand is random_get's source; nil uses crypto/rand.
	Rand io.Reader
	// Gate lets the host pause the guest at WASI calls (a StdinGate also
	// before reads of stdin); nil never pauses.
	Gate Gate
	// FileCheck is how a restore tells whether a file the guest had open
	// changed since the save: by default as on the host that saved it.
	FileCheck FileCheck
	// AllowChangedFiles restores a guest whose files changed since the
	// save (but not one whose regular file became something else).
	AllowChangedFiles bool
}

// Mount preopens a host directory for the guest.
type Mount struct {
	// HostDir is the directory on the host.
	HostDir string
	// GuestPath is where the guest sees it, e.g. "/" or "/work".
	GuestPath string
	// ReadOnly refuses every change to the directory's tree (EROFS).
	ReadOnly bool
}

// Clock is a source of time. Tests inject a fake one.
type Clock interface {
	// Walltime returns nanoseconds since the Unix epoch.
	Walltime() int64
	// Nanotime returns nanoseconds since an arbitrary origin; it never
	// decreases.
	Nanotime() int64
	// After returns a channel that receives once d has passed on Nanotime.
	After(d time.Duration) <-chan time.Time
}

// WASI is the state of one guest's system. Its functions run on the
// guest's goroutine; Save and Close must not run while the guest does.
type WASI struct {
	args, env         []string
	argsSize, envSize uint32
	stdout, stderr    io.Writer
	stdin             *stdinBuffer
	stdinFile         *os.File // Config.Stdin when it is a file, for fstat
	stdoutFile        *os.File
	stderrFile        *os.File
	clock             Clock
	rand              io.Reader
	gate              Gate
	stdinGate         StdinGate // gate, when it wants to know about stdin reads
	mounts            []*mount
	fds               []*entry // indexed by fd number; nil is a free number
	// listeners are Config.Listeners not yet placed (by a restore).
	listeners []*entry
	// sockWaiter waits for sockets in poll_oneoff; made on first use.
	sockWaiter *socketWaiter

	// The guest's monotonic clock is monoBase plus the time clock.Nanotime
	// has advanced since monoStart, so that after a restore it carries on
	// from the saved value. monoLast keeps it from ever going back.
	monoBase, monoStart, monoLast int64

	// pending is the poll_oneoff that a pause interrupted; see pollOneoff.
	pending *PendingPoll
	// subs is poll_oneoff's copy of the subscriptions, kept between calls
	// so that polling does not allocate.
	subs []byte
}

// mount is a preopened host directory.
type mount struct {
	guestPath string
	readOnly  bool
	root      *os.Root
}

// New returns the system described by cfg for a new guest or, when restore
// is not nil, the system of the guest restore was saved from.
func New(cfg Config, restore *State) (w *WASI, err error) {
	w = &WASI{
		args:   cfg.Args,
		env:    cfg.Env,
		stdout: cfg.Stdout,
		stderr: cfg.Stderr,
		clock:  cfg.Clock,
		rand:   cfg.Rand,
		gate:   cfg.Gate,
	}
	w.stdinGate, _ = cfg.Gate.(StdinGate)
	if w.stdout == nil {
		w.stdout = io.Discard
	}
	if w.stderr == nil {
		w.stderr = io.Discard
	}
	w.stdinFile, _ = cfg.Stdin.(*os.File)
	w.stdoutFile, _ = cfg.Stdout.(*os.File)
	w.stderrFile, _ = cfg.Stderr.(*os.File)
	if w.clock == nil {
		w.clock = newSystemClock()
	}
	if w.rand == nil {
		w.rand = rand.Reader
	}
	defer func() {
		if err != nil {
			w.Close()
			w = nil
		}
	}()
	for i, l := range cfg.Listeners {
		e, err := listenerEntry(l)
		if err != nil {
			for _, l := range cfg.Listeners[i+1:] {
				l.Close()
			}
			return w, err
		}
		w.listeners = append(w.listeners, e)
	}
	for _, m := range cfg.Mounts {
		if err := w.addMount(m); err != nil {
			return w, err
		}
	}
	var pendingStdin []byte
	var stdinTaken int64
	if restore == nil {
		w.monoBase = w.clock.Nanotime()
		w.fds = []*entry{w.stdioEntry(KindStdin), w.stdioEntry(KindStdout), w.stdioEntry(KindStderr)}
		for _, m := range w.mounts {
			e, err := openPreopen(m)
			if err != nil {
				return w, err
			}
			w.fds = append(w.fds, e)
		}
		w.fds = append(w.fds, w.listeners...)
		w.listeners = nil
	} else {
		if err := w.restore(restore, cfg); err != nil {
			return w, err
		}
		pendingStdin, stdinTaken = restore.Stdin, restore.StdinOffset
	}
	if w.argsSize, err = nulTerminatedSize("args", w.args); err != nil {
		return w, err
	}
	if w.envSize, err = nulTerminatedSize("env", w.env); err != nil {
		return w, err
	}
	w.monoStart = w.clock.Nanotime()
	w.monoLast = w.monoBase
	w.stdin = newStdinBuffer(pendingStdin, stdinTaken, cfg.Stdin)
	return w, nil
}

// addMount opens a mount's root. Guest paths are compared without trailing
// slashes, and "", "." and "/" all name the root, as in wazero.
func (w *WASI) addMount(m Mount) error {
	guest := normalGuestPath(m.GuestPath)
	for _, other := range w.mounts {
		if other.guestPath == guest {
			return fmt.Errorf("wasip1: two mounts at guest path %q", guest)
		}
	}
	root, err := os.OpenRoot(m.HostDir)
	if err != nil {
		return fmt.Errorf("wasip1: mount %q: %w", guest, err)
	}
	w.mounts = append(w.mounts, &mount{guestPath: guest, readOnly: m.ReadOnly, root: root})
	return nil
}

func normalGuestPath(p string) string {
	trimmed := strings.TrimRight(p, "/")
	if strings.Trim(trimmed, "./") == "" {
		return "/"
	}
	return trimmed
}

// nulTerminatedSize is the size of args or env in guest memory, and checks
// that each value can be passed as a C string.
func nulTerminatedSize(what string, values []string) (uint32, error) {
	var size uint64
	for _, v := range values {
		if strings.IndexByte(v, 0) >= 0 {
			return 0, fmt.Errorf("wasip1: %s: %q contains NUL", what, v)
		}
		size += uint64(len(v)) + 1
	}
	if size > 1<<32-1 {
		return 0, fmt.Errorf("wasip1: %s: too large", what)
	}
	return uint32(size), nil
}

// Instantiate instantiates the host module ModuleName in r. A runtime holds
// one module of that name, and a WASI is one guest's system: give each
// guest its own runtime.
func (w *WASI) Instantiate(ctx context.Context, r wazero.Runtime) (api.Module, error) {
	b := r.NewHostModuleBuilder(ModuleName)
	for _, f := range functions {
		params := make([]api.ValueType, len(f.params))
		for i, c := range f.params {
			params[i] = api.ValueTypeI32
			if c == 'I' {
				params[i] = api.ValueTypeI64
			}
		}
		var fn api.GoModuleFunc
		var results []api.ValueType
		if f.name == "proc_exit" {
			fn = procExit
		} else {
			fn = w.wrap(f.impl, f.name)
			results = []api.ValueType{api.ValueTypeI32}
		}
		b.NewFunctionBuilder().WithGoModuleFunction(fn, params, results).Export(f.name)
	}
	return b.Instantiate(ctx)
}

// wrap turns impl into a wazero function that first asks the gate whether
// to run at all, and then, for a call about to read stdin, the stdin gate.
// Any call but poll_oneoff forgets an interrupted poll: the guest has moved
// on instead of re-issuing it.
func (w *WASI) wrap(impl func(*WASI, context.Context, api.Module, []uint64) errno, name string) api.GoModuleFunc {
	isPoll := name == "poll_oneoff"
	var readsStdin func(*WASI, api.Module, []uint64) bool
	switch name {
	case "fd_read":
		readsStdin = (*WASI).fdReadsStdin
	case "poll_oneoff":
		readsStdin = (*WASI).pollReadsStdin
	}
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		if w.gate != nil && !w.gate.Enter(ctx, mod) {
			return
		}
		if readsStdin != nil && w.stdinGate != nil && readsStdin(w, mod, stack) && !w.stdinGate.EnterStdin(ctx, mod) {
			return
		}
		if !isPoll {
			w.pending = nil
		}
		stack[0] = uint64(impl(w, ctx, mod, stack))
	}
}

// fdReadsStdin reports whether an fd_read is of the stdin descriptor
// (wherever fd_renumber moved it).
func (w *WASI) fdReadsStdin(_ api.Module, stack []uint64) bool {
	e := w.lookup(uint32(stack[0]))
	return e != nil && e.kind == KindStdin
}

// pollReadsStdin reports whether a poll_oneoff waits for stdin to be
// readable. Subscriptions it cannot read are left to poll_oneoff's errors.
func (w *WASI) pollReadsStdin(mod api.Module, stack []uint64) bool {
	in, nsubs := uint32(stack[0]), uint32(stack[2])
	if nsubs == 0 || nsubs > math.MaxUint32/sizeSubscription {
		return false
	}
	subs, ok := mod.Memory().Read(in, nsubs*sizeSubscription)
	if !ok {
		return false
	}
	for i := 0; i < len(subs); i += sizeSubscription {
		if s := subs[i : i+sizeSubscription]; s[8] == eventtypeFdRead {
			if e := w.lookup(le.Uint32(s[16:])); e != nil && e.kind == KindStdin {
				return true
			}
		}
	}
	return false
}

// functions are the preview1 functions in the specification's order. A
// parameter is 'i' for i32 or 'I' for i64; every function but proc_exit
// returns an errno.
var functions = []struct {
	name, params string
	impl         func(*WASI, context.Context, api.Module, []uint64) errno
}{
	{"args_get", "ii", (*WASI).argsGet},
	{"args_sizes_get", "ii", (*WASI).argsSizesGet},
	{"environ_get", "ii", (*WASI).environGet},
	{"environ_sizes_get", "ii", (*WASI).environSizesGet},
	{"clock_res_get", "ii", (*WASI).clockResGet},
	{"clock_time_get", "iIi", (*WASI).clockTimeGet},
	{"fd_advise", "iIIi", (*WASI).fdAdvise},
	{"fd_allocate", "iII", (*WASI).fdAllocate},
	{"fd_close", "i", (*WASI).fdClose},
	{"fd_datasync", "i", (*WASI).fdDatasync},
	{"fd_fdstat_get", "ii", (*WASI).fdFdstatGet},
	{"fd_fdstat_set_flags", "ii", (*WASI).fdFdstatSetFlags},
	{"fd_fdstat_set_rights", "iII", (*WASI).fdFdstatSetRights},
	{"fd_filestat_get", "ii", (*WASI).fdFilestatGet},
	{"fd_filestat_set_size", "iI", (*WASI).fdFilestatSetSize},
	{"fd_filestat_set_times", "iIIi", (*WASI).fdFilestatSetTimes},
	{"fd_pread", "iiiIi", (*WASI).fdPread},
	{"fd_prestat_get", "ii", (*WASI).fdPrestatGet},
	{"fd_prestat_dir_name", "iii", (*WASI).fdPrestatDirName},
	{"fd_pwrite", "iiiIi", (*WASI).fdPwrite},
	{"fd_read", "iiii", (*WASI).fdRead},
	{"fd_readdir", "iiiIi", (*WASI).fdReaddir},
	{"fd_renumber", "ii", (*WASI).fdRenumber},
	{"fd_seek", "iIii", (*WASI).fdSeek},
	{"fd_sync", "i", (*WASI).fdSync},
	{"fd_tell", "ii", (*WASI).fdTell},
	{"fd_write", "iiii", (*WASI).fdWrite},
	{"path_create_directory", "iii", (*WASI).pathCreateDirectory},
	{"path_filestat_get", "iiiii", (*WASI).pathFilestatGet},
	{"path_filestat_set_times", "iiiiIIi", (*WASI).pathFilestatSetTimes},
	{"path_link", "iiiiiii", (*WASI).pathLink},
	{"path_open", "iiiiiIIii", (*WASI).pathOpen},
	{"path_readlink", "iiiiii", (*WASI).pathReadlink},
	{"path_remove_directory", "iii", (*WASI).pathRemoveDirectory},
	{"path_rename", "iiiiii", (*WASI).pathRename},
	{"path_symlink", "iiiii", (*WASI).pathSymlink},
	{"path_unlink_file", "iii", (*WASI).pathUnlinkFile},
	{"poll_oneoff", "iiii", (*WASI).pollOneoff},
	{"proc_exit", "i", nil},
	{"proc_raise", "i", notImplemented},
	{"sched_yield", "", (*WASI).schedYield},
	{"random_get", "ii", (*WASI).randomGet},
	{"sock_accept", "iii", (*WASI).sockAccept},
	{"sock_recv", "iiiiii", (*WASI).sockRecv},
	{"sock_send", "iiiii", (*WASI).sockSend},
	{"sock_shutdown", "ii", (*WASI).sockShutdown},
}

// Close closes every file and mount. The goroutine reading stdin ends when
// its pending read returns.
func (w *WASI) Close() error {
	var errs []error
	for _, e := range w.fds {
		if e != nil && e.file != nil {
			errs = append(errs, e.file.Close())
		}
	}
	w.fds = nil
	for _, e := range w.listeners {
		errs = append(errs, e.file.Close())
	}
	w.listeners = nil
	if w.sockWaiter != nil {
		w.sockWaiter.close()
		w.sockWaiter = nil
	}
	for _, m := range w.mounts {
		errs = append(errs, m.root.Close())
	}
	w.mounts = nil
	if w.stdin != nil {
		w.stdin.close()
	}
	return errors.Join(errs...)
}
