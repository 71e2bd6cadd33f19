package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// encryptMarker is the guest's argument: it is in its memory and its WASI
// state, and so in every snapshot, unless encrypted.
const encryptMarker = "ENCRYPT-TEST-MARKER"

// TestEncryptedSnapshots: with --encrypt-key, exec writes a store in
// which nothing of the job appears in clear, resume continues it with the
// key, and every way of reading it wrongly is one exact line with nothing
// resumed: no key, another key, a manifest or a chunk changed, a chunk
// swapped for another, an unencrypted snapshot, a key too short.
func TestEncryptedSnapshots(t *testing.T) {
	module := instrumentedGuest(t, "e2e/echo.wasm")
	dir := t.TempDir()
	key, other, short := filepath.Join(dir, "key"), filepath.Join(dir, "other"), filepath.Join(dir, "short")
	for _, k := range []string{key, other} {
		if _, stderr, code := runCLI(t, "keygen", k); code != 0 {
			t.Fatalf("keygen: exit %d, stderr %q", code, stderr)
		}
	}
	if err := os.WriteFile(short, []byte("AAAAAAAAAAAAAAAAAAAAAA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := snapshot.ReadKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	id := keys.SigningKeyID()
	take := func(snaps string, flags ...string) {
		t.Helper()
		args := append(append([]string{"exec", "-q"}, flags...), "--snapshot-on", "first-stdin", "--stop-after-snapshot",
			"--snapshot-dir", snaps, module, "--", encryptMarker)
		if _, stderr, code := runCLIWithStdin(t, noStdin, "", args...); code != 0 || stderr != "" {
			t.Fatalf("exec: exit %d, stderr %q", code, stderr)
		}
	}
	encrypted, plain := filepath.Join(dir, "encrypted"), filepath.Join(dir, "plain")
	take(encrypted, "--encrypt-key", key)
	take(plain)
	if holders := holdingMarker(t, plain); len(holders) == 0 {
		t.Fatal("no object of the unencrypted store holds the marker: the check below would prove nothing")
	}
	if holders := holdingMarker(t, encrypted); len(holders) != 0 {
		t.Errorf("encrypted store: %v hold %q in clear", holders, encryptMarker)
	}

	manifest := filepath.Join(encrypted, "snapshot-000001.wsm")
	ref := echoReference(t, echoLines, encryptMarker)
	stdout, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, "resume", "--encrypt-key", key, manifest)
	if code != 0 || stderr != "" || stdout != strings.TrimPrefix(ref, echoBanner) {
		t.Errorf("resume with the key: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if text, _, _ := runCLI(t, "inspect", "--encrypt-key", key, manifest); !strings.Contains(text, "\ncipher:   XChaCha20-Poly1305, key "+id+"\n") {
		t.Errorf("inspect does not name the key:\n%s", text)
	}

	// The victim is the memory's first chunk, in its pack.
	enc, err := snapshot.ReadEncryptionKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := snapshot.ManifestRefs(data, enc)
	if err != nil || len(refs.Locations) == 0 {
		t.Fatalf("the manifest names %d chunk locations: %v", len(refs.Locations), err)
	}
	victim, where := refs.Chunks[0], refs.Locations[0]
	pack := filepath.Join("packs", where.Pack.String()[:2], where.Pack.String())
	for _, tc := range []struct {
		name   string
		damage func(store string) // a copy of the encrypted store
		flags  []string
		want   string // after "wasmsr: MANIFEST: "; STORE is the store
	}{
		{"no key", nil, nil, "the snapshot is encrypted (key " + id + "): pass --encrypt-key"},
		{"another key", nil, []string{"--encrypt-key", other}, "encrypted with key " + id + ", not with the key given"},
		{"manifest changed", func(store string) {
			flip(t, filepath.Join(store, "snapshot-000001.wsm"), -20)
		}, []string{"--encrypt-key", key}, "not a valid wasmsr snapshot: the encrypted manifest does not decrypt with key " + id + ": it was changed"},
		{"chunk changed", func(store string) {
			flip(t, filepath.Join(store, pack), int(where.Offset+where.Length/2))
		}, []string{"--encrypt-key", key}, fmt.Sprintf("snapshot: memory: bad chunk %s: does not decrypt with key %s: it was changed, or is another chunk (in pack %s)", victim, id, where.Pack)},
		{"pack missing", func(store string) {
			if err := os.Remove(filepath.Join(store, pack)); err != nil {
				t.Fatal(err)
			}
		}, []string{"--encrypt-key", key}, fmt.Sprintf("snapshot: memory: bad chunk: pack %s: open %s: no such file or directory", where.Pack, filepath.Join("STORE", pack))},
		{"not encrypted", func(store string) {
			os.RemoveAll(store)
			copyDir(t, plain, store)
		}, []string{"--encrypt-key", key}, "the snapshot is not encrypted, and with an encryption key only encrypted snapshots are read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "store")
			copyDir(t, encrypted, store)
			if tc.damage != nil {
				tc.damage(store)
			}
			file := filepath.Join(store, "snapshot-000001.wsm")
			stdout, stderr, code := runCLIWithStdin(t, pipeStdin, echoLines, append(append([]string{"resume"}, tc.flags...), file)...)
			if want := "wasmsr: " + file + ": " + strings.ReplaceAll(tc.want, "STORE", store) + "\n"; code != 1 || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit 1, stderr %q", code, stdout, stderr, want)
			}
		})
	}
	_, stderr, code = runCLIWithStdin(t, pipeStdin, echoLines, "resume", "--encrypt-key", short, manifest)
	if want := "wasmsr: --encrypt-key: " + short + ": line 1: a key of 16 bytes (want at least 32)\n"; code != 1 || stderr != want {
		t.Errorf("a short key: exit %d, stderr %q, want %q", code, stderr, want)
	}
}

// holdingMarker lists the objects of a store (but the module, which is
// not encrypted) that hold encryptMarker.
func holdingMarker(t *testing.T, store string) []string {
	t.Helper()
	var holders []string
	err := filepath.WalkDir(store, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "module-") {
			return err
		}
		data, err := os.ReadFile(path)
		if bytes.Contains(data, []byte(encryptMarker)) {
			holders = append(holders, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return holders
}

// flip changes one byte of a file, at offset (from the end when negative).
func flip(t *testing.T, path string, offset int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if offset < 0 {
		offset += len(data)
	}
	data[offset] ^= 0x10
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
