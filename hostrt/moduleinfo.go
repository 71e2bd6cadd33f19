package hostrt

import (
	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/wasm"
)

// readInfo reads a module's wasmsr section through its section headers,
// without decoding the code: starting or restoring a large module (FFmpeg:
// 5 MB) then costs microseconds here instead of a full decode, which
// wazero does again when it compiles.
func readInfo(module []byte) (*abi.Info, error) {
	data, found, err := wasm.FindCustom(module, abi.SectionName)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, abi.ErrNotInstrumented
	}
	return abi.DecodeInfo(data)
}
