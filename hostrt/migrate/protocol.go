package migrate

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// jobMagic starts a job body.
const jobMagic = "WASMSR\x00J"

// maxHeader bounds a job body's JSON header.
const maxHeader = 64 << 10

// maxRoute bounds a policy's route.
const maxRoute = 64

// Policy is where a job goes and when; it travels with the job.
type Policy struct {
	// Route lists the hosts' base URLs; the job visits them in order,
	// cyclically.
	Route []string `json:"route,omitempty"`
	// Next indexes Route: the host the job moves to next.
	Next int `json:"next"`
	// Every is how long the job runs on a host before it moves on; 0
	// keeps it where it is.
	Every time.Duration `json:"every_ns"`
}

// target is the host the job moves to next, if any.
func (p Policy) target() (string, bool) {
	if len(p.Route) == 0 || p.Next < 0 || p.Next >= len(p.Route) {
		return "", false
	}
	return p.Route[p.Next], true
}

// advanced is the policy the next host gets.
func (p Policy) advanced() Policy {
	q := p
	q.Route = append([]string(nil), p.Route...)
	if len(p.Route) > 0 {
		q.Next = (p.Next + 1) % len(p.Route)
	}
	return q
}

func (p Policy) check() error {
	if len(p.Route) > maxRoute {
		return fmt.Errorf("route of %d hosts (at most %d)", len(p.Route), maxRoute)
	}
	if len(p.Route) > 0 && (p.Next < 0 || p.Next >= len(p.Route)) {
		return fmt.Errorf("next host %d of a route of %d", p.Next, len(p.Route))
	}
	if p.Every < 0 {
		return errors.New("negative interval")
	}
	for _, u := range p.Route {
		if _, err := ParseURL(u); err != nil {
			return err
		}
	}
	return nil
}

// ParseURL checks a host's base URL (http or https, no query) and returns
// it without a trailing slash.
func ParseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("host URL %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("host URL %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// Header describes a job in transit.
type Header struct {
	// ID names the job on every host it visits.
	ID string `json:"id"`
	// Hop counts the job's migrations, this one included.
	Hop int `json:"hop"`
	// From is the sending host's name.
	From string `json:"from"`
	// Module is the hex SHA-256 of the instrumented module.
	Module string `json:"module"`
	// Policy is where the job goes from the receiver.
	Policy Policy `json:"policy"`
	// Store and Manifest, in a job sent through a shared store, are the
	// store's location and the manifest's name in it (stored.go).
	Store    string `json:"store,omitempty"`
	Manifest string `json:"manifest,omitempty"`

	// raw is the header as it arrived, which its signature covers.
	raw []byte
}

func (h *Header) check() error {
	if !validID(h.ID) {
		return fmt.Errorf("job id %q (want 1 to 64 letters, digits, - or _)", h.ID)
	}
	if h.Hop < 1 {
		return fmt.Errorf("hop %d", h.Hop)
	}
	if len(h.From) > 256 || strings.ContainsFunc(h.From, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errors.New("sender name longer than 256 bytes or with control characters")
	}
	if _, err := parseHash(h.Module); err != nil {
		return err
	}
	for _, s := range []string{h.Store, h.Manifest} {
		if len(s) > 1024 || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return errors.New("store or manifest name longer than 1024 bytes or with control characters")
		}
	}
	return h.Policy.check()
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewID returns a fresh job id.
func NewID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func parseHash(s string) ([32]byte, error) {
	var sum [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(sum) {
		return sum, fmt.Errorf("module hash %q (want 64 hex digits)", s)
	}
	copy(sum[:], b)
	return sum, nil
}

// encode returns the header as the frame carries it (and as its
// signature covers it).
func (h *Header) encode() ([]byte, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if len(js) > maxHeader {
		return nil, fmt.Errorf("job header of %d bytes (at most %d)", len(js), maxHeader)
	}
	return js, nil
}

// writeFrame writes a job body's frame: magic, header length, header.
func writeFrame(w io.Writer, h *Header) error {
	js, err := h.encode()
	if err != nil {
		return err
	}
	return writeEncodedFrame(w, js)
}

// writeEncodedFrame writes the frame of an encoded header.
func writeEncodedFrame(w io.Writer, js []byte) error {
	b := make([]byte, 0, len(jobMagic)+4+len(js))
	b = append(b, jobMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	_, err := w.Write(b)
	return err
}

// readFrame reads and checks a job body's frame.
func readFrame(r io.Reader) (*Header, error) {
	var pre [len(jobMagic) + 4]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("job frame: %w", err)
	}
	if string(pre[:len(jobMagic)]) != jobMagic {
		return nil, errors.New("job frame: bad magic")
	}
	n := binary.LittleEndian.Uint32(pre[len(jobMagic):])
	if n > maxHeader {
		return nil, fmt.Errorf("job frame: header of %d bytes (at most %d)", n, maxHeader)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, fmt.Errorf("job frame: header: %w", err)
	}
	var h Header
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("job frame: header: %v", err)
	}
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("job frame: %v", err)
	}
	h.raw = js
	return &h, nil
}

// signatureHeader is the HTTP header that carries a job header's
// signature (snapshot.Keys.SignData of the frame's header, for
// signedHeader), when the hosts sign their jobs. The snapshot signs
// itself.
const (
	signatureHeader = "Wasmsr-Signature"
	signedHeader    = "job header"
)

// Accepted is a receiver's answer to a job it now runs.
type Accepted struct {
	ID   string `json:"id"`
	Hop  int    `json:"hop"`
	Host string `json:"host"`
	// Bytes is the size of the body received.
	Bytes int64 `json:"bytes"`
	// Receive, Decode and Restore are how long the receiver took to read
	// the rest of the body once the frame was read, to decode the
	// snapshot and to restore the job.
	Receive time.Duration `json:"receive_ns"`
	Decode  time.Duration `json:"decode_ns"`
	Restore time.Duration `json:"restore_ns"`
	// Files is how many open files' contents arrived with the job.
	Files int `json:"files"`
}

// Job states in a Status.
const (
	StateRunning  = "running"
	StateMigrated = "migrated"
	StateFinished = "finished"
	StateFailed   = "failed"
)

// Status is what a host knows about a job.
type Status struct {
	ID    string `json:"id"`
	Host  string `json:"host"`
	Hop   int    `json:"hop"`
	State string `json:"state"`
	// Next is where a migrated job went.
	Next string `json:"next,omitempty"`
	// Exit is a finished program's exit code.
	Exit uint32 `json:"exit"`
	// Error says why a job failed.
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
}

// Done reports whether the job ended (finished or failed).
func (s *Status) Done() bool { return s.State == StateFinished || s.State == StateFailed }

// apiError is an error response's body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Error codes in responses, for clients to act on.
const (
	codeModuleUnknown = "module-unknown"
	codeBusy          = "busy"
)

// RefusedError is a peer's refusal: an error status with its reason. The
// job did not start there.
type RefusedError struct {
	URL    string
	Status int
	Code   string
	Msg    string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s refused: %d %s", e.URL, e.Status, e.Msg)
}
