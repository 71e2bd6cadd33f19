package snapshot

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Encryption at rest.
//
// With an encryption key (Encryption), a store holds nothing of a job's
// state in clear: every chunk and every manifest is sealed with
// XChaCha20-Poly1305 (random 24-byte nonces). The key file is a signing
// key file (see Keys: base64 lines of at least 32 random bytes, `wasmsr
// keygen` makes one); its first key encrypts, every key decrypts, so keys
// rotate as signing keys do. From each key, HKDF-SHA-256 derives two
// subkeys, so that neither use can stand in for the other nor for a
// signature made with the same key:
//
//	"wasmsr chunk address"  the HMAC-SHA-256 key that names chunks
//	"wasmsr seal"           the XChaCha20-Poly1305 key
//
// A chunk's address is then the HMAC-SHA-256 of its raw bytes under the
// address key instead of their SHA-256: the same content has unrelated
// names under two keys (and without a key no name can be checked against
// a guess of the content), while snapshots under one key share chunks as
// plain ones do. A chunk is checked against its keyed address once it is
// decrypted and decompressed.
//
//	sealed chunk  [24]byte nonce, then the zstd frame sealed, with the
//	              chunk's address as additional data: a chunk stored under
//	              another address does not open
//	envelope      magic "WASMSR\x00E", u32 envelope version (1), u8
//	              algorithm (1: XChaCha20-Poly1305), [3]byte 0, [8]byte key
//	              id (keyID: a fingerprint, not secret), [24]byte nonce,
//	              then the whole manifest (format version 3, signed when
//	              signing keys are given) sealed, with the 48 bytes before
//	              as additional data
//
// The envelope hides the manifest whole: metadata, sizes and the chunks'
// addresses. A reader with an encryption key reads only envelopes (an
// unencrypted manifest in an encrypted store may have been put there by
// anyone who can write to the store; with the key, only its holders can
// write a manifest that opens); a reader without one refuses an envelope,
// naming its key id.

// EnvelopeMagic starts an encrypted manifest.
const EnvelopeMagic = "WASMSR\x00E"

const (
	envelopeVersion    = 1
	sealXChaCha20      = 1
	envelopeHeaderSize = 8 + 4 + 1 + 3 + keyIDSize + chacha20poly1305.NonceSizeX
	// maxManifest bounds the manifests sealed and unsealed (an envelope is
	// read whole to be opened). A manifest holds its memory's addresses
	// (2 MiB for 4 GiB) and its small sections compressed: tens of KiB
	// for real programs, up to the bounds of the instance and WASI
	// sections for hostile ones.
	maxManifest = 512 << 20
)

// ErrEncrypted is wrapped by the errors about a snapshot that is
// encrypted while no key was given to read it.
var ErrEncrypted = errors.New("the snapshot is encrypted")

// Encryption seals a store's chunks and manifests with its first key and
// opens them with any of its keys.
type Encryption struct {
	keys []*sealKey
}

// sealKey is one key's subkeys; a nil *sealKey is no encryption.
type sealKey struct {
	id      [keyIDSize]byte
	aead    cipher.AEAD
	address []byte
}

// NewEncryption derives the encryption keys from the keys of a key file.
func NewEncryption(keys *Keys) (*Encryption, error) {
	e := &Encryption{}
	for _, k := range keys.keys {
		address, err := hkdf.Key(sha256.New, k.secret, nil, "wasmsr chunk address", sha256.Size)
		if err != nil {
			return nil, err
		}
		seal, err := hkdf.Key(sha256.New, k.secret, nil, "wasmsr seal", chacha20poly1305.KeySize)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.NewX(seal)
		if err != nil {
			return nil, err
		}
		e.keys = append(e.keys, &sealKey{id: k.id, aead: aead, address: address})
	}
	return e, nil
}

// ReadEncryptionKeys reads a key file (see Keys) for encryption.
func ReadEncryptionKeys(path string) (*Encryption, error) {
	keys, err := ReadKeys(path)
	if err != nil {
		return nil, err
	}
	return NewEncryption(keys)
}

// KeyID is the id of the key that encrypts, as errors and inspect show it.
func (e *Encryption) KeyID() string { return hex.EncodeToString(e.keys[0].id[:]) }

// sealing is the key new chunks and manifests are sealed with.
func (e *Encryption) sealing() *sealKey {
	if e == nil {
		return nil
	}
	return e.keys[0]
}

// addressOf names a chunk: the SHA-256 of its bytes, or with a key their
// keyed hash.
func (k *sealKey) addressOf(data []byte) Address {
	if k == nil {
		return sha256.Sum256(data)
	}
	mac := hmac.New(sha256.New, k.address)
	mac.Write(data)
	return Address(mac.Sum(nil))
}

// sealChunk seals a chunk's stored (compressed) bytes; without a key they
// are stored as they are.
func (k *sealKey) sealChunk(a Address, stored []byte) []byte {
	if k == nil {
		return stored
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(stored)+k.aead.Overhead())
	rand.Read(out) // never fails (crypto/rand)
	return k.aead.Seal(out, out, stored, a[:])
}

// openChunk opens a sealed chunk stored under address a.
func (k *sealKey) openChunk(a Address, sealed []byte) ([]byte, error) {
	if k == nil {
		return sealed, nil
	}
	if len(sealed) < chacha20poly1305.NonceSizeX+k.aead.Overhead() {
		return nil, fmt.Errorf("an encrypted chunk of %d bytes", len(sealed))
	}
	nonce, ciphertext := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	out, err := k.aead.Open(nil, nonce, ciphertext, a[:])
	if err != nil {
		return nil, fmt.Errorf("does not decrypt with key %x: it was changed, or is another chunk", k.id)
	}
	return out, nil
}

// Seal encrypts a manifest into an envelope with the first key.
func (e *Encryption) Seal(manifest []byte) ([]byte, error) {
	if len(manifest) > maxManifest {
		return nil, fmt.Errorf("snapshot: a manifest of %d bytes, more than the %d an encrypted one may hold", len(manifest), maxManifest)
	}
	k := e.keys[0]
	out := make([]byte, 0, envelopeHeaderSize+len(manifest)+k.aead.Overhead())
	out = append(out, EnvelopeMagic...)
	out = binary.LittleEndian.AppendUint32(out, envelopeVersion)
	out = append(out, sealXChaCha20, 0, 0, 0)
	out = append(out, k.id[:]...)
	out = out[:envelopeHeaderSize]
	rand.Read(out[envelopeHeaderSize-chacha20poly1305.NonceSizeX:])
	return k.aead.Seal(out, out[envelopeHeaderSize-chacha20poly1305.NonceSizeX:], manifest, out), nil
}

// unseal opens an envelope with the key it names, one of e's (e nil:
// none, and the error says which key the snapshot needs).
func (e *Encryption) unseal(envelope []byte) ([]byte, *sealKey, error) {
	if len(envelope) < envelopeHeaderSize || string(envelope[:len(EnvelopeMagic)]) != EnvelopeMagic {
		return nil, nil, formatError("truncated encryption header (%d bytes)", len(envelope))
	}
	hdr := envelope[:envelopeHeaderSize]
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != envelopeVersion {
		return nil, nil, fmt.Errorf("%w: encryption format version %d, this wasmsr reads version %d", ErrFormat, v, envelopeVersion)
	}
	if hdr[12] != sealXChaCha20 || hdr[13] != 0 || hdr[14] != 0 || hdr[15] != 0 {
		return nil, nil, formatError("unknown encryption algorithm %d", hdr[12])
	}
	id := [keyIDSize]byte(hdr[16:])
	if e == nil {
		return nil, nil, fmt.Errorf("%w (key %x)", ErrEncrypted, id)
	}
	var k *sealKey
	for _, c := range e.keys {
		if c.id == id {
			k = c
		}
	}
	if k == nil {
		given := "the key given"
		if len(e.keys) > 1 {
			given = "any of the keys given"
		}
		return nil, nil, fmt.Errorf("encrypted with key %x, not with %s", id, given)
	}
	if len(envelope)-envelopeHeaderSize < k.aead.Overhead() {
		return nil, nil, formatError("truncated: the encrypted manifest is %d bytes", len(envelope)-envelopeHeaderSize)
	}
	manifest, err := k.aead.Open(nil, hdr[envelopeHeaderSize-chacha20poly1305.NonceSizeX:], envelope[envelopeHeaderSize:], hdr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the encrypted manifest does not decrypt with key %x: it was changed", ErrFormat, id)
	}
	return manifest, k, nil
}

// OpenEncrypted is Open for a store encrypted with enc (nil: a store
// without encryption). With enc, the file must be an envelope: it is read
// whole (at most a manifest's bound), decrypted, and the manifest in it
// opened as Open does; its chunks are decrypted with the same key. Without
// enc, an envelope is refused (ErrEncrypted, naming its key).
func OpenEncrypted(r io.ReaderAt, size int64, keys *Keys, enc *Encryption) (*Reader, error) {
	var head [len(EnvelopeMagic)]byte
	n, _ := r.ReadAt(head[:], 0)
	sealed := n == len(head) && string(head[:]) == EnvelopeMagic
	if !sealed {
		if enc != nil {
			return nil, errors.New("the snapshot is not encrypted, and with an encryption key only encrypted snapshots are read")
		}
		return open(r, size, keys)
	}
	if enc == nil {
		// The header says which key it needs.
		hdr := make([]byte, min(size, envelopeHeaderSize))
		if _, err := r.ReadAt(hdr, 0); err != nil && err != io.EOF {
			return nil, err
		}
		_, _, err := enc.unseal(hdr)
		return nil, err
	}
	if size > envelopeHeaderSize+maxManifest+chacha20poly1305.Overhead {
		return nil, formatError("an encrypted manifest of %d bytes (at most %d)", size, int64(maxManifest))
	}
	envelope := make([]byte, size)
	if _, err := r.ReadAt(envelope, 0); err != nil && err != io.EOF {
		return nil, err
	}
	manifest, k, err := enc.unseal(envelope)
	if err != nil {
		return nil, err
	}
	rd, err := open(bytes.NewReader(manifest), int64(len(manifest)), keys)
	if err != nil {
		return nil, err
	}
	if !rd.chunked() {
		return nil, formatError("an encrypted file of format version %d (only manifests are encrypted)", rd.version)
	}
	rd.key = k
	return rd, nil
}

// Encryption returns the id of the key the snapshot was encrypted with
// ("" when it was not).
func (rd *Reader) Encryption() string {
	if rd.key == nil {
		return ""
	}
	return hex.EncodeToString(rd.key.id[:])
}
