package wasip1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"unsafe"

	"github.com/wasmsr/wasmsr/internal/varint"
)

// The encoding of a State: the magic "WSP1", a version, the fields in
// declaration order, and a CRC-32C of all that. Integers are varints,
// strings and byte strings are length-prefixed, lists count-prefixed,
// optional parts announced by a flag byte. Version 4 added an FD's
// version and saved contents kept outside the state (their size only),
// version 5 the rights a guest dropped (decoded from older versions as
// none: all rights) and the kinds of sockets (KindListener, KindConn);
// versions 3 and 4 are still read.
//
// The decoder checks every length and count against the bytes left, and
// charges what it allocates to a budget of decodeRatio times its input
// plus decodeSlack, so that no input makes it allocate more: decoded
// structures are larger than their encoding (an empty string costs one
// byte encoded and a 16-byte header decoded). The slack lets a real state
// with up to maxFDs descriptors through.

const (
	stateMagic         = "WSP1"
	stateVersion       = 5
	oldestStateVersion = 3

	decodeRatio = 4
	decodeSlack = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Flag bits of an encoded FD.
const (
	fdReadable = 1 << iota
	fdWritable
	fdHasDir
	fdHasContent
	// Since version 4.
	fdContentElsewhere
	fdHasVersion
	// Since version 5.
	fdDroppedRights
)

// fdFlags are the flags each version knows.
var fdFlags = map[uint64]byte{
	3: fdReadable | fdWritable | fdHasDir | fdHasContent,
	4: fdReadable | fdWritable | fdHasDir | fdHasContent | fdContentElsewhere | fdHasVersion,
	5: fdReadable | fdWritable | fdHasDir | fdHasContent | fdContentElsewhere | fdHasVersion | fdDroppedRights,
}

// lastKind is the last kind each version knows.
var lastKind = map[uint64]Kind{3: KindPreopen, 4: KindPreopen, 5: KindConn}

// MarshalBinary encodes the state.
func (s *State) MarshalBinary() ([]byte, error) {
	// Saved file contents can be megabytes: size the buffer once, so that
	// they are copied once (this runs while the program is paused).
	size := 4096 + len(s.Stdin)
	if s.Poll != nil {
		size += len(s.Poll.Subscriptions)
	}
	for i := range s.FDs {
		if c := s.FDs[i].Content; c != nil {
			size += len(c.Data) + 16
		}
	}
	b := append(make([]byte, 0, size), stateMagic...)
	b = binary.AppendUvarint(b, stateVersion)
	b = appendStrings(b, s.Args)
	b = appendStrings(b, s.Env)
	b = binary.AppendUvarint(b, uint64(len(s.Preopens)))
	for _, p := range s.Preopens {
		b = appendString(b, p.GuestPath)
		b = append(b, boolByte(p.ReadOnly))
	}
	b = binary.AppendUvarint(b, uint64(len(s.FDs)))
	for i := range s.FDs {
		fd := &s.FDs[i]
		if c := fd.Content; c != nil && c.Data != nil && int64(len(c.Data)) != c.Size {
			return nil, fmt.Errorf("wasip1: fd %d: saved contents of %d bytes, but their size says %d", fd.FD, len(c.Data), c.Size)
		}
		b = appendFD(b, fd)
	}
	b = binary.AppendVarint(b, s.Monotonic)
	b = appendBytes(b, s.Stdin)
	b = binary.AppendVarint(b, s.StdinOffset)
	if s.Poll == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendBytes(b, s.Poll.Subscriptions)
		b = binary.AppendVarint(b, s.Poll.Start)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func appendFD(b []byte, fd *FD) []byte {
	var flags byte
	if fd.Readable {
		flags |= fdReadable
	}
	if fd.Writable {
		flags |= fdWritable
	}
	if fd.Dir != nil {
		flags |= fdHasDir
	}
	if fd.Content != nil {
		flags |= fdHasContent
		if fd.Content.Data == nil {
			flags |= fdContentElsewhere
		}
	}
	if fd.Version != nil {
		flags |= fdHasVersion
	}
	if fd.DroppedBase != 0 || fd.DroppedInheriting != 0 {
		flags |= fdDroppedRights
	}
	b = binary.AppendUvarint(b, uint64(fd.FD))
	b = append(b, byte(fd.Kind))
	b = binary.AppendUvarint(b, uint64(fd.Preopen))
	b = appendString(b, fd.Path)
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(fd.OFlags))
	b = binary.AppendUvarint(b, uint64(fd.FDFlags))
	b = binary.AppendUvarint(b, fd.RightsBase)
	b = binary.AppendUvarint(b, fd.RightsInheriting)
	b = binary.AppendVarint(b, fd.Offset)
	b = binary.AppendVarint(b, fd.Size)
	if d := fd.Dir; d != nil {
		b = binary.AppendUvarint(b, d.Cookie)
		b = binary.AppendUvarint(b, uint64(len(d.Entries)))
		for _, e := range d.Entries {
			b = appendString(b, e.Name)
			b = append(b, e.Type)
			b = binary.AppendUvarint(b, e.Ino)
		}
	}
	if c := fd.Content; c != nil {
		b = binary.AppendUvarint(b, uint64(c.Perm))
		if c.Data == nil {
			b = binary.AppendVarint(b, c.Size)
		} else {
			b = appendBytes(b, c.Data)
		}
	}
	if v := fd.Version; v != nil {
		b = binary.AppendVarint(b, v.Size)
		b = binary.AppendVarint(b, v.ModTime)
		b = binary.AppendUvarint(b, v.Inode)
		b = appendBytes(b, v.SHA256)
	}
	if flags&fdDroppedRights != 0 {
		b = binary.AppendUvarint(b, fd.DroppedBase)
		b = binary.AppendUvarint(b, fd.DroppedInheriting)
	}
	return b
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// UnmarshalBinary decodes a state encoded by MarshalBinary, checking it
// whole before changing s. Contents kept elsewhere decode with Data nil and
// their Size; the caller attaches Open.
func (s *State) UnmarshalBinary(data []byte) error {
	const trailer = 4
	if len(data) < len(stateMagic)+1+trailer || string(data[:len(stateMagic)]) != stateMagic {
		return errors.New("wasip1: not a saved WASI state")
	}
	body := data[:len(data)-trailer]
	if binary.LittleEndian.Uint32(data[len(body):]) != crc32.Checksum(body, castagnoli) {
		return errors.New("wasip1: saved WASI state is corrupt (checksum mismatch)")
	}
	d := decoder{Reader: varint.Reader{B: body[len(stateMagic):]}, size: int64(len(data)), budget: decodeRatio*int64(len(data)) + decodeSlack}
	d.version = d.Uvarint()
	if d.Err == nil && (d.version < oldestStateVersion || d.version > stateVersion) {
		return fmt.Errorf("wasip1: saved WASI state has version %d; this wasmsr reads versions %d to %d", d.version, oldestStateVersion, stateVersion)
	}
	var st State
	st.Args = d.strings()
	st.Env = d.strings()
	if n := d.count(2, unsafe.Sizeof(Preopen{})); n > 0 {
		st.Preopens = make([]Preopen, 0, n)
		for ; n > 0 && d.Err == nil; n-- {
			st.Preopens = append(st.Preopens, Preopen{GuestPath: d.string(), ReadOnly: d.bool()})
		}
	}
	if n := d.list(d.small(maxFDs, "number of fds"), 11, unsafe.Sizeof(FD{})); n > 0 {
		st.FDs = make([]FD, 0, n)
		for ; n > 0 && d.Err == nil; n-- {
			st.FDs = append(st.FDs, d.fd(len(st.Preopens)))
		}
	}
	st.Monotonic = d.Varint()
	st.Stdin = d.bytes()
	st.StdinOffset = d.Varint()
	if d.bool() && d.charge(int64(unsafe.Sizeof(PendingPoll{}))) {
		st.Poll = &PendingPoll{Subscriptions: d.bytes(), Start: d.Varint()}
	}
	if d.Err == nil {
		d.Err = checkPending(&st)
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%d bytes after the end", len(d.B))
	}
	if d.Err != nil {
		return fmt.Errorf("wasip1: saved WASI state: %w", d.Err)
	}
	*s = st
	return nil
}

// decoder reads the body of an encoded State. It keeps its first error
// and returns zero values after it.
type decoder struct {
	varint.Reader
	version uint64
	// budget is what the decoded state may still allocate, from its
	// encoding's size.
	budget, size int64
}

// charge takes an allocation of n bytes from the budget before it is
// made, counting what the allocator may round it up to (at most a
// quarter more, and 16 bytes for tiny objects); it fails when the budget
// is spent.
func (d *decoder) charge(n int64) bool {
	if d.Err != nil {
		return false
	}
	if n == 0 {
		return true
	}
	if n > d.budget || n+n/4+16 > d.budget {
		d.Fail("decoded, the state would take more than %d times its %d bytes plus %d MiB of memory", decodeRatio, d.size, decodeSlack>>20)
		return false
	}
	d.budget -= n + n/4 + 16
	return true
}

// small reads a uvarint that must not exceed limit.
func (d *decoder) small(limit uint64, what string) uint64 {
	v := d.Uvarint()
	if v > limit {
		d.Fail("%s %d is out of range", what, v)
		return 0
	}
	return v
}

// count reads the length of a list whose items take at least minSize
// bytes each, which the rest of the input must be able to hold, and
// charges the list's items of itemSize bytes.
func (d *decoder) count(minSize int, itemSize uintptr) int {
	return d.list(d.Uvarint(), minSize, itemSize)
}

// list checks and charges a list of n items, as count.
func (d *decoder) list(n uint64, minSize int, itemSize uintptr) int {
	if n > uint64(len(d.B)/minSize) {
		d.Fail("count %d is larger than the input allows", n)
		return 0
	}
	if !d.charge(int64(n) * int64(itemSize)) {
		return 0
	}
	return int(n)
}

func (d *decoder) bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bad boolean")
	return false
}

// raw reads a length-prefixed byte string, charging a copy of it.
func (d *decoder) raw() []byte {
	n := d.Uvarint()
	if n > uint64(len(d.B)) {
		d.Fail("length %d is larger than the input allows", n)
		return nil
	}
	if !d.charge(int64(n)) {
		return nil
	}
	v := d.B[:n]
	d.B = d.B[n:]
	return v
}

func (d *decoder) string() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	if v := d.raw(); len(v) > 0 {
		return append([]byte(nil), v...)
	}
	return nil
}

func (d *decoder) strings() []string {
	n := d.count(1, unsafe.Sizeof(""))
	if n == 0 {
		return nil
	}
	ss := make([]string, 0, n)
	for ; n > 0 && d.Err == nil; n-- {
		ss = append(ss, d.string())
	}
	return ss
}

func (d *decoder) fd(preopens int) FD {
	var fd FD
	fd.FD = uint32(d.small(maxFDs-1, "fd"))
	fd.Kind = Kind(d.Byte())
	if fd.Kind < KindStdin || fd.Kind > lastKind[d.version] {
		d.Fail("fd %d has unknown kind %d", fd.FD, fd.Kind)
	}
	fd.Preopen = uint32(d.small(math.MaxUint32, "preopen"))
	if fd.Kind >= KindFile && fd.Kind <= KindPreopen && int64(fd.Preopen) >= int64(preopens) {
		d.Fail("fd %d is in preopen %d of %d", fd.FD, fd.Preopen, preopens)
	}
	fd.Path = d.string()
	if d.Err == nil && fd.Kind == KindListener {
		// Checked here, as a host listens there before it restores.
		if err := checkSocketFD(&fd); err != nil {
			d.Fail("fd %d: %v", fd.FD, err)
		}
	}
	flags := d.Byte()
	if flags&^fdFlags[d.version] != 0 {
		d.Fail("fd %d has unknown flags %#x", fd.FD, flags)
	}
	fd.Readable, fd.Writable = flags&fdReadable != 0, flags&fdWritable != 0
	fd.OFlags = uint16(d.small(math.MaxUint16, "oflags"))
	fd.FDFlags = uint16(d.small(math.MaxUint16, "fdflags"))
	fd.RightsBase = d.Uvarint()
	fd.RightsInheriting = d.Uvarint()
	fd.Offset = d.Varint()
	fd.Size = d.Varint()
	if flags&fdHasDir != 0 && d.charge(int64(unsafe.Sizeof(DirCursor{}))) {
		dir := &DirCursor{Cookie: d.Uvarint()}
		if n := d.count(3, unsafe.Sizeof(DirEntry{})); n > 0 {
			dir.Entries = make([]DirEntry, 0, n)
		}
		for n := cap(dir.Entries); n > 0 && d.Err == nil; n-- {
			dir.Entries = append(dir.Entries, DirEntry{Name: d.string(), Type: d.Byte(), Ino: d.Uvarint()})
		}
		if d.Err == nil {
			d.Err = dir.check()
		}
		fd.Dir = dir
	}
	if flags&fdHasContent != 0 && d.charge(int64(unsafe.Sizeof(Content{}))) {
		c := &Content{Perm: uint32(d.small(math.MaxUint32, "permissions"))}
		if flags&fdContentElsewhere != 0 {
			c.Size = d.Varint()
		} else {
			// Not nil even when empty: nil means elsewhere.
			c.Data = append([]byte{}, d.raw()...)
			c.Size = int64(len(c.Data))
		}
		fd.Content = c
	} else if flags&fdContentElsewhere != 0 {
		d.Fail("fd %d has contents elsewhere but no contents", fd.FD)
	}
	if flags&fdHasVersion != 0 && d.charge(int64(unsafe.Sizeof(FileVersion{}))) {
		fd.Version = &FileVersion{Size: d.Varint(), ModTime: d.Varint(), Inode: d.Uvarint(), SHA256: d.bytes()}
	}
	if flags&fdDroppedRights != 0 {
		fd.DroppedBase, fd.DroppedInheriting = d.Uvarint(), d.Uvarint()
		if (fd.DroppedBase|fd.DroppedInheriting)&^rightsAll != 0 {
			d.Fail("fd %d drops unknown rights %#x, %#x", fd.FD, fd.DroppedBase, fd.DroppedInheriting)
		}
	}
	return fd
}
