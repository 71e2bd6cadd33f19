package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/wasmsr/wasmsr/abi"
	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/wasip1"
	"github.com/wasmsr/wasmsr/wasm"
)

// snapshotReport is what inspect tells about a snapshot: the execution
// state of the paused program.
type snapshotReport struct {
	File         string         `json:"file"`
	Size         int64          `json:"size"`
	Version      uint32         `json:"format_version"`
	Signature    string         `json:"signature"`
	Encryption   string         `json:"encryption_key,omitempty"`
	Module       string         `json:"module"`
	ModuleSHA256 string         `json:"module_sha256"`
	Meta         snapshot.Meta  `json:"meta"`
	MemoryBytes  int            `json:"memory_bytes"`
	NonZeroPages int            `json:"nonzero_pages"`
	Args         []string       `json:"args"`
	Env          []string       `json:"env"`
	Files        []fileReport   `json:"open_files"`
	Paused       string         `json:"paused_in"`
	Frames       []stackFrame   `json:"stack"`
	Globals      []globalReport `json:"globals"`
	Tables       []int          `json:"table_sizes,omitempty"`
	Pending      int            `json:"pending_stdin_bytes"`
}

type fileReport struct {
	FD     uint32 `json:"fd"`
	Kind   string `json:"kind"`
	Path   string `json:"path,omitempty"`
	Mode   string `json:"mode,omitempty"`
	Offset int64  `json:"offset"`
	Saved  bool   `json:"contents_saved,omitempty"`
}

type stackFrame struct {
	Func uint32 `json:"function"`
	Name string `json:"name"`
	At   string `json:"at"`
	// Source is where the frame resumes, "file:line", from DWARF.
	Source string       `json:"source,omitempty"`
	Locals []localValue `json:"locals"`
}

type localValue struct {
	Local uint32 `json:"local"`
	Name  string `json:"name,omitempty"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type globalReport struct {
	Index uint32 `json:"index"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

func describeSnapshot(path string, opts hostrt.ReadOptions) (*snapshotReport, error) {
	loaded, err := loadSnapshot(path, hostrt.LoadOptions{ReadOptions: opts})
	if err != nil {
		return nil, err
	}
	defer loaded.Close()
	snap := loaded.Snapshot
	// Fresh memory: the pages the snapshot does not hold are never touched.
	memory := make([]byte, snap.MemorySize())
	if err := snap.Memory().CopyTo(memory); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := (&wasm.Decoder{KeepSource: true}).Decode(loaded.Module)
	if err != nil {
		return nil, err
	}
	info, err := abi.ReadInfo(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(loaded.Module)
	r := &snapshotReport{
		File: loaded.Path, Size: loaded.Size, Version: loaded.Version, Module: loaded.ModulePath, ModuleSHA256: hex.EncodeToString(sum[:]),
		Meta: snap.Meta, MemoryBytes: len(memory), Paused: snap.Instance.Export,
	}
	r.Encryption = loaded.Encryption
	switch {
	case loaded.Signer == "":
		r.Signature = "none"
	case loaded.Verified:
		r.Signature = "key " + loaded.Signer + ", verified"
	default:
		r.Signature = "key " + loaded.Signer + ", not verified (no --snapshot-key)"
	}
	var zero [snapshot.PageSize]byte
	for p := 0; p < len(memory); p += snapshot.PageSize {
		if string(memory[p:p+snapshot.PageSize]) != string(zero[:]) {
			r.NonZeroPages++
		}
	}
	var ws wasip1.State
	if err := ws.UnmarshalBinary(snap.WASI); err != nil {
		return nil, fmt.Errorf("WASI state: %w", err)
	}
	r.Args, r.Env, r.Pending = ws.Args, ws.Env, len(ws.Stdin)
	for _, fd := range ws.FDs {
		fr := fileReport{FD: fd.FD, Kind: kindName(fd.Kind), Offset: fd.Offset, Saved: fd.Content != nil}
		if fd.Kind == wasip1.KindFile || fd.Kind == wasip1.KindDir || fd.Kind == wasip1.KindPreopen {
			if int(fd.Preopen) < len(ws.Preopens) {
				fr.Path = joinGuest(ws.Preopens[fd.Preopen].GuestPath, fd.Path)
			}
			switch {
			case fd.Readable && fd.Writable:
				fr.Mode = "read-write"
			case fd.Writable:
				fr.Mode = "write"
			case fd.Readable:
				fr.Mode = "read"
			}
			if fd.FDFlags&1 != 0 {
				fr.Mode += ", append"
			}
		}
		if fd.Kind == wasip1.KindListener || fd.Kind == wasip1.KindConn {
			fr.Path = fd.Path // the address; a connection's peer
		}
		r.Files = append(r.Files, fr)
	}
	frames, err := abi.FramesIn(info, memory, snap.Instance.Buffer)
	if err != nil {
		return nil, err
	}
	view := newDebugView(m)
	funcName := view.label
	for _, f := range frames {
		sf := stackFrame{Func: f.Func, Name: funcName(f.Func), Source: view.resumeLine(&f, info.Globals)}
		sf.At = siteString(f.At, info.Details, funcName)
		localNames := view.localNames(&f, info.Globals)
		for _, v := range f.Locals {
			name := view.localName(localNames, f.Func, v.Local)
			sf.Locals = append(sf.Locals, localValue{Local: v.Local, Name: name, Type: v.Type.String(), Value: formatValue(v.Type, v.Bits)})
		}
		r.Frames = append(r.Frames, sf)
	}
	for _, g := range snap.Instance.Globals {
		name := ""
		for _, mg := range info.Mutable {
			if mg.Index == g.Index {
				name = mg.Export
			}
		}
		r.Globals = append(r.Globals, globalReport{Index: g.Index, Name: name, Value: fmt.Sprintf("0x%x", g.Lo)})
	}
	for _, t := range snap.Instance.Tables {
		r.Tables = append(r.Tables, len(t.Values))
	}
	return r, nil
}

func joinGuest(preopen, rel string) string {
	if rel == "." || rel == "" {
		return preopen
	}
	return strings.TrimSuffix(preopen, "/") + "/" + rel
}

func kindName(k wasip1.Kind) string {
	switch k {
	case wasip1.KindStdin:
		return "stdin"
	case wasip1.KindStdout:
		return "stdout"
	case wasip1.KindStderr:
		return "stderr"
	case wasip1.KindFile:
		return "file"
	case wasip1.KindDir:
		return "directory"
	case wasip1.KindPreopen:
		return "preopen"
	case wasip1.KindListener:
		return "listener"
	case wasip1.KindConn:
		return "connection"
	}
	return fmt.Sprintf("kind %d", k)
}

// formatValue shows a saved value the way a person reads its type.
func formatValue(t wasm.ValType, bits []byte) string {
	var b [16]byte
	copy(b[:], bits)
	lo := binary.LittleEndian.Uint64(b[:])
	switch t {
	case wasm.I32:
		return fmt.Sprint(int32(uint32(lo)))
	case wasm.I64:
		return fmt.Sprint(int64(lo))
	case wasm.F32:
		return fmt.Sprint(math.Float32frombits(uint32(lo)))
	case wasm.F64:
		return fmt.Sprint(math.Float64frombits(lo))
	case wasm.V128:
		return "0x" + hex.EncodeToString(b[:])
	}
	return fmt.Sprintf("slot %d", uint32(lo))
}

func (r *snapshotReport) write(w io.Writer) error {
	fmt.Fprintf(w, "%s: wasmsr snapshot %d, %d bytes\n", r.File, r.Meta.Seq, r.Size)
	fmt.Fprintf(w, "module:   %s (sha256 %s)\n", r.Module, r.ModuleSHA256[:16])
	fmt.Fprintf(w, "signed:   %s\n", r.Signature)
	if r.Encryption != "" {
		fmt.Fprintf(w, "cipher:   XChaCha20-Poly1305, key %s\n", r.Encryption)
	}
	fmt.Fprintf(w, "taken:    %s on %s (%s), paused %s\n", r.Meta.Created.Format(time.RFC3339), r.Meta.Host, r.Meta.Reason, r.Meta.Paused)
	fmt.Fprintf(w, "memory:   %s (%d of %d pages not zero)\n", snapshot.FormatBytes(int64(r.MemoryBytes)), r.NonZeroPages, (r.MemoryBytes+snapshot.PageSize-1)/snapshot.PageSize)
	fmt.Fprintf(w, "args:     %q\n", r.Args)
	if len(r.Env) > 0 {
		fmt.Fprintf(w, "env:      %q\n", r.Env)
	}
	if r.Pending > 0 {
		fmt.Fprintf(w, "stdin:    %d bytes read by the host, not yet by the program\n", r.Pending)
	}
	// The mounts are what the command line gave: resume mounts them again
	// only when asked to (--reuse-mounts).
	for i, m := range r.Meta.Mounts {
		label := "          "
		if i == 0 {
			label = "mounts:   "
		}
		fmt.Fprintf(w, "%s%q\n", label, m)
	}
	fmt.Fprintf(w, "\nOPEN FILES\n")
	for _, f := range r.Files {
		line := fmt.Sprintf("  %d  %s", f.FD, f.Kind)
		if f.Path != "" {
			line += " " + f.Path
		}
		if f.Mode != "" {
			line += fmt.Sprintf(" (%s) at offset %d", f.Mode, f.Offset)
		}
		if f.Saved {
			line += ", contents saved"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nSTACK (paused in %s, outermost first)\n", r.Paused)
	for i, f := range r.Frames {
		if f.Source != "" {
			fmt.Fprintf(w, "  #%d %s in %s() [%d]: %s\n", i, f.Source, strings.TrimSpace(f.Name), f.Func, f.At)
		} else {
			fmt.Fprintf(w, "  #%d %s [%d]: %s\n", i, strings.TrimSpace(f.Name), f.Func, f.At)
		}
		for _, l := range f.Locals {
			name := fmt.Sprintf("local %d", l.Local)
			if l.Name != "" {
				name = l.Name
			}
			fmt.Fprintf(w, "       %s %s = %s\n", name, l.Type, l.Value)
		}
	}
	if len(r.Globals) > 0 {
		fmt.Fprintf(w, "\nGLOBALS\n")
		for _, g := range r.Globals {
			fmt.Fprintf(w, "  %d %s = %s\n", g.Index, g.Name, g.Value)
		}
	}
	return nil
}

// siteString says where a frame stopped; without the sites' details,
// only the kind of unwind point is known.
func siteString(s abi.Site, details bool, funcName func(uint32) string) string {
	switch {
	case !details:
		return s.Kind.String()
	case s.Kind == abi.SiteSafepoint && s.Instr < 0:
		return "safepoint at entry"
	case s.Kind == abi.SiteSafepoint:
		return fmt.Sprintf("safepoint at loop, instruction %d", s.Instr)
	case s.Kind == abi.SiteCall:
		return fmt.Sprintf("call %s, instruction %d", funcName(s.Target), s.Instr)
	}
	return fmt.Sprintf("%s, instruction %d", s.Kind, s.Instr)
}
