package migrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// chunkStore is a host's store of the chunks jobs arrive as (protocol 2),
// shared by every job that arrives here: a chunk a job brought once (or a
// pre-copy sent ahead) does not travel again while it is here. It is a
// cache, not a snapshot store: a chunk is written without sync (a host that
// crashes has lost its jobs anyway, and a chunk is checked against its
// address whenever it is read), the chunks a previous run of the host left
// are removed when it starts, and a chunk not used for chunkIdle is
// removed, as are the least recently used ones beyond the store's size.
//
// Chunks live in DIR/XX/ADDRESS, or in memory when the host has no state
// directory.
type chunkStore struct {
	dir  string
	max  int64 // bytes
	idle time.Duration

	mu    sync.Mutex
	index map[snapshot.Address]*storedChunk
	size  int64
	// collected is when idle chunks were last looked for.
	collected time.Time
	mem       map[snapshot.Address][]byte // without a directory
}

type storedChunk struct {
	size int64
	used time.Time
}

// chunkIdle is how long a chunk nobody uses stays in a host's store: long
// enough for a pre-copy's chunks to wait for their job.
var chunkIdle = 10 * time.Minute

// newChunkStore opens (emptying it) or makes the store in dir ("" keeps
// chunks in memory), holding at most max bytes.
func newChunkStore(dir string, max int64) (*chunkStore, error) {
	s := &chunkStore{dir: dir, max: max, idle: chunkIdle, index: map[snapshot.Address]*storedChunk{}}
	if dir == "" {
		s.mem = map[snapshot.Address][]byte{}
		return s, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *chunkStore) path(a snapshot.Address) string {
	h := a.String()
	return filepath.Join(s.dir, h[:2], h)
}

// Has implements snapshot.Chunks; a chunk found counts as used.
func (s *chunkStore) Has(_ context.Context, a snapshot.Address) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.index[a]
	if ok {
		c.used = time.Now()
	}
	return ok, nil
}

// Put implements snapshot.Chunks. The caller checked the chunk
// (snapshot.CheckChunk).
func (s *chunkStore) Put(_ context.Context, a snapshot.Address, stored []byte) error {
	s.mu.Lock()
	if c, ok := s.index[a]; ok {
		c.used = time.Now()
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if s.dir == "" {
		stored = append([]byte(nil), stored...)
	} else if err := s.write(a, stored); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[a]; !ok {
		s.index[a] = &storedChunk{size: int64(len(stored)), used: time.Now()}
		s.size += int64(len(stored))
		if s.mem != nil {
			s.mem[a] = stored
		}
	}
	s.collectLocked(time.Now())
	return nil
}

// write writes a chunk file: a temporary file renamed into place, so that
// a reader finds the whole chunk or none.
func (s *chunkStore) write(a snapshot.Address, stored []byte) error {
	p := s.path(a)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := p + ".tmp-" + hex.EncodeToString(suffix[:])
	if err := os.WriteFile(tmp, stored, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Get implements snapshot.Chunks.
func (s *chunkStore) Get(_ context.Context, a snapshot.Address) ([]byte, error) {
	s.mu.Lock()
	c, ok := s.index[a]
	if ok {
		c.used = time.Now()
	}
	data := s.mem[a]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("not in this host's chunk store: %w", fs.ErrNotExist)
	}
	if s.dir == "" {
		return data, nil
	}
	return os.ReadFile(s.path(a))
}

// missing returns those of addrs the store lacks (each once), counting
// the others as used.
func (s *chunkStore) missing(addrs []snapshot.Address) []snapshot.Address {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	seen := make(map[snapshot.Address]bool, len(addrs))
	var out []snapshot.Address
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		if c, ok := s.index[a]; ok {
			c.used = now
		} else {
			out = append(out, a)
		}
	}
	return out
}

// collectLocked removes the chunks idle for longer than s.idle, then the
// least recently used while the store holds more than s.max.
func (s *chunkStore) collectLocked(now time.Time) {
	var old []snapshot.Address
	if now.Sub(s.collected) > s.idle/16 {
		s.collected = now
		for a, c := range s.index {
			if now.Sub(c.used) > s.idle {
				old = append(old, a)
			}
		}
	}
	if s.size > s.max {
		var all []snapshot.Address
		for a := range s.index {
			all = append(all, a)
		}
		sort.Slice(all, func(i, j int) bool { return s.index[all[i]].used.Before(s.index[all[j]].used) })
		size := s.size
		for _, a := range all {
			if size <= s.max {
				break
			}
			size -= s.index[a].size
			old = append(old, a)
		}
	}
	for _, a := range old {
		c, ok := s.index[a]
		if !ok {
			continue
		}
		delete(s.index, a)
		delete(s.mem, a)
		s.size -= c.size
		if s.dir != "" {
			os.Remove(s.path(a))
		}
	}
}
