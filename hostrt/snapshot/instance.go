package snapshot

import (
	"encoding/binary"
	"fmt"

	"github.com/wasmsr/wasmsr/internal/varint"
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

// reader reads an instance section: varints (package varint) and the
// counts the module bounds.
type reader struct{ varint.Reader }

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
	n := r.Count()
	if bound && uint64(n) > limit {
		r.Fail("%d %s, the module has at most %d", n, what, limit)
	}
	return r.checked(n)
}

// checked is n, or 0 once there is an error.
func (r *reader) checked(n int) int {
	if r.Err != nil {
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

// decodeInstance decodes an instance section. Every count is checked
// against the bytes left and, with a shape, against what the module has,
// before anything is allocated; the table values, 8 bytes each however
// short their encoding, count against the host's bound.
func decodeInstance(data []byte, shape *Shape, host uint64) (*unwind.InstanceState, error) {
	r := &reader{varint.Reader{B: data}}
	st := &unwind.InstanceState{}
	st.Globals = list[unwind.GlobalValue](r.bounded("globals", shape != nil, shape.globals()))
	for i := range st.Globals {
		st.Globals[i] = unwind.GlobalValue{Index: r.U32(), Lo: r.Uvarint(), Hi: r.Uvarint()}
	}
	st.Tables = list[unwind.TableValues](r.bounded("tables", shape != nil, shape.tables()))
	var values uint64
	for i := range st.Tables {
		t := &st.Tables[i]
		t.Index = r.U32()
		limit, ok := shape.table(t.Index)
		if !ok {
			r.Fail("table %d is not a table of the module whose contents are saved", t.Index)
		}
		n := r.bounded(fmt.Sprintf("elements of table %d", t.Index), shape != nil, limit)
		if values += uint64(n); values*8 > host {
			r.Fail("%d table elements, more than the host gives a program", values)
		}
		t.Values = list[uint64](r.checked(n))
		for j := range t.Values {
			t.Values[j] = r.Uvarint()
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
			(*dropped.list)[i] = r.U32()
		}
	}
	st.Export = string(r.Bytes(r.Count()))
	st.Params = list[uint64](r.Count())
	for i := range st.Params {
		st.Params[i] = r.Uvarint()
	}
	st.Buffer = r.U32()
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%d stray bytes", len(r.B))
	}
	return st, nil
}
