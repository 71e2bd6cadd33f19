package migrate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/unwind"
)

// setVar sets a package variable for the test.
func setVar[T any](t *testing.T, v *T, value T) {
	old := *v
	*v = value
	t.Cleanup(func() { *v = old })
}

// realHost starts a host "S" behind the http.Server NewServer makes, on a
// loopback port (over TLS when cert is not nil), logging into rec.
func realHost(t *testing.T, rec *recorder, cert *tls.Certificate, cfg func(*Config)) (*Host, string) {
	t.Helper()
	c := Config{Name: "S", Cache: testCache, Token: testToken, ModuleDir: filepath.Join(t.TempDir(), "modules"),
		Mounts: []wasip1.Mount{{HostDir: t.TempDir(), GuestPath: "/out"}},
		Log:    NewOutput(rec), Stdout: NewOutput(rec), Stderr: NewOutput(rec)}
	if cfg != nil {
		cfg(&c)
	}
	h, err := NewHost(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
		scheme = "https"
	}
	srv := h.NewServer("")
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		h.Wait()
		h.Close(context.Background())
	})
	return h, scheme + "://" + ln.Addr().String()
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wasmsr test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestEscapeControl(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text: 1/2 [ok]", "plain text: 1/2 [ok]"},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"\x1b[2K\x1b[1A[S] job abc: finished", `\x1b[2K\x1b[1A[S] job abc: finished`},
		{"bad \xff byte", `bad \xff byte`},
		{"real \ufffd stays", "real \ufffd stays"},
		{"bidi \u202eevil", `bidi \u202eevil`},
		{"déjà vu", "déjà vu"},
		{"\x00\x7f", `\x00\x7f`},
	} {
		if got := escapeControl(tc.in); got != tc.want {
			t.Errorf("escapeControl(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"A", "A"},
		{"http://127.0.0.1:7433/x", "http://127.0.0.1:7433/x"},
		{"/v1/jobs", "/v1/jobs"},
		{"", `""`},
		{"L [B] job x: finished", `"L [B] job x: finished"`},
		{"/v1/\n[S]", `"/v1/\n[S]"`},
	} {
		if got := quoted(tc.in); got != tc.want {
			t.Errorf("quoted(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"one line", "one line"},
		{"_start: wasm error: unreachable\nwasm stack trace:\n\t.main(i32,i32) i32", "_start: wasm error: unreachable"},
		{"dos line\r\nnext", "dos line"},
		{"\x1b[31mred\x1b[0m\nmore", `\x1b[31mred\x1b[0m`},
	} {
		if got := errLine(errors.New(tc.in)); got != tc.want {
			t.Errorf("errLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestLogInjection sends a request without the token whose path holds a
// newline, escape sequences and a forged log line: it is logged as one
// line, the path quoted. A job whose sender name mimics a log line, and a
// peer's refusal with a forged line in it, are logged as one line each.
func TestLogInjection(t *testing.T) {
	rec := newRecorder()
	_, u := realHost(t, rec, nil, func(c *Config) { c.Mounts = nil })
	conn, err := net.Dial("tcp", strings.TrimPrefix(u, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before, _ := rec.snapshot()
	fmt.Fprintf(conn, "GET /v1/jobs/x%%0A%%1B%%5B2K%%1B%%5B1A%%5BS%%5D%%20job%%20abc:%%20finished,%%20exit%%200 HTTP/1.1\r\nHost: s\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	lines, _ := rec.snapshot()
	want := `[S] refused GET "/v1/jobs/x\n\x1b[2K\x1b[1A[S] job abc: finished, exit 0" from ` + conn.LocalAddr().String() + ": no valid bearer token\n"
	if got := strings.Join(lines[len(before):], ""); got != want {
		t.Errorf("log:\n%q\nwant:\n%q", got, want)
	}

	// A job from a sender named like a log line, refused (S mounts
	// nothing): its name is quoted.
	module := progressModule(t)
	sum := sha256.Sum256(module)
	if _, err := (&Client{Token: testToken}).EnsureModule(context.Background(), u, sum, module); err != nil {
		t.Fatal(err)
	}
	body := bytes.Replace(jobBody(t, module, "inj"), []byte(`"from":"test"`), []byte(`"from":"L [S] job abc: finished, exit 0"`), 1)
	body = fixFrameLength(body)
	before, _ = rec.snapshot()
	if status, _, e := request(t, "POST", u+"/v1/jobs", "Bearer "+testToken, body, nil); status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d (%s), want 422", status, e.Error)
	}
	lines, _ = rec.snapshot()
	want = `[S] job inj: refused from "L [S] job abc: finished, exit 0": the job uses guest path "/out", which this host does not mount` + "\n"
	if got := strings.Join(lines[len(before):], ""); got != want {
		t.Errorf("log:\n%q\nwant:\n%q", got, want)
	}

	// A peer that refuses every job with a forged line in its answer.
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			return // it has the module
		}
		writeError(w, http.StatusUnprocessableEntity, "", "no\n[L] job inj2: finished, exit 0")
	}))
	defer peer.Close()
	l := localHost(t, rec, nil)
	before, _ = rec.snapshot()
	// The job sleeps 200 ms between blocks: time for the first move.
	runLocal(t, l, module, progressArgs(4, 16, 200), "inj2", Policy{Route: []string{peer.URL}, Every: 30 * time.Millisecond}, 0)
	lines, _ = rec.snapshot()
	refusals := 0
	for _, line := range lines[len(before):] {
		if !strings.HasPrefix(line, "[L] job inj2: ") && !strings.HasPrefix(line, "[L inj2] ") {
			t.Errorf("line %q is not L's", line)
		}
		if strings.Contains(line, "could not move") {
			refusals++
			// An error is logged by its first line.
			if want := " refused: 422 no; continuing here\n"; !strings.HasSuffix(line, want) {
				t.Errorf("refusal logged as %q, want it to end with %q", line, want)
			}
		}
	}
	if refusals == 0 {
		t.Errorf("no refusal logged:\n%s", strings.Join(lines[len(before):], ""))
	}
}

// fixFrameLength rewrites a job body's header length after an edit of
// the header.
func fixFrameLength(body []byte) []byte {
	end := bytes.Index(body, []byte("}WASMSR\x00S")) + 1
	n := end - len(jobMagic) - 4
	body[len(jobMagic)] = byte(n)
	body[len(jobMagic)+1] = byte(n >> 8)
	return body
}

// TestTrapIsOneLine sends B a job that traps: B reports the failure in
// one log line with its prefix, and its status carries that line.
func TestTrapIsOneLine(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	if _, err := (&Client{Token: testToken}).EnsureModule(context.Background(), b.URL, sum, module); err != nil {
		t.Fatal(err)
	}
	// progress traps after printing block 3; it moves after block 1.
	snap := pauseAfter(t, module, append(progressArgs(6, 16, 20), "3"), t.TempDir(), 1)
	body := encodeJob(t, snap, &Header{ID: "trap", Hop: 1, From: "L", Module: fmt.Sprintf("%x", sum[:])})
	if status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, body, nil); status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, e.Error)
	}
	st, err := (&Client{Token: testToken}).Follow(context.Background(), b.URL, "trap", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Wait()
	if st.State != StateFailed || !strings.Contains(st.Error, "unreachable") || strings.ContainsAny(st.Error, "\n\r") {
		t.Fatalf("status %+v, want failed with one line about the unreachable", st)
	}
	lines, _ := rec.snapshot()
	failed := 0
	for _, line := range lines {
		if !strings.HasPrefix(line, "[") {
			t.Errorf("a line without a prefix: %q", line)
		}
		if strings.Contains(line, "failed") {
			failed++
			if want := "[B] job trap: failed: " + st.Error + "\n"; line != want {
				t.Errorf("failure logged as %q, want %q", line, want)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d lines report the failure, want 1:\n%s", failed, strings.Join(lines, ""))
	}
	if got, want := program(lines, "trap"), "block 2 of 6: sum 08938551be85556e\nblock 3 of 6: sum 5dcaca73d9f69a05\n"; got != want {
		t.Errorf("output on B %q, want %q", got, want)
	}
}

func TestRateWindow(t *testing.T) {
	const W = 32 * time.Second // marks more than W/32 = 1 s apart are all kept
	const F = 32000            // bytes a window must bring at 1000 B/s
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	w := newRateWindow(1000, W)
	for i, step := range []struct {
		at    time.Duration // waiting time
		total int64         // bytes by then
		want  time.Duration // how long the next read may wait
	}{
		{0, 0, W},                 // the grace: a whole window
		{sec(8), F / 2, sec(24)},  // until the first window ends
		{sec(20), 40000, sec(20)}, // until (8 s, 40 s], with 24000 bytes, is a window
		{sec(30), 72000, W},       // the last window brought a floor's worth: a window from now
		{sec(50), 72000, sec(12)}, // nothing since: until the mark at 30 s is a window old
		{sec(61), 72010, sec(1)},  // 10 bytes more do not put it off
		{sec(70), 72010, sec(-8)}, // past due
	} {
		w.add(step.at, step.total)
		if got := w.allowed(step.at, step.total); got != step.want {
			t.Errorf("step %d (%s, %d bytes): allowed %s, want %s; marks %v", i, step.at, step.total, got, step.want, w.marks)
		}
	}
	if w.marks[0].at != sec(30) {
		t.Errorf("marks %v, want the first to be the last one a window old (30 s)", w.marks)
	}
	// Reads close together share marks.
	w = newRateWindow(1000, W)
	for i := range 1000 {
		w.add(time.Duration(i)*10*time.Millisecond, int64(i)*100)
	}
	if len(w.marks) > 12 {
		t.Errorf("%d marks for 10 s of reads, want at most 12", len(w.marks))
	}
}

// slowUpload starts an upload that sends its body a byte every 200 ms,
// and returns the channel that gets the answer (status and error) and
// how long it took.
func slowUpload(t *testing.T, addr, method, path string, body []byte) <-chan string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	start := time.Now()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", method, path, testToken, len(body))
	go func() {
		for _, c := range body {
			if _, err := conn.Write([]byte{c}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	answer := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answer <- fmt.Sprintf("no answer after %s: %v", time.Since(start), err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		answer <- fmt.Sprintf("%d %s after %s", resp.StatusCode, strings.TrimSpace(string(b)), time.Since(start).Round(time.Second))
	}()
	return answer
}

// TestSlowUploads starts two uploads, a module and a job, that send a byte
// every 200 ms: together they hold both upload slots. The host cuts them
// once they are slower than the floor over a window, and then takes a
// normal upload.
func TestSlowUploads(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	body := jobBody(t, module, "normal")
	rec := newRecorder()
	const window = 3 * time.Second
	_, u := realHost(t, rec, nil, func(c *Config) { c.MinUploadRate, c.UploadWindow = 4<<10, window })
	addr := strings.TrimPrefix(u, "http://")
	start := time.Now()
	answers := []<-chan string{
		slowUpload(t, addr, "PUT", fmt.Sprintf("/v1/modules/%x", sum), module),
		slowUpload(t, addr, "POST", "/v1/jobs", body),
	}
	// While both are there, other uploads are turned away.
	busy := false
	for !busy && time.Since(start) < window {
		status, _, e := request(t, "POST", u+"/v1/jobs", "Bearer "+testToken, []byte("not a job"), nil)
		busy = status == http.StatusServiceUnavailable && e.Error == "too many uploads at once"
	}
	if !busy {
		t.Errorf("the slow uploads did not hold both slots")
	}
	for i, want := range []string{
		`408 {"error":"module: upload slower than 4.0 KiB/s over 3s (cut after `,
		// The cut comes in the frame's magic or its header.
		`408 {"error":"job: job frame: `,
	} {
		select {
		case got := <-answers[i]:
			if !strings.HasPrefix(got, want) || !strings.Contains(got, "upload slower than 4.0 KiB/s over 3s (cut after ") {
				t.Errorf("slow upload %d: %s, want %s…upload slower than 4.0 KiB/s over 3s (cut after …", i, got, want)
			}
		case <-time.After(window + 10*time.Second):
			t.Fatalf("slow upload %d not cut after %s", i, window+10*time.Second)
		}
	}
	if cut := time.Since(start); cut < window {
		t.Errorf("cut after %s, before the grace of %s", cut, window)
	}
	lines, _ := rec.snapshot()
	if count(lines, "[S] ", "upload slower than") != 2 {
		t.Errorf("want the two cuts logged:\n%s", strings.Join(lines, ""))
	}
	if status, _, e := request(t, "PUT", fmt.Sprintf("%s/v1/modules/%x", u, sum), "Bearer "+testToken, zstdCompress(module), map[string]string{"Content-Encoding": "zstd"}); status != http.StatusCreated {
		t.Fatalf("PUT module afterwards: %d %s", status, e.Error)
	}
	if status, _, e := request(t, "POST", u+"/v1/jobs", "Bearer "+testToken, body, nil); status != http.StatusCreated {
		t.Fatalf("POST job afterwards: %d %s", status, e.Error)
	}
}

// closedWithin waits until the server closes conn, reading what it sends,
// and returns how long that took.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %s", limit)
	}
	return time.Since(start)
}

// TestServerTimeouts checks NewServer's timeouts where they are easy to
// miss: a TLS handshake that never comes, a header sent slowly over TLS,
// a kept-alive TLS connection left idle, and the body of a request that
// is not an upload, sent slowly.
func TestServerTimeouts(t *testing.T) {
	const header, idle, request = 500 * time.Millisecond, time.Second, 2 * time.Second
	setVar(t, &headerTimeout, header)
	setVar(t, &idleTimeout, idle)
	setVar(t, &requestTimeout, request)
	setVar(t, &maxWait, time.Second)
	const margin = 10 * time.Second
	rec := newRecorder()
	_, tu := realHost(t, rec, selfSigned(t), nil)
	_, pu := realHost(t, rec, nil, nil)
	tlsAddr, plainAddr := strings.TrimPrefix(tu, "https://"), strings.TrimPrefix(pu, "http://")
	dialTLS := func(t *testing.T) *tls.Conn {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	trickle := func(conn net.Conn, s string) {
		go func() {
			for i := range len(s) {
				if _, err := conn.Write([]byte{s[i]}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	t.Run("no TLS handshake", func(t *testing.T) {
		conn, err := net.Dial("tcp", tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if d := closedWithin(t, conn, margin); d < header-100*time.Millisecond {
			t.Errorf("closed after %s, before the header timeout %s", d, header)
		}
	})
	t.Run("slow header over TLS", func(t *testing.T) {
		conn := dialTLS(t)
		trickle(conn, "GET /v1/jobs HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer "+testToken+"\r\n\r\n")
		closedWithin(t, conn, header+margin)
	})
	t.Run("idle keep-alive over TLS", func(t *testing.T) {
		conn := dialTLS(t)
		fmt.Fprintf(conn, "GET /v1/jobs HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer %s\r\n\r\n", testToken)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("status %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		start := time.Now()
		conn.SetReadDeadline(start.Add(idle + margin))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("read %v, want the server to close the idle connection", err)
		}
		if d := time.Since(start); d < idle-100*time.Millisecond {
			t.Errorf("closed after %s, before the idle timeout %s", d, idle)
		}
	})
	t.Run("slow body of a status request", func(t *testing.T) {
		conn, err := net.Dial("tcp", plainAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /v1/jobs HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n", testToken)
		trickle(conn, strings.Repeat("x", 1000))
		if d := closedWithin(t, conn, request+margin); d < request-100*time.Millisecond {
			t.Errorf("closed after %s, before the request timeout %s", d, request)
		}
	})
}

// TestPanicsFailTheJob injects a panic at each point where the code that
// serves a job runs in migrate's goroutines or handlers: the job fails (or
// the request is answered 500) with one log line, and the host goes on
// serving.
func TestPanicsFailTheJob(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	snap := pausedProgress(t, module)
	job := func(id string, p Policy) []byte {
		return encodeJob(t, snap, &Header{ID: id, Hop: 1, From: "L", Module: fmt.Sprintf("%x", sum[:]), Policy: p})
	}
	follow := func(t *testing.T, b *testHost, id string) *Status {
		st, err := (&Client{Token: testToken}).Follow(context.Background(), b.URL, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, tc := range []struct {
		host, point string
	}{
		{"B", "prepare"}, // compiling an uploaded module: PUT is answered 500
		{"B", "receive"}, // receiving a job: POST is answered 500
		{"B", "run"},     // the job's goroutine on B
		{"B", "move"},    // the job's mover on B
		{"L", "encode"},  // L's encoder sending the job to B
	} {
		t.Run(tc.point, func(t *testing.T) {
			var fired atomic.Bool
			hook := func(host, point string) {
				if host == tc.host && point == tc.point && fired.CompareAndSwap(false, true) {
					panic("injected fault at " + point)
				}
			}
			faultHook.Store(&hook)
			t.Cleanup(func() { faultHook.Store(nil) })
			rec := newRecorder()
			b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
			wantErr := "internal error: injected fault at " + tc.point + " (in github.com/wasmsr/wasmsr/hostrt/migrate.TestPanicsFailTheJob."
			id := "boom-" + tc.point
			var st *Status  // the failed job's status
			var want string // the start of the log line about the fault
			putModule := func() (int, string) {
				status, _, e := request(t, "PUT", fmt.Sprintf("%s/v1/modules/%x", b.URL, sum), "Bearer "+testToken, zstdCompress(module), map[string]string{"Content-Encoding": "zstd"})
				return status, e.Error
			}
			switch tc.point {
			case "prepare":
				if status, msg := putModule(); status != http.StatusInternalServerError || !strings.HasPrefix(msg, wantErr) {
					t.Fatalf("PUT module: %d %q, want 500 %s…", status, msg, wantErr)
				}
				want = fmt.Sprintf("[B] module %x: refused from ", sum[:8])
				// The module is not left half ready: B says it lacks it.
				if status, _, e := request(t, "HEAD", fmt.Sprintf("%s/v1/modules/%x", b.URL, sum), "Bearer "+testToken, nil, nil); status != http.StatusNotFound {
					t.Fatalf("HEAD module: %d %s, want 404", status, e.Error)
				}
			case "receive":
				putModule()
				status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, job(id, Policy{}), nil)
				if status != http.StatusInternalServerError || !strings.HasPrefix(e.Error, wantErr) {
					t.Fatalf("POST job: %d %q, want 500 %s…", status, e.Error, wantErr)
				}
				checkUntouched(t, b)
				want = "[B] POST /v1/jobs from "
			case "run", "move":
				putModule()
				// Every 50 ms the job moves on (to B itself, which
				// would refuse it), so the mover acts.
				body := job(id, Policy{Route: []string{b.URL}, Every: 50 * time.Millisecond})
				if status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, body, nil); status != http.StatusCreated {
					t.Fatalf("POST job: %d %s", status, e.Error)
				}
				st = follow(t, b, id)
			case "encode":
				l := localHost(t, rec, nil)
				// The job sleeps a second between blocks: time for the
				// module to reach B before it ends.
				out, err := l.RunLocal(context.Background(), Local{
					Job: hostrt.Config{Module: module, Args: progressArgs(8, 16, 1000), Mounts: []wasip1.Mount{{HostDir: l.Dir, GuestPath: "/out"}}},
					ID:  id, Policy: Policy{Route: []string{b.URL}},
				})
				if err == nil || !strings.HasPrefix(err.Error(), wantErr) {
					t.Fatalf("RunLocal: %+v, %v; want %s…", out, err, wantErr)
				}
				st = &l.Jobs()[0]
				checkUntouched(t, b)
			}
			b.Wait()
			lines, _ := rec.snapshot()
			var faults []string
			for _, line := range lines {
				if strings.Contains(line, "injected fault") {
					faults = append(faults, line)
				}
			}
			if st != nil {
				if st.State != StateFailed || !strings.HasPrefix(st.Error, wantErr) || strings.Contains(st.Error, "\n") {
					t.Errorf("status %+v, want failed with %s…", st, wantErr)
				}
				want = fmt.Sprintf("[%s] job %s: failed: %s\n", tc.host, id, st.Error)
			}
			if len(faults) != 1 || !strings.HasPrefix(faults[0], want) || !strings.Contains(faults[0], ": "+wantErr) {
				t.Fatalf("the fault logged as %q, want one line %s…: %s…", faults, want, wantErr)
			}
			// The host is whole: it takes the module (again) and a job,
			// which ends there.
			if status, msg := putModule(); status != http.StatusCreated && status != http.StatusOK {
				t.Fatalf("PUT module afterwards: %d %s", status, msg)
			}
			if status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, job("after-"+tc.point, Policy{}), nil); status != http.StatusCreated {
				t.Fatalf("POST job afterwards: %d %s", status, e.Error)
			}
			if st := follow(t, b, "after-"+tc.point); st.State != StateFinished || st.Exit != 0 {
				t.Fatalf("the job afterwards: %+v, want finished", st)
			}
		})
	}
}

// craftedJob returns the body of a job made from the paused progress
// program's snapshot with its WASI state changed by edit.
func craftedJob(t *testing.T, module []byte, id string, edit func(*wasip1.State)) []byte {
	t.Helper()
	snap := *pausedProgress(t, module)
	var st wasip1.State
	if err := st.UnmarshalBinary(snap.WASI); err != nil {
		t.Fatal(err)
	}
	edit(&st)
	var err error
	if snap.WASI, err = st.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	return encodeJob(t, &snap, &Header{ID: id, Hop: 1, From: "test", Module: fmt.Sprintf("%x", snap.ModuleSHA256[:])})
}

// TestMountRules sends jobs whose saved file contents would be written
// where the restore must not write them: each is refused before anything
// is written into the host's mount.
func TestMountRules(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	rec := newRecorder()
	hosts := newTestHosts(t, rec, []string{"B", "ro"}, hostOptions{cfg: func(c *Config) {
		if c.Name == "ro" {
			c.Mounts[0].ReadOnly = true
		}
	}})
	for _, h := range hosts {
		if _, err := (&Client{Token: testToken}).EnsureModule(context.Background(), h.URL, sum, module); err != nil {
			t.Fatal(err)
		}
	}
	b, ro := hosts[0], hosts[1]
	// The paused program has /out preopened as fd 3 and p.bin open for
	// writing as fd 4, its contents saved.
	file := func(st *wasip1.State) *wasip1.FD {
		for i := range st.FDs {
			if st.FDs[i].Path == "p.bin" {
				return &st.FDs[i]
			}
		}
		t.Fatal("no p.bin in the snapshot")
		return nil
	}
	content := &wasip1.Content{Data: []byte("planted\n"), Size: 8, Perm: 0o644}
	tests := []struct {
		name string
		host *testHost
		edit func(*wasip1.State)
		want string
	}{
		{"contents of a file open only for reading", b, func(st *wasip1.State) { file(st).Writable = false },
			`fd 4: saved contents for "p.bin" in "/out", which the job has not open for writing`},
		{"contents of a new file open for reading", b, func(st *wasip1.State) {
			st.FDs = append(st.FDs, wasip1.FD{FD: 5, Kind: wasip1.KindFile, Path: "planted.txt", Readable: true, Content: content})
		}, `fd 5: saved contents for "planted.txt" in "/out", which the job has not open for writing`},
		{"contents of a directory", b, func(st *wasip1.State) {
			st.FDs = append(st.FDs, wasip1.FD{FD: 5, Kind: wasip1.KindDir, Path: "d", Readable: true, Writable: true, Content: content})
		}, `fd 5: saved contents for directory "d" in "/out"`},
		{"contents of stdout", b, func(st *wasip1.State) { st.FDs[1].Content = content },
			`fd 1: saved contents for a standard stream`},
		{"a path out of the mount", b, func(st *wasip1.State) { file(st).Path = "../planted.txt" },
			`fd 4: invalid path "../planted.txt" in "/out"`},
		{"writing in a mount read-only in the job", b, func(st *wasip1.State) { st.Preopens[0].ReadOnly = true },
			`the job writes "p.bin" in "/out", which is read-only here or in the job`},
		{"writing in a mount read-only here", ro, func(*wasip1.State) {},
			`the job writes "p.bin" in "/out", which is read-only here or in the job`},
		{"contents in a mount read-only here", ro, func(st *wasip1.State) { file(st).Writable = false },
			`fd 4: saved contents for "p.bin" in "/out", which the job has not open for writing`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := craftedJob(t, module, "mounts", tc.edit)
			status, _, e := request(t, "POST", tc.host.URL+"/v1/jobs", "Bearer "+testToken, body, nil)
			if status != http.StatusUnprocessableEntity || e.Error != tc.want {
				t.Errorf("status %d %q, want 422 %q", status, e.Error, tc.want)
			}
			checkUntouched(t, tc.host)
		})
	}
	// Untouched, the job arrives.
	if status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, craftedJob(t, module, "mounts", func(*wasip1.State) {}), nil); status != http.StatusCreated {
		t.Fatalf("the job as it was: %d %s", status, e.Error)
	}
}

// retained is the memory the Go runtime holds and has not given back to
// the system: about what it adds to the RSS (the race detector's shadow
// memory, for one, is not counted).
func retained() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// TestRefusedJobMemory sends small jobs whose memory is 256 MiB (one byte
// repeated: a few KiB compressed). Refused before their restore (the host
// mounts nothing) they cost no memory at all: the host does not
// decompress what it will not run. Refused during the restore, after
// their memory was written into the instance (a global the module does
// not have), they leave nothing behind: the instance's memory goes back
// to the system with it.
func TestRefusedJobMemory(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	rec := newRecorder()
	hosts := newTestHosts(t, rec, []string{"B", "M"}, hostOptions{cfg: func(c *Config) {
		if c.Name == "B" {
			c.Mounts = nil
		}
	}})
	for _, h := range hosts {
		if _, err := (&Client{Token: testToken}).EnsureModule(context.Background(), h.URL, sum, module); err != nil {
			t.Fatal(err)
		}
	}
	const size = 256 << 20
	bomb := func(edit func(*unwind.InstanceState)) []byte {
		snap := *pausedProgress(t, module)
		inst := *snap.Instance
		inst.Memory = bytes.Repeat([]byte{1}, size)
		copy(inst.Memory, snap.Instance.Memory)
		edit(&inst)
		snap.Instance = &inst
		return encodeJob(t, &snap, &Header{ID: "bomb", Hop: 1, From: "test", Module: fmt.Sprintf("%x", sum[:])})
	}
	for _, tc := range []struct {
		name   string
		host   *testHost
		edit   func(*unwind.InstanceState)
		status int
		alloc  uint64 // the most the host may allocate
	}{
		{"refused before the restore", hosts[0], func(*unwind.InstanceState) {}, http.StatusUnprocessableEntity, 16 << 20},
		{"refused during the restore", hosts[1], func(st *unwind.InstanceState) {
			st.Globals = append([]unwind.GlobalValue(nil), st.Globals...)
			st.Globals[0].Index = 999
		}, http.StatusUnprocessableEntity, 16 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bomb(tc.edit)
			runtime.GC()
			debug.FreeOSMemory()
			before, rssBefore, allocBefore := retained(), rss(t), allocated()
			status, _, e := request(t, "POST", tc.host.URL+"/v1/jobs", "Bearer "+testToken, body, nil)
			after, rssAfter, alloc := retained(), rss(t), allocated()-allocBefore
			if status != tc.status {
				t.Fatalf("status %d %s, want %d", status, e.Error, tc.status)
			}
			t.Logf("a %d-byte job: %d MiB allocated; held %d MiB before, %d MiB after; RSS %d MiB before, %d MiB after",
				len(body), alloc>>20, before>>20, after>>20, rssBefore>>20, rssAfter>>20)
			if alloc > tc.alloc {
				t.Errorf("the host allocated %d MiB for a job it refused", alloc>>20)
			}
			if after > before+64<<20 || rssAfter > rssBefore+64<<20 {
				t.Errorf("the memory held grew from %d MiB to %d MiB (RSS %d to %d MiB) after the refusal",
					before>>20, after>>20, rssBefore>>20, rssAfter>>20)
			}
		})
	}
}

// rss is the process's resident memory, from /proc/self/status.
func rss(t *testing.T) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestSignedJobs: a host with keys takes only jobs whose header and
// snapshot are signed with one of them; anything else is refused with 403
// before the snapshot is decoded, and the host goes on serving.
func TestSignedJobs(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	keyFile := func(seed byte) *snapshot.Keys {
		line, err := snapshot.NewKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := snapshot.ParseKeys([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	ours, theirs := keyFile(1), keyFile(2)
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{cfg: func(c *Config) { c.Keys = ours }})[0]
	if _, err := (&Client{Token: testToken}).EnsureModule(context.Background(), b.URL, sum, module); err != nil {
		t.Fatal(err)
	}
	// job encodes a job as a sender with keys would (nil: unsigned); the
	// header and the snapshot may be signed with different keys.
	job := func(id string, header, snap *snapshot.Keys) ([]byte, map[string]string) {
		hdr := &Header{ID: id, Hop: 1, From: "test", Module: fmt.Sprintf("%x", sum[:])}
		js, err := hdr.encode()
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		if err := writeEncodedFrame(&body, js); err != nil {
			t.Fatal(err)
		}
		enc := snapshot.NewEncoder()
		enc.Keys = snap
		if err := enc.Encode(&body, pausedProgress(t, module)); err != nil {
			t.Fatal(err)
		}
		extra := map[string]string{}
		if header != nil {
			extra[signatureHeader] = header.SignData(signedHeader, js)
		}
		return body.Bytes(), extra
	}
	for _, tc := range []struct {
		name         string
		header, snap *snapshot.Keys
		status       int
		want         string
	}{
		{"unsigned", nil, nil, http.StatusForbidden, "snapshot signature: the job header is not signed"},
		{"signed with another key", theirs, theirs, http.StatusForbidden,
			"snapshot signature: the job header is signed with key " + theirs.SigningKeyID() + ", which is not one of the keys given"},
		{"snapshot unsigned", ours, nil, http.StatusForbidden, "snapshot signature: the file is not signed"},
		{"snapshot signed with another key", ours, theirs, http.StatusForbidden,
			"snapshot signature: signed with key " + theirs.SigningKeyID() + ", which is not one of the keys given"},
		{"signed", ours, ours, http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, extra := job(strings.ReplaceAll(tc.name, " ", "-"), tc.header, tc.snap)
			status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, body, extra)
			if status != tc.status || e.Error != tc.want {
				t.Errorf("status %d %q, want %d %q", status, e.Error, tc.status, tc.want)
			}
		})
	}
	// A host with the keys sends signed jobs (once B's is done: it runs
	// one at a time).
	b.Wait()
	l := localHost(t, rec, nil)
	l.cfg.Keys = ours
	out := runLocal(t, l, module, progressArgs(4, 16, 10), "sent", Policy{Route: []string{b.URL}}, 0)
	if out.Moved != b.URL {
		t.Errorf("the signed job did not move: %+v", out)
	}
	// A changed header is refused.
	body, extra := job("changed", ours, ours)
	body = bytes.Replace(body, []byte(`"from":"test"`), []byte(`"from":"tost"`), 1)
	if status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, body, extra); status != http.StatusForbidden ||
		e.Error != "snapshot signature: the signature of the job header does not match" {
		t.Errorf("a changed header: status %d %q", status, e.Error)
	}
}
