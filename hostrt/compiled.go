package hostrt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/wasmsr/wasmsr/hostrt/blob"
	"github.com/wasmsr/wasmsr/internal/atomicfile"
	"github.com/wasmsr/wasmsr/wasm"
)

// Compiled code in a store.
//
// wazero keeps a module's compiled code in its compilation cache
// directory as one file (wazero v1.12.0, internal/engine/wazevo
// engine_cache.go); a store keeps a copy of that file, so that a resume on
// a node whose cache lacks it fetches it instead of compiling (RATIONALE.md,
// "Compiled code in the store"):
//
//	compiled/KEY   "WASMSR\0C", u32 version (1), u32 length, metadata
//	               (JSON: compiledMeta), u32 length, signature
//	               (Keys.SignData of the metadata, or empty), wazero's
//	               cache file; with an encryption key, all of it sealed
//	               (Encryption.SealData)
//
// KEY is the SHA-256 of what the code depends on (compiledKey): the
// module, wazero's version and source checksum, GOOS, GOARCH and the CPU
// features wazero compiles for. The metadata repeats them and the SHA-256
// of wazero's file, and a reader checks all of it, then the file's
// framing and checksum as wazero reads it, before it writes the file into
// its cache, where wazero reads it. Compiled code is code the host runs
// natively, and wazero does not check where its cache's code comes from:
// a reader uses an entry only if it is signed with one of its keys, or
// sealed with its encryption key, or when it is told to trust the store.

const (
	compiledPrefix  = "compiled/"
	compiledMagic   = "WASMSR\x00C"
	compiledVersion = 1
	// compiledPurpose keeps a signature or a sealed object made for
	// compiled code from passing for another kind of data's.
	compiledPurpose = "compiled code"
	maxCompiledMeta = 64 << 10
)

// MaxCompiledSize bounds the compiled code a store's entry may hold.
const MaxCompiledSize = 1 << 30

// ErrUntrustedCompiled is returned by FetchCompiled when neither a key nor
// trust vouches for compiled code from the store.
var ErrUntrustedCompiled = errors.New("compiled code from a store is used only when signed (--snapshot-key), encrypted (--encrypt-key) or trusted")

// compiledKey is what wazero's compiled code for a module depends on.
// Its JSON, in this field order, is hashed into the entry's name.
type compiledKey struct {
	// Module is the SHA-256 of the module, in hex.
	Module string `json:"module"`
	// Wazero is wazero's version as wazero names its cache entries, and
	// WazeroSum its module checksum (go.sum's h1:), which tells two builds
	// of one version (a replaced module) apart.
	Wazero    string `json:"wazero"`
	WazeroSum string `json:"wazero_sum"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	// CPU is wazero's CPU feature flags (platform.CpuFeatures), and
	// CPUNames names them for people.
	CPU      uint64 `json:"cpu"`
	CPUNames string `json:"cpu_names"`
}

// compiledMeta describes an entry: its key and wazero's file.
type compiledMeta struct {
	compiledKey
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// wazeroBuild is the wazero this program is built with, as its cache
// names it (Version) and as a store's key does (Version and Sum).
type wazeroBuildInfo struct {
	Version, Sum string
}

var wazeroBuild = readWazeroBuild()

// readWazeroBuild reads wazero's version as wazero does
// (internal/version.GetWazeroVersion: the dependency's version, "dev"
// without one, as in tests), and its checksum, empty when unknown.
func readWazeroBuild() wazeroBuildInfo {
	w := wazeroBuildInfo{Version: "dev"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return w
	}
	for _, dep := range info.Deps {
		if !strings.Contains(dep.Path, "github.com/tetratelabs/wazero") {
			continue
		}
		if dep.Version != "" && dep.Version != "(devel)" {
			w.Version = dep.Version
		}
		w.Sum = dep.Sum
		if dep.Replace != nil {
			w.Sum = dep.Replace.Sum // empty for a directory: unknown
		}
	}
	return w
}

// hostCompiledKey is the key of module's compiled code on this host.
func hostCompiledKey(module []byte) (compiledKey, error) {
	if wazeroBuild.Sum == "" {
		return compiledKey{}, fmt.Errorf("this wasmsr's wazero (%s) has no module checksum: its compiled code cannot be told from another build's", wazeroBuild.Version)
	}
	sum := sha256.Sum256(module)
	cpu := wazeroCPUFeatures()
	return compiledKey{Module: hex.EncodeToString(sum[:]), Wazero: wazeroBuild.Version, WazeroSum: wazeroBuild.Sum,
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPU: cpu, CPUNames: cpuFeatureNames(cpu)}, nil
}

// name is the entry's name in a store.
func (k compiledKey) name() string {
	data, _ := json.Marshal(k) // cannot fail: strings and a number
	sum := sha256.Sum256(data)
	return compiledPrefix + hex.EncodeToString(sum[:])
}

// compiledCachePath is where wazero's compilation cache in cacheDir
// (DefaultCacheDir) keeps module's compiled code, as wazero v1.12.0 names
// it for a runtime without function listeners or WithCloseOnContextDone
// (Start's): the directory wazero-VERSION-GOARCH-GOOS (cache.go), the file
// the hex SHA-256 of the module's id, "WAZEVO" and the CPU feature flags
// (engine_cache.go fileCacheKey), the module's id being the SHA-256 of the
// module and a 0 byte (internal/wasm/module.go AssignModuleID).
// TestCompiledCachePath checks it against the file wazero writes.
func compiledCachePath(cacheDir string, module []byte) string {
	id := sha256.New()
	id.Write(module)
	id.Write([]byte{0})
	key := sha256.New()
	key.Write(id.Sum(nil))
	key.Write([]byte("WAZEVO"))
	key.Write(binary.LittleEndian.AppendUint64(nil, wazeroCPUFeatures()))
	dir := "wazero-" + wazeroBuild.Version + "-" + runtime.GOARCH + "-" + runtime.GOOS
	return filepath.Join(cacheDir, dir, hex.EncodeToString(key.Sum(nil)))
}

// SaveCompiled copies module's compiled code from the compilation cache
// in cacheDir (DefaultCacheDir) into the store, signed with its Keys and
// sealed with its Encryption, unless the store has it. It reports whether
// it wrote it.
func (s *Store) SaveCompiled(module []byte, cacheDir string) (bool, error) {
	key, err := hostCompiledKey(module)
	if err != nil {
		return false, err
	}
	name := key.name()
	ctx := context.Background()
	if _, err := s.Blobs.Stat(ctx, name); err == nil {
		return false, nil
	} else if !blob.IsNotExist(err) {
		return false, fmt.Errorf("%s: %w", s.where(name), err)
	}
	path := compiledCachePath(cacheDir, module)
	f, size, err := openRegular(path)
	if err != nil {
		return false, fmt.Errorf("the module's compiled code is not in the compilation cache: %w", err)
	}
	defer f.Close()
	if size > MaxCompiledSize {
		return false, fmt.Errorf("%s: %d bytes of compiled code (at most %d are stored)", path, size, MaxCompiledSize)
	}
	code := make([]byte, size)
	if _, err := io.ReadFull(f, code); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.putCompiled(ctx, key, code); err != nil {
		return false, err
	}
	return true, nil
}

// putCompiled stores wazero's cache file code as the entry for key.
func (s *Store) putCompiled(ctx context.Context, key compiledKey, code []byte) error {
	name := key.name()
	sum := sha256.Sum256(code)
	meta, _ := json.Marshal(compiledMeta{compiledKey: key, Size: int64(len(code)), SHA256: hex.EncodeToString(sum[:])})
	var sig string
	if s.Keys != nil {
		sig = s.Keys.SignData(compiledPurpose, meta)
	}
	obj := make([]byte, 0, 20+len(meta)+len(sig)+len(code))
	obj = append(obj, compiledMagic...)
	obj = binary.LittleEndian.AppendUint32(obj, compiledVersion)
	obj = binary.LittleEndian.AppendUint32(obj, uint32(len(meta)))
	obj = append(obj, meta...)
	obj = binary.LittleEndian.AppendUint32(obj, uint32(len(sig)))
	obj = append(obj, sig...)
	obj = append(obj, code...)
	if s.Encryption != nil {
		obj = s.Encryption.SealData(compiledPurpose, obj)
	}
	if err := s.Blobs.Put(ctx, name, obj); err != nil {
		return fmt.Errorf("%s: %w", s.where(name), err)
	}
	return nil
}

// FetchCompiled copies module's compiled code for this host from the
// store into the compilation cache in cacheDir (DefaultCacheDir), when
// the cache lacks it and the store has it, so that wazero does not
// compile the module. An entry is used only if it is signed with one of
// the store's Keys, or sealed with its Encryption, or if trust is set
// (ErrUntrustedCompiled otherwise); it is checked whole before anything
// is written. It reports whether it wrote the cache's file.
func (s *Store) FetchCompiled(module []byte, cacheDir string, trust bool) (bool, error) {
	if s.Keys == nil && s.Encryption == nil && !trust {
		return false, ErrUntrustedCompiled
	}
	key, err := hostCompiledKey(module)
	if err != nil {
		return false, err
	}
	path := compiledCachePath(cacheDir, module)
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	name := key.name()
	where := s.where(name)
	ctx := context.Background()
	info, err := s.Blobs.Stat(ctx, name)
	if blob.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	if info.Size > MaxCompiledSize+maxCompiledMeta {
		return false, fmt.Errorf("%s: %d bytes of compiled code (at most %d are read)", where, info.Size, MaxCompiledSize)
	}
	obj, err := s.Blobs.Get(ctx, name)
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	code, err := s.openCompiled(obj, key, module)
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(code)
		return err
	})
	return err == nil, err
}

// openCompiled checks a store's entry for key and returns wazero's file.
func (s *Store) openCompiled(obj []byte, key compiledKey, module []byte) ([]byte, error) {
	if s.Encryption != nil {
		if bytes.HasPrefix(obj, []byte(compiledMagic)) {
			return nil, errors.New("not encrypted, and with an encryption key only encrypted compiled code is read")
		}
		var err error
		if obj, err = s.Encryption.OpenData(compiledPurpose, obj); err != nil {
			return nil, err
		}
	}
	if len(obj) < 12 || string(obj[:8]) != compiledMagic {
		// Sealed with a key this reader was not given, or not an entry.
		return nil, errors.New("not compiled code in wasmsr's format (or encrypted)")
	}
	if v := binary.LittleEndian.Uint32(obj[8:]); v != compiledVersion {
		return nil, fmt.Errorf("compiled code in format version %d, this wasmsr reads version %d", v, compiledVersion)
	}
	rest := obj[12:]
	meta, rest, ok := cutLengthPrefixed(rest, maxCompiledMeta)
	if !ok {
		return nil, errors.New("truncated compiled code metadata")
	}
	sig, code, ok := cutLengthPrefixed(rest, maxCompiledMeta)
	if !ok {
		return nil, errors.New("truncated compiled code signature")
	}
	if s.Keys != nil {
		if err := s.Keys.VerifyData(compiledPurpose, meta, string(sig)); err != nil {
			return nil, err
		}
	}
	var m compiledMeta
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, fmt.Errorf("compiled code metadata: %w", err)
	}
	if m.compiledKey != key {
		return nil, fmt.Errorf("compiled code for another host or module (%s %s %s/%s cpu %q, this host's is %s %s %s/%s cpu %q)",
			short(m.Module), m.Wazero, m.GOOS, m.GOARCH, m.CPUNames, short(key.Module), key.Wazero, key.GOOS, key.GOARCH, key.CPUNames)
	}
	if sum := sha256.Sum256(code); int64(len(code)) != m.Size || hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, fmt.Errorf("compiled code of %d bytes with sha256 %x, its metadata says %d bytes with %s", len(code), sum[:8], m.Size, short(m.SHA256))
	}
	functions, err := localFunctions(module)
	if err != nil {
		return nil, err
	}
	if err := checkWazeroEntry(code, key.Wazero, functions); err != nil {
		return nil, fmt.Errorf("compiled code: %w", err)
	}
	return code, nil
}

func short(hexSum string) string { return hexSum[:min(16, len(hexSum))] }

// cutLengthPrefixed cuts a u32-length-prefixed field of at most limit
// bytes off data.
func cutLengthPrefixed(data []byte, limit int) (field, rest []byte, ok bool) {
	if len(data) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(data)
	if uint64(n) > uint64(limit) || uint64(n) > uint64(len(data)-4) {
		return nil, nil, false
	}
	return data[4 : 4+n], data[4+n:], true
}

// checkWazeroEntry reads a wazero v1.12.0 cache file whole, as wazero
// does (engine_cache.go deserializeCompiledModule), and checks what wazero
// does not: that it has one offset per function of the module, inside
// the code (the code's CRC-32C does not cover them), and that it ends
// where its last table does. wazero fails the module's compile, rather
// than compile it, on a file it cannot read (engine.go CompileModule), so
// a file written into its cache must be one it reads.
func checkWazeroEntry(code []byte, version string, functions int) error {
	header := len("WAZEVO") + 1 + len(version) + 4
	if len(code) < header || string(code[:6]) != "WAZEVO" || int(code[6]) != len(version) || string(code[7:7+len(version)]) != version {
		return fmt.Errorf("not a wazero %s cache file", version)
	}
	if n := binary.LittleEndian.Uint32(code[header-4:]); uint64(n) != uint64(functions) {
		return fmt.Errorf("%d functions, the module has %d", n, functions)
	}
	r := entryReader{rest: code[header:]}
	offsets := r.take(8 * uint64(functions))
	size := r.u64()
	executable := r.take(size)
	checksum := r.take(4)
	if r.short {
		return errors.New("truncated code")
	}
	var last uint64
	for i := range functions {
		off := binary.LittleEndian.Uint64(offsets[8*i:])
		if off < last || off >= size {
			return fmt.Errorf("function %d at offset %d, outside its code (%d bytes) or before function %d", i, off, size, i-1)
		}
		last = off
	}
	if crc32.Checksum(executable, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(checksum) {
		return errors.New("the code does not match its checksum")
	}
	switch sourceMap := r.take(1); {
	case r.short:
	case sourceMap[0] == 1:
		n := r.u64()
		if n > uint64(len(r.rest))/16 {
			return errors.New("truncated source map")
		}
		r.take(16 * n)
	case sourceMap[0] != 0:
		return fmt.Errorf("source map flag %d", sourceMap[0])
	}
	tables := uint64(r.u32())
	for i := uint64(0); i < tables && !r.short; i++ {
		r.take(5 * uint64(r.u32()))
	}
	if r.short {
		return errors.New("truncated tables")
	}
	if len(r.rest) != 0 {
		return fmt.Errorf("%d bytes after its end", len(r.rest))
	}
	return nil
}

// entryReader reads a cache file's fields; short is set once one is
// missing, and the fields after it are empty.
type entryReader struct {
	rest  []byte
	short bool
}

func (r *entryReader) take(n uint64) []byte {
	if r.short || n > uint64(len(r.rest)) {
		r.short = true
		return nil
	}
	field := r.rest[:n]
	r.rest = r.rest[n:]
	return field
}

func (r *entryReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *entryReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// localFunctions counts the functions a module defines (its function
// section's count), without decoding its code.
func localFunctions(module []byte) (int, error) {
	for pos := 8; pos < len(module); {
		id := module[pos]
		size, n := binary.Uvarint(module[pos+1:])
		if n <= 0 || n > 5 || size > uint64(len(module)-pos-1-n) {
			return 0, errors.New("the module's sections cannot be read")
		}
		body := module[pos+1+n : pos+1+n+int(size)]
		if wasm.SectionID(id) == wasm.SectionFunction {
			count, n := binary.Uvarint(body)
			if n <= 0 || n > 5 {
				return 0, errors.New("the module's function section cannot be read")
			}
			return int(count), nil
		}
		pos += 1 + n + int(size)
	}
	return 0, nil
}

// featureNames names the flags set, bit i named names[i].
func featureNames(flags uint64, names []string) string {
	var set []string
	for i := range 64 {
		if flags&(1<<i) == 0 {
			continue
		}
		if i < len(names) {
			set = append(set, names[i])
		} else {
			set = append(set, fmt.Sprintf("bit%d", i))
		}
	}
	return strings.Join(set, ",")
}
