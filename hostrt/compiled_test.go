package hostrt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/internal/corpus"
	"github.com/wasmsr/wasmsr/internal/s3test"
)

// compiledGuest is c/fib, instrumented, with a checksum for its wazero
// (a test binary has no build information: wazero calls itself "dev").
func compiledGuest(t *testing.T) *guest {
	t.Helper()
	old := wazeroBuild
	wazeroBuild.Sum = "h1:test"
	t.Cleanup(func() { wazeroBuild = old })
	for _, p := range corpus.CPrograms(t) {
		if p.Name == "c/fib" {
			return newGuest(t, p)
		}
	}
	t.Fatal("no c/fib in the corpus")
	return nil
}

// runWithCacheDir runs the guest to its end with a compilation cache in
// dir, checks its output, and returns the inode of the cache's file for
// the module: a new one when wazero compiled the module (and wrote the
// file), the same when it loaded the file.
func runWithCacheDir(t *testing.T, g *guest, dir string) uint64 {
	t.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(ctx)
	var stdout bytes.Buffer
	cfg := g.config(&stdout)
	cfg.Cache = cache
	j, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := j.Run(ctx)
	j.Close(ctx)
	if err != nil || exit != g.p.WantExit || !bytes.Equal(stdout.Bytes(), g.p.WantStdout) {
		t.Fatalf("run: exit %d, %v, stdout %q; want exit %d, stdout %q", exit, err, stdout.Bytes(), g.p.WantExit, g.p.WantStdout)
	}
	return inode(t, compiledCachePath(dir, g.module))
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestCompiledCachePath checks that compiledCachePath names the one file
// wazero writes when it compiles a module.
func TestCompiledCachePath(t *testing.T) {
	g := compiledGuest(t)
	dir := t.TempDir()
	runWithCacheDir(t, g, dir)
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if want := compiledCachePath(dir, g.module); len(files) != 1 || files[0] != want {
		t.Fatalf("wazero wrote %q; want only %s", files, want)
	}
}

func compiledStores(t *testing.T) map[string]func() string {
	return map[string]func() string{
		"dir": func() string { return t.TempDir() },
		"s3":  func() string { return s3test.Start(t) },
	}
}

// TestFetchCompiled stores the compiled code of a job in a store, then
// runs the job with an empty compilation cache filled from the store: it
// does not compile (wazero keeps the file it was given), whether the
// entry is trusted, signed or encrypted.
func TestFetchCompiled(t *testing.T) {
	g := compiledGuest(t)
	warm := t.TempDir()
	runWithCacheDir(t, g, warm)
	keys := testKeys(t, 7)
	for kind, location := range compiledStores(t) {
		for _, c := range []struct {
			name  string
			keys  *snapshot.Keys
			enc   *snapshot.Encryption
			trust bool
		}{
			{name: "trusted", trust: true},
			{name: "signed", keys: keys},
			{name: "encrypted", enc: testEncryption(t, 3)},
		} {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				s, err := OpenStore(location(), 0)
				if err != nil {
					t.Fatal(err)
				}
				s.Keys, s.Encryption = c.keys, c.enc
				if saved, err := s.SaveCompiled(g.module, warm); !saved || err != nil {
					t.Fatalf("SaveCompiled: %v, %v; want saved", saved, err)
				}
				if saved, err := s.SaveCompiled(g.module, warm); saved || err != nil {
					t.Fatalf("SaveCompiled again: %v, %v; want nothing to do", saved, err)
				}
				cold := t.TempDir()
				if fetched, err := s.FetchCompiled(g.module, cold, c.trust); !fetched || err != nil {
					t.Fatalf("FetchCompiled: %v, %v; want fetched", fetched, err)
				}
				before := inode(t, compiledCachePath(cold, g.module))
				if after := runWithCacheDir(t, g, cold); after != before {
					t.Errorf("wazero compiled the module again (inode %d, was %d)", after, before)
				}
				if fetched, err := s.FetchCompiled(g.module, cold, c.trust); fetched || err != nil {
					t.Fatalf("FetchCompiled into a warm cache: %v, %v; want nothing to do", fetched, err)
				}
			})
		}
	}
}

func testKeys(t testing.TB, seed byte) *snapshot.Keys {
	t.Helper()
	line, err := snapshot.NewKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := snapshot.ParseKeys([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestFetchCompiledRefused puts entries that this host must not use into
// a store: each is refused with its error, nothing is written into the
// cache, and the job compiles and runs.
func TestFetchCompiledRefused(t *testing.T) {
	g := compiledGuest(t)
	warm := t.TempDir()
	runWithCacheDir(t, g, warm)
	code, err := os.ReadFile(compiledCachePath(warm, g.module))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hostCompiledKey(g.module)
	if err != nil {
		t.Fatal(err)
	}
	otherCPU, otherWazero := key, key
	otherCPU.CPU ^= 1 << 7
	otherWazero.Wazero = "v1.11.0"
	corrupt := func(at int) []byte {
		c := bytes.Clone(code)
		c[at] ^= 0x40
		return c
	}
	header := len("WAZEVO") + 1 + len(wazeroBuild.Version) + 4
	for kind, location := range compiledStores(t) {
		for _, c := range []struct {
			name     string
			writer   *Store // keys and encryption of the writer
			reader   *Store
			trust    bool
			stored   compiledKey // the key the entry is made for
			underOwn bool        // stored under this host's name
			code     []byte
			want     string // "" when the entry is simply not found
		}{
			{name: "other cpu", stored: otherCPU, trust: true, code: code},
			{name: "other wazero", stored: otherWazero, trust: true, code: code},
			{name: "other cpu under this host's name", stored: otherCPU, underOwn: true, trust: true, code: code,
				want: "compiled code for another host or module"},
			{name: "other wazero under this host's name", stored: otherWazero, underOwn: true, trust: true, code: code,
				want: "compiled code for another host or module"},
			{name: "untrusted", stored: key, code: code, want: ErrUntrustedCompiled.Error()},
			{name: "unsigned", stored: key, reader: &Store{Keys: testKeys(t, 1)}, code: code,
				want: "the compiled code is not signed"},
			{name: "signed with another key", stored: key, writer: &Store{Keys: testKeys(t, 2)}, reader: &Store{Keys: testKeys(t, 1)}, code: code,
				want: "which is not one of the keys given"},
			{name: "encrypted, read without the key", stored: key, writer: &Store{Encryption: testEncryption(t, 2)}, trust: true, code: code,
				want: "not compiled code in wasmsr's format (or encrypted)"},
			{name: "encrypted with another key", stored: key, writer: &Store{Encryption: testEncryption(t, 2)}, reader: &Store{Encryption: testEncryption(t, 1)}, code: code,
				want: "not with a key given"},
			{name: "not encrypted, read with a key", stored: key, reader: &Store{Encryption: testEncryption(t, 1)}, code: code,
				want: "not encrypted, and with an encryption key only encrypted compiled code is read"},
			// Entries whose metadata matches their bytes, as someone who
			// recomputed every hash would make them.
			{name: "code changed", stored: key, trust: true, code: corrupt(len(code) - 40),
				want: "compiled code: the code does not match its checksum"},
			{name: "function offset changed", stored: key, trust: true, code: corrupt(header + 6),
				want: "compiled code: function 0 at offset"},
			{name: "function count changed", stored: key, trust: true, code: corrupt(header - 4),
				want: "functions, the module has"},
			{name: "wazero version changed", stored: key, trust: true, code: corrupt(8),
				want: "compiled code: not a wazero dev cache file"},
			{name: "tables cut off", stored: key, trust: true, code: code[:len(code)-2],
				want: "compiled code: truncated tables"},
			{name: "bytes after", stored: key, trust: true, code: append(bytes.Clone(code), 0),
				want: "compiled code: 1 bytes after its end"},
			{name: "truncated", stored: key, trust: true, code: code[:header+20],
				want: "compiled code: truncated code"},
		} {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				loc := location()
				open := func(with *Store) *Store {
					s, err := OpenStore(loc, 0)
					if err != nil {
						t.Fatal(err)
					}
					if with != nil {
						s.Keys, s.Encryption = with.Keys, with.Encryption
					}
					return s
				}
				w, r := open(c.writer), open(c.reader)
				ctx := context.Background()
				if err := w.putCompiled(ctx, c.stored, c.code); err != nil {
					t.Fatal(err)
				}
				if c.underOwn {
					obj, err := w.Blobs.Get(ctx, c.stored.name())
					if err != nil {
						t.Fatal(err)
					}
					if err := w.Blobs.Put(ctx, key.name(), obj); err != nil {
						t.Fatal(err)
					}
				}
				cold := t.TempDir()
				fetched, err := r.FetchCompiled(g.module, cold, c.trust)
				if fetched || (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
					t.Fatalf("FetchCompiled: %v, %v; want not fetched, error %q", fetched, err, c.want)
				}
				if _, err := os.Stat(compiledCachePath(cold, g.module)); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("the cache's file: %v; want none", err)
				}
				runWithCacheDir(t, g, cold)
			})
		}
	}
}

// TestCorruptCacheFile shows why FetchCompiled checks wazero's file
// whole: wazero fails the module's compile, rather than compile it, when
// its cache's file has a changed byte of code.
func TestCorruptCacheFile(t *testing.T) {
	g := compiledGuest(t)
	dir := t.TempDir()
	runWithCacheDir(t, g, dir)
	path := compiledCachePath(dir, g.module)
	code, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code[len(code)-40] ^= 0x40
	if err := os.WriteFile(path, code, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(ctx)
	cfg := g.config(&bytes.Buffer{})
	cfg.Cache = cache
	j, err := Start(ctx, cfg)
	if err == nil {
		j.Close(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), "compilationcache: checksum mismatch") {
		t.Fatalf("Start with a corrupt cache file: %v; want wazero's checksum mismatch", err)
	}
}

func TestCheckWazeroEntryBounds(t *testing.T) {
	// One function at offset 0 of 4 bytes of code.
	entry := []byte("WAZEVO\x03dev")
	entry = binary.LittleEndian.AppendUint32(entry, 1)
	entry = binary.LittleEndian.AppendUint64(entry, 0)
	entry = binary.LittleEndian.AppendUint64(entry, 4)
	entry = append(entry, 0xc3, 0xc3, 0xc3, 0xc3)
	entry = binary.LittleEndian.AppendUint32(entry, crc32.Checksum(entry[len(entry)-4:], crc32.MakeTable(crc32.Castagnoli)))
	entry = append(entry, 0, 0, 0, 0, 0) // no source map, no catch tables
	for _, c := range []struct {
		name  string
		entry []byte
		// want is "" for the entry as made
		functions int
		want      string
	}{
		{"as made", entry, 1, ""},
		{"empty", nil, 1, "not a wazero dev cache file"},
		{"header only", entry[:14], 1, "truncated code"},
		{"no code", entry[:30], 1, "truncated code"},
		{"code size beyond", append(bytes.Clone(entry[:22]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), 1, "truncated code"},
		{"two functions", entry, 2, "1 functions, the module has 2"},
		{"offset beyond", append(append(bytes.Clone(entry[:14]), 4, 0, 0, 0, 0, 0, 0, 0), entry[22:]...), 1, "function 0 at offset 4, outside its code (4 bytes) or before function -1"},
		{"checksum", append(append(bytes.Clone(entry[:34]), 0, 0, 0, 0), entry[38:]...), 1, "the code does not match its checksum"},
		{"source map flag", append(bytes.Clone(entry[:38]), 2, 0, 0, 0, 0), 1, "source map flag 2"},
		{"source map cut", append(bytes.Clone(entry[:38]), 1, 9, 0, 0, 0, 0, 0, 0, 0), 1, "truncated source map"},
		{"catch table cut", append(bytes.Clone(entry[:39]), 1, 0, 0, 0, 3, 0, 0, 0), 1, "truncated tables"},
	} {
		if err := checkWazeroEntry(c.entry, "dev", c.functions); err == nil && c.want != "" || err != nil && err.Error() != c.want {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
	}
}

// FuzzOpenCompiled checks that no store entry crashes the reader, and that
// one it accepts has its code's framing right.
func FuzzOpenCompiled(f *testing.F) {
	module := []byte("\x00asm\x01\x00\x00\x00\x03\x02\x01\x00")
	key := compiledKey{Module: "m", Wazero: "dev", WazeroSum: "h1:x", GOOS: "linux", GOARCH: "amd64"}
	s := &Store{Blobs: nil}
	entry := []byte("WAZEVO\x03dev")
	entry = binary.LittleEndian.AppendUint32(entry, 1)
	entry = binary.LittleEndian.AppendUint64(entry, 0)
	entry = binary.LittleEndian.AppendUint64(entry, 0)
	f.Add(entry)
	f.Add([]byte(compiledMagic + "\x01\x00\x00\x00\x02\x00\x00\x00{}\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if code, err := s.openCompiled(data, key, module); err == nil {
			if err := checkWazeroEntry(code, "dev", 1); err != nil {
				t.Fatalf("accepted an entry whose code is refused: %v", err)
			}
		}
		checkWazeroEntry(data, "dev", 1)
	})
}
