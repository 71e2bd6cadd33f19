package migrate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
)

// Config describes a host.
type Config struct {
	// Name is the host's name in log lines and statuses.
	Name string
	// Mounts are the directories the host offers its jobs. A job arrives
	// only if each guest path it preopened is among them.
	Mounts []wasip1.Mount
	// Peers are the base URLs this host may send jobs to (a server's
	// allow-list); Local jobs may go anywhere their route says.
	Peers []string
	// Client reaches the peers; nil sends no token.
	Client *Client
	// ModuleDir keeps the modules received (SHA256.wasm); empty keeps them
	// in memory only.
	ModuleDir string
	// ChunkDir keeps the chunks jobs arrive as (protocol 2), shared by
	// every job here; it is emptied when the host starts. Empty keeps
	// them in memory. MaxChunkStore bounds them (0: twice MaxJobSize);
	// the least recently used go first.
	ChunkDir      string
	MaxChunkStore int64
	// Cache is the compilation cache of every job here; nil is
	// hostrt.DefaultCache.
	Cache wazero.CompilationCache
	// Token is the bearer token a request must carry; empty accepts any
	// request (only for tests and trusted networks).
	Token string
	// Log receives the host's log lines ("[NAME] ..."); Stdout and Stderr
	// its jobs' output ("[NAME JOB] ..."). Nil discards.
	Log, Stdout, Stderr *Output
	// MaxJobSize and MaxModuleSize bound request bodies (0: 1 GiB and
	// 256 MiB); MaxJobs bounds the jobs running here (0: 1; see the
	// package documentation before raising it).
	MaxJobSize, MaxModuleSize int64
	MaxJobs                   int
	// MinUploadRate is the slowest an upload (module or job) may arrive,
	// in bytes a second over every UploadWindow of the time the host
	// waits for it, the first window being its grace (0: 64 KiB/s over
	// 20 s; negative: no floor). See upload.go.
	MinUploadRate int64
	UploadWindow  time.Duration
	// Keys, when set, sign every job this host sends (its header and its
	// snapshot), and a job that arrives unsigned or signed with another
	// key is refused (403) before any of its snapshot is decoded.
	Keys *snapshot.Keys
	// MaxMemory is the most memory a job here may have (0:
	// hostrt.DefaultMaxMemory); a job whose snapshot holds more is
	// refused.
	MaxMemory uint64
	// OnMigrated, if not nil, is called after each job this host sends
	// away (tests and measurements).
	OnMigrated func(Migration)
	// Store, when set, is a snapshot store (a directory or
	// s3://BUCKET/PREFIX, package hostrt) this host shares with its
	// peers: a job moves by its manifest's name there (stored.go), and
	// by its chunks to a peer that does not share it.
	Store string
}

// Migration describes one move of a job, as its sender saw it.
type Migration struct {
	ID       string
	Hop      int
	From, To string
	// Downtime runs from the pause request to the receiver's answer that
	// the job runs there; Pause is the part until the program was
	// captured.
	Downtime, Pause time.Duration
	// Bytes is the size of the job body sent, Chunks how many chunks it
	// carried, and PreCopied how many bytes of chunks were sent ahead,
	// while the job ran.
	Bytes     int64
	Chunks    int
	PreCopied int64
	// ModuleSent says whether the module was uploaded first, and Stored
	// whether the job went through the shared store (Bytes then counts
	// what was written there).
	ModuleSent, Stored bool
	// Accepted is the receiver's answer.
	Accepted Accepted
}

// Host runs jobs and moves them between hosts.
type Host struct {
	cfg       Config
	tokenHash [32]byte
	modules   *modules
	chunks    *chunkStore
	store     *hostrt.Store // the shared store, if any
	client    *Client
	peers     map[string]bool
	log       *Output

	mu      sync.Mutex
	records map[string]*record
	running int
	jobs    sync.WaitGroup
	// uploads bounds the job bodies held in memory at once.
	uploads chan struct{}
}

// record is what a host knows about a job.
type record struct {
	st      Status
	changed chan struct{} // closed and replaced on every change
	runner  *runner       // while it runs here
	// receiving is set while a body for this job is being received.
	receiving bool
}

// maxRecords bounds the records of jobs that ended or left.
const maxRecords = 1024

// NewHost makes a host.
func NewHost(cfg Config) (*Host, error) {
	if cfg.Name == "" {
		return nil, errors.New("migrate: a host needs a name")
	}
	if cfg.MaxJobSize <= 0 {
		cfg.MaxJobSize = 1 << 30
	}
	if cfg.MaxModuleSize <= 0 {
		cfg.MaxModuleSize = 256 << 20
	}
	if cfg.MaxChunkStore <= 0 {
		cfg.MaxChunkStore = 2 * cfg.MaxJobSize
	}
	if cfg.MaxJobs <= 0 {
		cfg.MaxJobs = 1
	}
	if cfg.MinUploadRate == 0 {
		cfg.MinUploadRate = defaultMinUploadRate
	}
	if cfg.UploadWindow <= 0 {
		cfg.UploadWindow = defaultUploadWindow
	}
	if cfg.Log == nil {
		cfg.Log = NewOutput(nil)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = NewOutput(nil)
	}
	if cfg.Stderr == nil {
		cfg.Stderr = NewOutput(nil)
	}
	if cfg.Cache == nil {
		c, err := hostrt.DefaultCache()
		if err != nil {
			return nil, err
		}
		cfg.Cache = c
	}
	h := &Host{cfg: cfg, client: cfg.Client, log: cfg.Log, peers: map[string]bool{},
		records: map[string]*record{}, uploads: make(chan struct{}, 2)}
	if h.client == nil {
		h.client = &Client{}
	}
	for _, p := range cfg.Peers {
		u, err := ParseURL(p)
		if err != nil {
			return nil, err
		}
		h.peers[u] = true
	}
	if cfg.Token != "" {
		h.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	var err error
	if h.modules, err = newModules(cfg.Name, cfg.ModuleDir, cfg.Cache); err != nil {
		return nil, err
	}
	if h.chunks, err = newChunkStore(cfg.ChunkDir, cfg.MaxChunkStore); err != nil {
		return nil, err
	}
	if cfg.Store != "" {
		if h.store, err = hostrt.OpenStore(cfg.Store, 0); err != nil {
			return nil, err
		}
		h.store.Keys = cfg.Keys
	}
	return h, nil
}

// Name returns the host's name.
func (h *Host) Name() string { return h.cfg.Name }

// Logf writes a log line "[NAME] ...". It is one line whatever the
// values: control characters in them are escaped (see escapeControl).
func (h *Host) Logf(format string, args ...any) {
	line := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	h.log.Printf("["+h.cfg.Name+"] ", "%s", escapeControl(line))
}

// Wait waits until no job runs here.
func (h *Host) Wait() { h.jobs.Wait() }

// Close releases the host's compiled modules; jobs must have ended.
func (h *Host) Close(ctx context.Context) { h.modules.close(ctx) }

// Jobs returns the statuses of the jobs the host knows, newest first.
func (h *Host) Jobs() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Status
	for _, r := range h.records {
		out = append(out, r.st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Updated.After(out[j].Updated) })
	return out
}

// status returns a job's status and the channel closed at its next change.
func (h *Host) status(id string) (Status, <-chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.records[id]
	if !ok || r.st.State == "" {
		return Status{}, nil, false
	}
	return r.st, r.changed, true
}

// update changes a job's record under h.mu.
func (h *Host) updateLocked(r *record, f func(*Status)) {
	f(&r.st)
	r.st.Host = h.cfg.Name
	r.st.Updated = time.Now().UTC()
	close(r.changed)
	r.changed = make(chan struct{})
}

// prune forgets the oldest records of jobs that are not here any more.
func (h *Host) pruneLocked() {
	if len(h.records) <= maxRecords {
		return
	}
	var old []*record
	for _, r := range h.records {
		if r.runner == nil && !r.receiving {
			old = append(old, r)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].st.Updated.Before(old[j].st.Updated) })
	for _, r := range old[:max(0, len(h.records)-maxRecords)] {
		delete(h.records, r.st.ID)
	}
}

// allowed says whether this host may send a job to u.
func (h *Host) allowed(u string, local bool) bool {
	return local || h.peers[u]
}

// Local is a job this host starts (or restores) and hands off by its
// policy: `wasmsr exec --migrate-to`.
type Local struct {
	// Job is the job's configuration; Stdout, Stderr and SnapshotFiles are
	// set by RunLocal. Restore, if not nil, is a snapshot to continue.
	Job     hostrt.Config
	Restore *snapshot.Snapshot
	// ID names the job (empty: a new id).
	ID string
	// Policy says where the job goes; First is how long it runs here
	// before its first move (then Policy.Every between moves).
	Policy Policy
	First  time.Duration
}

// Outcome is how a local job ended here.
type Outcome struct {
	ID string
	// Moved is the URL of the host the job went to, or "" if it ended here.
	Moved string
	Hop   int
	// Exit is the exit code of a program that ended here.
	Exit uint32
}

// RunLocal runs a job here until it ends or moves away.
func (h *Host) RunLocal(ctx context.Context, l Local) (*Outcome, error) {
	if l.ID == "" {
		l.ID = NewID()
	}
	if !validID(l.ID) {
		return nil, fmt.Errorf("job id %q (want 1 to 64 letters, digits, - or _)", l.ID)
	}
	if err := l.Policy.check(); err != nil {
		return nil, err
	}
	r := h.newRunner(l.ID, 0, l.Policy, l.Job, true)
	var err error
	if l.Restore != nil {
		r.job, err = hostrt.Restore(ctx, r.cfg, l.Restore)
	} else {
		r.job, err = hostrt.Start(ctx, r.cfg)
	}
	if err != nil {
		return nil, err
	}
	rec := &record{st: Status{ID: l.ID, State: StateRunning}, changed: make(chan struct{}), runner: r}
	h.mu.Lock()
	h.updateLocked(rec, func(*Status) {})
	h.records[l.ID] = rec
	h.running++
	h.mu.Unlock()
	h.jobs.Add(1)
	defer h.jobs.Done()
	return r.run(ctx, l.First)
}
