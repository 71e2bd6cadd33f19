package http_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
)

// Set by TestMain.
var wasmsr, server string

func TestMain(m *testing.M) { extest.Main(m, "http", setup) }

func setup(dir string) error {
	var err error
	if wasmsr, err = extest.BuildWasmsr(dir); err != nil {
		return err
	}
	plain := filepath.Join(dir, "server.wasm")
	if err := extest.GoBuild(plain, "./examples/http/guest", true); err != nil {
		return err
	}
	server = filepath.Join(dir, "server.sr.wasm")
	if b, err := exec.Command(wasmsr, "instrument", plain, "-o", server).CombinedOutput(); err != nil {
		return fmt.Errorf("wasmsr instrument: %v\n%s", err, b)
	}
	return nil
}

// wait bounds every wait of the test: generous, so that a loaded machine
// passes, and only a hang fails.
const wait = 2 * time.Minute

// process is a wasmsr command running in the background, its stderr read
// line by line as it comes.
type process struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	added chan struct{} // receives after each new line
	ended chan struct{}
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{t: t, cmd: exec.Command(wasmsr, args...), added: make(chan struct{}, 1), ended: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.ended)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, s.Text())
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(p.kill)
	return p
}

// kill ends the process with SIGKILL, as a machine that dies does.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.ended
}

func (p *process) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits for the n-th line (from 0) of stderr that matches re and
// returns its submatches.
func (p *process) waitLine(re *regexp.Regexp, n int) []string {
	p.t.Helper()
	deadline := time.After(wait)
	for {
		p.mu.Lock()
		var found [][]string
		for _, l := range p.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				found = append(found, m)
			}
		}
		p.mu.Unlock()
		if len(found) > n {
			return found[n]
		}
		select {
		case <-p.added:
		case <-p.ended:
			p.t.Fatalf("%s ended before line %d matching %s; stderr:\n%s", p.cmd.Args[1], n, re, p.stderr())
		case <-deadline:
			p.t.Fatalf("no line %d matching %s after %v; stderr:\n%s", n, re, wait, p.stderr())
		}
	}
}

func (p *process) count(re *regexp.Regexp) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

var (
	listening = regexp.MustCompile(`^wasmsr: listening on (\S+) \(fd (\d+)\)$`)
	snapshot  = regexp.MustCompile(`^wasmsr: snapshot \d+ -> `)
)

// client makes one connection per request, so that no request travels
// on a connection of the killed process.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: wait}

func get(t *testing.T, addr string) string {
	t.Helper()
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s, %q, %v", resp.Status, b, err)
	}
	return string(b)
}

// The server answers 1, 2, 3; it is snapshotted every 50 ms, killed with
// SIGKILL, and resumed in a new process from its newest snapshot, which
// listens on the same address: the next request answers 4. A connection
// open at the snapshot is reset for the resumed server, which goes on.
func TestCounterSurvivesKill(t *testing.T) {
	store := t.TempDir()
	// Port 0: the system picks a free one, and the first line says which.
	job := start(t, "exec", server, "--listen", "127.0.0.1:0", "--snapshot-every", "50ms", "--snapshot-dir", store)
	addr := job.waitLine(listening, 0)[1]
	if fd := job.waitLine(listening, 0)[2]; fd != "3" {
		t.Errorf("listener at fd %s, want 3 (no mounts)", fd)
	}
	for i := 1; i <= 3; i++ {
		if got, want := get(t, addr), fmt.Sprintf("%d\n", i); got != want {
			t.Fatalf("request %d answered %q, want %q", i, got, want)
		}
	}
	// An idle connection the server is reading when it is snapshotted.
	idle, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// The second snapshot reported from now on began after the third
	// answer: the first may have been under way.
	seen := job.count(snapshot)
	job.waitLine(snapshot, seen+1)
	job.kill()
	t.Logf("killed after %d snapshots", job.count(snapshot))

	resume := start(t, "resume", store)
	m := resume.waitLine(regexp.MustCompile(`^wasmsr: (listening on (\S+) \(fd (\d+)\)|.*address already in use.*)$`), 0)
	if m[2] == "" {
		// Someone took the port meanwhile: the machine is busy, not the
		// test wrong. Resume on another, as --listen lets.
		t.Logf("resume: %s; resuming on another port", m[0])
		<-resume.ended
		resume = start(t, "resume", store, "--listen", "127.0.0.1:0")
		m = resume.waitLine(listening, 0)
		m = []string{m[0], "", m[1], m[2]}
	} else if m[2] != addr {
		t.Errorf("resumed listening on %s, want %s", m[2], addr)
	}
	if m[3] != "3" {
		t.Errorf("resumed listener at fd %s, want 3", m[3])
	}
	if got := get(t, m[2]); got != "4\n" {
		t.Fatalf("request 4 answered %q, want \"4\\n\"; resume's stderr:\n%s", got, resume.stderr())
	}
	if got := get(t, m[2]); got != "5\n" {
		t.Fatalf("request 5 answered %q, want \"5\\n\"", got)
	}

	// A listener for each the program had, or none.
	b, err := exec.Command(wasmsr, "resume", store, "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0").CombinedOutput()
	want := "wasmsr: --listen: the program had 1 listening sockets at the snapshot (fd 3 on " + addr + "); give one --listen for each, or none to listen where they did\n"
	if err == nil || string(b) != want {
		t.Errorf("resume with two --listen: %v, %q; want exit 1 and %q", err, b, want)
	}
}
