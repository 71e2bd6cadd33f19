package wasm

// Layout is where things are in an encoded module, found without decoding
// instructions.
type Layout struct {
	Sections []SectionSpan
	// Bodies are the function bodies in code-section order (size prefix excluded).
	Bodies []Span
}

// Span is a byte range of the module.
type Span struct {
	Offset, Size int
}

// SectionSpan is one section: its id, its name for custom sections, and
// where its content is.
type SectionSpan struct {
	ID   SectionID
	Name string
	Span
}

// ReadLayout scans the section headers of data and the size prefixes of the
// function bodies.
func ReadLayout(data []byte) (*Layout, error) {
	r := &reader{buf: data, section: sectionNone, fn: -1}
	if len(data) < 8 {
		r.truncated()
		return nil, r.err
	}
	r.pos = 8
	l := &Layout{}
	for r.pos < len(r.buf) {
		id := SectionID(r.byte())
		size := r.u32()
		if r.err == nil && int64(size) > int64(r.remaining()) {
			r.section = id
			r.truncated()
		}
		if r.err != nil {
			return nil, r.err
		}
		s := SectionSpan{ID: id, Span: Span{Offset: r.pos, Size: int(size)}}
		sr := &reader{buf: r.buf[r.pos : r.pos+int(size)], base: r.pos, section: id, fn: -1}
		switch id {
		case SectionCustom:
			s.Name = sr.name()
		case SectionCode:
			n := sr.count(2)
			for i := 0; i < n && sr.err == nil; i++ {
				bodySize := sr.u32()
				start := sr.pos
				sr.bytes(int(bodySize))
				l.Bodies = append(l.Bodies, Span{Offset: sr.base + start, Size: int(bodySize)})
			}
		}
		if sr.err != nil {
			return nil, sr.err
		}
		l.Sections = append(l.Sections, s)
		r.pos += int(size)
	}
	return l, nil
}
