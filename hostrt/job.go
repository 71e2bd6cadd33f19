// Package hostrt runs instrumented WebAssembly programs on wazero's
// unmodified compiler and snapshots them: it pauses a program by making it
// unwind its call stack into its memory, captures the instance and the
// program's WASI state, and resumes it by rewinding — in the same process,
// or from a snapshot in another process or on another machine.
//
// A Job is one running program. Run runs it to the end; Snapshot, from any
// goroutine, pauses it at its next safepoint or WASI call, captures it and
// lets it continue (or stops it). Restore makes a Job from a snapshot.
// When to snapshot a job, and where the snapshots go, is package
// hostrt/supervise's.
package hostrt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/debuginfo"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/unwind"
)

// Config describes a job.
type Config struct {
	// Module is the instrumented module (see package instrument).
	Module []byte
	// ModulePath is where Module was read from, for snapshot metadata.
	ModulePath string
	// Args are the program's arguments, argv[0] first, and Env its
	// environment as NAME=value. A restored job keeps those it was
	// started with.
	Args, Env []string
	// Mounts are the directories the program sees. A restored job needs
	// the same guest paths as the original (the host directories may differ).
	Mounts []wasip1.Mount
	// Listeners are the listening sockets the program accepts connections
	// from (wasip1.Config.Listeners): preopened after the mounts, or, for
	// a restored job, one for each it had (wasip1.State.Listeners). A
	// job that starts owns them; when starting fails, the caller closes
	// them (closing one twice does no harm).
	Listeners []*net.TCPListener
	// Stdin, Stdout and Stderr are the program's standard streams; nil is
	// an empty input or discarded output.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Cache is the compilation cache. Nil uses DefaultCache.
	Cache wazero.CompilationCache
	// Facts, when set, are Module's (ReadModuleFacts), read once for many
	// jobs.
	Facts *ModuleFacts
	// Prepared, when not nil, is Module compiled ahead (Prepare): the job
	// takes its runtime instead of compiling.
	Prepared *Prepared
	// SnapshotFiles embeds the contents of the files the program has open
	// for writing into snapshots, so that the job can resume where the
	// disk is not shared.
	SnapshotFiles bool
	// HashInputs records in snapshots the SHA-256 of the files the
	// program has open only for reading, so that a restore on another
	// host can tell an unchanged copy from a changed input (it reads
	// those files at every snapshot).
	HashInputs bool
	// FileCheck is how a restore tells that a file the program had open
	// changed since the snapshot (see wasip1.FileCheck): the default
	// compares size, modification time and inode, as on the host that
	// took it; wasip1.CheckOtherHost compares sizes (and hashes).
	FileCheck wasip1.FileCheck
	// AllowChangedFiles restores a program whose files changed since the
	// snapshot (wasip1.ErrFileChanged otherwise).
	AllowChangedFiles bool
	// TruncateOutput, on restore, cuts Stdout and Stderr back to where the
	// output stood at the snapshot when they are regular files at least
	// that long (the same files, appended to), so that output written
	// between the snapshot and a crash is not written twice. Off by
	// default: a file shared with other writers would lose their output.
	TruncateOutput bool
	// Clock overrides the WASI clocks (tests).
	Clock wasip1.Clock
	// MaxMemory is the most memory the program may have, in bytes (0:
	// DefaultMaxMemory()): its memory.grow fails beyond it, a module that
	// needs more to start is refused, and so is a snapshot that holds more.
	MaxMemory uint64
	// OnStdin, when not nil, is called on the program's goroutine before
	// each WASI call that reads from stdin or waits for it to be readable
	// (fd_read of the stdin descriptor, poll_oneoff subscribing to it for
	// reading) does anything; Job.SnapshotAtStdin, called from it, pauses
	// the program at that call. See stdin.go.
	OnStdin func(*Job)
}

// ErrStopped is returned by Run when a snapshot request stopped the job.
var ErrStopped = errors.New("the job stopped after a snapshot")

// ErrNotRunning is returned by Snapshot once the program has ended.
var ErrNotRunning = errors.New("the program is not running")

// Job is one instance of a program.
type Job struct {
	cfg    Config
	hash   [32]byte
	info   *abi.Info
	rt     wazero.Runtime
	wasi   *wasip1.WASI
	mod    api.Module
	u      *unwind.Module
	resume bool // Run rewinds into a restored snapshot instead of calling _start

	// rewinding is set from the start of a rewind until a WASI call sees
	// it end: a rewind into a pause taken at a WASI call ends in that call.
	rewinding bool
	// callCountdown, when positive, pauses the program at that WASI call
	// from now: a deterministic pause point for tests.
	callCountdown int
	// calls counts WASI calls, to look at the heap now and then (gc.go).
	calls uint32
	// stdin is Config.OnStdin's state (stdin.go).
	stdin stdinHook

	mu        sync.Mutex
	requests  []*request
	pausing   chan struct{} // closed while requests are pending
	requested atomic.Bool
	done      bool
	// spare is the memory of a snapshot given back by Recycle.
	spare []byte
	seq   uint64
}

// request is a pending Snapshot call.
type request struct {
	at     time.Time
	reason string
	stop   bool
	// stopAlways stops the job even when the capture fails.
	stopAlways bool
	reply      chan reply
}

type reply struct {
	snap *snapshot.Snapshot
	err  error
}

// Start prepares a new job; Run runs it.
func Start(ctx context.Context, cfg Config) (*Job, error) {
	return newJob(ctx, cfg, nil)
}

// Restore prepares a job from a snapshot of cfg.Module; Run continues it.
// cfg's Args and Env are ignored: the program keeps its own.
func Restore(ctx context.Context, cfg Config, snap *snapshot.Snapshot) (*Job, error) {
	return newJob(ctx, cfg, snap)
}

func newJob(ctx context.Context, cfg Config, snap *snapshot.Snapshot) (j *Job, err error) {
	facts, err := cfg.Facts.of(cfg.Module)
	if err != nil {
		return nil, err
	}
	j = &Job{cfg: cfg, hash: facts.SHA256, info: facts.info, pausing: make(chan struct{})}
	var state *wasip1.State
	if j.cfg.MaxMemory == 0 {
		j.cfg.MaxMemory = DefaultMaxMemory()
	}
	limits := facts.limits(j.cfg.MaxMemory)
	if limits.MinMemory > j.cfg.MaxMemory {
		return nil, fmt.Errorf("the module needs %s of memory to start, more than the %s it may have", snapshot.FormatBytes(int64(limits.MinMemory)), snapshot.FormatBytes(int64(j.cfg.MaxMemory)))
	}
	if snap != nil {
		if snap.ModuleSHA256 != j.hash {
			return nil, fmt.Errorf("the snapshot belongs to another module (sha256 %x, this one is %x)", snap.ModuleSHA256[:8], j.hash[:8])
		}
		// A job only ever calls _start: a snapshot paused in another
		// export was not taken by a job.
		if snap.Instance.Export != "_start" {
			return nil, fmt.Errorf("snapshot: the program is paused in %q, not in _start", snap.Instance.Export)
		}
		if size := snap.MemorySize(); size > j.cfg.MaxMemory {
			return nil, fmt.Errorf("snapshot: a memory of %s, more than the %s the program may have", snapshot.FormatBytes(int64(size)), snapshot.FormatBytes(int64(j.cfg.MaxMemory)))
		}
		state = &wasip1.State{}
		if err := state.UnmarshalBinary(snap.WASI); err != nil {
			return nil, fmt.Errorf("snapshot: WASI state: %w", err)
		}
		if err := attachContents(state, snap.Files); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		// Before the WASI starts reading it.
		if err := seekInput(cfg.Stdin, state.StdinOffset); err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
	}
	var compiled wazero.CompiledModule
	if cfg.Prepared != nil {
		if j.rt, compiled, err = cfg.Prepared.take(j.hash); err != nil {
			return nil, err
		}
	} else {
		cache := cfg.Cache
		if cache == nil {
			if cache, err = DefaultCache(); err != nil {
				return nil, err
			}
		}
		j.rt = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	}
	// The error returns set j to nil: close the job through its own name.
	job := j
	defer func() {
		if err != nil {
			job.Close(ctx)
		}
	}()
	j.wasi, err = wasip1.New(wasip1.Config{
		Args: cfg.Args, Env: cfg.Env, Mounts: cfg.Mounts, Listeners: cfg.Listeners,
		Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
		Clock: cfg.Clock, Gate: j.gate(), FileCheck: cfg.FileCheck, AllowChangedFiles: cfg.AllowChangedFiles,
	}, state)
	if err != nil {
		return nil, err
	}
	if _, err := j.wasi.Instantiate(ctx, j.rt); err != nil {
		return nil, err
	}
	if compiled == nil {
		if compiled, err = compile(ctx, j.rt, cfg.Module); err != nil {
			return nil, err
		}
	}
	// The memory allocator is the instance's: later calls need no context
	// for it.
	withMemory := experimental.WithMemoryAllocator(ctx, memoryAllocator{limit: j.cfg.MaxMemory})
	if j.mod, err = j.rt.InstantiateModule(withMemory, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions()); err != nil {
		return nil, err
	}
	if j.mod.ExportedFunction("_start") == nil {
		return nil, errors.New("the module exports no _start function: it is not a WASI command")
	}
	if j.u, err = unwind.New(j.mod, j.info); err != nil {
		return nil, err
	}
	if snap != nil {
		if err := j.u.Restore(ctx, snap.Instance, snap.Memory()); err != nil {
			if errors.Is(err, snapshot.ErrFormat) {
				return nil, err
			}
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		j.seq = snap.Meta.Seq
		j.resume = true
		if cfg.TruncateOutput {
			if err := truncateOutput(cfg.Stdout, snap.Meta.StdoutOffset); err != nil {
				return nil, fmt.Errorf("stdout: %w", err)
			}
			if err := truncateOutput(cfg.Stderr, snap.Meta.StderrOffset); err != nil {
				return nil, fmt.Errorf("stderr: %w", err)
			}
		}
	}
	return j, nil
}

// compile compiles a module. wazero v1.12's validator panics on some
// invalid modules (a call to a function whose type index is out of range),
// and the module is outside input: that is an error here, not a crash.
// (wasm.Validate refuses them, but costs a full decode: migrate validates
// the modules it receives once, and exec those it reads.)
func compile(ctx context.Context, rt wazero.Runtime, module []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("invalid module (wazero: %v)", r)
		}
	}()
	return rt.CompileModule(ctx, module)
}

// Run runs the program until it exits, returning its exit code, or until
// a snapshot request stops it (ErrStopped). Run must be called once.
func (j *Job) Run(ctx context.Context) (exitCode uint32, err error) {
	gcHold()
	defer gcRelease()
	var paused bool
	if j.resume {
		j.rewinding = true
		_, paused, err = j.u.Resume(ctx)
	} else {
		_, paused, err = j.u.Call(ctx, "_start")
	}
	for err == nil && paused {
		// The collector is off while the guest runs: a pause is the time
		// to collect, when the heap has grown (a full collection every
		// time would cost a pause milliseconds; Recycle keeps the biggest
		// garbage, memory copies, from being made).
		collectIfGrown()
		stop := j.servePause(ctx)
		if stop {
			j.finish(ErrStopped)
			return 0, ErrStopped
		}
		j.rewinding = true
		_, paused, err = j.u.Resume(ctx)
	}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit):
		j.finish(ErrNotRunning)
		return exit.ExitCode(), nil
	case err != nil:
		j.finish(ErrNotRunning)
		return 0, oneLine(err)
	}
	j.finish(ErrNotRunning)
	return 0, nil
}

// oneLine makes a trap's error one line: wazero's message is followed by
// the wasm stack trace, a frame a line (and with DWARF, a source line
// under each); the line keeps the innermost frames' names, demangled.
func oneLine(err error) error {
	msg, trace, ok := strings.Cut(err.Error(), "\nwasm stack trace:\n")
	if !ok {
		if first, _, multi := strings.Cut(err.Error(), "\n"); multi {
			return errors.New(first)
		}
		return err
	}
	var frames []string
	for _, line := range strings.Split(trace, "\n") {
		if source, ok := strings.CutPrefix(line, "\t\t"); ok {
			// wazero's source line for the frame above, from DWARF:
			// "\t\t0xADDR: /path/file.c:LINE:COLUMN". The innermost
			// frame's says where the trap is.
			if len(frames) == 1 && !strings.Contains(frames[0], " at ") {
				if at := sourceLine(source); at != "" {
					frames[0] += " at " + at
				}
			}
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(line, "\t"), "."), "(")
		name = debuginfo.Demangle(name)
		if len(frames) == maxTraceFrames {
			frames = append(frames, "...")
			break
		}
		frames = append(frames, name)
	}
	if len(frames) == 0 {
		return errors.New(msg)
	}
	return fmt.Errorf("%s (in %s)", msg, strings.Join(frames, " < "))
}

// sourceLine makes "0xADDR: /path/file.c:LINE:COLUMN" (a source line of
// wazero's stack trace) "file.c:LINE", or "" when it is not one.
func sourceLine(s string) string {
	_, s, _ = strings.Cut(s, ": ")
	file, pos, ok := strings.Cut(path.Base(s), ":")
	if !ok || file == "" {
		return ""
	}
	line, _, _ := strings.Cut(pos, ":")
	if _, err := strconv.ParseUint(line, 10, 32); err != nil {
		return ""
	}
	return file + ":" + line
}

// maxTraceFrames is how many frames of a trap's stack trace its one-line
// error names.
const maxTraceFrames = 4

// finish fails the requests still pending when the program ends.
func (j *Job) finish(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.done = true
	for _, r := range j.requests {
		r.reply <- reply{err: err}
	}
	j.requests = nil
}

// SnapshotOptions say why a snapshot is taken and what happens after it.
type SnapshotOptions struct {
	// Reason is recorded in the snapshot's metadata.
	Reason string
	// Stop ends the job after the snapshot: Run returns ErrStopped. When
	// the snapshot cannot be taken, the job goes on and Snapshot says why:
	// a job stopped without one would have lost its work.
	Stop bool
	// StopAlways ends the job even when the snapshot fails, for a caller
	// that gives up on the job and keeps a snapshot only if there is one.
	StopAlways bool
}

// Snapshot pauses the program at its next safepoint or WASI call (a
// blocked read or sleep gives up at once and is re-issued later), captures
// it and lets it continue. It may be called from any goroutine while Run
// runs; concurrent calls share one pause.
func (j *Job) Snapshot(ctx context.Context, opts SnapshotOptions) (*snapshot.Snapshot, error) {
	r := newRequest(opts)
	j.mu.Lock()
	if j.done {
		j.mu.Unlock()
		return nil, ErrNotRunning
	}
	if err := j.addRequest(r, true); err != nil {
		j.mu.Unlock()
		return nil, err
	}
	j.mu.Unlock()
	// A module of format 4 or older may overwrite a request made just as
	// a rewind ends (it set the request to let the rewind in): ask again
	// until it is served.
	again := time.NewTicker(100 * time.Millisecond)
	defer again.Stop()
	for {
		select {
		case rep := <-r.reply:
			return rep.snap, rep.err
		case <-ctx.Done():
			// A caller that ends ctx once the job stops (a migration's
			// mover, when Run returns) must still get the snapshot that
			// stopped it: of two ready cases select picks at random.
			select {
			case rep := <-r.reply:
				return rep.snap, rep.err
			default:
			}
			return nil, ctx.Err()
		case <-again.C:
			if j.u.Declined() {
				j.decline(unwind.ErrNoRoom)
				continue
			}
			j.mu.Lock()
			if j.requested.Load() && !j.done {
				j.u.RequestPause()
			}
			j.mu.Unlock()
		}
	}
}

func newRequest(opts SnapshotOptions) *request {
	return &request{at: time.Now(), reason: opts.Reason, stop: opts.Stop || opts.StopAlways, stopAlways: opts.StopAlways, reply: make(chan reply, 1)}
}

// addRequest registers r, with j.mu held. The first request of a pause
// marks the gate (WASI calls pause, blocked ones give up) and, with
// safepoints, asks the module to pause at its next one.
func (j *Job) addRequest(r *request, safepoints bool) error {
	j.requests = append(j.requests, r)
	if j.requested.Load() {
		return nil
	}
	j.requested.Store(true)
	close(j.pausing)
	if safepoints {
		return j.u.RequestPause()
	}
	return nil
}

// servePause captures the paused program for the pending requests and
// reports whether one of them stops the job.
func (j *Job) servePause(ctx context.Context) (stop bool) {
	j.mu.Lock()
	requests := j.requests
	j.requests = nil
	j.requested.Store(false)
	j.pausing = make(chan struct{})
	j.u.CancelPause()
	j.mu.Unlock()

	snap, err := j.capture(ctx, requests)
	for _, r := range requests {
		r.reply <- reply{snap: snap, err: err}
		stop = stop || r.stop && (err == nil || r.stopAlways)
	}
	return stop
}

// captureFault returns nil but in tests, which make a capture fail with it:
// a capture fails on an I/O error or a reference from another module,
// which no test guest can bring about.
var captureFault = func() error { return nil }

func (j *Job) capture(ctx context.Context, requests []*request) (*snapshot.Snapshot, error) {
	if err := captureFault(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	buf := j.spare
	j.spare = nil
	j.mu.Unlock()
	inst, err := j.u.CaptureInto(ctx, buf)
	if err != nil {
		return nil, err
	}
	ws, err := j.wasi.Save(wasip1.SaveOptions{FileContents: j.cfg.SnapshotFiles, HashInputs: j.cfg.HashInputs})
	if err != nil {
		return nil, err
	}
	files := detachContents(ws)
	wb, err := ws.MarshalBinary()
	if err != nil {
		return nil, err
	}
	j.seq++
	meta := snapshot.Meta{Created: time.Now().UTC(), Module: j.cfg.ModulePath, Seq: j.seq}
	if len(requests) > 0 {
		meta.Reason = requests[0].reason
		meta.Paused = time.Since(requests[0].at)
	}
	meta.Host, _ = os.Hostname()
	for _, m := range j.cfg.Mounts {
		spec := m.HostDir + ":" + m.GuestPath
		if abs, err := filepath.Abs(m.HostDir); err == nil {
			spec = abs + ":" + m.GuestPath
		}
		if m.ReadOnly {
			spec += ":ro"
		}
		meta.Mounts = append(meta.Mounts, spec)
	}
	meta.StdoutOffset, meta.StderrOffset = fileOffset(j.cfg.Stdout), fileOffset(j.cfg.Stderr)
	return &snapshot.Snapshot{ModuleSHA256: j.hash, Meta: meta, Instance: inst, WASI: wb, Files: files}, nil
}

// detachContents moves the saved contents of files out of a WASI state,
// into the snapshot's own sections: a reader streams those to disk rather
// than holding them in memory with the state.
func detachContents(ws *wasip1.State) []snapshot.File {
	var files []snapshot.File
	for i := range ws.FDs {
		fd := &ws.FDs[i]
		// Empty contents stay in the state: there is nothing to stream.
		if c := fd.Content; c != nil && len(c.Data) > 0 {
			files = append(files, snapshot.File{FD: fd.FD, Data: c.Data})
			c.Data = nil
		}
	}
	return files
}

// attachContents gives each descriptor whose saved contents are elsewhere
// the file section that holds them: one each, and none left over.
func attachContents(ws *wasip1.State, files []snapshot.File) error {
	byFD := make(map[uint32]*snapshot.File, len(files))
	for i := range files {
		byFD[files[i].FD] = &files[i]
	}
	for i := range ws.FDs {
		fd := &ws.FDs[i]
		c := fd.Content
		if c == nil || c.Data != nil || c.Size == 0 {
			continue
		}
		f, ok := byFD[fd.FD]
		if !ok {
			return fmt.Errorf("the saved contents of fd %d are missing", fd.FD)
		}
		if f.Size() != c.Size {
			return fmt.Errorf("the saved contents of fd %d are %d bytes, its state says %d", fd.FD, f.Size(), c.Size)
		}
		c.Open = f.Open
		delete(byFD, fd.FD)
	}
	for fd := range byFD {
		return fmt.Errorf("saved contents for fd %d, which has none", fd)
	}
	return nil
}

// Enter implements wasip1.Gate: every WASI call asks first.
func (j *Job) Enter(ctx context.Context, mod api.Module) bool {
	if j.rewinding {
		// Either this is the call the program paused in, reached again by
		// the rewind, or the pause was at a safepoint and the rewind is over.
		j.rewinding = false
		if r, err := j.u.Rewinding(ctx); err != nil {
			panic(err)
		} else if r {
			if err := j.u.StopRewind(ctx); err != nil {
				panic(err)
			}
			return true
		}
	}
	if j.calls++; j.calls%1024 == 0 {
		collectIfGrown()
	}
	if j.callCountdown > 0 {
		j.callCountdown--
		if j.callCountdown == 0 && j.startUnwind(ctx) {
			return false
		}
	}
	if j.requested.Load() && j.startUnwind(ctx) {
		return false
	}
	return true
}

// Pausing implements wasip1.Gate.
func (j *Job) Pausing() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pausing
}

// Interrupt implements wasip1.Gate.
func (j *Job) Interrupt(ctx context.Context, mod api.Module) bool { return j.startUnwind(ctx) }

// startUnwind starts unwinding from a WASI call. When memory has no room
// for the unwind buffer, the pending requests fail and the call goes on;
// when the program is on its way to a trap, the call goes on and the
// requests wait (the program is about to end).
func (j *Job) startUnwind(ctx context.Context) bool {
	err := j.u.StartUnwind(ctx)
	if errors.Is(err, unwind.ErrNoRoom) {
		j.decline(err)
		return false
	}
	if errors.Is(err, unwind.ErrNotNow) {
		return false
	}
	if err != nil {
		panic(fmt.Errorf("starting to unwind: %w", err))
	}
	return true
}

// decline fails the pending requests: the program cannot pause now.
func (j *Job) decline(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.requests {
		r.reply <- reply{err: err}
	}
	j.requests = nil
	if j.requested.Load() {
		j.requested.Store(false)
		j.pausing = make(chan struct{})
	}
	j.u.CancelPause()
}

// Close releases the job's runtime, files and module.
func (j *Job) Close(ctx context.Context) error {
	var errs []error
	if j.rt != nil {
		errs = append(errs, j.rt.Close(ctx))
	}
	if j.wasi != nil {
		errs = append(errs, j.wasi.Close())
	}
	return errors.Join(errs...)
}

// Info returns the module's wasmsr section.
func (j *Job) Info() *abi.Info { return j.info }

// ModuleSHA256 returns the hash of the job's module.
func (j *Job) ModuleSHA256() [32]byte { return j.hash }

// fileOffset is how far output has gone into w when it is a regular file,
// -1 otherwise.
func fileOffset(w io.Writer) int64 {
	f, ok := w.(*os.File)
	if !ok {
		return -1
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	return off
}

// seekInput moves a resumed program's stdin to where the snapshot left it,
// when it is a regular file (the same input, given again).
func seekInput(r io.Reader, offset int64) error {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	_, err := f.Seek(offset, io.SeekStart)
	return err
}

// truncateOutput makes a resumed program's output file end where the
// output stood at the snapshot, when it is the same kind of file (a
// regular file at least that long): what the program wrote after the
// snapshot will be written again. Output to a terminal or a pipe is left
// alone.
func truncateOutput(w io.Writer, offset int64) error {
	f, ok := w.(*os.File)
	if !ok || offset < 0 {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < offset {
		return nil
	}
	if err := f.Truncate(offset); err != nil {
		return err
	}
	_, err = f.Seek(offset, io.SeekStart)
	return err
}

// Recycle gives the job back a snapshot it took, once the caller is done
// with it (written to disk, sent away): the next snapshot copies memory
// into the same buffer, which is faster than into fresh memory and makes
// no garbage. snap must not be used afterwards.
func (j *Job) Recycle(snap *snapshot.Snapshot) {
	if snap == nil || snap.Instance == nil {
		return
	}
	j.mu.Lock()
	if cap(snap.Instance.Memory) > cap(j.spare) {
		j.spare = snap.Instance.Memory[:0]
	}
	j.mu.Unlock()
	snap.Instance.Memory = nil
}
