package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/supervise"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/wasm"
)

// exitError makes run return the guest's exit code without a message.
type exitError int

// exitPreempted is the exit status of exec and resume when a signal given
// to --snapshot-on stopped the job after its snapshot: EX_TEMPFAIL of
// sysexits.h, "try again later", which a scheduler can tell from success,
// from failure (1) and from a death by SIGTERM (143) or SIGKILL (137),
// after which the store holds no snapshot of that moment (RATIONALE.md).
const exitPreempted = 75

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// snapshotFlags are shared by exec and resume.
func snapshotFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "mount", Usage: "make host directory HOST visible to the program at GUEST (`HOST:GUEST[:ro]`); repeatable"},
		&cli.StringSliceFlag{Name: "listen", Usage: "give the program a TCP socket listening on `HOST:PORT` (port 0: one the system picks), " +
			"as a preopened descriptor after the mounts; repeatable. resume listens again where the snapshot's program listened, or, " +
			"with --listen, on these addresses (one for each of its listeners, in descriptor order)"},
		&cli.DurationFlag{Name: "snapshot-every", Usage: "take a snapshot at this interval (e.g. 10s; 0: never)"},
		&cli.StringFlag{Name: "snapshot-on", Usage: "take a snapshot on these events: SIGUSR1, SIGUSR2, SIGHUP (and continue), SIGTERM, SIGINT (and stop, exit status 75), " +
			"first-stdin (and continue: when the program first reads stdin in this process, before the read; with --stop-after-snapshot, resume makes the read. " +
			"Once per process: a resume does it again only if asked again, at its first read, which may be the one it resumes into)"},
		&cli.StringFlag{Name: "snapshot-dir", Usage: "where snapshots go (default: MODULE.snapshots for exec, the snapshot's directory for resume)"},
		&cli.IntFlag{Name: "keep", Value: 3, Usage: "keep only the newest `N` snapshots (0: all)"},
		&cli.StringFlag{Name: "timeline", Usage: "write the snapshots into a new timeline `NAME` of the store (resume: fork the snapshot's job, leaving its timeline as it is)"},
		&cli.BoolFlag{Name: "stop-after-snapshot", Usage: "stop the program after its first snapshot"},
		&cli.BoolFlag{Name: "snapshot-files", Usage: "embed the contents of files the program has open for writing, to resume where the disk is not shared"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not report snapshots on stderr"},
		&cli.BoolFlag{Name: "hash-inputs", Usage: "record the SHA-256 of the files the program has open only for reading in every snapshot, so that a resume on another machine can tell an unchanged copy from a changed file (reads them at every snapshot)"},
		&cli.StringFlag{Name: "snapshot-key", Usage: "sign every snapshot with the first key in `FILE` (wasmsr keygen makes one); resume refuses a snapshot not signed with one of its keys"},
		encryptKeyFlag("encrypt every chunk and manifest written with the first key in `FILE` (wasmsr keygen makes one), and read only snapshots encrypted with one of its keys"),
		&cli.BoolFlag{Name: "no-store-compiled", Usage: "neither store the module's compiled code in the snapshot store nor use the store's (by default exec and resume store it, and resume uses it instead of compiling when it is signed with --snapshot-key, encrypted with --encrypt-key, or --trust-store-compiled)"},
		&cli.BoolFlag{Name: "trust-store-compiled", Usage: "use compiled code from the snapshot store that is neither signed nor encrypted: it runs natively on this host, outside wazero's sandbox, so only for a store no one else can write"},
		&cli.StringFlag{Name: "max-memory", Usage: "the most memory the program may have (`SIZE`, e.g. 2GiB; default: half of this machine's memory, at most 4GiB); its memory.grow fails beyond, and a snapshot holding more is refused"},
	}
}

// readOptions are the checks of snapshots the flags ask for.
func readOptions(c *cli.Context) (hostrt.ReadOptions, error) {
	var opts hostrt.ReadOptions
	if f := c.String("snapshot-key"); f != "" {
		keys, err := snapshot.ReadKeys(f)
		if err != nil {
			return opts, fmt.Errorf("--snapshot-key: %w", err)
		}
		opts.Keys = keys
	}
	if f := c.String("encrypt-key"); f != "" {
		enc, err := snapshot.ReadEncryptionKeys(f)
		if err != nil {
			return opts, fmt.Errorf("--encrypt-key: %w", err)
		}
		opts.Encryption = enc
	}
	if s := c.String("max-memory"); s != "" {
		n, err := parseSize(s)
		if err != nil {
			return opts, fmt.Errorf("--max-memory: %w", err)
		}
		opts.MaxMemory = uint64(n)
	}
	return opts, nil
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run an instrumented WASI program, taking snapshots it can be resumed from",
		ArgsUsage: "MODULE.wasm [-- ARGS...]",
		Flags: append(append(snapshotFlags(), migrateFlags()...),
			&cli.StringSliceFlag{Name: "env", Usage: "set an environment variable for the program (`NAME=VALUE`); repeatable"},
			&cli.BoolFlag{Name: "instrument", Usage: "instrument an uninstrumented module on the fly (default options)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return errors.New("exec: expected MODULE.wasm")
			}
			path := c.Args().First()
			module, err := readFile(path)
			if err != nil {
				return err
			}
			if module, err = ensureInstrumented(path, module, c.Bool("instrument")); err != nil {
				return err
			}
			for _, e := range c.StringSlice("env") {
				if name, _, ok := strings.Cut(e, "="); !ok || name == "" {
					return fmt.Errorf("exec: --env %q: want NAME=VALUE", e)
				}
			}
			dir := c.String("snapshot-dir")
			if dir == "" {
				dir = strings.TrimSuffix(path, ".wasm") + ".snapshots"
			}
			args := append([]string{path}, c.Args().Tail()...)
			if len(args) > 1 && args[1] == "--" {
				args = append(args[:1], args[2:]...)
			}
			abs, _ := filepath.Abs(path)
			opts, err := readOptions(c)
			if err != nil {
				return err
			}
			return runJob(c, jobSpec{module: module, modulePath: abs, args: args, env: c.StringSlice("env"), dir: dir, read: opts})
		},
	}
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue a program from a snapshot (a file, or the newest in a directory)",
		ArgsUsage: "SNAPSHOT",
		Flags: append(append(snapshotFlags(), migrateFlags()...),
			&cli.StringFlag{Name: "module", Usage: "the instrumented module (default: the copy beside the snapshot)"},
			&cli.BoolFlag{Name: "truncate-output", Usage: "when stdout/stderr are regular files (appended to with >>), cut them back to where the snapshot left them, so output written after the snapshot is not repeated"},
			&cli.BoolFlag{Name: "reuse-mounts", Usage: "mount the directories the snapshot recorded (wasmsr inspect shows them) instead of --mount"},
			&cli.BoolFlag{Name: "allow-changed-files", Usage: "resume even if files the program had open changed since the snapshot (a file that became a FIFO, device or socket is still refused)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("resume: expected one SNAPSHOT argument, got %d", c.NArg())
			}
			if c.Bool("reuse-mounts") && len(c.StringSlice("mount")) > 0 {
				return errors.New("resume: --reuse-mounts and --mount do not go together")
			}
			opts, err := readOptions(c)
			if err != nil {
				return err
			}
			path := c.Args().First()
			loaded, err := loadSnapshot(path, hostrt.LoadOptions{ReadOptions: opts, Module: c.String("module")})
			if err != nil {
				return err
			}
			defer loaded.Close()
			dir := c.String("snapshot-dir")
			if dir == "" {
				dir = hostrt.StoreLocation(path)
			}
			return runJob(c, jobSpec{module: loaded.Module, modulePath: loaded.ModulePath, dir: dir, restore: loaded.Snapshot, loaded: loaded, from: path, read: opts})
		},
	}
}

func encryptKeyFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "encrypt-key", Usage: usage}
}

// loadSnapshot is hostrt.Load, its errors naming the flag that may help.
func loadSnapshot(path string, opts hostrt.LoadOptions) (*hostrt.Loaded, error) {
	loaded, err := hostrt.Load(path, opts)
	switch {
	case errors.Is(err, hostrt.ErrModuleNotFound):
		return nil, fmt.Errorf("%w; pass --module", err)
	case errors.Is(err, snapshot.ErrEncrypted):
		return nil, fmt.Errorf("%w: pass --encrypt-key", err)
	}
	return loaded, err
}

// sameFiles reports whether a resume sees the files the snapshot's job
// had: on the machine that took it, the same host directories at the same
// guest paths. Size, modification time and inode then tell a changed file;
// elsewhere the files are copies, and only sizes (and hashes, with
// --hash-inputs) can.
func sameFiles(meta snapshot.Meta, mounts []wasip1.Mount) bool {
	if host, _ := os.Hostname(); meta.Host != host {
		return false
	}
	recorded := map[string]string{}
	for _, r := range meta.Mounts {
		if parts := strings.Split(r, ":"); len(parts) >= 2 {
			recorded[path.Clean(parts[1])] = parts[0]
		}
	}
	for _, m := range mounts {
		abs, err := filepath.Abs(m.HostDir)
		if err != nil || recorded[path.Clean(m.GuestPath)] != abs {
			return false
		}
	}
	return true
}

// checkResumeMounts checks that every guest path the program uses is
// mounted, naming the flag that mounts it when one is not: a resume
// mounts only what its command line gives.
func checkResumeMounts(snap *snapshot.Snapshot, mounts []wasip1.Mount) error {
	var st wasip1.State
	if err := st.UnmarshalBinary(snap.WASI); err != nil {
		return fmt.Errorf("snapshot: WASI state: %w", err)
	}
	for _, p := range st.Preopens {
		found := false
		for _, m := range mounts {
			found = found || path.Clean(m.GuestPath) == path.Clean(p.GuestPath)
		}
		if found {
			continue
		}
		recorded := ""
		for _, r := range snap.Meta.Mounts {
			if parts := strings.Split(r, ":"); len(parts) >= 2 && path.Clean(parts[1]) == path.Clean(p.GuestPath) {
				recorded = fmt.Sprintf(" (when the snapshot was taken: %q; --reuse-mounts mounts it again)", r)
			}
		}
		return fmt.Errorf("the program uses guest path %q: pass --mount HOST:%s%s", p.GuestPath, p.GuestPath, recorded)
	}
	return nil
}

// ensureInstrumented returns an instrumented module, instrumenting it when
// asked to.
func ensureInstrumented(path string, module []byte, doIt bool) ([]byte, error) {
	d := wasm.Decoder{KeepSource: true}
	m, err := d.Decode(module)
	if err == nil {
		err = wasm.Validate(m)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := abi.ReadInfo(m); err == nil {
		return module, nil
	} else if !errors.Is(err, abi.ErrNotInstrumented) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !doIt {
		return nil, fmt.Errorf("%s: the module is not instrumented: run `wasmsr instrument %s` first, or pass --instrument", path, path)
	}
	// The module is not shipped: it goes only into this job's snapshots,
	// where inspect says where each frame stopped.
	out, _, err := instrument.Instrument(module, instrument.Options{SiteDetails: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

type jobSpec struct {
	module     []byte
	modulePath string
	args       []string
	env        []string
	dir        string
	restore    *snapshot.Snapshot
	loaded     *hostrt.Loaded // restore's file
	from       string
	// read are the keys that sign snapshots and the memory limit.
	read hostrt.ReadOptions
}

func parseMounts(specs []string) ([]wasip1.Mount, error) {
	var mounts []wasip1.Mount
	for _, s := range specs {
		parts := strings.Split(s, ":")
		m := wasip1.Mount{HostDir: parts[0]}
		switch {
		case len(parts) == 2:
			m.GuestPath = parts[1]
		case len(parts) == 3 && parts[2] == "ro":
			m.GuestPath, m.ReadOnly = parts[1], true
		default:
			return nil, fmt.Errorf("--mount %q: want HOST:GUEST or HOST:GUEST:ro", s)
		}
		if m.HostDir == "" || m.GuestPath == "" {
			return nil, fmt.Errorf("--mount %q: want HOST:GUEST or HOST:GUEST:ro", s)
		}
		if fi, err := os.Stat(m.HostDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--mount %q: %s is not a directory", s, m.HostDir)
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

var signalsByName = map[string]struct {
	sig  os.Signal
	stop bool
}{
	"SIGUSR1": {syscall.SIGUSR1, false},
	"SIGUSR2": {syscall.SIGUSR2, false},
	"SIGHUP":  {syscall.SIGHUP, false},
	"SIGTERM": {syscall.SIGTERM, true},
	"SIGINT":  {syscall.SIGINT, true},
}

// signalName is the name --snapshot-on gives the signal whose trigger
// has this reason (its description, which snapshots record).
func signalName(reason string) string {
	for name, s := range signalsByName {
		if s.sig.String() == reason {
			return name
		}
	}
	return reason
}

// snapshotPolicy is the snapshot policy the flags ask for, and the signals
// that trigger a snapshot, with whether each stops the job.
func snapshotPolicy(c *cli.Context) (supervise.Policy, map[os.Signal]bool, error) {
	p := supervise.Policy{Every: c.Duration("snapshot-every"), StopAfter: c.Bool("stop-after-snapshot")}
	signals := map[os.Signal]bool{}
	if on := c.String("snapshot-on"); on != "" {
		for _, name := range strings.Split(on, ",") {
			name = strings.TrimSpace(name)
			if strings.EqualFold(name, supervise.FirstStdinReason) {
				p.FirstStdin = true
				continue
			}
			s, ok := signalsByName[strings.ToUpper(name)]
			if !ok {
				return p, nil, fmt.Errorf("--snapshot-on %q: unknown event (want SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT or %s)", name, supervise.FirstStdinReason)
			}
			signals[s.sig] = s.stop
		}
	}
	return p, signals, nil
}

// forwardSignals turns the signals into snapshot triggers until the
// returned function is called.
func forwardSignals(signals map[os.Signal]bool, triggers chan<- supervise.Trigger) (stop func()) {
	sigs := make(chan os.Signal, 1)
	for s := range signals {
		signal.Notify(sigs, s)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				select {
				case triggers <- supervise.Trigger{Reason: s.String(), Stop: signals[s]}:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// runJob runs a job under the snapshot policy the flags ask for.
func runJob(c *cli.Context, spec jobSpec) error {
	if len(c.StringSlice("migrate-to")) > 0 {
		if len(c.StringSlice("listen")) > 0 {
			return errors.New("--listen does not go with --migrate-to: a listener stays on its host")
		}
		return runMigrating(c, spec)
	}
	mountSpecs := c.StringSlice("mount")
	if c.Bool("reuse-mounts") {
		mountSpecs = spec.restore.Meta.Mounts
	}
	mounts, err := parseMounts(mountSpecs)
	if err != nil {
		return err
	}
	if spec.restore != nil {
		if err := checkResumeMounts(spec.restore, mounts); err != nil {
			return fmt.Errorf("%s: %w", spec.from, err)
		}
	}
	policy, signals, err := snapshotPolicy(c)
	if err != nil {
		return err
	}
	listeners, err := openListeners(c, spec.restore, len(mounts))
	if err != nil {
		return err
	}
	defer func() {
		// Only when the job did not start; closing twice does no harm.
		for _, l := range listeners {
			l.Close()
		}
	}()
	triggers := make(chan supervise.Trigger, 1)
	if len(signals) > 0 {
		policy.Triggers = triggers
	}
	// The snapshot directory, with a copy of the module, is made only for
	// a job that may take snapshots.
	modulePath := spec.modulePath
	var store *hostrt.Store
	if c.IsSet("timeline") && !policy.TakesSnapshots() {
		return errors.New("--timeline names where snapshots go: add --snapshot-every or --snapshot-on")
	}
	if policy.TakesSnapshots() {
		var err error
		if store, err = hostrt.OpenStore(spec.dir, c.Int("keep")); err != nil {
			return err
		}
		if name := c.String("timeline"); name != "" {
			if err := store.Fork(name, spec.from); err != nil {
				return err
			}
			spec.dir = store.Location()
		}
		store.Keys, store.Encryption = spec.read.Keys, spec.read.Encryption
		store.ContinueFrom(spec.loaded)
		if modulePath, err = store.SaveModule(spec.module); err != nil {
			return err
		}
		policy.Sink = store
	}
	if !c.Bool("quiet") {
		policy.OnSnapshot = func(path string, snap *snapshot.Snapshot) { reportSnapshot(c.App.ErrWriter, path, snap, store.Stats) }
	}
	policy.OnError = func(err error) { fmt.Fprintf(c.App.ErrWriter, "wasmsr: snapshot failed: %v\n", err) }
	cfg := hostrt.Config{
		Module: spec.module, ModulePath: modulePath, Args: spec.args, Env: spec.env, Mounts: mounts, Listeners: listeners,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, SnapshotFiles: c.Bool("snapshot-files"),
		TruncateOutput: c.Bool("truncate-output"), MaxMemory: spec.read.MaxMemory,
		HashInputs: c.Bool("hash-inputs"), AllowChangedFiles: c.Bool("allow-changed-files"),
	}
	if spec.restore != nil && !sameFiles(spec.restore.Meta, mounts) {
		cfg.FileCheck = wasip1.CheckOtherHost
	}
	if spec.restore != nil {
		fetchCompiled(c, spec)
	}
	ctx := context.Background()
	sup, err := supervise.Start(ctx, cfg, spec.restore, policy)
	if errors.Is(err, wasip1.ErrFileChanged) {
		return fmt.Errorf("%s: %w; pass --allow-changed-files to resume anyway", jobName(spec), err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", jobName(spec), err)
	}
	defer sup.Close(ctx)
	if store != nil {
		defer saveCompiled(c, spec)()
	}
	if len(signals) > 0 {
		defer forwardSignals(signals, triggers)()
	}
	res, err := sup.Run(ctx)
	switch {
	case res.Stopped && err != nil:
		// The snapshot the job stopped for may be lost.
		return err
	case res.Stopped && res.StoppedBy.Stop:
		if !c.Bool("quiet") {
			fmt.Fprintf(c.App.ErrWriter, "wasmsr: stopped by %s after a snapshot, exit status %d; continue with: wasmsr resume %s\n",
				signalName(res.StoppedBy.Reason), exitPreempted, spec.dir)
		}
		return exitError(exitPreempted)
	case res.Stopped:
		if !c.Bool("quiet") {
			fmt.Fprintf(c.App.ErrWriter, "wasmsr: stopped; continue with: wasmsr resume %s\n", spec.dir)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", jobName(spec), err)
	case res.Exit != 0:
		return exitError(res.Exit)
	}
	return nil
}

// jobName names a job in errors: the snapshot it was resumed from as the
// command line gave it, or its module.
func jobName(spec jobSpec) string {
	if spec.from != "" {
		return spec.from
	}
	return spec.args[0]
}

func reportSnapshot(w io.Writer, path string, snap *snapshot.Snapshot, chunks snapshot.ChunkStats) {
	fmt.Fprintf(w, "wasmsr: snapshot %d -> %s (wrote %s in %d of %d chunks, memory %s, paused %s, %s)\n", snap.Meta.Seq, path,
		snapshot.FormatBytes(chunks.WrittenBytes), chunks.Written, chunks.Chunks, snapshot.FormatBytes(int64(snap.MemorySize())),
		snap.Meta.Paused.Round(10*time.Microsecond), snap.Meta.Reason)
}

// fetchCompiled fills the compilation cache with the module's compiled
// code from the store the job is resumed from, when the cache lacks it and
// the store has it signed, encrypted or trusted, so that the job does not
// compile. Not finding it costs a compile, and so does an error, which is
// reported.
func fetchCompiled(c *cli.Context, spec jobSpec) {
	trust := c.Bool("trust-store-compiled")
	if c.Bool("no-store-compiled") || spec.read.Keys == nil && spec.read.Encryption == nil && !trust {
		return
	}
	err := func() error {
		cacheDir, err := hostrt.DefaultCacheDir()
		if err != nil {
			return err
		}
		from, err := hostrt.OpenStore(hostrt.StoreLocation(spec.from), 0)
		if err != nil {
			return err
		}
		from.Keys, from.Encryption = spec.read.Keys, spec.read.Encryption
		_, err = from.FetchCompiled(spec.module, cacheDir, trust)
		return err
	}()
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "wasmsr: compiled code from the store not used (compiling): %v\n", err)
	}
}

// saveCompiled stores the module's compiled code, which the job's start
// put into the compilation cache, in the job's snapshot store, unless it
// is there, while the job runs. The returned function waits for it; an
// error is reported, and changes nothing for the job.
func saveCompiled(c *cli.Context, spec jobSpec) (wait func()) {
	if c.Bool("no-store-compiled") {
		return func() {}
	}
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			cacheDir, err := hostrt.DefaultCacheDir()
			if err != nil {
				return err
			}
			// A store of its own: the job's writes snapshots meanwhile.
			to, err := hostrt.OpenStore(spec.dir, 0)
			if err != nil {
				return err
			}
			to.Keys, to.Encryption = spec.read.Keys, spec.read.Encryption
			_, err = to.SaveCompiled(spec.module, cacheDir)
			return err
		}()
	}()
	return func() {
		if err := <-done; err != nil {
			fmt.Fprintf(c.App.ErrWriter, "wasmsr: compiled code not stored: %v\n", err)
		}
	}
}
