package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/wasmsr/wasmsr/internal/s3test"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/internal/corpus"
)

// helperEnv makes the test binary run the wasmsr command line instead of
// tests, so that tests can start wasmsr processes: the arguments after
// "--" are wasmsr's. It is checked in init, before any TestMain.
const helperEnv = "WASMSR_TEST_HELPER"

func init() {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(append([]string{"wasmsr"}, args...), os.Stdout, os.Stderr))
}

// proc is a wasmsr process started by a test.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr together
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	cond *sync.Cond
}

func newSyncBuffer() *syncBuffer {
	s := &syncBuffer{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cond.Broadcast()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWasmsr starts `wasmsr ARGS...`, in network namespace ns if not empty.
func startWasmsr(t *testing.T, ns string, args ...string) *proc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{self, "--"}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), out: newSyncBuffer(), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), helperEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.out.mu.Lock()
		close(p.done)
		p.out.cond.Broadcast()
		p.out.mu.Unlock()
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the process (ip netns exec runs the program in its own process).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("still running after 5 minutes:\n%s", p.out)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(p.err)
	return -1
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// serveURL waits until the server says where it listens.
func (p *proc) serveURL(t *testing.T) string {
	t.Helper()
	out := p.waitOutput(t, "the line saying where it listens", listening.MatchString)
	return listening.FindStringSubmatch(out)[1]
}

// waitOutput waits (a minute at most) until ok holds for the process's
// output so far, and returns that output. The test reads a process's
// output through a pipe, so what the process wrote before it answered a
// request may still be in the pipe when the answer has arrived: a test
// that reads the output once, right after the answer, misses its end.
func (p *proc) waitOutput(t *testing.T, what string, ok func(out string) bool) string {
	t.Helper()
	deadline := time.AfterFunc(time.Minute, func() {
		p.out.mu.Lock()
		p.out.cond.Broadcast()
		p.out.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	for {
		if out := p.out.b.String(); ok(out) {
			return out
		}
		select {
		case <-p.done:
			t.Fatalf("the process ended before %s: %v\n%s", what, p.err, p.out.b.String())
		default:
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("no %s after a minute:\n%s", what, p.out.b.String())
		}
		p.out.cond.Wait()
	}
}

// waitJobLogs waits until the hosts' outputs hold everything they wrote
// about job id, which ended on final at hop: the job's output on a host
// comes before the host's line about the job leaving it (the last move to
// final was at hop) or ending there.
func waitJobLogs(t *testing.T, hosts []*serveHost, final *serveHost, id string, hop int) {
	t.Helper()
	for _, h := range hosts {
		last := fmt.Sprintf("[%s] job %s: moved to %s (%s) at hop %d:", h.name, id, final.name, final.url, hop)
		if h == final {
			last = fmt.Sprintf("[%s] job %s: finished, exit 0 (hop %d)\n", h.name, id, hop)
		} else if hop < 2 {
			continue // the job went from the starting host straight to final
		}
		h.p.waitOutput(t, strconv.Quote(last), func(out string) bool { return strings.Contains(out, last) })
	}
}

// freePorts returns n TCP ports free on the loopback interface now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

const cliToken = "cli-test-token-abcdef0123456789"

// serveHost is a `wasmsr serve` process and its directories.
type serveHost struct {
	name, url string
	out       string // the mounted directory (guest /out)
	state     string
	p         *proc
}

// startServes starts one `wasmsr serve` per name, each the peer of the
// others. addrs are their listen addresses; ns their network namespaces
// (or nil).
func startServes(t *testing.T, names, addrs, ns []string, extra ...string) []*serveHost {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(cliToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var hosts []*serveHost
	for i, name := range names {
		h := &serveHost{name: name, url: "http://" + addrs[i], out: filepath.Join(dir, name, "out"), state: filepath.Join(dir, name, "state")}
		if err := os.MkdirAll(h.out, 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"serve", "--name", name, "--listen", addrs[i], "--token-file", token, "--mount", h.out + ":/out", "--state-dir", h.state}
		for j := range names {
			if j != i {
				args = append(args, "--peer", "http://"+addrs[j])
			}
		}
		nsi := ""
		if ns != nil {
			nsi = ns[i]
		}
		h.p = startWasmsr(t, nsi, append(args, extra...)...)
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		if got := h.p.serveURL(t); got != h.url {
			t.Fatalf("%s listens on %s, want %s", h.name, got, h.url)
		}
	}
	return hosts
}

func tokenFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(cliToken), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// progressWasm returns progress.c (examples/migrate) instrumented, built by
// `make example-migrate` or here with clang.
func progressWasm(t *testing.T) string {
	t.Helper()
	root := corpus.Root(t)
	dir := t.TempDir()
	src := filepath.Join(root, "build", "examples", "migrate", "progress.wasm")
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join(dir, "progress.wasm")
		obj := filepath.Join(dir, "progress.o")
		_, errClang := exec.LookPath("clang")
		_, errLibc := os.Stat("/usr/lib/wasm32-wasi/libc.a")
		if errClang != nil || errLibc != nil {
			msg := "progress.wasm is not built and clang or wasi-libc is missing: run `make example-migrate`"
			if os.Getenv(corpus.RequireEnv) == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		for _, args := range [][]string{
			{"--target=wasm32-wasi", "--sysroot=/usr", "-std=c11", "-O2", "-c", filepath.Join(root, "examples", "migrate", "progress.c"), "-o", obj},
			{"--target=wasm32-wasi", "--sysroot=/usr", "-Wl,--strip-debug", obj, "-o", src},
		} {
			if out, err := exec.Command("clang", args...).CombinedOutput(); err != nil {
				t.Fatalf("clang: %v\n%s", err, out)
			}
		}
	}
	out := filepath.Join(dir, "progress.sr.wasm")
	if _, stderr, code := wasmsr("instrument", src, "-o", out); code != 0 {
		t.Fatalf("instrument: %s", stderr)
	}
	return out
}

// jobLines returns the lines of job output ("[HOST ID] line") in a
// process's output, without their prefixes.
func jobLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "[") {
			continue
		}
		prefix, rest, ok := strings.Cut(l, "] ")
		if ok && strings.Contains(prefix, " ") {
			lines = append(lines, rest)
		}
	}
	return lines
}

var finishedOn = regexp.MustCompile(`job (\S+): finished on (\S+) after (\d+) moves, exit (\d+)`)

// TestServeFlags checks that serve refuses to run without a token.
func TestServeFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "127.0.0.1:0"}, "wasmsr: serve: --token-file is required (or --insecure-no-token on a trusted network)\n"},
		{[]string{"serve", "--insecure-no-token", "--tls-cert", "x.pem"}, "wasmsr: serve: --tls-cert and --tls-key go together\n"},
		{[]string{"serve", "--insecure-no-token", "--max-job-size", "lots"}, "wasmsr: --max-job-size: size \"lots\": want a positive number of bytes, KiB, MiB or GiB\n"},
		{[]string{"serve", "--insecure-no-token", "--min-upload-rate", "fast"}, "wasmsr: --min-upload-rate: size \"fast\": want a positive number of bytes, KiB, MiB or GiB\n"},
		{[]string{"serve", "--insecure-no-token", "--upload-rate-window", "0s"}, "wasmsr: --upload-rate-window: want a positive duration\n"},
		{[]string{"exec", "--migrate-to", "127.0.0.1:1", "x.wasm"}, ""},
	}
	for _, tc := range tests {
		_, stderr, code := wasmsr(tc.args...)
		if code != 1 || (tc.want != "" && stderr != tc.want) {
			t.Errorf("wasmsr %q: exit %d, stderr %q; want exit 1, %q", tc.args, code, stderr, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
	}{{"1024", 1024}, {"64KiB", 64 << 10}, {"512MiB", 512 << 20}, {"1GiB", 1 << 30}, {"2G", 2 << 30}, {"0", -1}, {"1TiB", -1}, {"-5", -1}} {
		got, err := parseSize(tc.in)
		if (tc.want < 0) != (err != nil) || (err == nil && got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// TestMigrateCLI bounces the progress program between two `wasmsr serve`
// processes with `wasmsr exec --migrate-to`, and checks the refusals
// through the real command line: a request without the token, and a job
// whose uploads are all cut short (it ends where it started).
func TestMigrateCLI(t *testing.T) {
	module := progressWasm(t)
	args := []string{"/out/p.bin", "48", "256"}
	refOut, ref := progressReference(t, module, args)
	ports := freePorts(t, 2)
	hosts := startServes(t, []string{"A", "B"}, []string{fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])}, nil)
	a, b := hosts[0], hosts[1]
	token := tokenFile(t)

	t.Run("no token", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{{"POST", "/v1/jobs"}, {"PUT", "/v1/modules/" + strings.Repeat("ab", 32)}, {"GET", "/v1/jobs"}} {
			req, _ := http.NewRequest(tc.method, a.url+tc.path, strings.NewReader("WASMSR\x00J not a job"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s %s without a token: %d, want 401", tc.method, tc.path, resp.StatusCode)
			}
		}
		if entries, _ := os.ReadDir(filepath.Join(a.state, "modules")); len(entries) != 0 {
			t.Errorf("A stored %d modules", len(entries))
		}
		a.p.waitOutput(t, "the refusal's log line", func(out string) bool { return strings.Contains(out, "refused POST /v1/jobs") })
	})

	t.Run("ping-pong", func(t *testing.T) {
		stdout, _, final, m := pingPong(t, hosts, module, args, "--token-file", token)
		got, err := os.ReadFile(filepath.Join(final.out, "p.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ref) {
			t.Fatalf("the file on %s (%d bytes) differs from the reference (%d bytes)", m[2], len(got), len(ref))
		}
		// Every line of output appears once, on some host.
		all := append(append(jobLines(stdout), jobLines(a.p.out.String())...), jobLines(b.p.out.String())...)
		var mine []string
		for _, l := range all {
			if strings.HasPrefix(l, "block ") || strings.HasPrefix(l, "done:") {
				mine = append(mine, l)
			}
		}
		want := strings.Split(strings.TrimSuffix(refOut, "\n"), "\n")
		sort.Strings(mine)
		sort.Strings(want)
		if !slices.Equal(mine, want) {
			t.Errorf("output lines across hosts:\n%s\nwant:\n%s", strings.Join(mine, "\n"), strings.Join(want, "\n"))
		}
		t.Logf("finished on %s after %s moves", m[2], m[3])
	})

	// A job that traps on A: A reports it in one line, and so does exec.
	// It sleeps 1.5 s after its first block (it moves to A then) and
	// traps after its second.
	t.Run("trap", func(t *testing.T) {
		local := t.TempDir()
		_, stderr, code := wasmsr("exec", "--name", "L", "--mount", local+":/out", "--migrate-to", a.url, "--migrate-after", "0",
			"--token-file", token, module, "--", "/out/t.bin", "3", "16", "1500", "2")
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		last := lines[len(lines)-1]
		m := regexp.MustCompile(`^wasmsr: job (\S+) failed on A: (.*unreachable.*)$`).FindStringSubmatch(last)
		if code != 1 || m == nil {
			t.Fatalf("exit %d, last line %q; want exit 1 and the job failed on A:\n%s", code, last, stderr)
		}
		for _, l := range lines[:len(lines)-1] {
			if !strings.HasPrefix(l, "[L") {
				t.Errorf("a line of exec without its prefix: %q", l)
			}
		}
		failed := fmt.Sprintf("[A] job %s: failed: %s\n", m[1], m[2])
		out := a.p.waitOutput(t, strconv.Quote(failed), func(out string) bool { return strings.Contains(out, failed) })
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if !strings.HasPrefix(l, "[A") {
				t.Errorf("a line of A without its prefix: %q", l)
			}
		}
	})

	t.Run("truncated uploads", func(t *testing.T) {
		// Every job upload to B goes through a proxy that cuts its last
		// byte (a job body of protocol 2 can be a few hundred bytes).
		u, _ := url.Parse(b.url)
		rp := httputil.NewSingleHostReverseProxy(u)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/v2/jobs" {
				r.Body = io.NopCloser(io.LimitReader(r.Body, r.ContentLength-1))
				r.ContentLength = -1
			}
			rp.ServeHTTP(w, r)
		}))
		defer proxy.Close()
		local := t.TempDir()
		before := strings.Count(b.p.out.String(), "refused from")
		_, stderr, code := wasmsr(append([]string{"exec", "--name", "L", "--mount", local + ":/out",
			"--migrate-to", proxy.URL, "--migrate-every", "50ms", "--migrate-after", "0", "--token-file", token, module, "--"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "[L] job ") || !strings.Contains(stderr, "finished, exit 0 (hop 0)") || !strings.Contains(stderr, "could not move") {
			t.Fatalf("want failed moves and the job finished here:\n%s", stderr)
		}
		got, err := os.ReadFile(filepath.Join(local, "p.bin"))
		if err != nil || !bytes.Equal(got, ref) {
			t.Fatalf("the file here (%d bytes, %v) differs from the reference (%d bytes)", len(got), err, len(ref))
		}
		b.p.waitOutput(t, "a refusal's log line", func(out string) bool { return strings.Count(out, "refused from") > before })
	})
}

// progressReference runs the progress module with args without moving it,
// and returns its output and the file it writes.
func progressReference(t *testing.T, module string, args []string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	rp := startWasmsr(t, "", append([]string{"exec", "-q", "--mount", dir + ":/out", module, "--"}, args...)...)
	if code := rp.wait(t); code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, rp.out)
	}
	ref, err := os.ReadFile(filepath.Join(dir, "p.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return rp.out.String(), ref
}

// pingPong runs the progress module with args from a local host L that
// sends it to hosts[0] and hosts[1] in turn every 100 ms, with flags, and
// returns exec's output, the host it finished on (its logs complete) and
// the "finished on" line's match (job id, host, moves, exit code).
func pingPong(t *testing.T, hosts []*serveHost, module string, args []string, flags ...string) (stdout, stderr string, final *serveHost, m []string) {
	t.Helper()
	a, b := hosts[0], hosts[1]
	cmd := append([]string{"exec", "--name", "L", "--mount", t.TempDir() + ":/out", "--migrate-to", a.url + "," + b.url,
		"--migrate-every", "100ms", "--migrate-after", "0"}, flags...)
	stdout, stderr, code := wasmsr(append(append(cmd, module, "--"), args...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if m = finishedOn.FindStringSubmatch(stderr); m == nil {
		t.Fatalf("no \"finished on\" line:\n%s", stderr)
	}
	final = a
	if m[2] == "B" {
		final = b
	}
	hop, _ := strconv.Atoi(m[3])
	waitJobLogs(t, hosts, final, m[1], hop)
	return stdout, stderr, final, m
}

// TestMigrateThroughStore: `wasmsr serve` hosts that share an S3 store
// (--migrate-store) move a job by its manifest's name there; the output
// file is the reference's.
func TestMigrateThroughStore(t *testing.T) {
	store := s3test.Start(t) // before the hosts start: they inherit its environment
	module := progressWasm(t)
	args := []string{"/out/p.bin", "48", "256"}
	_, ref := progressReference(t, module, args)
	ports := freePorts(t, 2)
	hosts := startServes(t, []string{"A", "B"}, []string{fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])}, nil,
		"--migrate-store", store)
	_, stderr, final, m := pingPong(t, hosts, module, args, "--token-file", tokenFile(t), "--migrate-store", store)
	hop, _ := strconv.Atoi(m[3])
	got, err := os.ReadFile(filepath.Join(final.out, "p.bin"))
	if err != nil || !bytes.Equal(got, ref) {
		t.Fatalf("the file on %s (%d bytes, %v) differs from the reference (%d bytes)", m[2], len(got), err, len(ref))
	}
	logs := stderr + hosts[0].p.out.String() + hosts[1].p.out.String()
	if moved, stored := strings.Count(logs, ": moved to "), strings.Count(logs, "+ write to the store and send its name "); moved != hop || stored != hop {
		t.Errorf("%d moves logged, %d of them through the store; the job made %d:\n%s", moved, stored, hop, logs)
	}
}

// TestMigrateFFmpeg encodes a clip (60 s of testsrc2 at 320x240 into
// mpeg4) with FFmpeg (build/ffmpeg/ffmpeg.wasm, `make ffmpeg`) while the job
// bounces between two `wasmsr serve` hosts every 2 s — on loopback ports,
// and in two network namespaces joined by a veth pair where `ip netns`
// works — and compares the output file with that of the uninstrumented
// program under wazero. How many moves there are depends on the machine's
// speed; the file does not.
func TestMigrateFFmpeg(t *testing.T) {
	root := corpus.Root(t)
	src := filepath.Join(root, "build", "ffmpeg", "ffmpeg.wasm")
	if _, err := os.Stat(src); err != nil {
		msg := "build/ffmpeg/ffmpeg.wasm is not built (run `make ffmpeg`, about 4 minutes)"
		if os.Getenv("WASMSR_REQUIRE_FFMPEG") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	module := filepath.Join(dir, "ffmpeg.sr.wasm")
	if _, stderr, code := wasmsr("instrument", src, "-o", module); code != 0 {
		t.Fatalf("instrument: %s", stderr)
	}
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-f", "lavfi", "-i", "testsrc2=duration=60:size=320x240:rate=25",
		"-c:v", "mpeg4", "-q:v", "3", "-y", "/out/a.avi"}
	ref := ffmpegReference(t, src, args)
	token := tokenFile(t)

	bounce := func(t *testing.T, addrs, ns []string) {
		hosts := startServes(t, []string{"A", "B"}, addrs, ns)
		local := t.TempDir()
		execNS := ""
		if ns != nil {
			execNS = ns[0]
		}
		start := time.Now()
		p := startWasmsr(t, execNS, append([]string{"exec", "--name", "L", "--mount", local + ":/out",
			"--migrate-to", hosts[0].url + "," + hosts[1].url, "--migrate-every", "2s", "--migrate-after", "0",
			"--token-file", token, module, "--"}, args...)...)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exec: exit %d\n%s", code, p.out)
		}
		elapsed := time.Since(start)
		m := finishedOn.FindStringSubmatch(p.out.String())
		if m == nil {
			t.Fatalf("no \"finished on\" line:\n%s", p.out)
		}
		final := hosts[0]
		if m[2] == "B" {
			final = hosts[1]
		}
		hop, _ := strconv.Atoi(m[3])
		waitJobLogs(t, hosts, final, m[1], hop)
		got, err := os.ReadFile(filepath.Join(final.out, "a.avi"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ref) {
			t.Fatalf("a.avi on %s (%d bytes) differs from the reference (%d bytes)", m[2], len(got), len(ref))
		}
		logs := p.out.String() + hosts[0].p.out.String() + hosts[1].p.out.String()
		t.Logf("finished on %s after %s moves in %s; a.avi (%d bytes) is identical to the reference", m[2], m[3], elapsed.Round(time.Millisecond), len(got))
		logDowntimes(t, logs)
		for _, l := range strings.Split(logs, "\n") {
			if strings.HasPrefix(l, "[A] ") || strings.HasPrefix(l, "[B] ") || strings.HasPrefix(l, "[L] ") {
				t.Log(l)
			}
		}
	}
	t.Run("loopback", func(t *testing.T) {
		ports := freePorts(t, 2)
		bounce(t, []string{fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])}, nil)
	})
	t.Run("netns", func(t *testing.T) {
		ns, ips := netnsPair(t)
		bounce(t, []string{ips[0] + ":7433", ips[1] + ":7433"}, ns)
	})
}

var downtimeLine = regexp.MustCompile(`\[(\S+)\] job \S+: moved to (\S+) .* at hop (\d+): downtime ([\d.]+)ms = pause ([\d.]+)ms \+ encode and upload ([\d.]+)ms \(([^)]+)\) \+ decode ([\d.]+)ms \+ restore ([\d.]+)ms`)

// logDowntimes reports the moves' downtimes found in the logs.
func logDowntimes(t *testing.T, logs string) {
	var downs []float64
	for _, m := range downtimeLine.FindAllStringSubmatch(logs, -1) {
		d, _ := strconv.ParseFloat(m[4], 64)
		downs = append(downs, d)
		t.Logf("hop %s %s -> %s: downtime %sms = pause %sms + encode and upload %sms (%s) + decode %sms + restore %sms",
			m[3], m[1], m[2], m[4], m[5], m[6], m[7], m[8], m[9])
	}
	if len(downs) == 0 {
		t.Errorf("no moves in the logs:\n%s", logs)
		return
	}
	sort.Float64s(downs)
	t.Logf("downtime over %d moves: min %.1fms, median %.1fms, max %.1fms", len(downs), downs[0], downs[len(downs)/2], downs[len(downs)-1])
}

// netnsPair makes two network namespaces joined by a veth pair and returns
// their names and addresses; it skips the test where that is not allowed.
func netnsPair(t *testing.T) ([]string, []string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	id := os.Getpid() % 100000
	ns := []string{fmt.Sprintf("wsr%d-a", id), fmt.Sprintf("wsr%d-b", id)}
	veth := []string{fmt.Sprintf("wsr%da", id), fmt.Sprintf("wsr%db", id)}
	ips := []string{"10.213.0.1", "10.213.0.2"}
	ipcmd := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := ipcmd("netns", "add", ns[0]); err != nil {
		t.Skipf("network namespaces are not available here: %v", err)
	}
	t.Cleanup(func() {
		for _, n := range ns {
			ipcmd("netns", "del", n) // takes the veth pair with it
		}
	})
	steps := [][]string{
		{"netns", "add", ns[1]},
		{"link", "add", veth[0], "type", "veth", "peer", "name", veth[1]},
	}
	for i := range 2 {
		steps = append(steps,
			[]string{"link", "set", veth[i], "netns", ns[i]},
			[]string{"-n", ns[i], "addr", "add", ips[i] + "/24", "dev", veth[i]},
			[]string{"-n", ns[i], "link", "set", veth[i], "up"},
			[]string{"-n", ns[i], "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := ipcmd(s...); err != nil {
			t.Skipf("cannot set up the namespaces: %v", err)
		}
	}
	return ns, ips
}

// ffmpegReference runs the uninstrumented FFmpeg under wazero's own WASI
// and returns the file it wrote.
func ffmpegReference(t *testing.T, wasmPath string, args []string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := runWazero(context.Background(), wasmPath, append([]string{"ffmpeg"}, args...), dir); err != nil {
		t.Fatalf("reference run: %v", err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "a.avi"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
