package migrate

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/internal/corpus"
)

// testCache is shared by every job of the tests, so the module compiles once.
var testCache = wazero.NewCompilationCache()

const testToken = "test-token-0123456789abcdef"

// tmpRoot holds what the tests build; TestMain removes it.
var tmpRoot string

func TestMain(m *testing.M) {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "wasmsr-migrate-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpRoot)
	os.Exit(code)
}

var progress struct {
	once   sync.Once
	module []byte
	err    error
	skip   string
}

// progressModule returns examples/migrate/progress.c instrumented: built by
// `make example-migrate` into build/examples/migrate/progress.wasm, or
// compiled here when clang and wasi-libc are installed.
func progressModule(t testing.TB) []byte {
	t.Helper()
	root := corpus.Root(t)
	progress.once.Do(func() {
		path := filepath.Join(root, "build", "examples", "migrate", "progress.wasm")
		if _, err := os.Stat(path); err != nil {
			path, progress.skip = buildProgress(root)
			if path == "" {
				return
			}
		}
		wasm, err := os.ReadFile(path)
		if err != nil {
			progress.err = err
			return
		}
		progress.module, _, progress.err = instrument.Instrument(wasm, instrument.Options{})
	})
	if progress.skip != "" {
		if os.Getenv(corpus.RequireEnv) == "1" {
			t.Fatal(progress.skip)
		}
		t.Skip(progress.skip)
	}
	if progress.err != nil {
		t.Fatal(progress.err)
	}
	return progress.module
}

// buildProgress compiles progress.c as examples/migrate/migrate.mk does.
func buildProgress(root string) (path, skip string) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		return "", "progress.wasm is not built and clang is missing: run `make example-migrate`"
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil {
		return "", "progress.wasm is not built and wasi-libc is missing: run `make example-migrate`"
	}
	obj := filepath.Join(tmpRoot, "progress.o")
	path = filepath.Join(tmpRoot, "progress.wasm")
	src := filepath.Join(root, "examples", "migrate", "progress.c")
	for _, args := range [][]string{
		{"--target=wasm32-wasi", "--sysroot=/usr", "-std=c11", "-O2", "-c", src, "-o", obj},
		{"--target=wasm32-wasi", "--sysroot=/usr", "-Wl,--strip-debug", obj, "-o", path},
	} {
		if out, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
			return "", fmt.Sprintf("building progress.wasm: %v\n%s", err, out)
		}
	}
	return path, ""
}

// recorder collects the lines written by every host of a test, in order.
type recorder struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l != "" {
			r.lines = append(r.lines, l)
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return len(p), nil
}

func (r *recorder) snapshot() ([]string, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines), r.changed
}

// waitFor waits until ok holds for the lines (a minute at most: a test
// that hangs should say where).
func (r *recorder) waitFor(t *testing.T, what string, ok func([]string) bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		lines, changed := r.snapshot()
		if ok(lines) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %s after a minute; lines:\n%s", what, strings.Join(lines, ""))
		}
	}
}

// count counts the lines that start with prefix and contain s.
func count(lines []string, prefix, s string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// program extracts a job's output from the lines of every host, in order,
// without the prefixes.
func program(lines []string, id string) string {
	var b strings.Builder
	for _, l := range lines {
		if !strings.HasPrefix(l, "[") {
			continue
		}
		prefix, rest, ok := strings.Cut(l, "] ")
		if ok && strings.HasSuffix(prefix, " "+id) {
			b.WriteString(rest)
		}
	}
	return b.String()
}

// testHost is a host behind an HTTP test server.
type testHost struct {
	*Host
	URL   string
	Dir   string // mounted at /out
	srv   *httptest.Server
	moved []Migration
	mu    sync.Mutex
}

// lazyHandler lets a server start (and have its URL) before its handler exists.
type lazyHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.h.Load()).ServeHTTP(w, r)
}
func (l *lazyHandler) set(h http.Handler) { l.h.Store(&h) }

type hostOptions struct {
	tls     bool
	noMount bool
	cfg     func(*Config)
	client  *Client
}

// newTestHosts starts hosts (all peers of each other) that log into rec.
func newTestHosts(t *testing.T, rec *recorder, names []string, opts hostOptions) []*testHost {
	t.Helper()
	hosts := make([]*testHost, len(names))
	handlers := make([]*lazyHandler, len(names))
	var urls []string
	for i := range names {
		handlers[i] = &lazyHandler{}
		srv := httptest.NewUnstartedServer(handlers[i])
		if opts.tls {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		hosts[i] = &testHost{URL: srv.URL, srv: srv, Dir: t.TempDir()}
		urls = append(urls, srv.URL)
	}
	for i, name := range names {
		th := hosts[i]
		cfg := Config{
			Name: name, Peers: urls, Cache: testCache, Token: testToken,
			Client: &Client{Token: testToken}, ModuleDir: filepath.Join(t.TempDir(), "modules"),
			Log: NewOutput(rec), Stdout: NewOutput(rec), Stderr: NewOutput(rec),
			OnMigrated: func(m Migration) {
				th.mu.Lock()
				th.moved = append(th.moved, m)
				th.mu.Unlock()
			},
		}
		if opts.client != nil {
			cfg.Client = opts.client
		}
		if !opts.noMount {
			cfg.Mounts = []wasip1.Mount{{HostDir: th.Dir, GuestPath: "/out"}}
		}
		if opts.cfg != nil {
			opts.cfg(&cfg)
		}
		h, err := NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		th.Host = h
		handlers[i].set(h.Handler())
		t.Cleanup(func() {
			srvWait(h)
			h.Close(context.Background())
		})
	}
	return hosts
}

// srvWait waits for the host's jobs (they all end in the tests).
func srvWait(h *Host) { h.Wait() }

func (th *testHost) migrations() []Migration {
	th.mu.Lock()
	defer th.mu.Unlock()
	return slices.Clone(th.moved)
}

// localHost is the host a job starts on (`wasmsr exec --migrate-to`).
func localHost(t *testing.T, rec *recorder, client *Client) *testHost {
	t.Helper()
	if client == nil {
		client = &Client{Token: testToken}
	}
	return localHostWith(t, rec, func(cfg *Config) { cfg.Client = client })
}

// localHostWith is localHost, its configuration changed by edit.
func localHostWith(t *testing.T, rec *recorder, edit func(*Config)) *testHost {
	t.Helper()
	th := &testHost{Dir: t.TempDir()}
	cfg := Config{
		Name: "L", Mounts: []wasip1.Mount{{HostDir: th.Dir, GuestPath: "/out"}}, Cache: testCache, Client: &Client{Token: testToken},
		Log: NewOutput(rec), Stdout: NewOutput(rec), Stderr: NewOutput(rec),
		OnMigrated: func(m Migration) {
			th.mu.Lock()
			th.moved = append(th.moved, m)
			th.mu.Unlock()
		},
	}
	edit(&cfg)
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	th.Host = h
	t.Cleanup(func() { h.Close(context.Background()) })
	return th
}

// progressArgs runs progress.c: BLOCKS blocks, WORK rounds a word, SLEEP
// milliseconds between blocks.
func progressArgs(blocks, work, sleepMS int) []string {
	return []string{"progress", "/out/p.bin", fmt.Sprint(blocks), fmt.Sprint(work), fmt.Sprint(sleepMS)}
}

// reference runs a program without migration and returns its stdout and
// the file it wrote.
func reference(t *testing.T, module []byte, args []string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	var stdout bytes.Buffer
	ctx := context.Background()
	j, err := hostrt.Start(ctx, hostrt.Config{Module: module, Args: args, Stdout: &stdout, Cache: testCache,
		Mounts: []wasip1.Mount{{HostDir: dir, GuestPath: "/out"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(ctx)
	if exit, err := j.Run(ctx); err != nil || exit != 0 {
		t.Fatalf("reference run: exit %d, %v", exit, err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "p.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), file
}

func runLocal(t *testing.T, l *testHost, module []byte, args []string, id string, p Policy, first time.Duration) *Outcome {
	t.Helper()
	out, err := l.RunLocal(context.Background(), Local{
		Job: hostrt.Config{Module: module, Args: args, Mounts: []wasip1.Mount{{HostDir: l.Dir, GuestPath: "/out"}}},
		ID:  id, Policy: p, First: first,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes, want %d; first difference at byte %d", path, len(got), len(want), i)
	}
}

func checkOutput(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("the job's output across hosts:\n%s\nwant:\n%s", got, want)
	}
}

// TestMoveOnDemand moves a job L -> A -> B -> A, each move asked for
// (POST /v1/jobs/ID/migrate) once the job has written more of its file on
// the host it is on: the file it keeps open must travel each time, and
// the output and file must be those of a run that never moved.
func TestMoveOnDemand(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(24, 64, 20)
	wantOut, wantFile := reference(t, module, args)
	rec := newRecorder()
	hosts := newTestHosts(t, rec, []string{"A", "B"}, hostOptions{})
	a, b := hosts[0], hosts[1]
	l := localHost(t, rec, nil)
	ctx := context.Background()

	// Every 0: the job moves only when asked; First 0: it leaves L at once.
	out := runLocal(t, l, module, args, "ondemand", Policy{Route: []string{a.URL, b.URL}}, 0)
	if out.Moved != a.URL || out.Hop != 1 {
		t.Fatalf("outcome %+v, want moved to A at hop 1", out)
	}
	blocks := func(host string) func([]string) int {
		return func(lines []string) int { return count(lines, "["+host+" ondemand] ", "block ") }
	}
	for _, step := range []struct {
		from   *testHost
		name   string
		blocks int // wait until the job has written this many blocks there
	}{
		{a, "A", 3},
		{b, "B", 3},
	} {
		rec.waitFor(t, fmt.Sprintf("%d blocks on %s", step.blocks, step.name), func(lines []string) bool {
			return blocks(step.name)(lines) >= step.blocks
		})
		if err := (&Client{Token: testToken}).Migrate(ctx, step.from.URL, "ondemand"); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, "the move from "+step.name, func(lines []string) bool {
			return count(lines, "["+step.name+"] ", "job ondemand: moved to") == 1
		})
	}
	st, err := (&Client{Token: testToken}).Follow(ctx, a.URL, "ondemand", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateFinished || st.Exit != 0 || st.Host != "A" || st.Hop != 3 {
		t.Fatalf("final status %+v, want finished on A at hop 3 with exit 0", st)
	}
	a.Wait()
	b.Wait()
	lines, _ := rec.snapshot()
	checkOutput(t, program(lines, "ondemand"), wantOut)
	checkFile(t, filepath.Join(a.Dir, "p.bin"), wantFile)

	// The module went to A and B once each; the moves after the job had
	// opened its file carried it.
	moves := append(append(l.migrations(), a.migrations()...), b.migrations()...)
	if len(moves) != 3 {
		t.Fatalf("%d moves, want 3", len(moves))
	}
	for i, want := range []struct {
		from, to   string
		moduleSent bool
	}{{"L", "A", true}, {"A", "B", true}, {"B", "A", false}} {
		m := moves[i]
		if m.From != want.from || m.Accepted.Host != want.to || m.Hop != i+1 || m.ModuleSent != want.moduleSent {
			t.Errorf("move %d: %s -> %s at hop %d, module sent %v; want %s -> %s at hop %d, module sent %v",
				i, m.From, m.Accepted.Host, m.Hop, m.ModuleSent, want.from, want.to, i+1, want.moduleSent)
		}
		if i > 0 && m.Accepted.Files != 1 {
			t.Errorf("move %d carried %d files, want 1", i, m.Accepted.Files)
		}
		t.Logf("move %d %s -> %s: downtime %s (pause %s, %s)", i+1, m.From, m.Accepted.Host, ms(m.Downtime), ms(m.Pause), formatBytes(m.Bytes))
	}
	// B's copy of the file is where the job left it: partial.
	if got, _ := os.ReadFile(filepath.Join(b.Dir, "p.bin")); len(got) == 0 || len(got) >= len(wantFile) {
		t.Errorf("B's copy has %d bytes, want a partial file", len(got))
	}
}

// TestPingPong bounces a job between A and B at an interval until it
// ends, as `wasmsr exec --migrate-to A,B --migrate-every` does. How many
// moves there are depends on the machine's speed; the result does not.
func TestPingPong(t *testing.T) {
	st, moves := pingPong(t, "pingpong", func(*Config) {})
	var downtimes []time.Duration
	for _, m := range moves {
		downtimes = append(downtimes, m.Downtime)
	}
	sort.Slice(downtimes, func(i, j int) bool { return downtimes[i] < downtimes[j] })
	t.Logf("finished on %s after %d moves; downtime min %s, median %s, max %s", st.Host, st.Hop,
		ms(downtimes[0]), ms(downtimes[len(downtimes)/2]), ms(downtimes[len(downtimes)-1]))
}

// pingPong runs the progress program from a local host L that sends it to
// hosts A and B in turn every 40 ms, all of them configured by edit, and
// checks that it finishes with the output and file it has without moves,
// after as many moves as the hosts recorded. It returns its final status
// and the moves.
func pingPong(t *testing.T, id string, edit func(*Config)) (*Status, []Migration) {
	t.Helper()
	module := progressModule(t)
	// Sleeping 10 ms a block, not computing, makes the job last 400 ms or
	// more on any machine, so that it makes several 40 ms hops: with the
	// blocks' work setting its length, a fast machine finished it in two.
	args := progressArgs(40, 16, 10)
	wantOut, wantFile := reference(t, module, args)
	rec := newRecorder()
	hosts := newTestHosts(t, rec, []string{"A", "B"}, hostOptions{cfg: edit})
	l := localHostWith(t, rec, edit)
	out := runLocal(t, l, module, args, id, Policy{Route: []string{hosts[0].URL, hosts[1].URL}, Every: 40 * time.Millisecond}, 0)
	if out.Moved != hosts[0].URL {
		t.Fatalf("outcome %+v, want moved to A", out)
	}
	st, err := (&Client{Token: testToken}).Follow(context.Background(), out.Moved, out.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateFinished || st.Exit != 0 {
		t.Fatalf("final status %+v", st)
	}
	hosts[0].Wait()
	hosts[1].Wait()
	final := hosts[0]
	if st.Host == "B" {
		final = hosts[1]
	}
	lines, _ := rec.snapshot()
	checkOutput(t, program(lines, out.ID), wantOut)
	checkFile(t, filepath.Join(final.Dir, "p.bin"), wantFile)
	var moves []Migration
	for _, h := range []*testHost{l, hosts[0], hosts[1]} {
		moves = append(moves, h.migrations()...)
	}
	if len(moves) != st.Hop {
		t.Fatalf("%d moves recorded, the job made %d", len(moves), st.Hop)
	}
	return st, moves
}

// jobBody makes the body of POST /v1/jobs for a snapshot of the progress
// program taken after it wrote a few blocks.
func jobBody(t *testing.T, module []byte, id string) []byte {
	t.Helper()
	snap := pausedProgress(t, module)
	return encodeJob(t, snap, &Header{ID: id, Hop: 1, From: "test", Module: fmt.Sprintf("%x", snap.ModuleSHA256[:])})
}

// encodeJob makes the body of POST /v1/jobs.
func encodeJob(t *testing.T, snap *snapshot.Snapshot, hdr *Header) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeFrame(&b, hdr); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.NewEncoder().Encode(&b, snap); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var paused struct {
	once sync.Once
	snap *snapshot.Snapshot
}

// pausedProgress runs the progress program until it has written 2 blocks
// and stops it.
func pausedProgress(t *testing.T, module []byte) *snapshot.Snapshot {
	t.Helper()
	paused.once.Do(func() { paused.snap = pauseAfter(t, module, progressArgs(8, 64, 30), tmpRoot, 2) })
	if paused.snap == nil {
		t.Fatal("no snapshot")
	}
	return paused.snap
}

// pauseAfter runs a program with dir mounted at /out until it has
// printed lines lines, and stops it.
func pauseAfter(t *testing.T, module []byte, args []string, dir string, lines int) *snapshot.Snapshot {
	t.Helper()
	ctx := context.Background()
	rec := newRecorder()
	j, err := hostrt.Start(ctx, hostrt.Config{Module: module, Args: args, Stdout: rec, Cache: testCache,
		SnapshotFiles: true, Mounts: []wasip1.Mount{{HostDir: dir, GuestPath: "/out"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(ctx)
	var snap *snapshot.Snapshot
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.waitFor(t, fmt.Sprintf("%d lines", lines), func(l []string) bool { return len(l) >= lines })
		snap, err = j.Snapshot(ctx, hostrt.SnapshotOptions{Stop: true})
	}()
	if _, rerr := j.Run(ctx); rerr != hostrt.ErrStopped {
		t.Fatalf("run: %v", rerr)
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
