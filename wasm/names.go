package wasm

import "sort"

// NameSection is the decoded "name" custom section. Nil maps mean the
// subsection is absent, so an empty subsection survives a round trip.
type NameSection struct {
	Module    string
	HasModule bool
	Functions NameMap
	Locals    []IndirectNameMap
	// Other keeps the subsections this codec does not interpret (labels,
	// types, globals, ...), in order; their ids are above 2.
	Other []NameSubsection
}

// Naming associates a name with an index.
type Naming struct {
	Index uint32
	Name  string
}

// NameMap is a list of names sorted by index.
type NameMap []Naming

// Lookup returns the name of index i, or "".
func (m NameMap) Lookup(i uint32) string {
	k := sort.Search(len(m), func(k int) bool { return m[k].Index >= i })
	if k < len(m) && m[k].Index == i {
		return m[k].Name
	}
	return ""
}

// IndirectNameMap names the locals of one function.
type IndirectNameMap struct {
	Index uint32
	Names NameMap
}

// NameSubsection is a name subsection kept as bytes.
type NameSubsection struct {
	ID   byte
	Data []byte
}

// Name subsection ids.
const (
	nameModule    = 0
	nameFunctions = 1
	nameLocals    = 2
)

// decodeNames decodes a name section. The spec lets tools ignore a malformed
// name section, so instead of an error it reports ok false and the caller
// keeps the section as bytes; it also refuses what it could not re-encode
// (subsections or names out of order). nonCanonical reports overlong
// integers, which Go's linker writes.
func decodeNames(data []byte) (ns *NameSection, nonCanonical, ok bool) {
	r := &reader{buf: data, fn: -1}
	ns = &NameSection{}
	lastID := -1
	for r.pos < len(r.buf) {
		id := r.byte()
		size := r.u32()
		content := r.bytes(int(size))
		if r.err != nil || int(id) <= lastID {
			return nil, false, false
		}
		lastID = int(id)
		sr := &reader{buf: content, fn: -1}
		switch id {
		case nameModule:
			ns.Module, ns.HasModule = sr.name(), true
		case nameFunctions:
			ns.Functions = sr.nameMap()
		case nameLocals:
			n := sr.count(2)
			ns.Locals = make([]IndirectNameMap, 0, n)
			for i := 0; i < n && sr.err == nil; i++ {
				idx := sr.u32()
				if i > 0 && idx <= ns.Locals[i-1].Index {
					return nil, false, false
				}
				ns.Locals = append(ns.Locals, IndirectNameMap{Index: idx, Names: sr.nameMap()})
			}
		default:
			ns.Other = append(ns.Other, NameSubsection{ID: id, Data: content})
			sr.pos = len(content)
		}
		if sr.err != nil || sr.pos != len(content) {
			return nil, false, false
		}
		nonCanonical = nonCanonical || sr.nonCanonical
	}
	return ns, nonCanonical || r.nonCanonical, true
}

func (r *reader) nameMap() NameMap {
	n := r.count(2)
	m := make(NameMap, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		nm := Naming{Index: r.u32(), Name: r.name()}
		if i > 0 && nm.Index <= m[i-1].Index {
			r.fail("names out of order")
		}
		m = append(m, nm)
	}
	return m
}

func (ns *NameSection) encode() []byte {
	var out, sub encoder
	if ns.HasModule {
		sub.name(ns.Module)
		out.subsection(nameModule, sub.take())
	}
	if ns.Functions != nil {
		sub.nameMap(ns.Functions)
		out.subsection(nameFunctions, sub.take())
	}
	if ns.Locals != nil {
		sub.u32(uint32(len(ns.Locals)))
		for _, l := range ns.Locals {
			sub.u32(l.Index)
			sub.nameMap(l.Names)
		}
		out.subsection(nameLocals, sub.take())
	}
	for _, o := range ns.Other {
		out.subsection(o.ID, o.Data)
	}
	return out.buf
}

func (e *encoder) nameMap(m NameMap) {
	e.u32(uint32(len(m)))
	for _, n := range m {
		e.u32(n.Index)
		e.name(n.Name)
	}
}

// LocalName returns the name of local l of function fn, or "".
func (ns *NameSection) LocalName(fn, l uint32) string {
	k := sort.Search(len(ns.Locals), func(k int) bool { return ns.Locals[k].Index >= fn })
	if k < len(ns.Locals) && ns.Locals[k].Index == fn {
		return ns.Locals[k].Names.Lookup(l)
	}
	return ""
}
