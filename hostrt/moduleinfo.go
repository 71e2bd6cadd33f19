package hostrt

import (
	"crypto/sha256"
	"errors"
	"unsafe"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
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
	info, err := abi.DecodeInfo(data)
	if err != nil {
		return nil, err
	}
	if data, found, err = wasm.FindCustom(module, abi.SitesSectionName); err == nil && found {
		err = info.DecodeSites(data)
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

// ModuleFacts are what a job needs of its module besides the code: its
// hash, its wasmsr section and its limits. Reading them costs tens of
// milliseconds on a large module (FFmpeg: about 60 ms on a loaded
// machine), which a migration's receiver paid twice on every arrival: a
// host that keeps a module for many jobs reads them once and gives them to
// each (Config.Facts, ReadOptions.Facts).
type ModuleFacts struct {
	SHA256 [32]byte
	info   *abi.Info
	memory memoryLimits
	tables []wasm.TableType
	// module identifies the bytes they are facts of.
	module []byte
}

// ReadModuleFacts reads the facts of an instrumented module, whose bytes
// must not change while the facts are used.
func ReadModuleFacts(module []byte) (*ModuleFacts, error) {
	info, err := readInfo(module)
	if err != nil {
		return nil, err
	}
	memory, tables, err := moduleLimits(module)
	if err != nil {
		return nil, err
	}
	return &ModuleFacts{SHA256: sha256.Sum256(module), info: info, memory: memory, tables: tables, module: module}, nil
}

// errOtherFacts is a programming error: facts given with another module.
var errOtherFacts = errors.New("hostrt: the module facts given are those of another module")

// of returns f's facts when they are those of module (the same bytes, not
// a copy), or else reads them.
func (f *ModuleFacts) of(module []byte) (*ModuleFacts, error) {
	if f == nil {
		return ReadModuleFacts(module)
	}
	if len(f.module) != len(module) || len(module) > 0 && unsafe.SliceData(f.module) != unsafe.SliceData(module) {
		return nil, errOtherFacts
	}
	return f, nil
}

// limits are the limits a snapshot of the module is read within, on a
// host that gives a program at most maxMemory (0: DefaultMaxMemory).
func (f *ModuleFacts) limits(maxMemory uint64) snapshot.Limits {
	if maxMemory == 0 {
		maxMemory = DefaultMaxMemory()
	}
	return snapshot.Limits{MinMemory: f.memory.min, MaxMemory: f.memory.max, HostMemory: maxMemory, Module: shape(f.info, f.tables)}
}
