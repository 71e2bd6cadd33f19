package snapshot

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealData encrypts data stored beside a store's snapshots (a module's
// compiled code, say) with the first key, for purpose, which keeps data
// sealed for one purpose from passing for another's (a chunk's additional
// data is its address, never a purpose). The result is the key's id, a
// random 24-byte nonce and the sealed data.
func (e *Encryption) SealData(purpose string, data []byte) []byte {
	k := e.keys[0]
	out := make([]byte, keyIDSize+chacha20poly1305.NonceSizeX, keyIDSize+chacha20poly1305.NonceSizeX+len(data)+k.aead.Overhead())
	copy(out, k.id[:])
	rand.Read(out[keyIDSize:]) // never fails (crypto/rand)
	return k.aead.Seal(out, out[keyIDSize:], data, dataAD(purpose, k.id))
}

// OpenData decrypts what SealData sealed for purpose with one of the keys.
func (e *Encryption) OpenData(purpose string, sealed []byte) ([]byte, error) {
	if len(sealed) < keyIDSize+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("the encrypted %s is truncated (%d bytes)", purpose, len(sealed))
	}
	id := [keyIDSize]byte(sealed)
	for _, k := range e.keys {
		if k.id != id {
			continue
		}
		nonce := sealed[keyIDSize : keyIDSize+chacha20poly1305.NonceSizeX]
		data, err := k.aead.Open(nil, nonce, sealed[keyIDSize+chacha20poly1305.NonceSizeX:], dataAD(purpose, id))
		if err != nil {
			return nil, fmt.Errorf("the encrypted %s does not decrypt with key %x: it was changed, or is something else", purpose, id)
		}
		return data, nil
	}
	return nil, fmt.Errorf("the %s is encrypted with key %x, not with a key given", purpose, id)
}

func dataAD(purpose string, id [keyIDSize]byte) []byte {
	return append([]byte("wasmsr "+purpose+"\x00"), id[:]...)
}
