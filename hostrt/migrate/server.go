package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/supervise"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// Deadlines of the server's requests: reading an upload, and answering.
var (
	uploadTimeout = 10 * time.Minute
	answerTimeout = 20 * time.Minute // a module upload is answered after its compilation
	maxWait       = time.Minute
)

// The server's connection timeouts (see NewServer).
var (
	headerTimeout  = 10 * time.Second
	idleTimeout    = 2 * time.Minute
	requestTimeout = 2 * time.Minute // more than maxWait
)

// Handler returns the host's HTTP API (see the package documentation).
func (h *Host) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("HEAD /v1/modules/{sum}", h.handleModuleHead)
	mux.HandleFunc("GET /v1/modules/{sum}", h.handleModuleHead)
	mux.Handle("PUT /v1/modules/{sum}", returnMemory(h.handleModulePut))
	mux.Handle("POST /v1/jobs", returnMemory(h.handleJobPost))
	mux.Handle("POST /v2/jobs", returnMemory(h.handleManifestPost))
	mux.Handle("POST /v2/jobs/stored", returnMemory(h.handleStoredPost))
	mux.HandleFunc("POST /v2/chunks/missing", h.handleChunksMissing)
	mux.Handle("PUT /v2/chunks", returnMemory(h.handleChunksPut))
	mux.HandleFunc("GET /v1/jobs", h.handleJobList)
	mux.HandleFunc("GET /v1/jobs/{id}", h.handleJobGet)
	mux.HandleFunc("POST /v1/jobs/{id}/migrate", h.handleJobMigrate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer h.recoverRequest(w, r)
		if !h.authorized(r) {
			h.Logf("refused %s %s from %s: no valid bearer token", quoted(r.Method), quoted(r.URL.Path), r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="wasmsr"`)
			// The body is not read; the connection cannot be reused.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusUnauthorized, "", "missing or wrong bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// NewServer returns an http.Server for the handler with the timeouts a
// server on a network needs. The header timeout also bounds a TLS
// handshake, and the idle timeout a kept-alive connection's wait for its
// next request. The request timeouts bound what no handler extends: the
// body of a request that is not an upload (the server reads and drops up
// to 256 KiB of it after the answer) and the answer; they exceed the
// longest wait for a job's status. Uploads set their own (uploadBody).
func (h *Host) NewServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h.Handler(),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverLog{h}, "", 0),
	}
}

// serverLog writes the http.Server's own messages (TLS handshake errors,
// for one) as the host's log lines.
type serverLog struct{ h *Host }

func (l serverLog) Write(p []byte) (int, error) {
	l.h.Logf("%s", p)
	return len(p), nil
}

// recoverRequest, deferred by the handler, answers a request whose
// handler panicked with 500 and one log line.
func (h *Host) recoverRequest(w http.ResponseWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	err := panicError(p)
	h.Logf("%s %s from %s: %s", quoted(r.Method), quoted(r.URL.Path), r.RemoteAddr, errLine(err))
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusInternalServerError, "", errLine(err))
}

// largeRefusal is how much a refused upload must have allocated for the
// host to give the memory back to the system at once.
const largeRefusal = 64 << 20

var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func allocated() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// returnMemory gives the memory a refused upload took (its body, what it
// decoded to) back to the system when it was large. Left alone, it would
// be freed at a collection that may be far off (the heap goal grew with
// it, and while jobs run here the collector is off: hostrt), and given
// back to the system only gradually after that. A refusal of a large
// upload is rare enough to pay for a collection then; the process (jobs
// included) stands still for it, until each guest next calls the host.
// What was allocated is measured for the whole process: other work done
// meanwhile can only make a collection more likely.
func returnMemory(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before := allocated()
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		if sw.status >= 400 && allocated()-before >= largeRefusal {
			debug.FreeOSMemory()
		}
	})
}

// statusWriter remembers a response's status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (h *Host) authorized(r *http.Request) bool {
	if h.cfg.Token == "" {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	// Hashing first makes the comparison's time independent of the length.
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], h.tokenHash[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// deadlines gives a handler time to read an upload and to answer, and
// returns the upload's deadline.
func deadlines(w http.ResponseWriter) time.Time {
	rc := http.NewResponseController(w)
	until := time.Now().Add(uploadTimeout)
	rc.SetReadDeadline(until)
	rc.SetWriteDeadline(time.Now().Add(answerTimeout))
	return until
}

// bodyError answers a failed body read: too large, too slow, or cut short.
func bodyError(w http.ResponseWriter, what string, err error) {
	var tooLarge *http.MaxBytesError
	var slow *slowUploadError
	switch {
	case errors.As(err, &tooLarge):
		// The rest of the body is not read (MaxBytesReader would say so
		// itself, but returnMemory's writer hides the connection from it).
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("%s larger than %d bytes", what, tooLarge.Limit))
	case errors.As(err, &slow) || errors.Is(err, errUploadTimeout):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "", fmt.Sprintf("%s: %v", what, err))
	default:
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("%s: %v", what, err))
	}
}

func (h *Host) handleModuleHead(w http.ResponseWriter, r *http.Request) {
	sum, err := parseHash(r.PathValue("sum"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	deadlines(w)
	m, err := h.modules.get(r.Context(), sum)
	switch {
	case errors.Is(err, errNoModule):
		writeError(w, http.StatusNotFound, codeModuleUnknown, "no such module here")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	default:
		h.modules.prepareSpare(m)
		writeJSON(w, http.StatusOK, map[string]any{"sha256": r.PathValue("sum"), "size": len(m.data)})
	}
}

func (h *Host) handleModulePut(w http.ResponseWriter, r *http.Request) {
	sum, err := parseHash(r.PathValue("sum"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	if !h.takeUpload(w) {
		return
	}
	defer h.endUpload()
	max := h.cfg.MaxModuleSize
	var body io.Reader = h.uploadBody(w, r, max)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "zstd":
		zr, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)))
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		defer zr.Close()
		body = zr
	case "", "identity":
	default:
		writeError(w, http.StatusUnsupportedMediaType, "", "content encoding "+strconv.Quote(enc))
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err == nil && int64(len(data)) > max {
		err = &http.MaxBytesError{Limit: max}
	}
	if err != nil {
		h.Logf("module %x: refused from %s: %s", sum[:8], r.RemoteAddr, errLine(err))
		bodyError(w, "module", err)
		return
	}
	start := time.Now()
	m, created, err := h.modules.put(r.Context(), sum, data)
	if err == nil {
		h.modules.prepareSpare(m)
	}
	if err != nil {
		h.Logf("module %x: refused from %s: %s", sum[:8], r.RemoteAddr, errLine(err))
		status := http.StatusUnprocessableEntity
		if errors.Is(err, errInternal) {
			status = http.StatusInternalServerError
		}
		writeError(w, status, "", errLine(err))
		return
	}
	if created {
		h.Logf("module %x received (%s), ready in %s", sum[:8], formatBytes(int64(len(data))), ms(time.Since(start)))
		writeJSON(w, http.StatusCreated, map[string]any{"sha256": r.PathValue("sum")})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha256": r.PathValue("sum")})
}

func (h *Host) handleJobList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.Jobs())
}

func (h *Host) handleJobGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, changed, ok := h.status(id)
	if !ok {
		writeError(w, http.StatusNotFound, "", "no such job here")
		return
	}
	q := r.URL.Query()
	if ws := q.Get("wait"); ws != "" {
		wait, err := time.ParseDuration(ws)
		if err != nil || wait < 0 {
			writeError(w, http.StatusBadRequest, "", "wait "+strconv.Quote(ws))
			return
		}
		hop, _ := strconv.Atoi(q.Get("hop"))
		timer := time.NewTimer(min(wait, maxWait))
		defer timer.Stop()
		for st.Hop == hop && st.State == q.Get("state") {
			select {
			case <-changed:
			case <-timer.C:
				writeJSON(w, http.StatusOK, st)
				return
			case <-r.Context().Done():
				return
			}
			st, changed, _ = h.status(id)
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Host) handleJobMigrate(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	rec, ok := h.records[r.PathValue("id")]
	var run *runner
	if ok {
		run = rec.runner
	}
	h.mu.Unlock()
	if run == nil {
		writeError(w, http.StatusNotFound, "", "the job does not run here")
		return
	}
	target, ok := run.policy.target()
	if !ok || !h.allowed(target, run.local) {
		writeError(w, http.StatusConflict, "", "the job has nowhere to go from here")
		return
	}
	select {
	case run.trigger <- supervise.Trigger{Reason: "asked to move"}:
	default:
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": run.id, "to": target})
}

// handleJobPost receives a job in protocol 1: the frame and a whole
// snapshot.
func (h *Host) handleJobPost(w http.ResponseWriter, r *http.Request) {
	h.receiveJob(w, r, h.readSnapshot)
}

// handleManifestPost receives a job in protocol 2: the frame, the chunks
// the sender takes this host to lack, and the manifest.
func (h *Host) handleManifestPost(w http.ResponseWriter, r *http.Request) {
	h.receiveJob(w, r, h.readManifest)
}

// arrival is a job's body, read and opened.
type arrival struct {
	snap *snapshot.Snapshot
	// bytes is the body's size; receive and decode how long reading it
	// (after the frame) and opening the snapshot took.
	bytes           int64
	receive, decode time.Duration
	// refs is what the manifest names in the shared store, for a job
	// that arrived through it.
	refs *snapshot.Refs
}

// readJobFunc reads the rest of a job's body after its frame and opens
// its snapshot. On failure it logs why and answers the request itself.
type readJobFunc func(w http.ResponseWriter, r *http.Request, hdr *Header, body io.Reader, mod *module) (*arrival, bool)

// refuseJob logs why a job is refused.
func (h *Host) refuseJob(r *http.Request, hdr *Header, err error) {
	h.Logf("job %s: refused from %s: %s", hdr.ID, quoted(hdr.From), errLine(err))
}

// readSnapshot reads a protocol 1 body: a whole snapshot.
func (h *Host) readSnapshot(w http.ResponseWriter, r *http.Request, hdr *Header, body io.Reader, mod *module) (*arrival, bool) {
	start := time.Now()
	data, err := io.ReadAll(body)
	if err != nil {
		h.refuseJob(r, hdr, err)
		bodyError(w, "job", err)
		return nil, false
	}
	a := &arrival{bytes: int64(len(data)) + int64(len(jobMagic)+4+len(hdr.raw)), receive: time.Since(start)}
	start = time.Now()
	if a.snap, err = hostrt.OpenSnapshot(bytes.NewReader(data), int64(len(data)), mod.data, hostrt.ReadOptions{Keys: h.cfg.Keys, MaxMemory: h.cfg.MaxMemory, Facts: mod.facts}); err != nil {
		h.refuseSnapshot(w, r, hdr, err)
		return nil, false
	}
	a.decode = time.Since(start)
	return a, true
}

// refuseSnapshot answers a snapshot that cannot be opened.
func (h *Host) refuseSnapshot(w http.ResponseWriter, r *http.Request, hdr *Header, err error) {
	h.refuseJob(r, hdr, err)
	status := http.StatusBadRequest
	if errors.Is(err, snapshot.ErrSignature) {
		status = http.StatusForbidden
	}
	writeError(w, status, "", err.Error())
}

// readManifest reads a protocol 2 body: chunks into the host's chunk
// store, each checked against its address, then the manifest, whose
// chunks must all be here before anything is restored (a restore that
// found one missing would have written part of the job's files).
func (h *Host) readManifest(w http.ResponseWriter, r *http.Request, hdr *Header, body io.Reader, mod *module) (*arrival, bool) {
	start := time.Now()
	cr := &countingReader{r: body}
	if _, _, err := readChunks(cr, h.putChunk); err != nil {
		h.refuseJob(r, hdr, err)
		chunksError(w, "job", err)
		return nil, false
	}
	manifest, err := io.ReadAll(cr)
	if err != nil {
		h.refuseJob(r, hdr, err)
		bodyError(w, "job", err)
		return nil, false
	}
	a := &arrival{bytes: cr.n + int64(len(jobMagic)+4+len(hdr.raw)), receive: time.Since(start)}
	start = time.Now()
	if a.snap, err = hostrt.OpenSnapshot(bytes.NewReader(manifest), int64(len(manifest)), mod.data, hostrt.ReadOptions{Keys: h.cfg.Keys, MaxMemory: h.cfg.MaxMemory, Facts: mod.facts, Chunks: h.chunks}); err != nil {
		h.refuseSnapshot(w, r, hdr, err)
		return nil, false
	}
	// A whole snapshot (format version 2) names no chunks.
	if refs, err := snapshot.ManifestRefs(manifest, nil); err == nil {
		addrs := refs.Chunks
		if missing := h.chunks.missing(addrs); len(missing) > 0 {
			err := fmt.Errorf("%d of the %d chunks the manifest names are not here (the first: %s)", len(missing), len(addrs), missing[0])
			h.refuseJob(r, hdr, err)
			writeError(w, http.StatusConflict, codeChunksMissing, err.Error())
			return nil, false
		}
	}
	a.decode = time.Since(start)
	return a, true
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// handleChunksMissing answers which of the chunks named in the body (an
// address list) this host lacks.
func (h *Host) handleChunksMissing(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAddresses*int64(addressSize)))
	if err != nil {
		bodyError(w, "address list", err)
		return
	}
	addrs, err := decodeAddresses(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(encodeAddresses(h.chunks.missing(addrs)))
}

// handleChunksPut stores the chunks of the body (a chunk stream), each
// checked against its address: a sender's pre-copy.
func (h *Host) handleChunksPut(w http.ResponseWriter, r *http.Request) {
	if !h.takeUpload(w) {
		return
	}
	defer h.endUpload()
	body := h.uploadBody(w, r, h.cfg.MaxJobSize)
	n, size, err := readChunks(body, h.putChunk)
	if err == nil {
		err = expectBodyEnd(body)
	}
	if err != nil {
		h.Logf("refused chunks from %s: %s", r.RemoteAddr, errLine(err))
		chunksError(w, "chunks", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"chunks": n, "bytes": size})
}

// errChunkStore marks a chunk this host could not store: its own
// failure, not the sender's.
var errChunkStore = errors.New("this host's chunk store")

// putChunk stores a chunk that arrived.
func (h *Host) putChunk(a snapshot.Address, stored []byte) error {
	if err := h.chunks.Put(context.Background(), a, stored); err != nil {
		return fmt.Errorf("%w: %v", errChunkStore, err)
	}
	return nil
}

// chunksError answers a failed read of chunks: the host's store failing
// (500), or the body's fault.
func chunksError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, errChunkStore) {
		writeError(w, http.StatusInternalServerError, "", fmt.Sprintf("%s: %v", what, err))
		return
	}
	bodyError(w, what, err)
}

// expectBodyEnd checks that nothing follows a chunk stream's end.
func expectBodyEnd(r io.Reader) error {
	var b [1]byte
	if n, _ := io.ReadFull(r, b[:]); n > 0 {
		return errors.New("bytes after the end of the chunk stream")
	}
	return nil
}

// takeUpload takes one of the host's upload slots, or answers busy when
// none is free.
func (h *Host) takeUpload(w http.ResponseWriter) bool {
	select {
	case h.uploads <- struct{}{}:
		return true
	default:
		writeError(w, http.StatusServiceUnavailable, codeBusy, "too many uploads at once")
		return false
	}
}

// endUpload gives back the slot takeUpload took.
func (h *Host) endUpload() { <-h.uploads }

// receiveJob receives a job whose body read reads. Until the job is
// restored nothing changes here but the chunk store: no record, no file,
// no job.
func (h *Host) receiveJob(w http.ResponseWriter, r *http.Request, read readJobFunc) {
	if !h.takeUpload(w) {
		return
	}
	defer h.endUpload()
	body := h.uploadBody(w, r, h.cfg.MaxJobSize)
	hdr, err := readFrame(body)
	if err != nil {
		h.Logf("refused a job from %s: %s", r.RemoteAddr, errLine(err))
		bodyError(w, "job", err)
		return
	}
	if h.cfg.Keys != nil {
		if err := h.cfg.Keys.VerifyData(signedHeader, hdr.raw, r.Header.Get(signatureHeader)); err != nil {
			h.Logf("job %s: refused from %s: %s", hdr.ID, quoted(hdr.From), errLine(err))
			writeError(w, http.StatusForbidden, "", err.Error())
			return
		}
	}
	sum, _ := parseHash(hdr.Module)
	mod, err := h.modules.get(r.Context(), sum)
	if errors.Is(err, errNoModule) {
		writeError(w, http.StatusNotFound, codeModuleUnknown, fmt.Sprintf("module %s is unknown here: PUT it first", hdr.Module))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	rec, release, err := h.reserve(hdr)
	if err != nil {
		code := http.StatusConflict
		if errors.Is(err, errFull) {
			code = http.StatusServiceUnavailable
		}
		writeError(w, code, "", err.Error())
		return
	}
	committed := false
	defer func() {
		if !committed {
			release()
		}
	}()

	a, ok := read(w, r, hdr, body, mod)
	if !ok {
		return
	}
	snap := a.snap
	files, err := h.checkMounts(snap)
	if err != nil {
		h.refuseJob(r, hdr, err)
		writeError(w, http.StatusUnprocessableEntity, "", err.Error())
		return
	}

	start := time.Now()
	injectFault(h.cfg.Name, "receive")
	cfg := hostrt.Config{Module: mod.data, ModulePath: mod.path, Mounts: h.cfg.Mounts, Facts: mod.facts, Prepared: h.modules.takeSpare(mod)}
	run := h.newRunner(hdr.ID, hdr.Hop, hdr.Policy, cfg, false)
	run.arrived = a.refs
	ctx := context.Background()
	run.job, err = hostrt.Restore(ctx, run.cfg, snap)
	if err != nil {
		h.refuseJob(r, hdr, err)
		writeError(w, http.StatusUnprocessableEntity, "", err.Error())
		return
	}
	restored := time.Since(start)
	committed = true
	h.mu.Lock()
	rec.receiving = false
	rec.runner = run
	h.updateLocked(rec, func(s *Status) {
		*s = Status{ID: hdr.ID, Hop: hdr.Hop, State: StateRunning}
	})
	h.mu.Unlock()
	h.Logf("job %s: arrived from %s at hop %d (%s, %d open files): receive %s, decode %s, restore %s",
		hdr.ID, quoted(hdr.From), hdr.Hop, formatBytes(a.bytes), files, ms(a.receive), ms(a.decode), ms(restored))
	h.jobs.Add(1)
	go func() {
		defer h.jobs.Done()
		run.run(ctx, run.firstDelay())
	}()
	writeJSON(w, http.StatusCreated, Accepted{ID: hdr.ID, Hop: hdr.Hop, Host: h.cfg.Name, Bytes: a.bytes,
		Receive: a.receive, Decode: a.decode, Restore: restored, Files: files})
}

var errFull = errors.New("this host runs as many jobs as it may")

// reserve takes a slot for an arriving job, and returns its record and
// how to give the slot back, leaving the records as they were.
func (h *Host) reserve(hdr *Header) (*record, func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, had := h.records[hdr.ID]
	switch {
	case had && (rec.runner != nil || rec.receiving):
		return nil, nil, fmt.Errorf("job %s already runs here", hdr.ID)
	case had && rec.st.Hop >= hdr.Hop:
		return nil, nil, fmt.Errorf("job %s was here at hop %d already; hop %d is stale", hdr.ID, rec.st.Hop, hdr.Hop)
	case h.running >= h.cfg.MaxJobs:
		return nil, nil, errFull
	}
	if !had {
		rec = &record{changed: make(chan struct{})}
		h.records[hdr.ID] = rec
	}
	rec.receiving = true
	h.running++
	return rec, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		rec.receiving = false
		h.running--
		if !had {
			delete(h.records, hdr.ID)
		}
	}, nil
}

// checkMounts checks, before anything is written, what restoring the job
// will do to this host's mounts: each of its preopens must be mounted
// here; a file or directory must have a valid path in one; a descriptor
// open for writing needs a mount writable here and in the job; and saved
// contents, which the restore writes into the mount, are accepted only
// for a file open for writing in such a mount (the rule wasip1's restore
// applies). It counts the files whose contents travel.
func (h *Host) checkMounts(snap *snapshot.Snapshot) (files int, err error) {
	var st wasip1.State
	if err := st.UnmarshalBinary(snap.WASI); err != nil {
		return 0, fmt.Errorf("WASI state: %w", err)
	}
	mounts := make([]*wasip1.Mount, len(st.Preopens))
	for i, p := range st.Preopens {
		for j := range h.cfg.Mounts {
			if guestPath(h.cfg.Mounts[j].GuestPath) == guestPath(p.GuestPath) {
				mounts[i] = &h.cfg.Mounts[j]
			}
		}
		if mounts[i] == nil {
			return 0, fmt.Errorf("the job uses guest path %q, which this host does not mount", p.GuestPath)
		}
	}
	for _, fd := range st.FDs {
		if fd.Kind != wasip1.KindFile && fd.Kind != wasip1.KindDir && fd.Kind != wasip1.KindPreopen {
			if fd.Content != nil {
				return 0, fmt.Errorf("fd %d: saved contents for a standard stream", fd.FD)
			}
			continue
		}
		if int(fd.Preopen) >= len(mounts) {
			return 0, fmt.Errorf("fd %d: preopen %d of %d", fd.FD, fd.Preopen, len(mounts))
		}
		guest := st.Preopens[fd.Preopen].GuestPath
		readOnly := mounts[fd.Preopen].ReadOnly || st.Preopens[fd.Preopen].ReadOnly
		switch {
		case !fs.ValidPath(fd.Path):
			return 0, fmt.Errorf("fd %d: invalid path %q in %q", fd.FD, fd.Path, guest)
		case fd.Writable && readOnly:
			return 0, fmt.Errorf("the job writes %q in %q, which is read-only here or in the job", fd.Path, guest)
		case fd.Content == nil:
		case fd.Kind != wasip1.KindFile:
			return 0, fmt.Errorf("fd %d: saved contents for directory %q in %q", fd.FD, fd.Path, guest)
		case !fd.Writable:
			return 0, fmt.Errorf("fd %d: saved contents for %q in %q, which the job has not open for writing", fd.FD, fd.Path, guest)
		default:
			files++
		}
	}
	return files, nil
}

// guestPath normalizes a guest path as wasip1 does.
func guestPath(p string) string {
	t := strings.TrimRight(p, "/")
	if strings.Trim(t, "./") == "" {
		return "/"
	}
	return t
}
