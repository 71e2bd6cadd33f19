package migrate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPingPongThroughStore: hosts that share a snapshot store move a job
// by its manifest's name there, and the output is the same as without
// moves. (That a receiver names the chunks it arrived with rather than
// write them again is TestStoreContinue's: this program's few pages all
// change between moves.)
func TestPingPongThroughStore(t *testing.T) {
	store := t.TempDir()
	st, moves := pingPong(t, "shared", func(cfg *Config) { cfg.Store = store })
	if st.Hop < 3 {
		t.Fatalf("final status %+v, want 3 moves or more", st)
	}
	for _, m := range moves {
		t.Logf("hop %d from %s: %d chunks, %d bytes, downtime %s", m.Hop, m.From, m.Chunks, m.Bytes, ms(m.Downtime))
		if !m.Stored {
			t.Errorf("hop %d from %s went by its chunks, not through the store", m.Hop, m.From)
		}
	}
	if manifests, _ := filepath.Glob(filepath.Join(store, jobTimeline("shared"), "snapshot-*.wsm")); len(manifests) != storeKeep {
		t.Errorf("the job's timeline holds %d manifests, want %d", len(manifests), storeKeep)
	}
}

// TestStoreNotShared: a receiver with another store (or none) answers
// 409 store-differs, and the sender moves the job by its chunks.
func TestStoreNotShared(t *testing.T) {
	module := progressModule(t)
	args := progressArgs(8, 64, 100) // time for the module to reach B first
	wantOut, wantFile := reference(t, module, args)
	rec := newRecorder()
	b := newTestHosts(t, rec, []string{"B"}, hostOptions{cfg: func(cfg *Config) { cfg.Store = t.TempDir() }})[0]
	l := localHostWith(t, rec, func(cfg *Config) { cfg.Store = t.TempDir() })
	out := runLocal(t, l, module, args, "elsewhere", Policy{Route: []string{b.URL}}, 0)
	if out.Moved == "" {
		lines, _ := rec.snapshot()
		t.Fatalf("outcome %+v:\n%s", out, strings.Join(lines, "\n"))
	}
	st, err := (&Client{Token: testToken}).Follow(context.Background(), out.Moved, out.ID, nil)
	if err != nil || st.State != StateFinished {
		t.Fatalf("final status %+v, %v", st, err)
	}
	b.Wait()
	lines, _ := rec.snapshot()
	checkOutput(t, program(lines, out.ID), wantOut)
	checkFile(t, filepath.Join(b.Dir, "p.bin"), wantFile)
	moves := l.migrations()
	if len(moves) != 1 || moves[0].Stored {
		t.Fatalf("moves %+v, want one by its chunks", moves)
	}
	var refused, fellBack bool
	for _, line := range lines {
		refused = refused || strings.Contains(line, "[B] job elsewhere: refused from L: the job is in snapshot store "+l.cfg.Store+"; this host's is "+b.cfg.Store)
		fellBack = fellBack || strings.Contains(line, "does not share the store") && strings.Contains(line, "moving the job by its chunks")
	}
	if !refused || !fellBack {
		t.Errorf("log lines: refused %v, fell back %v:\n%s", refused, fellBack, strings.Join(lines, "\n"))
	}
}
