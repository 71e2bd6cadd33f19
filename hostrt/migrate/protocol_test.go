package migrate

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	p := Policy{Route: []string{"http://a:1", "http://b:2"}, Every: time.Second}
	var seen []string
	for range 5 {
		u, ok := p.target()
		if !ok {
			t.Fatal("no target")
		}
		seen = append(seen, u)
		p = p.advanced()
	}
	if got := strings.Join(seen, " "); got != "http://a:1 http://b:2 http://a:1 http://b:2 http://a:1" {
		t.Errorf("route visited as %s", got)
	}
	if _, ok := (Policy{}).target(); ok {
		t.Error("an empty route has a target")
	}
	for _, bad := range []Policy{
		{Route: []string{"http://a:1"}, Next: 1},
		{Route: []string{"http://a:1"}, Next: -1},
		{Route: []string{"ftp://a"}},
		{Every: -time.Second},
	} {
		if bad.check() == nil {
			t.Errorf("%+v passes the check", bad)
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:7433", "http://127.0.0.1:7433"},
		{"https://host.example:443/", "https://host.example:443"},
		{"http://h/prefix/", "http://h/prefix"},
		{"127.0.0.1:7433", ""},
		{"http://", ""},
		{"http://h?x=1", ""},
		{"http://user:pw@h", ""},
		{"file:///x", ""},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseURL(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestFrame(t *testing.T) {
	good := &Header{ID: "job-1", Hop: 2, From: "A", Module: strings.Repeat("ab", 32), Policy: Policy{Route: []string{"http://b:1"}, Every: time.Second}}
	var b bytes.Buffer
	if err := writeFrame(&b, good); err != nil {
		t.Fatal(err)
	}
	b.WriteString("rest")
	r := bytes.NewReader(b.Bytes())
	h, err := readFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != good.ID || h.Hop != 2 || h.Policy.Route[0] != "http://b:1" || h.Policy.Every != time.Second {
		t.Errorf("read %+v", h)
	}
	if rest := b.Len() - int(r.Size()) + r.Len(); rest != 4 {
		t.Errorf("%d bytes left after the frame, want 4", rest)
	}
	for name, mod := range map[string]func(*Header){
		"empty id":      func(h *Header) { h.ID = "" },
		"id with slash": func(h *Header) { h.ID = "a/b" },
		"long id":       func(h *Header) { h.ID = strings.Repeat("a", 65) },
		"hop 0":         func(h *Header) { h.Hop = 0 },
		"short hash":    func(h *Header) { h.Module = "abcd" },
		"bad next":      func(h *Header) { h.Policy.Next = 3 },
		"bad route":     func(h *Header) { h.Policy.Route = []string{"b:1"} },
		"newline name":  func(h *Header) { h.From = "A\n[B] forged" },
	} {
		h := *good
		mod(&h)
		var b bytes.Buffer
		writeFrame(&b, &h)
		if _, err := readFrame(&b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Unknown fields are refused: a newer sender's meaning is not guessed.
	var u bytes.Buffer
	u.WriteString(jobMagic)
	js := `{"id":"x","hop":1,"module":"` + strings.Repeat("00", 32) + `","policy":{"next":0,"every_ns":0},"extra":1}`
	u.Write([]byte{byte(len(js)), 0, 0, 0})
	u.WriteString(js)
	if _, err := readFrame(&u); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	o := NewOutput(&out)
	w := newLineWriter(o, "[A j] ")
	for _, s := range []string{"one\ntw", "o\n", "progress 1\rprogress 2\r", "partial"} {
		w.Write([]byte(s))
	}
	if got, want := out.String(), "[A j] one\n[A j] two\n[A j] progress 1\r[A j] progress 2\r"; got != want {
		t.Errorf("before the flush: %q, want %q", got, want)
	}
	w.Flush()
	w.Flush()
	if got, want := out.String(), "[A j] one\n[A j] two\n[A j] progress 1\r[A j] progress 2\r[A j] partial\n"; got != want {
		t.Errorf("after the flush: %q, want %q", got, want)
	}
	out.Reset()
	w.Write(bytes.Repeat([]byte("x"), maxLine+10))
	if out.Len() != len("[A j] ")+maxLine+10 {
		t.Errorf("a long line is held back: %d bytes out", out.Len())
	}
}

// FuzzReadFrame: a job frame from the network never panics, and what it
// accepts passes the header's checks and writes back the same.
func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	writeFrame(&b, &Header{ID: "job-1", Hop: 2, From: "A", Module: strings.Repeat("ab", 32), Policy: Policy{Route: []string{"http://b:1"}, Every: time.Second}})
	f.Add(b.Bytes())
	f.Add([]byte(jobMagic + "\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := h.check(); err != nil {
			t.Fatalf("accepted a header that fails its checks: %v", err)
		}
		var again bytes.Buffer
		if err := writeFrame(&again, h); err != nil {
			t.Fatal(err)
		}
		if _, err := readFrame(&again); err != nil {
			t.Fatalf("re-reading an accepted header: %v", err)
		}
	})
}
