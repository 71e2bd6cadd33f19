package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/wasmsr/wasmsr/unwind"
)

// The instance section holds everything of unwind.InstanceState but the
// memory, as varints:
//
//	globals   count, then (index, lo, hi) each
//	tables    count, then (index, count, values...) each
//	dropped   data count, indices; element count, indices
//	call      export name (length, bytes), param count, params, buffer address

func encodeInstance(st *unwind.InstanceState) []byte {
	var b []byte
	u := func(v uint64) { b = binary.AppendUvarint(b, v) }
	u(uint64(len(st.Globals)))
	for _, g := range st.Globals {
		u(uint64(g.Index))
		u(g.Lo)
		u(g.Hi)
	}
	u(uint64(len(st.Tables)))
	for _, t := range st.Tables {
		u(uint64(t.Index))
		u(uint64(len(t.Values)))
		for _, v := range t.Values {
			u(v)
		}
	}
	for _, list := range [][]uint32{st.DroppedData, st.DroppedElems} {
		u(uint64(len(list)))
		for _, x := range list {
			u(uint64(x))
		}
	}
	u(uint64(len(st.Export)))
	b = append(b, st.Export...)
	u(uint64(len(st.Params)))
	for _, p := range st.Params {
		u(p)
	}
	u(uint64(st.Buffer))
	return b
}

// reader decodes varints with a sticky error; counts are bounded by the
// bytes left, so corrupt input cannot make it allocate much.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated or overlong integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u32() uint32 {
	v := r.u64()
	if v > 0xFFFFFFFF && r.err == nil {
		r.err = fmt.Errorf("%d does not fit in 32 bits", v)
	}
	return uint32(v)
}

// list makes a slice for a count read from the input; nil when empty, as
// the encoder's input has it.
func list[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, n)
}

// bounded reads a count of what, which must be at most limit when bound.
func (r *reader) bounded(what string, bound bool, limit uint64) int {
	n := r.count()
	if bound && uint64(n) > limit && r.err == nil {
		r.err = fmt.Errorf("%d %s, the module has at most %d", n, what, limit)
	}
	return r.checked(n)
}

// checked is n, or 0 once there is an error.
func (r *reader) checked(n int) int {
	if r.err != nil {
		return 0
	}
	return n
}

func (s *Shape) globals() uint64 {
	if s == nil {
		return 0
	}
	return uint64(s.Globals)
}

func (s *Shape) tables() uint64 {
	if s == nil {
		return 0
	}
	return uint64(len(s.Tables))
}

// table is the most elements table i can hold; any table when s is nil.
func (s *Shape) table(i uint32) (uint64, bool) {
	if s == nil {
		return 0, true
	}
	limit, ok := s.Tables[i]
	return limit, ok
}

func (r *reader) count() int {
	n := r.u64()
	if n > uint64(len(r.b)) && r.err == nil {
		r.err = fmt.Errorf("count %d exceeds the %d bytes left", n, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// decodeInstance decodes an instance section. Every count is checked
// against the bytes left and, with a shape, against what the module has,
// before anything is allocated; the table values, 8 bytes each however
// short their encoding, count against the host's bound.
func decodeInstance(data []byte, shape *Shape, host uint64) (*unwind.InstanceState, error) {
	r := &reader{b: data}
	st := &unwind.InstanceState{}
	st.Globals = list[unwind.GlobalValue](r.bounded("globals", shape != nil, shape.globals()))
	for i := range st.Globals {
		st.Globals[i] = unwind.GlobalValue{Index: r.u32(), Lo: r.u64(), Hi: r.u64()}
	}
	st.Tables = list[unwind.TableValues](r.bounded("tables", shape != nil, shape.tables()))
	var values uint64
	for i := range st.Tables {
		t := &st.Tables[i]
		t.Index = r.u32()
		limit, ok := shape.table(t.Index)
		if r.err == nil && !ok {
			r.err = fmt.Errorf("table %d is not a table of the module whose contents are saved", t.Index)
		}
		n := r.bounded(fmt.Sprintf("elements of table %d", t.Index), shape != nil, limit)
		if values += uint64(n); values*8 > host && r.err == nil {
			r.err = fmt.Errorf("%d table elements, more than the host gives a program", values)
		}
		t.Values = list[uint64](r.checked(n))
		for j := range t.Values {
			t.Values[j] = r.u64()
		}
	}
	var dataLimit, elemLimit int
	if shape != nil {
		dataLimit, elemLimit = shape.DroppedData, shape.DroppedElems
	}
	for _, dropped := range []struct {
		list  *[]uint32
		what  string
		limit int
	}{{&st.DroppedData, "dropped data segments", dataLimit}, {&st.DroppedElems, "dropped element segments", elemLimit}} {
		*dropped.list = list[uint32](r.bounded(dropped.what, shape != nil, uint64(dropped.limit)))
		for i := range *dropped.list {
			(*dropped.list)[i] = r.u32()
		}
	}
	if n := r.count(); r.err == nil {
		st.Export = string(r.b[:n])
		r.b = r.b[n:]
	}
	st.Params = list[uint64](r.count())
	for i := range st.Params {
		st.Params[i] = r.u64()
	}
	st.Buffer = r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d stray bytes", len(r.b))
	}
	return st, nil
}
