package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
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

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// chunkSet is the addresses of a snapshot's non-zero memory pages and
// file pieces, computed apart from the Chunker.
func chunkSet(snap *snapshot.Snapshot) map[snapshot.Address]bool {
	set := map[snapshot.Address]bool{}
	mem := snap.Instance.Memory
	zero := make([]byte, snapshot.MemoryChunkSize)
	for i := 0; i < len(mem); i += snapshot.MemoryChunkSize {
		if page := mem[i : i+snapshot.MemoryChunkSize]; !bytes.Equal(page, zero) {
			set[sha256.Sum256(page)] = true
		}
	}
	for _, f := range snap.Files {
		for i := 0; i < len(f.Data); i += snapshot.FileChunkSize {
			set[sha256.Sum256(f.Data[i:min(len(f.Data), i+snapshot.FileChunkSize)])] = true
		}
	}
	return set
}

// storeHas counts the chunks a host's chunk store holds.
func storeHas(h *Host) int {
	h.chunks.mu.Lock()
	defer h.chunks.mu.Unlock()
	return len(h.chunks.index)
}

// TestPreCopySendsOnlyChangedChunks pre-copies a running job to B twice,
// then moves it: each transfer carries exactly the chunks B lacks (those
// whose content is new since the transfer before; none for a sender that
// has not talked to B before but whose chunks B has), and the job
// finishes on B with the file it would have written without moving.
func TestPreCopySendsOnlyChangedChunks(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(40, 64, 20)
	wantOut, wantFile := reference(t, module, args)
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	ctx := context.Background()
	cl := &Client{Token: testToken}
	sum := sha256.Sum256(module)
	if _, err := cl.EnsureModule(ctx, b.URL, sum, module); err != nil {
		t.Fatal(err)
	}

	out := newRecorder()
	dir := t.TempDir()
	j, err := hostrt.Start(ctx, hostrt.Config{Module: module, Args: args, Stdout: out, Cache: testCache, SnapshotFiles: true,
		Mounts: []wasip1.Mount{{HostDir: dir, GuestPath: "/out"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(ctx)
	ran := make(chan error, 1)
	go func() { _, err := j.Run(ctx); ran <- err }()

	peer := newPeerChunks(b.URL)
	enc := snapshot.NewEncoder()
	seen := map[snapshot.Address]bool{}
	for i, lines := range []int{2, 6} {
		out.waitFor(t, fmt.Sprintf("%d lines", lines), func(l []string) bool { return len(l) >= lines })
		snap, err := j.Snapshot(ctx, hostrt.SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for a := range chunkSet(snap) {
			if !seen[a] {
				want++
				seen[a] = true
			}
		}
		sent, _, err := peer.preCopy(ctx, cl, enc, snap)
		if err != nil {
			t.Fatal(err)
		}
		if sent != want || storeHas(b.Host) != len(seen) {
			t.Fatalf("pre-copy %d sent %d chunks, want %d (B holds %d, want %d)", i+1, sent, want, storeHas(b.Host), len(seen))
		}
		// A sender that knows nothing of B's store (the job coming back
		// from elsewhere) sends nothing B has.
		if sent, _, err := newPeerChunks(b.URL).preCopy(ctx, cl, enc, snap); err != nil || sent != 0 {
			t.Fatalf("a fresh sender sent %d chunks (%v), want none", sent, err)
		}
		t.Logf("pre-copy %d: %d chunks", i+1, sent)
	}
	snap, err := j.Snapshot(ctx, hostrt.SnapshotOptions{Stop: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != hostrt.ErrStopped {
		t.Fatalf("run: %v", err)
	}
	want := 0
	for a := range chunkSet(snap) {
		if !seen[a] {
			want++
		}
	}
	manifest, err := peer.encode(ctx, enc, snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(peer.pending) != want {
		t.Fatalf("the move carries %d chunks, want %d", len(peer.pending), want)
	}
	hdr := &Header{ID: "precopy", Hop: 1, From: "test", Module: fmt.Sprintf("%x", sum)}
	if _, _, err := cl.SendManifest(ctx, b.URL, hdr, peer.pending, manifest, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := cl.Follow(ctx, b.URL, "precopy", nil); err != nil || st.State != StateFinished || st.Exit != 0 {
		t.Fatalf("on B: %+v, %v; want finished", st, err)
	}
	b.Wait()
	before, _ := out.snapshot()
	lines, _ := rec.snapshot()
	checkOutput(t, strings.Join(before, "")+program(lines, "precopy"), wantOut)
	checkFile(t, filepath.Join(b.Dir, "p.bin"), wantFile)
}

// TestMissingChunks posts a manifest whose chunks B does not have: B
// refuses it in one line before anything is written, with the code that
// makes a sender send every chunk again.
func TestMissingChunks(t *testing.T) {
	module := progressModule(t)
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	ctx := context.Background()
	cl := &Client{Token: testToken}
	sum := sha256.Sum256(module)
	if _, err := cl.EnsureModule(ctx, b.URL, sum, module); err != nil {
		t.Fatal(err)
	}
	snap := pausedProgress(t, module)
	peer := newPeerChunks(b.URL)
	for a := range chunkSet(snap) {
		peer.known[a] = true // wrongly
	}
	manifest, err := peer.encode(ctx, snapshot.NewEncoder(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(peer.pending) != 0 {
		t.Fatalf("%d chunks pending, want none", len(peer.pending))
	}
	n := len(chunkSet(snap))
	hdr := &Header{ID: "lacking", Hop: 1, From: "test", Module: fmt.Sprintf("%x", sum)}
	_, _, err = cl.SendManifest(ctx, b.URL, hdr, nil, manifest, nil)
	wantMsg := fmt.Sprintf("%d of the %d chunks the manifest names are not here (the first: ", n, n)
	ref, ok := err.(*RefusedError)
	if !ok || ref.Status != http.StatusConflict || ref.Code != codeChunksMissing || !strings.HasPrefix(ref.Msg, wantMsg) {
		t.Fatalf("SendManifest: %v; want 409 %s %s…", err, codeChunksMissing, wantMsg)
	}
	lines, _ := rec.snapshot()
	if n := count(lines, "[B] ", "lacking"); n != 1 || count(lines, "[B] job lacking: refused from test: "+wantMsg, "") != 1 {
		t.Errorf("B logged %q, want one refusal line", lines)
	}
	checkUntouched(t, b)
}

// TestBrokenChunkStore moves a job to a host whose chunk store cannot
// store anything: the pre-copy and the move fail in one line each, and
// the job goes on where it was and ends there.
func TestBrokenChunkStore(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(12, 64, 15)
	wantOut, wantFile := reference(t, module, args)
	rec := newRecorder()
	chunkDir := filepath.Join(t.TempDir(), "chunks")
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{cfg: func(c *Config) { c.ChunkDir = chunkDir }})[0]
	if err := os.RemoveAll(chunkDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chunkDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l := localHost(t, rec, nil)
	out := runLocal(t, l, module, args, "stuck", Policy{Route: []string{b.URL}, Every: 50 * time.Millisecond}, 0)
	if out.Moved != "" || out.Exit != 0 {
		t.Fatalf("outcome %+v, want the job to end here with exit 0", out)
	}
	lines, _ := rec.snapshot()
	checkOutput(t, program(lines, "stuck"), wantOut)
	checkFile(t, filepath.Join(l.Dir, "p.bin"), wantFile)
	wantPre := fmt.Sprintf("[L] job stuck: pre-copy to %s failed: %s refused: 500 chunks: this host's chunk store: mkdir %s: not a directory; moving without it\n", b.URL, b.URL, chunkDir)
	wantMove := fmt.Sprintf("[L] job stuck: could not move to %s after ", b.URL)
	wantMoveErr := fmt.Sprintf(" paused: %s refused: 500 job: this host's chunk store: mkdir %s: not a directory; continuing here\n", b.URL, chunkDir)
	pre, moves := countExact(lines, wantPre), 0
	for _, line := range lines {
		if strings.HasPrefix(line, wantMove) && strings.HasSuffix(line, wantMoveErr) {
			moves++
		}
	}
	if pre == 0 || moves != pre || count(lines, "[L] ", "continues here") != moves {
		t.Errorf("%d failed pre-copies, %d failed moves; want as many, at least one, each resumed:\n%s", pre, moves, strings.Join(lines, ""))
	}
	checkUntouched(t, b)
}

// TestOldPeer moves a job to a host that speaks only protocol 1: the job
// stays, with one line saying why.
func TestOldPeer(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(20, 64, 30)
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	u, _ := url.Parse(b.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			http.NotFound(w, r) // as the ServeMux of an older wasmsr answers
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(old.Close)
	l := localHost(t, rec, nil)
	out := runLocal(t, l, module, args, "old", Policy{Route: []string{old.URL}, Every: 50 * time.Millisecond}, 0)
	if out.Moved != "" || out.Exit != 0 {
		t.Fatalf("outcome %+v, want the job to end here", out)
	}
	lines, _ := rec.snapshot()
	want := fmt.Sprintf("[L] job old: cannot move to %s: %s refused: 404 the host does not speak migration protocol 2 (an older wasmsr?): upgrade it; continuing here\n", old.URL, old.URL)
	if n := count(lines, "[L] ", "cannot move"); n == 0 || n != countExact(lines, want) {
		t.Errorf("%d lines about not moving, want each %q:\n%s", n, want, strings.Join(lines, ""))
	}
	if count(lines, "[L] ", "paused") != 0 {
		t.Errorf("the job paused to move:\n%s", strings.Join(lines, ""))
	}
}

func countExact(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}

// chunkRecord is one record of a chunk stream.
func chunkRecord(a snapshot.Address, stored []byte) []byte {
	var b bytes.Buffer
	writeChunk(&b, a, stored)
	return b.Bytes()
}

// TestHostileChunks sends B malformed protocol 2 requests: each is
// refused with its status and one clear message, and B stores nothing.
func TestHostileChunks(t *testing.T) {
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{})[0]
	zw, _ := zstd.NewWriter(nil)
	raw := bytes.Repeat([]byte("wasmsr"), 1000)
	stored := zw.EncodeAll(raw, nil)
	good := snapshot.Address(sha256.Sum256(raw))
	var wrong snapshot.Address
	huge := binary.LittleEndian.AppendUint32(nil, maxStoredChunk+1)
	end := []byte{0, 0, 0, 0}
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		msg                string
	}{
		{"address list not whole", "POST", "/v2/chunks/missing", make([]byte, 33), 400, "address list of 33 bytes, not a multiple of 32"},
		{"address list too long", "POST", "/v2/chunks/missing", make([]byte, (maxAddresses+1)*addressSize), 413, "address list larger than"},
		{"chunk not its address", "PUT", "/v2/chunks", append(chunkRecord(wrong, stored), end...), 400, "chunks: chunk 0: bad chunk 0000000000000000000000000000000000000000000000000000000000000000: its content does not match its address"},
		{"chunk not zstd", "PUT", "/v2/chunks", append(chunkRecord(good, raw[:100]), end...), 400, "chunks: chunk 0: bad chunk " + good.String() + ": "},
		{"chunk too large", "PUT", "/v2/chunks", huge, 400, fmt.Sprintf("chunks: chunk 0: %d bytes (at most %d)", maxStoredChunk+1, maxStoredChunk)},
		{"stream truncated", "PUT", "/v2/chunks", chunkRecord(good, stored)[:40], 400, "chunks: chunk 0: unexpected EOF"},
		{"stream without end", "PUT", "/v2/chunks", chunkRecord(good, stored), 400, "chunks: chunk 1: unexpected EOF"},
		{"bytes after the end", "PUT", "/v2/chunks", append(append(chunkRecord(good, stored), end...), 1), 400, "chunks: bytes after the end of the chunk stream"},
		{"job without frame", "POST", "/v2/jobs", end, 400, "job: job frame: unexpected EOF"},
	}
	// A stream's chunks are stored as they are checked: a good chunk
	// before a fault is kept (the store holds only chunks that are what
	// their address says).
	held := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, e := request(t, tc.method, b.URL+tc.path, "Bearer "+testToken, tc.body, nil)
			if status != tc.status || !strings.HasPrefix(e.Error, tc.msg) || strings.Contains(e.Error, "\n") {
				t.Errorf("%d %q, want %d %s…", status, e.Error, tc.status, tc.msg)
			}
			if bytes.HasPrefix(tc.body, chunkRecord(good, stored)) {
				held = 1
			}
			if n := storeHas(b.Host); n != held {
				t.Errorf("B holds %d chunks, want %d", n, held)
			}
		})
	}
	// The good chunk is taken, and then not asked for.
	if status, _, e := request(t, "PUT", b.URL+"/v2/chunks", "Bearer "+testToken, append(chunkRecord(good, stored), end...), nil); status != 200 {
		t.Fatalf("a good chunk: %d %s", status, e.Error)
	}
	missing, err := (&Client{Token: testToken}).MissingChunks(context.Background(), b.URL, []snapshot.Address{wrong, good, wrong})
	if err != nil || len(missing) != 1 || missing[0] != wrong {
		t.Errorf("missing: %v, %v; want only %s", missing, err, wrong)
	}
}

// TestCheckMissing checks a peer's answer to a missing-chunks query.
func TestCheckMissing(t *testing.T) {
	a, b, c := snapshot.Address{1}, snapshot.Address{2}, snapshot.Address{3}
	asked := []snapshot.Address{a, b}
	tests := []struct {
		name   string
		answer []snapshot.Address
		extra  int
		want   string
	}{
		{name: "none", answer: nil},
		{name: "all", answer: []snapshot.Address{b, a}},
		{name: "not asked", answer: []snapshot.Address{c}, want: "chunk " + c.String() + " was not asked about, or named twice"},
		{name: "twice", answer: []snapshot.Address{a, a}, want: "chunk " + a.String() + " was not asked about, or named twice"},
		{name: "too long", answer: []snapshot.Address{a, b, c}, want: "96 bytes for 2 addresses asked"},
		{name: "not whole", answer: []snapshot.Address{a}, extra: 1, want: "address list of 33 bytes, not a multiple of 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := append(encodeAddresses(tc.answer), make([]byte, tc.extra)...)
			got, err := checkMissing(body, asked)
			if tc.want != "" {
				if err == nil || err.Error() != tc.want {
					t.Fatalf("%v, %v; want error %q", got, err, tc.want)
				}
				return
			}
			if err != nil || len(got) != len(tc.answer) {
				t.Fatalf("%v, %v; want %v", got, err, tc.answer)
			}
		})
	}
}

// FuzzChunkStream reads fuzzed chunk streams: the reader never panics,
// and hands on only chunks whose content is their address.
func FuzzChunkStream(f *testing.F) {
	zw, _ := zstd.NewWriter(nil)
	raw := []byte("a chunk")
	good := chunkRecord(sha256.Sum256(raw), zw.EncodeAll(raw, nil))
	f.Add(append(good, 0, 0, 0, 0))
	f.Add(good)
	f.Add([]byte{0, 0, 0, 0})
	f.Add(append(chunkRecord(snapshot.Address{}, []byte{1, 2, 3}), 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, body []byte) {
		zr, _ := zstd.NewReader(nil)
		defer zr.Close()
		readChunks(bytes.NewReader(body), func(a snapshot.Address, stored []byte) error {
			raw, err := zr.DecodeAll(stored, nil)
			if err != nil || sha256.Sum256(raw) != a {
				t.Fatalf("chunk %s handed on: %v", a, err)
			}
			return nil
		})
	})
}

// FuzzMissingAnswer checks fuzzed answers to a missing-chunks query: no
// panic, and what is accepted names only addresses asked about, once.
func FuzzMissingAnswer(f *testing.F) {
	asked := []snapshot.Address{{1}, {2}, {3}}
	f.Add(encodeAddresses(asked[:2]))
	f.Add([]byte{1, 2, 3})
	f.Add(encodeAddresses([]snapshot.Address{{1}, {1}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := checkMissing(body, asked)
		if err != nil {
			return
		}
		seen := map[snapshot.Address]bool{}
		for _, a := range got {
			if seen[a] || (a != asked[0] && a != asked[1] && a != asked[2]) {
				t.Fatalf("accepted %v", got)
			}
			seen[a] = true
		}
	})
}
