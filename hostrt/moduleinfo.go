package hostrt

import (
	"encoding/binary"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// readInfo reads a module's wasmsr section by walking the section headers,
// without decoding the code: starting or restoring a large module (FFmpeg:
// 5 MB) then costs microseconds here instead of a full decode, which
// wazero does again when it compiles. A module whose sections cannot be
// walked is decoded fully, for the decoder's precise error.
func readInfo(module []byte) (*abi.Info, error) {
	data, found, ok := customSection(module, abi.SectionName)
	if !ok {
		m, err := wasm.Decode(module)
		if err != nil {
			return nil, err
		}
		return abi.ReadInfo(m)
	}
	if !found {
		return nil, abi.ErrNotInstrumented
	}
	return abi.DecodeInfo(data)
}

// customSection finds the first custom section called name. ok is false
// when the module's header or section headers are malformed.
func customSection(b []byte, name string) (data []byte, found, ok bool) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, false, false
	}
	for pos := 8; pos < len(b); {
		id := b[pos]
		size, n := binary.Uvarint(b[pos+1:])
		if n <= 0 || n > 5 || size > uint64(len(b)-pos-1-n) {
			return nil, false, false
		}
		body := b[pos+1+n : pos+1+n+int(size)]
		pos += 1 + n + int(size)
		if id != 0 {
			continue
		}
		nameLen, m := binary.Uvarint(body)
		if m <= 0 || m > 5 || nameLen > uint64(len(body)-m) {
			return nil, false, false
		}
		if string(body[m:m+int(nameLen)]) == name {
			return body[m+int(nameLen):], true, true
		}
	}
	return nil, false, true
}
