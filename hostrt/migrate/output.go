package migrate

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxLine is how much of a line is held back waiting for its end.
const maxLine = 4096

// Output is a destination shared by a host's log and its jobs' output:
// whole lines are written at once, so that lines of concurrent writers do
// not interleave.
type Output struct {
	mu sync.Mutex
	w  io.Writer
}

// NewOutput wraps w (nil discards).
func NewOutput(w io.Writer) *Output {
	if w == nil {
		w = io.Discard
	}
	return &Output{w: w}
}

func (o *Output) write(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(b)
}

// Printf writes one line with a prefix.
func (o *Output) Printf(prefix, format string, args ...any) {
	line := fmt.Appendf([]byte(prefix), format, args...)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	o.write(line)
}

// escapeControl makes a string fit on one line of a log: control
// characters, characters that are not printable (bidirectional overrides
// among them) and bytes that are not UTF-8 become Go escapes (\n, \x1b,
// \u202e), so that no value can end a log line early or drive a terminal.
func escapeControl(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || !strconv.IsPrint(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case strconv.IsPrint(r):
			b.WriteString(s[:n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[n:]
	}
	return b.String()
}

// quoted is an outside string (a peer's name, a URL, a path from a
// request) as log lines show it: as it is when it is made only of
// letters, digits and "-._~/:@+", so that ordinary names read as before,
// and else as a Go string literal, so that it cannot pass for the
// line's own words.
func quoted(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/:@+", r))
	}) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// errLine is an error as one line, for log lines and statuses: its first
// line, escaped. hostrt's error for a trap, for one, follows its first
// line with a wasm stack trace.
func errLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return escapeControl(strings.TrimSuffix(msg, "\r"))
}

// lineWriter prefixes every line a job writes. A line ends at '\n' or
// '\r' (progress displays redraw a line with '\r': each redraw keeps its
// prefix). A partial line is held back until it ends, grows past maxLine,
// or Flush (when the job stops or moves) ends it with a newline.
type lineWriter struct {
	out    *Output
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

func newLineWriter(out *Output, prefix string) *lineWriter {
	return &lineWriter{out: out, prefix: []byte(prefix)}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\n\r")
		if i < 0 {
			l.buf = append(l.buf, p...)
			if len(l.buf) >= maxLine {
				l.emit(nil)
			}
			break
		}
		l.buf = append(l.buf, p[:i+1]...)
		p = p[i+1:]
		l.emit(nil)
	}
	return n, nil
}

// emit writes the held line, ending it with end.
func (l *lineWriter) emit(end []byte) {
	if len(l.buf) == 0 {
		return
	}
	line := make([]byte, 0, len(l.prefix)+len(l.buf)+len(end))
	line = append(append(append(line, l.prefix...), l.buf...), end...)
	l.buf = l.buf[:0]
	l.out.write(line)
}

// Flush ends a partial line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emit([]byte("\n"))
}
