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
	l := &Layout{}
	err := eachSection(data, func(s SectionSpan, sr *reader) bool {
		if s.ID == SectionCode {
			n := sr.count(2)
			for i := 0; i < n && sr.err == nil; i++ {
				bodySize := sr.u32()
				start := sr.pos
				sr.bytes(int(bodySize))
				l.Bodies = append(l.Bodies, Span{Offset: sr.base + start, Size: int(bodySize)})
			}
		}
		l.Sections = append(l.Sections, s)
		return sr.err == nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// FindCustom returns the content (after its name) of the first custom
// section called name, reading only the module's section headers: a host
// reads its own section from a large module in microseconds that way,
// where decoding the code would take milliseconds.
func FindCustom(data []byte, name string) (content []byte, found bool, err error) {
	err = eachSection(data, func(s SectionSpan, sr *reader) bool {
		if s.ID == SectionCustom && s.Name == name {
			content, found = sr.buf[sr.pos:], true
		}
		return sr.err == nil && !found
	})
	if err != nil {
		return nil, false, err
	}
	return content, found, nil
}

// eachSection checks the module's header and calls visit with each
// section (a custom section's name read) and a reader of its content,
// until visit returns false; then the reader's error, if any, is the
// walk's.
func eachSection(data []byte, visit func(SectionSpan, *reader) bool) error {
	r := &reader{buf: data, section: sectionNone, fn: -1}
	if r.header(); r.err != nil {
		return r.err
	}
	for r.pos < len(r.buf) {
		id := SectionID(r.byte())
		size := r.u32()
		if r.err == nil && int64(size) > int64(r.remaining()) {
			r.section = id
			r.truncated()
		}
		if r.err != nil {
			return r.err
		}
		s := SectionSpan{ID: id, Span: Span{Offset: r.pos, Size: int(size)}}
		sr := &reader{buf: r.buf[r.pos : r.pos+int(size)], base: r.pos, section: id, fn: -1}
		if id == SectionCustom {
			s.Name = sr.name()
		}
		more := sr.err == nil && visit(s, sr)
		if sr.err != nil {
			return sr.err
		}
		if !more {
			return nil
		}
		r.pos += int(size)
	}
	return nil
}
