// Package snapshot reads and writes wasmsr snapshot files: the state of a
// paused program (its instance: memory, globals, tables, dropped segments
// and the paused call; its WASI state; the files it had open for writing,
// when they travel with it) bound to the instrumented module it belongs to.
//
// A snapshot file is outside input: it moves between machines and arrives
// over the network. The reader is built for that (see Open): it checks
// every byte before it decodes any, it refuses what the module could not
// hold and what the host does not give, it never allocates more than a
// declared size that it has already checked, and it streams the large
// sections (memory, files) straight into their final place. With keys
// (Keys), files are signed and only files signed with a known key are read.
// With an encryption key (Encryption), a manifest is sealed whole in an
// envelope and its chunks are sealed and named by a keyed hash (the format
// is in encrypt.go).
//
// # Format, version 2
//
//	header   magic "WASMSR\x00S", u32 format version, u32 section count,
//	         [32]byte SHA-256 of the instrumented module, u32 CRC-32C of
//	         the preceding 48 bytes
//	section  u8 id, u8 flags, u16 reserved (0), u64 stored length,
//	         u64 raw length, u32 CRC-32C of the section header's first
//	         20 bytes and the stored bytes, then the stored bytes
//	         (zstd-compressed when flags has bit 0)
//
// The sections come in this order:
//
//	1 meta       JSON (Meta), stored as is
//	2 memory     a bitmap of the non-zero 64 KiB pages, then those pages;
//	             the raw length is the memory's size
//	3 instance   globals, tables, dropped segments, the paused call
//	             (instance.go)
//	4 WASI       the WASI state (package wasip1), file contents left out
//	5 file       zero or more: the content of one file the program had
//	             open for writing: u32 descriptor (as is), then the
//	             content (zstd); the raw length is the content's
//	6 signature  optional, last: u8 algorithm (1: HMAC-SHA-256), [8]byte
//	             key id, [32]byte MAC of the header and of every other
//	             section's header and SHA-256 (sign.go)
//
// All integers are little-endian. Version 1 files (sections 1 to 4, the
// file contents inside the WASI state) are still read.
package snapshot

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wasmsr/wasmsr/unwind"
)

// Magic starts every snapshot file.
const Magic = "WASMSR\x00S"

// Version is the format version this package writes. It reads versions 1
// and 2.
const Version = 2

// PageSize is the granularity of zero-page elision: WebAssembly's page.
const PageSize = 65536

// Section ids.
const (
	sectionMeta      = 1
	sectionMemory    = 2
	sectionInstance  = 3
	sectionWASI      = 4
	sectionFile      = 5
	sectionSignature = 6
)

// sectionNames name the sections in errors.
var sectionNames = [...]string{sectionMeta: "metadata", sectionMemory: "memory", sectionInstance: "instance",
	sectionWASI: "WASI state", sectionFile: "file", sectionSignature: "signature"}

const flagZstd = 1

const (
	headerSize        = 8 + 4 + 4 + 32 + 4
	sectionHeaderSize = 1 + 1 + 2 + 8 + 8 + 4
)

// Bounds of what a snapshot may hold besides memory, which the module's
// memory limit and the host bound (Limits). The other sections hold state
// that lives outside linear memory, which those limits do not bound, so
// they get constants:
//
//   - the metadata is a few fields of JSON: a few KiB, so 1 MiB is
//     generous;
//   - the instance section holds the globals, the tables that can change
//     and the dropped segments as varints: a few KiB for real programs
//     (Limits bounds each table by the module's own limit, too);
//   - the WASI state is descriptors, arguments, environment, directory
//     cursors and at most ~80 KiB of unread stdin: 16 MiB holds 300,000
//     directory entries. (Version 1 kept file contents in it, and allowed
//     it 1 GiB; files have their own sections now.)
//   - embedded files are written to disk as they are read, never held in
//     memory; together they may hold 1 GiB, what `wasmsr serve` accepts
//     as a whole job by default.
//
// The encoder refuses to write a section beyond its bound, so that every
// snapshot written can be read back: a job whose open files are too large
// to embed fails to snapshot, with a clear error, rather than leaving a
// snapshot that no resume accepts.
const (
	maxMetaSection     = 1 << 20
	maxInstanceSection = 256 << 20
	maxWASISection     = 16 << 20
	maxWASISectionV1   = 1 << 30
	maxFiles           = 1 << 30
)

// ErrFormat is wrapped by every error about the content of a file.
var ErrFormat = errors.New("not a valid wasmsr snapshot")

func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Snapshot is a paused program.
type Snapshot struct {
	// ModuleSHA256 identifies the instrumented module the state belongs to.
	ModuleSHA256 [32]byte
	Meta         Meta
	// Instance is the instance's state. Its Memory is nil in a snapshot
	// read by a Reader, whose memory stays in the file until Memory's
	// CopyTo writes it where it goes.
	Instance *unwind.InstanceState
	// WASI is the encoded state of the host's WASI implementation.
	WASI []byte
	// Files are the contents of the files the program had open for
	// writing, when they travel with the snapshot.
	Files []File

	// memory is the memory section of the file it was read from, or of
	// the manifest and its chunks.
	memory unwind.MemoryImage
}

// File is the content of a file the program had open for writing.
type File struct {
	// FD is the program's descriptor for the file.
	FD uint32
	// Data is the content, in a snapshot that was captured or decoded
	// whole; nil in one a Reader left in its file (see Open).
	Data []byte

	size int64
	// The content is in the file section src, or in chunks.
	src     *sectionSource
	chunked *chunkedFile
}

// Size is the length of the content.
func (f *File) Size() int64 {
	if f.src == nil && f.chunked == nil {
		return int64(len(f.Data))
	}
	return f.size
}

// Open returns the content; reading it to its end checks it.
func (f *File) Open() (io.ReadCloser, error) {
	switch {
	case f.chunked != nil:
		return f.chunked.open(), nil
	case f.src == nil:
		return io.NopCloser(&byteReader{b: f.Data}), nil
	}
	return f.src.openFile(f.FD, f.size)
}

// byteReader reads a byte slice (bytes.Reader, without the seeker that
// would let io.Copy take another path).
type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Memory returns the program's memory, for unwind.Module.Restore.
func (s *Snapshot) Memory() unwind.MemoryImage {
	if s.memory != nil {
		return s.memory
	}
	return unwind.Bytes(s.Instance.Memory)
}

// MemorySize is the size of the program's memory in bytes.
func (s *Snapshot) MemorySize() uint64 { return s.Memory().Size() }

// Meta describes a snapshot for people and tools; nothing in it is needed
// to resume, and nothing in it is trusted: Module and Mounts are hints
// that a resume checks (see hostrt.Load).
type Meta struct {
	Created time.Time `json:"created"`
	// Module is where the module was loaded from when the snapshot was taken.
	Module string `json:"module,omitempty"`
	// Seq counts the snapshots of one job.
	Seq uint64 `json:"seq"`
	// Reason says what triggered the snapshot (an interval, a signal...).
	Reason string `json:"reason,omitempty"`
	// Paused says how long the program was paused for the capture.
	Paused time.Duration `json:"paused_ns"`
	// Host names the machine that took it.
	Host string `json:"host,omitempty"`
	// StdoutOffset and StderrOffset are how far the program's output had
	// gone into a regular file at the snapshot (-1: not a regular file), so
	// that a resume writing to the same file drops what came after.
	StdoutOffset int64 `json:"stdout_offset"`
	StderrOffset int64 `json:"stderr_offset"`
	// Mounts are the job's directories, HOST:GUEST[:ro], as the command
	// line gave them: shown by inspect, and mounted again by a resume only
	// when its user asks for it.
	Mounts []string `json:"mounts,omitempty"`
}
