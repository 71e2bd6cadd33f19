package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/migrate"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "receive jobs from other wasmsr hosts, run them and send them on (live migration)",
		Description: "Jobs arrive with their migration policy (`wasmsr exec --migrate-to`) and move on by it;\n" +
			"a job can arrive only if every guest path it uses is mounted here. Every request needs\n" +
			"the bearer token of --token-file.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:7433", Usage: "listen on `ADDR` (host:port; port 0 picks one)"},
			&cli.StringFlag{Name: "name", Usage: "this host's `NAME` in log lines (default: the host name)"},
			&cli.StringSliceFlag{Name: "mount", Usage: "offer host directory HOST to jobs at GUEST (`HOST:GUEST[:ro]`); repeatable"},
			&cli.StringSliceFlag{Name: "peer", Usage: "a host this one may send jobs to (`URL`); repeatable"},
			&cli.StringFlag{Name: "migrate-store", Usage: "a snapshot store (`DIR` or s3://BUCKET/PREFIX) shared with the other hosts: jobs move by writing their snapshot there and sending its name (by their chunks to a host without it)"},
			&cli.StringFlag{Name: "token-file", Usage: "the bearer token requests must carry, and this host sends to its peers (`FILE`)"},
			&cli.BoolFlag{Name: "insecure-no-token", Usage: "accept requests without a token (trusted networks only)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with this certificate (`FILE`, PEM; with --tls-key)"},
			&cli.StringFlag{Name: "tls-key", Usage: "the certificate's private key (`FILE`, PEM)"},
			&cli.StringFlag{Name: "tls-ca", Usage: "trust these certificates (`FILE`, PEM) when calling peers over HTTPS"},
			&cli.StringFlag{Name: "state-dir", Usage: "keep received modules in `DIR`/modules and the chunks jobs arrive as in DIR/chunks (default: wasmsr/serve/NAME in the user cache directory)"},
			&cli.StringFlag{Name: "max-job-size", Value: "1GiB", Usage: "refuse job uploads larger than `SIZE`"},
			&cli.StringFlag{Name: "max-module-size", Value: "256MiB", Usage: "refuse modules larger than `SIZE`"},
			&cli.IntFlag{Name: "max-jobs", Value: 1, Usage: "run at most `N` jobs at once (see the package documentation of hostrt/migrate before raising it)"},
			&cli.StringFlag{Name: "snapshot-key", Usage: "sign the jobs this host sends with the first key in `FILE`, and refuse (403) jobs not signed with one of its keys (wasmsr keygen makes one)"},
			&cli.StringFlag{Name: "max-memory", Usage: "the most memory a job here may have (`SIZE`; default: half of this machine's memory, at most 4GiB)"},
			&cli.StringFlag{Name: "min-upload-rate", Value: "64KiB", Usage: "cut an upload that brings less than `SIZE` a second over a --upload-rate-window (0: no floor)"},
			&cli.DurationFlag{Name: "upload-rate-window", Value: 20 * time.Second, Usage: "the `DURATION` over which an upload's rate is measured; the first one is its grace"},
		},
		Action: serve,
	}
}

func serve(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("serve: unexpected argument %q", c.Args().First())
	}
	name, err := hostName(c)
	if err != nil {
		return err
	}
	token := ""
	switch {
	case c.String("token-file") != "":
		if token, err = migrate.ReadToken(c.String("token-file")); err != nil {
			return err
		}
	case !c.Bool("insecure-no-token"):
		return errors.New("serve: --token-file is required (or --insecure-no-token on a trusted network)")
	}
	if (c.String("tls-cert") == "") != (c.String("tls-key") == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	mounts, err := parseMounts(c.StringSlice("mount"))
	if err != nil {
		return err
	}
	client, err := migrate.NewClient(token, c.String("tls-ca"))
	if err != nil {
		return err
	}
	maxJob, err := parseSize(c.String("max-job-size"))
	if err != nil {
		return fmt.Errorf("--max-job-size: %w", err)
	}
	maxModule, err := parseSize(c.String("max-module-size"))
	if err != nil {
		return fmt.Errorf("--max-module-size: %w", err)
	}
	minRate := int64(-1)
	if r := c.String("min-upload-rate"); r != "0" {
		if minRate, err = parseSize(r); err != nil {
			return fmt.Errorf("--min-upload-rate: %w", err)
		}
	}
	if c.Duration("upload-rate-window") <= 0 {
		return errors.New("--upload-rate-window: want a positive duration")
	}
	state := c.String("state-dir")
	if state == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("serve: %w (pass --state-dir)", err)
		}
		state = filepath.Join(dir, "wasmsr", "serve", name)
	}
	if c.Int("max-jobs") < 1 {
		return errors.New("--max-jobs: want at least 1")
	}
	keepProcs(c.Int("max-jobs"))
	stderr := migrate.NewOutput(c.App.ErrWriter)
	read, err := readOptions(c)
	if err != nil {
		return err
	}
	host, err := migrate.NewHost(migrate.Config{
		Name: name, Mounts: mounts, Peers: c.StringSlice("peer"), Client: client,
		ModuleDir: filepath.Join(state, "modules"), ChunkDir: filepath.Join(state, "chunks"), Token: token,
		Log: stderr, Stdout: migrate.NewOutput(c.App.Writer), Stderr: stderr,
		MaxJobSize: maxJob, MaxModuleSize: maxModule, MaxJobs: c.Int("max-jobs"),
		MinUploadRate: minRate, UploadWindow: c.Duration("upload-rate-window"),
		Keys: read.Keys, MaxMemory: read.MaxMemory, Store: c.String("migrate-store"),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	scheme := "http"
	if c.String("tls-cert") != "" {
		cert, err := tls.LoadX509KeyPair(c.String("tls-cert"), c.String("tls-key"))
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	srv := host.NewServer("")
	var offers []string
	for _, m := range mounts {
		offers = append(offers, m.GuestPath)
	}
	auth := "bearer token required"
	if token == "" {
		auth = "NO TOKEN REQUIRED"
	}
	host.Logf("listening on %s://%s (%s; mounts %s; peers %s)", scheme, ln.Addr(), auth, listOrNone(offers), listOrNone(c.StringSlice("peer")))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case s := <-sigs:
		host.Logf("%s: shutting down", s)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		for _, st := range host.Jobs() {
			if st.State == migrate.StateRunning {
				host.Logf("job %s: abandoned while running", st.ID)
			}
		}
		return nil
	}
}

// keepProcs makes sure that guests cannot take every P: wazero's compiled
// code cannot be preempted, so each running guest holds a P (an OS thread
// running Go code) until it calls the host, and the server, the migration
// timers and the HTTP clients need one of their own. More Ps than CPUs
// only means that the kernel shares the CPUs between the threads.
func keepProcs(jobs int) {
	if n := jobs + 2; runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func hostName(c *cli.Context) (string, error) {
	if n := c.String("name"); n != "" {
		return n, nil
	}
	n, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("%w (pass --name)", err)
	}
	return n, nil
}

// parseSize reads a byte count: 1024, 64KiB, 512MiB, 1GiB (or K, M, G).
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGiBkmgb")
	unit := strings.ToLower(s[len(num):])
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, KiB, MiB or GiB", s)
	}
	shift := map[string]uint{"": 0, "b": 0, "k": 10, "kib": 10, "kb": 10, "m": 20, "mib": 20, "mb": 20, "g": 30, "gib": 30, "gb": 30}
	sh, ok := shift[unit]
	if !ok || n > (1<<62)>>sh {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, KiB, MiB or GiB", s)
	}
	return n << sh, nil
}

// migrateFlags are exec's and resume's flags for sending the job to
// `wasmsr serve` hosts.
func migrateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "migrate-to", Usage: "send the job to these `URL`s of `wasmsr serve` hosts, in turn and round again; repeatable or comma-separated"},
		&cli.DurationFlag{Name: "migrate-every", Usage: "move the job on to the next host after running this long (`DURATION`) on one (0: it stays on the first)"},
		&cli.DurationFlag{Name: "migrate-after", Usage: "run the job here this long (`DURATION`) before the first move (default: --migrate-every; 0: at once)"},
		&cli.StringFlag{Name: "token-file", Usage: "the hosts' bearer token (`FILE`)"},
		&cli.StringFlag{Name: "tls-ca", Usage: "trust these certificates (`FILE`, PEM) for https hosts"},
		&cli.StringFlag{Name: "name", Usage: "this host's `NAME` in log lines (default: the host name)"},
		&cli.BoolFlag{Name: "detach", Usage: "return once the job has moved, instead of following it to its end"},
		&cli.StringFlag{Name: "migrate-store", Usage: "a snapshot store (`DIR` or s3://BUCKET/PREFIX) shared with the other hosts: jobs move by writing their snapshot there and sending its name (by their chunks to a host without it)"},
	}
}

// runMigrating runs a job that moves to `wasmsr serve` hosts, follows it
// to its end (unless --detach) and returns its exit code.
func runMigrating(c *cli.Context, spec jobSpec) error {
	for _, f := range []string{"snapshot-every", "snapshot-on", "stop-after-snapshot", "snapshot-dir"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s does not go with --migrate-to", f)
		}
	}
	var route []string
	for _, u := range c.StringSlice("migrate-to") {
		u, err := migrate.ParseURL(strings.TrimSpace(u))
		if err != nil {
			return fmt.Errorf("--migrate-to: %w", err)
		}
		route = append(route, u)
	}
	every, first := c.Duration("migrate-every"), c.Duration("migrate-every")
	if c.IsSet("migrate-after") {
		first = c.Duration("migrate-after")
	}
	if every < 0 || first < 0 {
		return errors.New("--migrate-every and --migrate-after must not be negative")
	}
	name, err := hostName(c)
	if err != nil {
		return err
	}
	token := ""
	if f := c.String("token-file"); f != "" {
		if token, err = migrate.ReadToken(f); err != nil {
			return err
		}
	}
	client, err := migrate.NewClient(token, c.String("tls-ca"))
	if err != nil {
		return err
	}
	mounts, err := parseMounts(c.StringSlice("mount"))
	if err != nil {
		return err
	}
	keepProcs(1)
	stderr := migrate.NewOutput(c.App.ErrWriter)
	host, err := migrate.NewHost(migrate.Config{Name: name, Mounts: mounts, Client: client,
		Log: stderr, Stdout: migrate.NewOutput(c.App.Writer), Stderr: stderr, Keys: spec.read.Keys, MaxMemory: spec.read.MaxMemory,
		Store: c.String("migrate-store")})
	if err != nil {
		return err
	}
	ctx := context.Background()
	defer host.Close(ctx)
	modulePath := ""
	if len(spec.args) > 0 {
		modulePath = spec.args[0]
	}
	out, err := host.RunLocal(ctx, migrate.Local{
		Job:     hostrt.Config{Module: spec.module, ModulePath: modulePath, Args: spec.args, Env: spec.env, Mounts: mounts},
		Restore: spec.restore,
		Policy:  migrate.Policy{Route: route, Every: every},
		First:   first,
	})
	if err != nil {
		if spec.from != "" {
			return fmt.Errorf("%s: %w", spec.from, err)
		}
		return err
	}
	if out.Moved == "" {
		if out.Exit != 0 {
			return exitError(out.Exit)
		}
		return nil
	}
	if c.Bool("detach") {
		host.Logf("job %s is on %s; its status: GET %s/v1/jobs/%s", out.ID, out.Moved, out.Moved, out.ID)
		return nil
	}
	st, err := client.Follow(ctx, out.Moved, out.ID, func(st *migrate.Status) {
		if st.State == migrate.StateRunning {
			host.Logf("job %s: running on %s (hop %d)", st.ID, st.Host, st.Hop)
		}
	})
	if err != nil {
		return err
	}
	if st.State == migrate.StateFailed {
		return fmt.Errorf("job %s failed on %s: %s", st.ID, st.Host, st.Error)
	}
	host.Logf("job %s: finished on %s after %d moves, exit %d", st.ID, st.Host, st.Hop, st.Exit)
	if st.Exit != 0 {
		return exitError(st.Exit)
	}
	return nil
}
