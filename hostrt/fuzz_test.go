package hostrt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/instrument"
	"github.com/wasmsr/wasmsr/unwind"
	wasmcodec "github.com/wasmsr/wasmsr/wasm"
)

// FuzzResume takes a real snapshot apart, changes what the fuzzer's bytes
// say (the unwind buffer's frames and the rest of memory, the paused
// export and its parameters, globals, tables, dropped segments, the
// memory's size, every field of the WASI state, the metadata, embedded
// files), puts it together again with valid checksums, as an attacker
// would, and restores and runs it. Whatever it holds, the host must not
// panic or hang, must write nothing in the read-only mount or outside the
// mounts, and must stay within its memory bound.
func FuzzResume(f *testing.F) {
	seed := fuzzSeed(f)
	f.Add([]byte{})
	f.Add([]byte{opExport, 6, '_', 's', 't', 'a', 'v', 't'})
	f.Add([]byte{opBufferByte, 0xF8, 0xFF, 0x01})
	// Item 2 of issue 12: the output file's preopen becomes the read-only
	// mount, and the file is no longer open for writing, its contents kept.
	f.Add([]byte{opWASI, 0, wasiPreopenPath, 0, 1, opWASI, 4, wasiWritable})
	f.Add([]byte{opWASI, 4, wasiContent, 3, 'a', 'b', 'c', 0xA4, 1})
	f.Add([]byte{opWASI, wasiPreopenReadOnly, 0, 0, wasiKind, 3, byte(wasip1.KindFile)})
	f.Add([]byte{opMemorySize, 0x7F, opTableLen, 0, 0xFF})
	f.Add([]byte{opGlobal, 0, 1, 0xFF, opDropped, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		snap, err := snapshot.Decode(seed.file, snapshot.Limits{MaxMemory: 1 << 32})
		if err != nil {
			t.Fatal(err)
		}
		(&mutator{data: ops}).apply(t, snap)
		var file bytes.Buffer
		if err := snapshot.NewEncoder().Encode(&file, snap); err != nil {
			return // a state the encoder refuses never reaches a reader
		}
		root := t.TempDir()
		ro, out := filepath.Join(root, "in"), filepath.Join(root, "out")
		for _, d := range []string{ro, out} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(ro, "out.txt"), []byte("read-only"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := treeHash(t, root, ro)
		resumeFuzzed(t, seed.module, file.Bytes(), []wasip1.Mount{{HostDir: out, GuestPath: "/out"}, {HostDir: ro, GuestPath: "/in", ReadOnly: true}})
		if after := treeHash(t, root, ro); after != before {
			t.Fatalf("the restored job changed the read-only mount or wrote outside its mounts")
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > fuzzMemory+256<<20 {
			t.Fatalf("heap of %d bytes after a restore", ms.HeapInuse)
		}
	})
}

// fuzzMemory is the most memory FuzzResume's jobs may have.
const fuzzMemory = 64 << 20

// resumeFuzzed restores a job from a fuzzed snapshot and runs it, stopping
// it if it runs on.
func resumeFuzzed(t *testing.T, module, file []byte, mounts []wasip1.Mount) {
	ctx := context.Background()
	snap, err := OpenSnapshot(bytes.NewReader(file), int64(len(file)), module, ReadOptions{MaxMemory: fuzzMemory})
	if err != nil {
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("a refusal in more than one line: %q", err)
		}
		return
	}
	job, err := Restore(ctx, Config{Module: module, Mounts: mounts, Stdin: strings.NewReader("input\n"), Stdout: io.Discard,
		Stderr: io.Discard, MaxMemory: fuzzMemory}, snap)
	if err != nil {
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("a refusal in more than one line: %q", err)
		}
		return
	}
	defer job.Close(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := job.Run(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("an error in more than one line: %q", err)
		}
		return
	case <-time.After(2 * time.Second):
	}
	// A mutated program may loop: it pauses at its next safepoint.
	job.Snapshot(ctx, SnapshotOptions{Stop: true})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a restored job neither ends nor stops")
	}
}

// treeHash hashes the names under root and the contents under ro.
func treeHash(t *testing.T, root, ro string) [32]byte {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		h.Write([]byte(path + "\x00"))
		if strings.HasPrefix(path, ro) && d.Type().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		// What the job writes in its own mount is its business.
		if d.IsDir() && path == filepath.Join(root, "out") {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

var fuzzSeedOnce struct {
	sync.Once
	module, file []byte
	err          error
}

// fuzzSeed instruments testdata/fuzzguest.wasm and snapshots it paused in
// its read of stdin, its output file open, once per process.
func fuzzSeed(f *testing.F) struct{ module, file []byte } {
	s := &fuzzSeedOnce
	s.Do(func() { s.module, s.file, s.err = makeFuzzSeed() })
	if s.err != nil {
		f.Fatal(s.err)
	}
	return struct{ module, file []byte }{s.module, s.file}
}

func makeFuzzSeed() (module, file []byte, err error) {
	wasm, err := os.ReadFile("testdata/fuzzguest.wasm")
	if err != nil {
		return nil, nil, err
	}
	if module, _, err = instrument.Instrument(wasm, instrument.Options{}); err != nil {
		return nil, nil, err
	}
	out, err := os.MkdirTemp("", "fuzzseed-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(out)
	ctx := context.Background()
	stdin, noInput := io.Pipe()
	defer noInput.Close()
	job, err := Start(ctx, Config{Module: module, Args: []string{"fuzzguest"}, Env: []string{"A=1"},
		Mounts: []wasip1.Mount{{HostDir: out, GuestPath: "/out"}}, Stdin: stdin, SnapshotFiles: true})
	if err != nil {
		return nil, nil, err
	}
	defer job.Close(ctx)
	go job.Run(ctx)
	// The job blocks reading stdin once its digits are written.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if data, _ := os.ReadFile(filepath.Join(out, "out.txt")); len(data) == 50 {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.New("the seed program did not write its digits")
		}
	}
	snap, err := job.Snapshot(ctx, SnapshotOptions{Stop: true})
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&b, snap); err != nil {
		return nil, nil, err
	}
	return module, b.Bytes(), nil
}

// Mutations, each an opcode byte followed by its operands.
const (
	opBufferByte = iota // i16 offset from the unwind buffer, xor mask
	opMemoryByte        // u32 offset, xor mask
	opExport            // length, bytes
	opParams            // count, u64 each
	opBuffer            // u32 address
	opGlobal            // element, field, value byte
	opTableIndex        // element, u32 index
	opTableLen          // element, u16 length
	opTableValue        // element, slot, u32 value
	opDropped           // which list, u32 index
	opMemorySize        // i8 pages to add
	opWASI              // WASI field, operands
	opMeta              // field, length, bytes
	opFile              // u32 descriptor, length, bytes
	opCount
)

// WASI fields opWASI changes.
const (
	wasiFD = iota
	wasiKind
	wasiPreopen
	wasiPath
	wasiReadable
	wasiWritable
	wasiFlags
	wasiOffset
	wasiSize
	wasiContent
	wasiDir
	wasiPreopenPath
	wasiPreopenReadOnly
	wasiArgs
	wasiStdin
	wasiPoll
	wasiCount
)

type mutator struct {
	data []byte
}

func (m *mutator) byte() byte {
	if len(m.data) == 0 {
		return 0
	}
	b := m.data[0]
	m.data = m.data[1:]
	return b
}

func (m *mutator) u16() uint16 { return uint16(m.byte()) | uint16(m.byte())<<8 }
func (m *mutator) u32() uint32 { return uint32(m.u16()) | uint32(m.u16())<<16 }
func (m *mutator) u64() uint64 { return uint64(m.u32()) | uint64(m.u32())<<32 }

func (m *mutator) bytes() []byte {
	n := int(m.byte())
	b := m.data[:min(n, len(m.data))]
	m.data = m.data[len(b):]
	return append([]byte(nil), b...)
}

// index picks an element of a list of n, n > 0.
func (m *mutator) index(n int) int { return int(m.byte()) % n }

func (m *mutator) apply(t *testing.T, s *snapshot.Snapshot) {
	st := s.Instance
	for len(m.data) > 0 {
		switch m.byte() % opCount {
		case opBufferByte:
			if off := int(st.Buffer) + int(int16(m.u16())); off >= 0 && off < len(st.Memory) {
				st.Memory[off] ^= m.byte()
			}
		case opMemoryByte:
			if len(st.Memory) > 0 {
				st.Memory[int(m.u32())%len(st.Memory)] ^= m.byte()
			}
		case opExport:
			st.Export = string(m.bytes())
		case opParams:
			st.Params = make([]uint64, m.byte()%4)
			for i := range st.Params {
				st.Params[i] = m.u64()
			}
		case opBuffer:
			st.Buffer = m.u32()
		case opGlobal:
			if len(st.Globals) == 0 {
				st.Globals = append(st.Globals, unwind.GlobalValue{})
			}
			g := &st.Globals[m.index(len(st.Globals))]
			switch m.byte() % 3 {
			case 0:
				g.Index = uint32(m.byte())
			case 1:
				g.Lo = m.u64()
			default:
				g.Hi = m.u64()
			}
		case opTableIndex:
			if len(st.Tables) > 0 {
				st.Tables[m.index(len(st.Tables))].Index = m.u32()
			}
		case opTableLen:
			if len(st.Tables) > 0 {
				tv := &st.Tables[m.index(len(st.Tables))]
				tv.Values = append(tv.Values, make([]uint64, int(m.u16())%4096)...)
			}
		case opTableValue:
			if len(st.Tables) > 0 {
				if tv := &st.Tables[m.index(len(st.Tables))]; len(tv.Values) > 0 {
					tv.Values[m.index(len(tv.Values))] = uint64(m.u32())
				}
			}
		case opDropped:
			if m.byte()%2 == 0 {
				st.DroppedData = append(st.DroppedData, m.u32())
			} else {
				st.DroppedElems = append(st.DroppedElems, m.u32())
			}
		case opMemorySize:
			pages := len(st.Memory)/snapshot.PageSize + int(int8(m.byte()))
			st.Memory = append(st.Memory, make([]byte, max(0, pages*snapshot.PageSize-len(st.Memory)))...)[:max(0, pages)*snapshot.PageSize]
		case opWASI:
			var ws wasip1.State
			if err := ws.UnmarshalBinary(s.WASI); err != nil {
				continue // an earlier mutation made it unreadable
			}
			m.wasi(&ws)
			// What the encoder refuses, an attacker writes all the same;
			// the codec's own fuzz target covers those bytes.
			if b, err := ws.MarshalBinary(); err == nil {
				s.WASI = b
			}
		case opMeta:
			field, value := m.byte()%2, string(m.bytes())
			if field == 0 {
				s.Meta.Module = value
			} else {
				s.Meta.Mounts = append(s.Meta.Mounts, value)
			}
		case opFile:
			s.Files = append(s.Files, snapshot.File{FD: m.u32() % 16, Data: m.bytes()})
		}
	}
}

var fuzzPaths = []string{"out.txt", "..", "../in/out.txt", "/etc/passwd", "a/../../x", "new.txt", ".", "in/out.txt"}

func (m *mutator) wasi(ws *wasip1.State) {
	if len(ws.FDs) == 0 {
		return
	}
	fd := &ws.FDs[m.index(len(ws.FDs))]
	switch m.byte() % wasiCount {
	case wasiFD:
		fd.FD = uint32(m.byte())
	case wasiKind:
		fd.Kind = wasip1.Kind(m.byte() % 8)
	case wasiPreopen:
		fd.Preopen = uint32(m.byte() % 4)
	case wasiPath:
		fd.Path = fuzzPaths[m.index(len(fuzzPaths))]
	case wasiReadable:
		fd.Readable = !fd.Readable
	case wasiWritable:
		fd.Writable = !fd.Writable
	case wasiFlags:
		fd.OFlags, fd.FDFlags = m.u16(), m.u16()
	case wasiOffset:
		fd.Offset = int64(m.u64())
	case wasiSize:
		fd.Size = int64(m.u64())
	case wasiContent:
		fd.Content = &wasip1.Content{Data: m.bytes(), Perm: uint32(m.u16())}
	case wasiDir:
		fd.Dir = &wasip1.DirCursor{Cookie: m.u64(), Entries: []wasip1.DirEntry{{Name: fuzzPaths[m.index(len(fuzzPaths))], Type: m.byte()}}}
	case wasiPreopenPath:
		if len(ws.Preopens) > 0 {
			ws.Preopens[m.index(len(ws.Preopens))].GuestPath = []string{"/out", "/in", "/", "", "/out/.."}[m.index(5)]
		}
	case wasiPreopenReadOnly:
		if len(ws.Preopens) > 0 {
			p := &ws.Preopens[m.index(len(ws.Preopens))]
			p.ReadOnly = !p.ReadOnly
		}
	case wasiArgs:
		ws.Args = append(ws.Args, string(m.bytes()))
	case wasiStdin:
		ws.Stdin, ws.StdinOffset = m.bytes(), int64(m.u64())
	case wasiPoll:
		ws.Poll = &wasip1.PendingPoll{Subscriptions: m.bytes(), Start: int64(m.u64())}
	}
}

// TestModuleThatCrashesWazero: wazero v1.12's validator panics on a call
// to a function whose type index is out of range; a job refuses such a
// module with an error instead of crashing its host.
func TestModuleThatCrashesWazero(t *testing.T) {
	wasm, err := os.ReadFile("testdata/fuzzguest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	module, _, err := instrument.Instrument(wasm, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Which function's type is out of range decides whether wazero finds
	// it or panics: try each.
	panics := 0
	for k := range len(decodeModule(t, module).Funcs) {
		m := decodeModule(t, module)
		m.Funcs[k] = 999
		crafted, err := wasmcodec.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Start(context.Background(), Config{Module: crafted})
		switch {
		case err == nil || strings.Contains(err.Error(), "\n"):
			t.Fatalf("function %d of type 999: %v", k, err)
		case strings.HasPrefix(err.Error(), "invalid module (wazero: "):
			panics++
		}
	}
	if panics == 0 {
		t.Error("no module made wazero panic: this wazero may not need the recovery any more")
	}
}

func decodeModule(t *testing.T, module []byte) *wasmcodec.Module {
	m, err := wasmcodec.Decode(module)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
