// Package s3test gives tests a real S3-compatible server on loopback:
// versitygw (github.com/versity/versitygw) serving a temporary directory,
// built once per machine by `make versitygw`. A test calls Start, which
// hands it a fresh bucket and points the standard AWS environment
// variables at the server for the test's duration.
//
// One server serves a whole test binary when its TestMain runs through
// Main, which stops it at the end; without Main, each Start runs its own
// server (slower, but nothing outlives the test).
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the tests run against; the Makefile's
// versitygw target builds the same one.
const Version = "v1.8.0"

// The server's only account. Tests that want a wrong key change these.
const (
	AccessKey = "wasmsr-test"
	SecretKey = "wasmsr-test-secret"
)

// Prefix is the key prefix of the locations Start returns.
const Prefix = "snapshots"

// RequireEnv, set to 1 (as make test does), makes a missing versitygw
// binary fail the tests that need it instead of skipping them.
const RequireEnv = "WASMSR_REQUIRE_S3"

// BinaryEnv names a versitygw binary to use instead of the cached build.
const BinaryEnv = "WASMSR_VERSITYGW"

// Binary is where the versitygw binary is: $WASMSR_VERSITYGW, or where
// `make versitygw` caches it.
func Binary() string {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	root := os.Getenv("WASMSR_CACHE")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "wasmsr")
	}
	return filepath.Join(root, "versitygw-"+Version, "versitygw")
}

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	cmd      *exec.Cmd
	dir      string
	exited   chan struct{} // closed when the process has ended
	buckets  atomic.Int64
}

var shared struct {
	active bool // Main is running the tests
	once   sync.Once
	server *Server
	err    error
}

// Main runs a package's tests (call it from TestMain) with one server
// for all of them, started by the first Start, stops it afterwards and
// exits.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that has more to do before it exits: it
// returns the tests' exit code.
func Run(m *testing.M) int {
	shared.active = true
	code := m.Run()
	if shared.server != nil {
		shared.server.stop()
	}
	return code
}

// Start gives the test an empty bucket on a running server and sets, for
// the test's duration, the AWS environment variables that reach it (the
// test must not be parallel: it changes the environment). It returns
// s3://BUCKET/snapshots. Without the versitygw binary the test is
// skipped, or fails when WASMSR_REQUIRE_S3=1.
func Start(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("s3test: no versitygw %s at %s (run `make versitygw`, or set %s)", Version, bin, BinaryEnv)
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1: %s", RequireEnv, msg)
		}
		t.Skip(msg)
	}
	var srv *Server
	if shared.active {
		shared.once.Do(func() { shared.server, shared.err = start(bin) })
		if shared.err != nil {
			t.Fatal(shared.err)
		}
		srv = shared.server
	} else {
		s, err := start(bin)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.stop)
		srv = s
	}
	srv.SetEnv(t)
	bucket := fmt.Sprintf("test-%d", srv.buckets.Add(1))
	if err := srv.createBucket(bucket); err != nil {
		t.Fatal(err)
	}
	return "s3://" + bucket + "/" + Prefix
}

// SetEnv points the standard AWS configuration at the server for the
// test's duration, and hides what the machine's own configuration (a
// profile, an S3-only endpoint, a session token) would add to it.
func (s *Server) SetEnv(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_ENDPOINT_URL", s.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "WASMSR_S3_PATH_STYLE"} {
		t.Setenv(k, "") // restores the old value at cleanup
		os.Unsetenv(k)
	}
}

// DeleteBucket removes an empty bucket of the server the test's last
// Start set up, for tests of what a store does when its bucket is gone.
func DeleteBucket(t testing.TB, bucket string) {
	t.Helper()
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adminClient(endpoint).DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("s3test: delete bucket %s on %s: %v", bucket, endpoint, err)
	}
}

func (s *Server) createBucket(bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adminClient(s.Endpoint).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("s3test: create bucket %s on %s: %v", bucket, s.Endpoint, err)
	}
	return nil
}

// adminClient reaches the server with its account, whatever the
// environment says.
func adminClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  aws.CredentialsProviderFunc(staticCredentials),
	})
}

func staticCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}, nil
}

// start runs versitygw on a free loopback port. The port is found by
// listening and closing, so another process may take it before versitygw
// binds it: then versitygw exits and start tries another port.
func start(bin string) (*Server, error) {
	var err error
	for range 3 {
		var s *Server
		if s, err = startOnce(bin); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func startOnce(bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("s3test: %v", err)
	}
	dir, err := os.MkdirTemp("", "wasmsr-versitygw-")
	if err != nil {
		return nil, fmt.Errorf("s3test: %v", err)
	}
	for _, d := range []string{"data", "meta"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("s3test: %v", err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// The metadata goes to a sidecar directory rather than extended
	// attributes, which not every temporary file system keeps. versitygw
	// closes every connection after one request unless told to keep it,
	// which S3 itself does not: without --keep-alive each chunk read would
	// pay a TCP connection, and the store's numbers would be versitygw's.
	cmd := exec.Command(bin, "--quiet", "--keep-alive", "--access", AccessKey, "--secret", SecretKey, "--port", addr,
		"posix", "--sidecar", filepath.Join(dir, "meta"), filepath.Join(dir, "data"))
	// Only what it needs of the environment: versitygw reads its options
	// from variables too (ROOT_ACCESS_KEY, VGW_*).
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var output bytes.Buffer
	cmd.Stdout = &lockedWriter{w: &output}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &Server{Endpoint: "http://" + addr, cmd: cmd, dir: dir, exited: make(chan struct{})}
	if err := startLocked(cmd, s.exited); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: %s: %v", bin, err)
	}
	if err := s.waitReady(addr, 30*time.Second); err != nil {
		s.stop()
		out := strings.TrimSpace(cmd.Stdout.(*lockedWriter).String())
		return nil, fmt.Errorf("s3test: versitygw on %s: %v; its output: %q", addr, err, out)
	}
	return s, nil
}

// startLocked starts cmd from a thread that lives as long as the server:
// Pdeathsig kills the server when the thread that started it ends, which
// for an ordinary goroutine's thread could be at any time, and this way
// is when the test binary exits, even without Main's cleanup (a test
// that calls os.Exit, a panic, a timeout).
func startLocked(cmd *exec.Cmd, exited chan struct{}) error {
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: no other goroutine runs on this thread
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
		// Returning while locked ends the thread, harmless now.
	}()
	return <-started
}

// waitReady waits until versitygw answers HTTP on addr (checking that
// it is versitygw that answers: another process may have taken the port),
// or has exited.
func (s *Server) waitReady(addr string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		select {
		case <-s.exited:
			return fmt.Errorf("exited: %v", s.cmd.ProcessState)
		default:
		}
		if resp, err := client.Get(s.Endpoint + "/"); err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("not answering after " + timeout.String())
		}
		time.Sleep(delay)
	}
}

// stop ends the server and removes its directory.
func (s *Server) stop() {
	s.cmd.Process.Kill()
	<-s.exited
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedWriter collects the server's output, written by exec's copying
// goroutine and read when the server failed to start.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
