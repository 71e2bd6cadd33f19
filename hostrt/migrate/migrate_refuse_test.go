package migrate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// request sends a request with the given Authorization header ("" for none).
func request(t *testing.T, method, u, auth string, body []byte, hdr map[string]string) (int, http.Header, apiError) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	var e apiError
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &e)
	return resp.StatusCode, resp.Header, e
}

// checkUntouched checks that a host runs and knows no job, and that
// nothing was written into its mount.
func checkUntouched(t *testing.T, h *testHost) {
	t.Helper()
	if jobs := h.Jobs(); len(jobs) != 0 {
		t.Errorf("%s knows jobs %+v, want none", h.Name(), jobs)
	}
	h.mu.Lock()
	h.Host.mu.Lock()
	running := h.running
	h.Host.mu.Unlock()
	h.mu.Unlock()
	if running != 0 {
		t.Errorf("%s counts %d running jobs, want 0", h.Name(), running)
	}
	if h.Dir != "" {
		entries, err := os.ReadDir(h.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("%s's mount holds %d files, want none", h.Name(), len(entries))
		}
	}
}

func moduleFiles(t *testing.T, h *testHost) int {
	t.Helper()
	entries, err := os.ReadDir(h.modules.dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func zstdCompress(data []byte) []byte {
	zw, _ := zstd.NewWriter(nil)
	defer zw.Close()
	return zw.EncodeAll(data, nil)
}

// TestUnauthorized sends every request without the right token: each is
// refused with 401 and changes nothing — no module stored, no job.
func TestUnauthorized(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	hexSum := hex.EncodeToString(sum[:])
	body := jobBody(t, module, "unauth")
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	wrong := "Bearer " + strings.Repeat("x", len(testToken))
	zmod := zstdCompress(module)
	tests := []struct {
		name, method, path, auth string
		body                     []byte
		hdr                      map[string]string
	}{
		{"HEAD module, no token", "HEAD", "/v1/modules/" + hexSum, "", nil, nil},
		{"PUT module, no token", "PUT", "/v1/modules/" + hexSum, "", zmod, map[string]string{"Content-Encoding": "zstd"}},
		{"PUT module, wrong token", "PUT", "/v1/modules/" + hexSum, wrong, zmod, map[string]string{"Content-Encoding": "zstd"}},
		{"PUT module, token as Basic", "PUT", "/v1/modules/" + hexSum, "Basic " + testToken, zmod, map[string]string{"Content-Encoding": "zstd"}},
		{"POST job, no token", "POST", "/v1/jobs", "", body, nil},
		{"POST job, wrong token", "POST", "/v1/jobs", wrong, body, nil},
		{"POST job, token prefix", "POST", "/v1/jobs", "Bearer " + testToken[:len(testToken)-1], body, nil},
		{"POST job, token and more", "POST", "/v1/jobs", "Bearer " + testToken + "x", body, nil},
		{"POST job, empty bearer", "POST", "/v1/jobs", "Bearer ", body, nil},
		{"GET jobs", "GET", "/v1/jobs", "", nil, nil},
		{"GET job", "GET", "/v1/jobs/unauth", wrong, nil, nil},
		{"POST migrate", "POST", "/v1/jobs/unauth/migrate", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, _ := request(t, tc.method, b.URL+tc.path, tc.auth, tc.body, tc.hdr)
			if status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", status)
			}
			if got := hdr.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	checkUntouched(t, b)
	if n := moduleFiles(t, b); n != 0 {
		t.Errorf("%d modules stored, want none", n)
	}
	if status, _, _ := request(t, "HEAD", b.URL+"/v1/modules/"+hexSum, "Bearer "+testToken, nil, nil); status != http.StatusNotFound {
		t.Errorf("HEAD module with the token: %d, want 404", status)
	}
	if status, _, _ := request(t, "GET", b.URL+"/v1/jobs/unauth", "Bearer "+testToken, nil, nil); status != http.StatusNotFound {
		t.Errorf("GET job with the token: %d, want 404", status)
	}
	// The same requests with the token work.
	if status, _, e := request(t, "PUT", b.URL+"/v1/modules/"+hexSum, "Bearer "+testToken, zmod, map[string]string{"Content-Encoding": "zstd"}); status != http.StatusCreated {
		t.Fatalf("PUT module with the token: %d %s", status, e.Error)
	}
	if status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, body, nil); status != http.StatusCreated {
		t.Fatalf("POST job with the token: %d %s", status, e.Error)
	}
}

// TestRefusedJobs sends broken, truncated and unacceptable job bodies: each
// is refused and the host stays as it was.
func TestRefusedJobs(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	body := jobBody(t, module, "refused")
	frameLen := len(jobMagic) + 4 + int(binary.LittleEndian.Uint32(body[len(jobMagic):]))
	rec := newRecorder()
	hosts := newTestHosts(t, rec, []string{"B", "small", "nomount"}, hostOptions{cfg: func(c *Config) {
		switch c.Name {
		case "small":
			c.MaxJobSize = int64(len(body) - 1)
		case "nomount":
			c.Mounts = nil
		}
	}})
	ctx := context.Background()
	for _, h := range hosts {
		if _, err := (&Client{Token: testToken}).EnsureModule(ctx, h.URL, sum, module); err != nil {
			t.Fatal(err)
		}
	}
	b, small, nomount := hosts[0], hosts[1], hosts[2]
	nomount.Dir = ""

	otherModule := bytes.Clone(body)
	copy(otherModule[bytes.Index(otherModule, []byte(`"module":"`))+10:], "00000000")
	flipped := bytes.Clone(body)
	flipped[frameLen+len(flipped[frameLen:])/2] ^= 1
	badMagic := bytes.Clone(body)
	badMagic[0] = 'X'
	longHeader := bytes.Clone(body[:frameLen])
	binary.LittleEndian.PutUint32(longHeader[len(jobMagic):], maxHeader+1)

	tests := []struct {
		name   string
		host   *testHost
		body   []byte
		status int
		code   string
	}{
		{"empty", b, []byte{}, 400, ""},
		{"cut in the magic", b, body[:5], 400, ""},
		{"cut in the header", b, body[:frameLen-3], 400, ""},
		{"cut after the header", b, body[:frameLen], 400, ""},
		{"cut in the snapshot header", b, body[:frameLen+30], 400, ""},
		{"cut in the middle", b, body[:frameLen+(len(body)-frameLen)/2], 400, ""},
		{"one byte short", b, body[:len(body)-1], 400, ""},
		{"one byte more", b, append(bytes.Clone(body), 0), 400, ""},
		{"a flipped bit", b, flipped, 400, ""},
		{"bad magic", b, badMagic, 400, ""},
		{"header too long", b, longHeader, 400, ""},
		{"unknown module", b, otherModule, 404, codeModuleUnknown},
		{"too large", small, body, 413, ""},
		{"guest path not mounted", nomount, body, 422, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, e := request(t, "POST", tc.host.URL+"/v1/jobs", "Bearer "+testToken, tc.body, nil)
			if status != tc.status || e.Code != tc.code {
				t.Errorf("status %d code %q (%s), want %d code %q", status, e.Code, e.Error, tc.status, tc.code)
			}
			checkUntouched(t, tc.host)
		})
	}

	// A body shorter than its Content-Length: the sender went away.
	t.Run("connection closed early", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(b.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/jobs HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", testToken, len(body))
		conn.Write(body[:len(body)/2])
		conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
		checkUntouched(t, b)
	})
}

// TestDuplicateJobs sends a job twice: while it runs the second copy is
// refused (and so is another job: the host is full), and a stale hop is
// refused after it ended.
func TestDuplicateJobs(t *testing.T) {
	module := progressModule(t)
	sum := sha256.Sum256(module)
	body := jobBody(t, module, "dup")
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	if _, err := (&Client{Token: testToken}).EnsureModule(context.Background(), b.URL, sum, module); err != nil {
		t.Fatal(err)
	}
	hop2 := bytes.Replace(body, []byte(`"hop":1`), []byte(`"hop":2`), 1)
	post := func(body []byte) (int, string) {
		status, _, e := request(t, "POST", b.URL+"/v1/jobs", "Bearer "+testToken, body, nil)
		return status, e.Error
	}
	if status, msg := post(body); status != 201 {
		t.Fatalf("first: %d %s", status, msg)
	}
	// The job sleeps 30 ms between blocks and has 6 more to write.
	if status, msg := post(hop2); status != 409 || !strings.Contains(msg, "already runs here") {
		t.Errorf("while it runs: %d %q, want 409 already runs here", status, msg)
	}
	// The host runs one job at a time (MaxJobs defaults to 1).
	if status, msg := post(jobBody(t, module, "other")); status != 503 {
		t.Errorf("another job while it runs: %d %q, want 503", status, msg)
	}
	b.Wait()
	if status, msg := post(body); status != 409 || !strings.Contains(msg, "stale") {
		t.Errorf("after it ended: %d %q, want 409 stale", status, msg)
	}
	if jobs := b.Jobs(); len(jobs) != 1 || jobs[0].ID != "dup" || jobs[0].State != StateFinished || jobs[0].Hop != 1 {
		t.Errorf("jobs %+v, want the first, finished", jobs)
	}
}

// cutProxy passes requests on to target, but cuts job uploads: after cut
// bytes (negative: -cut bytes before the end; a job body of protocol 2
// can be a few hundred bytes) it ends the body (abort false: the target
// sees a short body) or breaks the connection (abort true: the sender sees
// no answer).
func cutProxy(t *testing.T, target string, cut int64, abort bool) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/v1/jobs" || r.URL.Path == "/v2/jobs") {
			cut := cut
			if cut < 0 {
				cut += r.ContentLength
			}
			if abort {
				io.CopyN(io.Discard, r.Body, cut)
				panic(http.ErrAbortHandler)
			}
			r.Body = io.NopCloser(io.LimitReader(r.Body, cut))
			r.ContentLength = -1
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestFailedMoveContinues makes every move of a job fail, in the ways a
// move can fail: the job keeps running where it was, as if it had never
// paused, and ends there; the peer has no trace of it.
func TestFailedMoveContinues(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(12, 64, 15)
	wantOut, wantFile := reference(t, module, args)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name string
		// to is where the job goes, given the peer B's URL.
		to    func(b string) string
		noB   bool // B offers no mount
		token string
		// paused says whether the job pauses before the move fails (the
		// peer is reachable, has the module and knows the token).
		paused bool
		// refused says whether B receives the job and refuses it.
		refused bool
	}{
		{name: "upload truncated", to: func(b string) string { return cutProxy(t, b, -1, false) }, paused: true, refused: true},
		{name: "connection broken during the upload", to: func(b string) string { return cutProxy(t, b, -1, true) }, paused: true},
		{name: "peer lacks the mount", to: func(b string) string { return b }, noB: true, paused: true, refused: true},
		{name: "wrong token", to: func(b string) string { return b }, token: "not-the-token"},
		{name: "peer unreachable", to: func(string) string { return closed.URL }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			b := newTestHosts(t, rec, []string{"B"}, hostOptions{noMount: tc.noB})[0]
			if tc.noB {
				b.Dir = ""
			}
			token := testToken
			if tc.token != "" {
				token = tc.token
			}
			l := localHost(t, rec, &Client{Token: token})
			out := runLocal(t, l, module, args, "failing", Policy{Route: []string{tc.to(b.URL)}, Every: 20 * time.Millisecond}, 0)
			if out.Moved != "" || out.Exit != 0 {
				t.Fatalf("outcome %+v, want the job to end here with exit 0", out)
			}
			lines, _ := rec.snapshot()
			checkOutput(t, program(lines, "failing"), wantOut)
			checkFile(t, filepath.Join(l.Dir, "p.bin"), wantFile)
			failed, resumed := count(lines, "[L] ", "could not move"), count(lines, "[L] ", "continues here")
			notTried := count(lines, "[L] ", "cannot move")
			if tc.paused && (failed == 0 || resumed != failed) {
				t.Errorf("%d failed moves after a pause, %d resumed; want at least one, all resumed", failed, resumed)
			}
			if !tc.paused && (notTried == 0 || failed != 0) {
				t.Errorf("%d moves not tried, %d failed after a pause; want some not tried, none paused", notTried, failed)
			}
			if refusals := count(lines, "[B] ", "refused from L"); tc.refused && refusals == 0 {
				t.Errorf("B refused no upload:\n%s", strings.Join(lines, ""))
			}
			t.Logf("%d moves failed after a pause, %d before", failed, notTried)
			checkUntouched(t, b)
		})
	}
}

// TestTLS moves a job to a host that serves HTTPS, trusting its
// certificate through a CA file; a client that does not trust it keeps
// the job.
func TestTLS(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(12, 64, 15)
	wantOut, wantFile := reference(t, module, args)
	rec := newRecorder()
	a := newTestHosts(t, rec, []string{"A"}, hostOptions{tls: true})[0]
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(testToken, ca)
	if err != nil {
		t.Fatal(err)
	}
	l := localHost(t, rec, client)
	out := runLocal(t, l, module, args, "tls", Policy{Route: []string{a.URL}}, 0)
	if out.Moved != a.URL {
		t.Fatalf("outcome %+v, want moved to A", out)
	}
	st, err := client.Follow(context.Background(), a.URL, "tls", nil)
	if err != nil || st.State != StateFinished || st.Exit != 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
	a.Wait()
	lines, _ := rec.snapshot()
	checkOutput(t, program(lines, "tls"), wantOut)
	checkFile(t, filepath.Join(a.Dir, "p.bin"), wantFile)

	// Without the CA the job stays.
	untrusting, _ := NewClient(testToken, "")
	l2 := localHost(t, rec, untrusting)
	out = runLocal(t, l2, module, args, "tls2", Policy{Route: []string{a.URL}}, 0)
	if out.Moved != "" {
		t.Fatalf("outcome %+v, want the job to stay", out)
	}
	lines, _ = rec.snapshot()
	if count(lines, "[L] ", "certificate") == 0 {
		t.Errorf("no certificate error logged:\n%s", strings.Join(lines, ""))
	}
}
