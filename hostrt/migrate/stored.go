package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// Moving through a shared store: hosts configured with the same snapshot
// store (Config.Store, a directory they all mount or an S3 bucket) move a
// job by writing its snapshot there and sending the manifest's name in the
// job's header (POST /v2/jobs/stored); the receiver reads the manifest and
// its packs from the store. Only what changed since the job's last
// snapshot in the store is written during the pause, and the pre-copy
// writes snapshots there while the job runs. A receiver with another
// store, or none, answers 409 "store-differs" and the sender moves the job
// by its chunks instead (protocol 2).

// codeStoreDiffers refuses a job sent through a store the receiver does
// not share.
const codeStoreDiffers = "store-differs"

// storeKeep is how many snapshots of a job its timeline in a shared store
// keeps: the one in flight, and the one before in case it is lost.
const storeKeep = 2

// jobTimeline is the timeline of a job's snapshots in a shared store.
func jobTimeline(id string) string { return "job-" + id }

// jobStore returns the timeline of the runner's job in the shared store,
// opened on first use; a job that arrived through the store names the
// chunks it arrived with rather than write them again.
func (r *runner) jobStore() (*hostrt.Store, error) {
	if r.store != nil {
		return r.store, nil
	}
	s, err := hostrt.OpenStore(r.h.cfg.Store, storeKeep)
	if err != nil {
		return nil, err
	}
	if err := s.UseTimeline(jobTimeline(r.id), "job "+r.id+", moving between wasmsr hosts\n"); err != nil {
		return nil, err
	}
	s.Keys = r.h.cfg.Keys
	if r.arrived != nil {
		s.Continue(*r.arrived)
	}
	r.store = s
	return s, nil
}

// preCopyStore writes snapshots of the running job into the shared store,
// each round what changed during the one before, and returns how many
// bytes it wrote. A failed round ends the pre-copy (the move writes what
// is missing).
func (r *runner) preCopyStore(ctx context.Context) (int64, error) {
	s, err := r.jobStore()
	if err != nil {
		r.logf("pre-copy to the store failed: %s; moving without it", errLine(err))
		return 0, nil
	}
	var total int64
	for round := 1; round <= preCopyRounds; round++ {
		start := time.Now()
		snap, err := r.job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: "pre-copy to the store"})
		if err != nil {
			return total, err
		}
		paused := snap.Meta.Paused
		_, err = s.WriteNamed(snap)
		r.job.Recycle(snap)
		if err != nil {
			r.logf("pre-copy to the store failed: %s; moving without it", errLine(err))
			return total, nil
		}
		total += s.Stats.WrittenBytes
		r.logf("pre-copy %d to the store: %d chunks (%s) in %s (paused %s)", round, s.Stats.Written, formatBytes(s.Stats.WrittenBytes), ms(time.Since(start)), ms(paused))
		if s.Stats.WrittenBytes < preCopyEnough {
			break
		}
	}
	return total, nil
}

// sendStored writes a captured job into the shared store and sends the
// name of its manifest.
func (r *runner) sendStored(ctx context.Context, c *capture, hdr *Header) (*Accepted, int64, error) {
	s, err := r.jobStore()
	if err != nil {
		return nil, 0, err
	}
	name, err := s.WriteNamed(c.snap)
	if name == "" {
		return nil, 0, err
	}
	c.chunks = int(s.Stats.Written)
	stored := *hdr
	stored.Store, stored.Manifest = r.h.cfg.Store, name
	acc, n, err := r.h.client.SendStored(ctx, c.target, &stored, r.h.cfg.Keys)
	return acc, n + s.Stats.WrittenBytes, err
}

// SendStored sends a job whose snapshot is in a store the peer shares,
// named by h.Store and h.Manifest (protocol 2 through a store). A
// RefusedError means the peer answered and does not run the job; any
// other error leaves it unknown whether the job arrived (see Status).
func (c *Client) SendStored(ctx context.Context, base string, h *Header, keys *snapshot.Keys) (*Accepted, int64, error) {
	js, err := h.encode()
	if err != nil {
		return nil, 0, err
	}
	var body bytes.Buffer
	writeEncodedFrame(&body, js)
	return c.postJob(ctx, base, "/v2/jobs/stored", js, &body, keys)
}

// handleStoredPost receives a job through the shared store.
func (h *Host) handleStoredPost(w http.ResponseWriter, r *http.Request) {
	h.receiveJob(w, r, h.readStored)
}

// readStored reads a job's manifest from the shared store its header
// names, which must be this host's, and in the job's timeline there.
func (h *Host) readStored(w http.ResponseWriter, r *http.Request, hdr *Header, body io.Reader, mod *module) (*arrival, bool) {
	start := time.Now()
	if n, err := io.Copy(io.Discard, io.LimitReader(body, 1)); err != nil || n != 0 {
		if err == nil {
			err = errors.New("bytes after the header of a job sent through a store")
		}
		h.refuseJob(r, hdr, err)
		bodyError(w, "job", err)
		return nil, false
	}
	if h.store == nil || hdr.Store != h.cfg.Store {
		mine := "none"
		if h.store != nil {
			mine = h.cfg.Store
		}
		err := fmt.Errorf("the job is in snapshot store %s; this host's is %s", quoted(hdr.Store), quoted(mine))
		h.refuseJob(r, hdr, err)
		writeError(w, http.StatusConflict, codeStoreDiffers, err.Error())
		return nil, false
	}
	if dir, _ := path.Split(hdr.Manifest); dir != jobTimeline(hdr.ID)+"/" {
		err := fmt.Errorf("manifest %s is not in the job's timeline %s", quoted(hdr.Manifest), jobTimeline(hdr.ID))
		h.refuseJob(r, hdr, err)
		writeError(w, http.StatusBadRequest, "", err.Error())
		return nil, false
	}
	manifest, err := h.store.ReadManifest(r.Context(), hdr.Manifest)
	if err != nil {
		h.refuseJob(r, hdr, err)
		writeError(w, http.StatusUnprocessableEntity, "", err.Error())
		return nil, false
	}
	a := &arrival{bytes: int64(len(manifest)), receive: time.Since(start)}
	start = time.Now()
	a.snap, err = hostrt.OpenSnapshot(bytes.NewReader(manifest), int64(len(manifest)), mod.data,
		hostrt.ReadOptions{Keys: h.cfg.Keys, MaxMemory: h.cfg.MaxMemory, Facts: mod.facts, Chunks: h.store.Chunks()})
	if err != nil {
		h.refuseSnapshot(w, r, hdr, err)
		return nil, false
	}
	if refs, err := snapshot.ManifestRefs(manifest, nil); err == nil {
		a.refs = &refs
	}
	a.decode = time.Since(start)
	return a, true
}
