// Package migrate moves running hostrt jobs between wasmsr hosts over HTTP:
// live migration. A host pauses a job (hostrt.Job.Snapshot with Stop),
// sends the snapshot to a peer, and the peer restores and runs it; the
// job's migration policy travels with it, so the peer sends it on (or
// back) in turn, until the program ends on one of them.
//
// # Hosts
//
// A Host is one wasmsr process's side of migration: `wasmsr serve` (a Host
// with Handler behind an http.Server) receives and runs jobs; `wasmsr exec
// --migrate-to` (a Host without a server, RunLocal) starts a job and hands
// it off. A host offers Mounts (host directory, guest path); a job can
// arrive only where every guest path it has preopened is mounted. Files
// the program has open for writing travel inside the snapshot
// (wasip1.SaveOptions.FileContents) and are written into the receiving
// host's mount before they are reopened, so the output file is complete on
// whichever host the program finishes on. Files open only for reading do
// not travel: inputs must be present on every host.
//
// A job's standard output and error go to the host it runs on, each line
// prefixed with "[HOST JOB] "; a host's own log lines start with "[HOST] ".
// A migrated job reads no stdin beyond what the snapshot holds unread.
//
// A log line is one line whatever it reports: what comes from outside (a
// request's path, a sender's name, a peer's URL) is printed as a Go string
// literal unless it is made of letters, digits and "-._~/:@+" only; an
// error is printed by its first line (a trap's wasm stack trace is left
// out, of statuses too); and any control character left is escaped. So a
// request, even one without the token, cannot forge a line.
//
// # Protocol
//
// HTTP from the standard library, over TLS when the server has a
// certificate (clients trust a CA file besides the system's). Every
// request carries "Authorization: Bearer TOKEN" (one token shared by the
// hosts; compared in constant time; 401 without it, before anything else
// is read or changed). All bodies are size-limited, uploads have deadlines,
// and at most two are received at once. An upload must keep a minimum rate
// (Config.MinUploadRate over every Config.UploadWindow of the time the
// host waits for it; the first window is its grace, as a sender pauses
// while it compresses a large section): one that falls below is cut with
// 408, so that a client sending a byte now and then cannot hold both
// upload slots until the deadline. The rate does not stop a client with
// the token that keeps just above it, or that starts again and again: the
// token is what keeps those out. NewServer's timeouts bound the rest: a
// request's header (and TLS handshake), a kept-alive connection's idle
// wait, and the body and answer of every request that is not an upload.
//
//	HEAD /v1/modules/SHA256       200 if the host has the instrumented
//	                              module (loading and compiling it first),
//	                              404 if not
//	PUT  /v1/modules/SHA256       upload it (Content-Encoding: zstd); the
//	                              host checks the hash, that it is
//	                              instrumented, stores and compiles it
//	                              before answering 201
//	POST /v1/jobs                 a job (protocol 1): 201 with an
//	                              Accepted once it is restored and
//	                              running here
//	POST /v2/chunks/missing       an address list: answers those of its
//	                              chunks this host lacks (protocol 2)
//	PUT  /v2/chunks               a chunk stream: the host checks each
//	                              chunk against its address and stores it
//	POST /v2/jobs                 a job as a manifest (protocol 2): 201
//	                              as for /v1/jobs; 409 "chunks-missing"
//	                              when the manifest names chunks not here
//	POST /v2/jobs/stored          a job whose manifest is in a shared
//	                              snapshot store (the frame only; its
//	                              header names the store and manifest):
//	                              201 as for /v1/jobs; 409
//	                              "store-differs" when the host does not
//	                              share that store (stored.go)
//	GET  /v1/jobs                 the jobs this host knows (Status list)
//	GET  /v1/jobs/ID?wait=D&hop=H&state=S
//	                              a job's Status; with wait, the answer
//	                              comes when it differs from (hop H, state
//	                              S), or after D (at most a minute)
//	POST /v1/jobs/ID/migrate      move a job running here to its next
//	                              host now (202)
//
// A job body is a frame followed by the snapshot file:
//
//	magic "WASMSR\x00J", u32 little-endian header length (at most 64 KiB),
//	the Header as JSON, then a snapshot file (package snapshot) to the end
//
// The snapshot format compresses its sections with zstd already (memory,
// instance and WASI state, which holds the open files' contents), so the
// body is streamed as the encoder produces it and not compressed again.
// The module (HEAD, then PUT only if the peer lacks it) is compressed with
// zstd as a whole.
//
// Protocol 2 moves a job as a manifest (snapshot format version 3) and
// the chunks it names (64 KiB pages of memory, 1 MiB pieces of files,
// each zstd-compressed and named by its SHA-256) that the receiver lacks.
// An address list is 32-byte addresses one after the other; a chunk
// stream is records of u32 stored length, address and stored bytes,
// ended by a record of length 0. A protocol 2 job body is the frame, a
// chunk stream, then the manifest to the end. Senders speak protocol 2
// only: a host without /v2 (an older wasmsr answers it with a plain 404)
// is refused in one line ("does not speak migration protocol 2"), and the
// job stays. Receivers take protocol 1 jobs from older senders still.
//
// A receiver keeps the chunks in a store of its own (Config.ChunkDir),
// shared by its jobs: a job coming back finds the chunks it left that did
// not change. The store is a cache: written without sync, emptied when the
// host starts, chunks unused for ten minutes or beyond its size removed.
// Every chunk is checked against its address (decompressed, at most 1
// MiB, hashed) before it is stored and again when it is read, so a
// sender cannot make the store hold a chunk under another's name; and a
// manifest is refused (409) unless every chunk it names is here, before
// anything of the job is written.
//
// # Sending
//
// When a job is due to move (its Policy's interval has passed since it
// arrived, or POST .../migrate), the sender first makes sure the peer has
// the module — HEAD, and PUT if needed — while the program still runs:
// the peer compiles the module then, and compiles a spare runtime for the
// job's restore (hostrt.Prepare), not during the pause. Then it
// pre-copies: it takes a snapshot without stopping the program, and
// sends the chunks the peer lacks (POST /v2/chunks/missing, PUT
// /v2/chunks); again, sending what changed meanwhile, until a round sends
// less than 1 MiB or after three rounds. Its Chunker remembers a
// fingerprint of every chunk sent, so a round hashes and compresses only
// what changed. Then it pauses the program (Snapshot with Stop), and
// POSTs the manifest with the chunks changed since the last round. A
// failed pre-copy is logged and the move goes on without it. A 201 means
// the job runs on the peer; the sender closes its copy. A 409
// "chunks-missing" (the peer lost chunks since it took them) makes it
// send every chunk once more. Anything else — a
// refusal, a broken connection, a truncated upload — and the sender
// restores the job from the snapshot it still holds in memory and carries
// on where it was, trying again one interval later. When the outcome is
// unknown (the connection broke after the body was sent), the sender asks
// the peer for the job's status first, so that a job that did arrive is not
// run twice.
//
// Migration downtime is measured by the sender from the pause request to
// the peer's 201 (which the peer sends once the job is restored and about
// to run): pause + encode + upload + the peer's decode and restore, all on
// the sender's clock. The pre-copy runs before it, while the job runs.
//
// # Receiving
//
// The receiver refuses (and changes nothing) when the token is wrong, the
// body is too large, too slow or truncated, the header or snapshot is
// malformed, the module is unknown (404, code "module-unknown": the sender
// uploads it and tries once more), a preopened guest path has no mount
// here, the job writes in a mount that is read-only (here or in the job),
// the snapshot carries file contents for anything but a file the job has
// open for writing in a writable mount (the restore would write them), or
// the job already runs here. Only then does it write the travelling files
// into its mounts and restore the job. After refusing an upload that took
// 64 MiB or more (a large body, or a small one that decodes to a large
// memory), it returns the memory to the system at once: the collector
// would free it only at its next cycle, and keep it from the system.
//
// # Faults
//
// The code a job reaches — decoding, restoring, running, pausing and
// encoding it — runs in goroutines of this package or its handlers, where
// a panic would end the process with every job on the host. Each of them
// turns a panic into the failure of that job alone (status failed, with a
// one-line error saying where it happened, and one log line), or into a
// 500 answer for a request; the host goes on serving.
//
// # Policy
//
// A Policy is a cyclic Route of host URLs and an interval: the job moves
// to Route[Next] after Every, and the receiver gets Next advanced by one;
// Route [A, B] bounces a job between A and B. A server forwards a job only
// to URLs in its own peer list (Config.Peers): a job cannot make a host
// send its token anywhere else. Every 0 never moves a job on.
//
// # Several jobs on one host
//
// wazero's compiled code cannot be preempted: a running guest holds a Go P
// (thread) until it calls the host, so `wasmsr serve` keeps GOMAXPROCS
// above its job limit. And hostrt collects garbage (a stop-the-world) when a
// job pauses: with other guests computing in the same process, that
// collection waits until each of them calls the host, and the whole
// process — server included — waits with it. A compute-bound guest that
// makes no WASI call for a minute stalls the host for a minute whenever
// another job here moves. Hence `wasmsr serve --max-jobs` defaults to 1.
//
// # Following a job
//
// Status records (running, migrated with the next URL, finished with the
// exit code, failed) let a client follow a job from host to host until it
// ends: Client.Follow, which `wasmsr exec --migrate-to` does unless
// --detach.
package migrate
