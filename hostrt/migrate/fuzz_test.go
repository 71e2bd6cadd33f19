package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// fuzzSnapshot is the snapshot part of a valid job body: the paused
// progress program.
var fuzzSnapshot struct {
	once sync.Once
	data []byte
}

// FuzzJobFrame builds a job frame from fuzzed fields — id, hop, sender,
// module hash, the policy's route (comma-separated), next and interval,
// one more field (unknown, or a known one given again with a string
// value), and the declared header length off by lengthDelta — and posts
// it with a valid snapshot after it to a fresh host's handler. The host
// never panics (a recovered panic would be a 500), starts no goroutine
// that outlives the job, runs the job only under a header that passes its
// checks, and keeps answering.
func FuzzJobFrame(f *testing.F) {
	module := progressModule(f)
	sum := sha256.Sum256(module)
	hash := hex.EncodeToString(sum[:])
	f.Add("job-1", 1, "L", hash, "", 0, int64(0), "", "", 0)
	f.Add("job-1", 2, "A", hash, "http://127.0.0.1:1,https://h:2", 1, int64(time.Second), "", "", 0)
	f.Add("job-1", 1, "L", hash, "", 0, int64(0), "hop", "two", 0)
	f.Add("job-1", 1, "L", hash, "", 0, int64(0), "", "", 7)
	f.Add("job-1", 1, "L", hash, "", 0, int64(0), "", "", -3)
	f.Add("job-1", 1, "L", hash, "", 0, int64(0), "policy", "", 0)
	// More seeds, which need not know the module's hash, are in
	// testdata/fuzz/FuzzJobFrame.
	f.Fuzz(func(t *testing.T, id string, hop int, from, moduleHex, route string, next int, every int64, extraKey, extraValue string, lengthDelta int) {
		fuzzSnapshot.once.Do(func() {
			body := jobBody(t, module, "seed")
			frame := len(jobMagic) + 4 + int(binary.LittleEndian.Uint32(body[len(jobMagic):]))
			fuzzSnapshot.data = body[frame:]
		})
		if fuzzSnapshot.data == nil {
			t.Skip("no snapshot")
		}
		policy := map[string]any{"next": next, "every_ns": every}
		if route != "" {
			policy["route"] = strings.Split(route, ",")
		}
		fields := map[string]any{"id": id, "hop": hop, "from": from, "module": moduleHex, "policy": policy}
		if extraKey != "" {
			fields[extraKey] = extraValue
		}
		js, err := json.Marshal(fields)
		if err != nil {
			return // not valid UTF-8 keys and such: not a frame a sender makes
		}
		body := append([]byte(jobMagic), binary.LittleEndian.AppendUint32(nil, uint32(len(js)+lengthDelta))...)
		body = append(append(body, js...), fuzzSnapshot.data...)

		goroutines := runtime.NumGoroutine()
		h, err := NewHost(Config{Name: "F", Cache: testCache, Token: testToken,
			Mounts: []wasip1.Mount{{HostDir: t.TempDir(), GuestPath: "/out"}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, _, err := h.modules.put(ctx, sum, module); err != nil {
			t.Fatal(err)
		}
		handler := h.Handler()
		post := httptest.NewRequest("POST", "/v1/jobs", bytes.NewReader(body))
		post.Header.Set("Authorization", "Bearer "+testToken)
		answer := httptest.NewRecorder()
		handler.ServeHTTP(answer, post)
		switch answer.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("answered %d: %s", answer.Code, answer.Body)
		}
		jobs := h.Jobs()
		if answer.Code == http.StatusCreated {
			hdr, err := readFrame(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("a job ran under a frame that readFrame refuses: %v", err)
			}
			if len(jobs) != 1 || jobs[0].ID != hdr.ID || jobs[0].Hop != hdr.Hop || jobs[0].State != StateRunning {
				t.Fatalf("jobs %+v after accepting %+v", jobs, hdr)
			}
		} else if len(jobs) != 0 {
			t.Fatalf("refused (%d: %s), yet the host knows %+v", answer.Code, answer.Body, jobs)
		}
		get := httptest.NewRequest("GET", "/v1/jobs", nil)
		get.Header.Set("Authorization", "Bearer "+testToken)
		list := httptest.NewRecorder()
		handler.ServeHTTP(list, get)
		if list.Code != http.StatusOK {
			t.Fatalf("GET /v1/jobs answered %d: %s", list.Code, list.Body)
		}
		h.Wait()
		h.Close(ctx)
		// The job's goroutines end with it (the runtime's may take a moment).
		for start := time.Now(); runtime.NumGoroutine() > goroutines; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
			}
		}
	})
}
