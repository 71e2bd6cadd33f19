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

func decodeInstance(data []byte) (*unwind.InstanceState, error) {
	r := &reader{b: data}
	st := &unwind.InstanceState{}
	st.Globals = list[unwind.GlobalValue](r.count())
	for i := range st.Globals {
		st.Globals[i] = unwind.GlobalValue{Index: r.u32(), Lo: r.u64(), Hi: r.u64()}
	}
	st.Tables = list[unwind.TableValues](r.count())
	for i := range st.Tables {
		t := &st.Tables[i]
		t.Index = r.u32()
		t.Values = list[uint64](r.count())
		for j := range t.Values {
			t.Values[j] = r.u64()
		}
	}
	for _, dropped := range []*[]uint32{&st.DroppedData, &st.DroppedElems} {
		*dropped = list[uint32](r.count())
		for i := range *dropped {
			(*dropped)[i] = r.u32()
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
