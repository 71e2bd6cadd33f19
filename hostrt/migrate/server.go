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
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// Deadlines of the server's requests: reading an upload, and answering.
var (
	uploadTimeout = 10 * time.Minute
	answerTimeout = 20 * time.Minute // a module upload is answered after its compilation
	maxWait       = time.Minute
)

// Handler returns the host's HTTP API (see the package documentation).
func (h *Host) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("HEAD /v1/modules/{sum}", h.handleModuleHead)
	mux.HandleFunc("GET /v1/modules/{sum}", h.handleModuleHead)
	mux.HandleFunc("PUT /v1/modules/{sum}", h.handleModulePut)
	mux.HandleFunc("POST /v1/jobs", h.handleJobPost)
	mux.HandleFunc("GET /v1/jobs", h.handleJobList)
	mux.HandleFunc("GET /v1/jobs/{id}", h.handleJobGet)
	mux.HandleFunc("POST /v1/jobs/{id}/migrate", h.handleJobMigrate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			h.Logf("refused %s %s from %s: no valid bearer token", r.Method, r.URL.Path, r.RemoteAddr)
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
// server on a network needs.
func (h *Host) NewServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

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

// deadlines gives a handler time to read an upload and to answer.
func deadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(uploadTimeout))
	rc.SetWriteDeadline(time.Now().Add(answerTimeout))
}

// bodyError answers a failed body read: too large, or cut short.
func bodyError(w http.ResponseWriter, what string, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("%s larger than %d bytes", what, tooLarge.Limit))
		return
	}
	writeError(w, http.StatusBadRequest, "", fmt.Sprintf("%s: %v", what, err))
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
		writeJSON(w, http.StatusOK, map[string]any{"sha256": r.PathValue("sum"), "size": len(m.data)})
	}
}

func (h *Host) handleModulePut(w http.ResponseWriter, r *http.Request) {
	sum, err := parseHash(r.PathValue("sum"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
	default:
		writeError(w, http.StatusServiceUnavailable, codeBusy, "too many uploads at once")
		return
	}
	deadlines(w)
	max := h.cfg.MaxModuleSize
	var body io.Reader = http.MaxBytesReader(w, r.Body, max)
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
		bodyError(w, "module", err)
		return
	}
	start := time.Now()
	_, created, err := h.modules.put(r.Context(), sum, data)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "", err.Error())
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
	case run.trigger <- struct{}{}:
	default:
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": run.id, "to": target})
}

// handleJobPost receives a job. Until the job is restored nothing changes
// here: no record, no file, no job.
func (h *Host) handleJobPost(w http.ResponseWriter, r *http.Request) {
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
	default:
		writeError(w, http.StatusServiceUnavailable, codeBusy, "too many uploads at once")
		return
	}
	deadlines(w)
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxJobSize)
	hdr, err := readFrame(body)
	if err != nil {
		bodyError(w, "job", err)
		return
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

	start := time.Now()
	data, err := io.ReadAll(body)
	if err != nil {
		h.Logf("job %s: refused from %s: %v", hdr.ID, hdr.From, err)
		bodyError(w, "job", err)
		return
	}
	received := time.Since(start)
	start = time.Now()
	snap, err := hostrt.OpenSnapshot(bytes.NewReader(data), int64(len(data)), mod.data, hostrt.ReadOptions{})
	if err != nil {
		h.Logf("job %s: refused from %s: %v", hdr.ID, hdr.From, err)
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	decoded := time.Since(start)
	files, err := h.checkMounts(snap)
	if err != nil {
		h.Logf("job %s: refused from %s: %v", hdr.ID, hdr.From, err)
		writeError(w, http.StatusUnprocessableEntity, "", err.Error())
		return
	}

	start = time.Now()
	run := h.newRunner(hdr.ID, hdr.Hop, hdr.Policy, hostrt.Config{Module: mod.data, ModulePath: mod.path, Mounts: h.cfg.Mounts}, false)
	ctx := context.Background()
	run.job, err = hostrt.Restore(ctx, run.cfg, snap)
	if err != nil {
		h.Logf("job %s: refused from %s: %v", hdr.ID, hdr.From, err)
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
	n := int64(len(data)) + int64(len(jobMagic)+4)
	h.Logf("job %s: arrived from %s at hop %d (%s, %d open files): receive %s, decode %s, restore %s",
		hdr.ID, hdr.From, hdr.Hop, formatBytes(n), files, ms(received), ms(decoded), ms(restored))
	h.jobs.Add(1)
	go func() {
		defer h.jobs.Done()
		run.run(ctx, run.firstDelay())
	}()
	writeJSON(w, http.StatusCreated, Accepted{ID: hdr.ID, Hop: hdr.Hop, Host: h.cfg.Name, Bytes: n,
		Receive: received, Decode: decoded, Restore: restored, Files: files})
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

// checkMounts checks that the job's preopens are mounted here, writable
// where it writes, and counts the files whose contents travel.
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
		if fd.Kind != wasip1.KindFile && fd.Kind != wasip1.KindDir {
			continue
		}
		if int(fd.Preopen) >= len(mounts) {
			return 0, fmt.Errorf("fd %d: preopen %d of %d", fd.FD, fd.Preopen, len(mounts))
		}
		if fd.Writable && mounts[fd.Preopen].ReadOnly {
			return 0, fmt.Errorf("the job writes %s in %q, which this host mounts read-only", fd.Path, st.Preopens[fd.Preopen].GuestPath)
		}
		if fd.Content != nil {
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
