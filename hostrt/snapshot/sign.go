package snapshot

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// Signatures.
//
// A signed snapshot ends with a signature section: an HMAC-SHA-256, under
// a secret key shared by the hosts that take and resume snapshots, of the
// file header followed by, for every other section, its header and the
// SHA-256 of its stored bytes. (Signing digests rather than the bytes
// themselves costs nothing more, and lets a reader that streams a section
// later check that the bytes it reads are still those it verified.) With keys configured, a reader refuses any file
// that is not signed by one of them before it decodes a single section:
// the checksums only catch accidents, the signature catches changes.
//
// A key file holds one or more keys, one per line (blank lines and lines
// starting with # are skipped), each the standard base64 encoding of at
// least 32 random bytes (`wasmsr keygen` writes one). The first key signs;
// every key verifies. That is how keys rotate without stopping anything:
// add the new key as a second line on every host, then move it first
// (new snapshots are signed with it, old ones still verify), and remove
// the old key once no snapshot signed with it is needed any more.
//
// A signature proves where a file comes from, not when: a snapshot signed
// with a key still in the file can be resumed again later (replayed).

const (
	sigAlgHMACSHA256 = 1
	keyIDSize        = 8
	macSize          = sha256.Size
	signatureBody    = 1 + keyIDSize + macSize
	signatureSize    = sectionHeaderSize + signatureBody
	minKeySize       = 32
	maxKeyFile       = 64 << 10
)

// ErrSignature is wrapped by every error about a missing or wrong
// signature.
var ErrSignature = errors.New("snapshot signature")

// Keys are the keys that sign and verify snapshots.
type Keys struct {
	keys []key
}

type key struct {
	id     [keyIDSize]byte
	secret []byte
}

// ParseKeys reads a key file's content.
func ParseKeys(data []byte) (*Keys, error) {
	var ks Keys
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		secret, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: not a base64 key", line)
		}
		if len(secret) < minKeySize {
			return nil, fmt.Errorf("line %d: a key of %d bytes (want at least %d)", line, len(secret), minKeySize)
		}
		ks.keys = append(ks.keys, key{id: keyID(secret), secret: secret})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("no key in the file")
	}
	return &ks, nil
}

// ReadKeys reads a key file.
func ReadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: a key file of more than %d bytes", path, maxKeyFile)
	}
	ks, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// keyID names a key without revealing it.
func keyID(secret []byte) [keyIDSize]byte {
	h := sha256.New()
	h.Write([]byte("wasmsr snapshot key id\x00"))
	h.Write(secret)
	var id [keyIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// SigningKeyID is the id of the key that signs, as inspect shows it.
func (k *Keys) SigningKeyID() string { return hex.EncodeToString(k.keys[0].id[:]) }

// mac starts the MAC of a file signed with the signing key.
func (k *Keys) mac() (hash.Hash, [keyIDSize]byte) {
	return hmac.New(sha256.New, k.keys[0].secret), k.keys[0].id
}

// verifier starts checking a file signed with the key named id.
func (k *Keys) verifier(id [keyIDSize]byte) (hash.Hash, bool) {
	for _, key := range k.keys {
		if key.id == id {
			return hmac.New(sha256.New, key.secret), true
		}
	}
	return nil, false
}

// NewKey returns a key file's line for a new random key.
func NewKey(random io.Reader) (string, error) {
	secret := make([]byte, minKeySize)
	if _, err := io.ReadFull(random, secret); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(secret), nil
}

// signSection adds a section to a MAC: its header and its bytes' digest.
func signSection(mac hash.Hash, header []byte, digest [sha256.Size]byte) {
	mac.Write(header)
	mac.Write(digest[:])
}

// SignData signs data that travels with snapshots (a migrating job's
// header, say) with the signing key, for purpose, which keeps a
// signature for one kind of data from passing for another's. The result
// is "KEYID:MAC", in hex.
func (k *Keys) SignData(purpose string, data []byte) string {
	mac, id := k.mac()
	return hex.EncodeToString(id[:]) + ":" + hex.EncodeToString(dataMAC(mac, purpose, data))
}

// VerifyData checks a signature SignData made with one of the keys.
func (k *Keys) VerifyData(purpose string, data []byte, sig string) error {
	idText, macText, ok := strings.Cut(sig, ":")
	var id [keyIDSize]byte
	if n, err := hex.Decode(id[:], []byte(idText)); !ok || err != nil || n != keyIDSize {
		if sig == "" {
			return fmt.Errorf("%w: the %s is not signed", ErrSignature, purpose)
		}
		return fmt.Errorf("%w: a malformed signature of the %s", ErrSignature, purpose)
	}
	mac, known := k.verifier(id)
	if !known {
		return fmt.Errorf("%w: the %s is signed with key %x, which is not one of the keys given", ErrSignature, purpose, id)
	}
	want, err := hex.DecodeString(macText)
	if err != nil || !hmac.Equal(dataMAC(mac, purpose, data), want) {
		return fmt.Errorf("%w: the signature of the %s does not match", ErrSignature, purpose)
	}
	return nil
}

func dataMAC(mac hash.Hash, purpose string, data []byte) []byte {
	mac.Write([]byte("wasmsr " + purpose + "\x00"))
	mac.Write(data)
	return mac.Sum(nil)
}
