package migrate

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Timeouts of the client's requests. A module upload includes the peer's
// compilation of the module.
var (
	timeoutQuery  = 30 * time.Second
	timeoutModule = 15 * time.Minute
	timeoutJob    = 10 * time.Minute
)

// Client talks to wasmsr hosts.
type Client struct {
	// HTTP is the client used; nil is a default one.
	HTTP *http.Client
	// Token is the bearer token sent with every request.
	Token string
}

// NewClient returns a client sending token, trusting the certificates
// in the PEM file caFile (if not empty) besides the system's.
func NewClient(token, caFile string) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{HTTP: &http.Client{Transport: tr}, Token: token}, nil
}

// ReadToken reads a token file: its content without surrounding white
// space, which must not be empty.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := string(bytes.TrimSpace(b))
	if tok == "" {
		return "", fmt.Errorf("%s: empty token", path)
	}
	return tok, nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.http().Do(req)
}

// refused turns an error response into a RefusedError.
func refused(base string, resp *http.Response) error {
	var e apiError
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = http.StatusText(resp.StatusCode)
	}
	return &RefusedError{URL: base, Status: resp.StatusCode, Code: e.Code, Msg: e.Error}
}

// HasModule asks whether the host at base has the module.
func (c *Client) HasModule(ctx context.Context, base string, sum [32]byte) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeoutModule)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, base+"/v1/modules/"+hex.EncodeToString(sum[:]), nil)
	if err != nil {
		return false, err
	}
	resp, err := c.do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, refused(base, resp)
}

// PutModule uploads a module, compressed with zstd.
func (c *Client) PutModule(ctx context.Context, base string, sum [32]byte, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, timeoutModule)
	defer cancel()
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	body := zw.EncodeAll(data, nil)
	zw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/modules/"+hex.EncodeToString(sum[:]), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/wasm")
	req.Header.Set("Content-Encoding", "zstd")
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return refused(base, resp)
	}
	return nil
}

// EnsureModule uploads the module unless the host has it already. It
// reports whether it uploaded it.
func (c *Client) EnsureModule(ctx context.Context, base string, sum [32]byte, data []byte) (bool, error) {
	has, err := c.HasModule(ctx, base, sum)
	if err != nil || has {
		return false, err
	}
	return true, c.PutModule(ctx, base, sum, data)
}

// Status asks a host about a job. With wait > 0 the host answers when the
// job's hop or state differs from the given ones, or after wait.
func (c *Client) Status(ctx context.Context, base, id string, wait time.Duration, hop int, state string) (*Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeoutQuery+wait)
	defer cancel()
	q := url.Values{}
	if wait > 0 {
		q.Set("wait", wait.String())
		q.Set("hop", strconv.Itoa(hop))
		q.Set("state", state)
	}
	u := base + "/v1/jobs/" + url.PathEscape(id)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, refused(base, resp)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return nil, err
	}
	// A peer's words, which callers print: one line each.
	st.Host = escapeControl(st.Host)
	if st.Error != "" {
		st.Error = errLine(errors.New(st.Error))
	}
	return &st, nil
}

// Migrate asks the host running a job to move it on now.
func (c *Client) Migrate(ctx context.Context, base, id string) error {
	ctx, cancel := context.WithTimeout(ctx, timeoutQuery)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/jobs/"+url.PathEscape(id)+"/migrate", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return refused(base, resp)
	}
	return nil
}

// Follow follows a job from the host at base, wherever it moves, until it
// ends, and returns its last status. moved, if not nil, is called with each
// status that differs from the previous one. Network errors are retried
// for a minute.
func (c *Client) Follow(ctx context.Context, base, id string, moved func(*Status)) (*Status, error) {
	var last Status
	var failing time.Time
	for {
		st, err := c.Status(ctx, base, id, 20*time.Second, last.Hop, last.State)
		if err != nil {
			var ref *RefusedError
			if errors.As(err, &ref) || ctx.Err() != nil {
				return nil, err
			}
			if failing.IsZero() {
				failing = time.Now()
			} else if time.Since(failing) > time.Minute {
				return nil, fmt.Errorf("following job %s: %w", id, err)
			}
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		failing = time.Time{}
		if st.Hop != last.Hop || st.State != last.State || st.Host != last.Host {
			if moved != nil {
				moved(st)
			}
		}
		switch {
		case st.Done():
			return st, nil
		case st.State == StateMigrated:
			if st.Next == "" {
				return st, fmt.Errorf("job %s left %s for an unknown host", id, st.Host)
			}
			base = st.Next
			last = Status{}
			continue
		}
		last = *st
	}
}
