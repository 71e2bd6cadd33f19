package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// codeProtocol refuses a request of a protocol the peer does not speak.
const codeProtocol = "protocol"

// codeChunksMissing refuses a job whose manifest names chunks the
// receiver lacks: the sender sends them all and tries once more.
const codeChunksMissing = "chunks-missing"

// errOldPeer is a peer that does not speak protocol 2.
func errOldPeer(base string, resp *http.Response) error {
	return &RefusedError{URL: base, Status: resp.StatusCode, Code: codeProtocol,
		Msg: "the host does not speak migration protocol 2 (an older wasmsr?): upgrade it"}
}

// refusedV2 is refused for the answers to protocol 2's requests: a 404 or
// 405 without this package's error body comes from a host that lacks the
// request.
func refusedV2(base string, resp *http.Response) error {
	if (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) &&
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return errOldPeer(base, resp)
	}
	return refused(base, resp)
}

// MissingChunks asks the host at base which of addrs it lacks.
func (c *Client) MissingChunks(ctx context.Context, base string, addrs []snapshot.Address) ([]snapshot.Address, error) {
	ctx, cancel := context.WithTimeout(ctx, timeoutQuery)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/chunks/missing", bytes.NewReader(encodeAddresses(addrs)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, refusedV2(base, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(addrs))*int64(addressSize)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the missing chunks: %w", base, err)
	}
	missing, err := checkMissing(body, addrs)
	if err != nil {
		return nil, fmt.Errorf("%s: the missing chunks: %w", base, err)
	}
	return missing, nil
}

// checkMissing decodes a peer's answer to a missing-chunks query: a list
// of addresses it was asked about, each once.
func checkMissing(body []byte, asked []snapshot.Address) ([]snapshot.Address, error) {
	if len(body) > len(asked)*addressSize {
		return nil, fmt.Errorf("%d bytes for %d addresses asked", len(body), len(asked))
	}
	missing, err := decodeAddresses(body)
	if err != nil {
		return nil, err
	}
	open := make(map[snapshot.Address]bool, len(asked))
	for _, a := range asked {
		open[a] = true
	}
	for _, a := range missing {
		if !open[a] {
			return nil, fmt.Errorf("chunk %s was not asked about, or named twice", a)
		}
		delete(open, a)
	}
	return missing, nil
}

// PutChunks sends chunks (address and stored bytes) to the host at base.
func (c *Client) PutChunks(ctx context.Context, base string, chunks []pendingChunk) error {
	ctx, cancel := context.WithTimeout(ctx, timeoutJob)
	defer cancel()
	var body bytes.Buffer
	for _, ch := range chunks {
		writeChunk(&body, ch.addr, ch.stored)
	}
	endChunks(&body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v2/chunks", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.wasmsr.chunks")
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return refusedV2(base, resp)
	}
	return nil
}

// SendManifest posts a job in protocol 2: the frame with h, the chunks
// the peer is taken to lack, then the manifest (signed already, when the
// hosts sign; keys sign the header). A *RefusedError means the peer
// answered and does not run the job; any other error leaves it unknown
// whether the job arrived (see Status). It returns the peer's answer and
// the body's size.
func (c *Client) SendManifest(ctx context.Context, base string, h *Header, chunks []pendingChunk, manifest []byte, keys *snapshot.Keys) (*Accepted, int64, error) {
	js, err := h.encode()
	if err != nil {
		return nil, 0, err
	}
	var body bytes.Buffer
	writeEncodedFrame(&body, js)
	for _, ch := range chunks {
		writeChunk(&body, ch.addr, ch.stored)
	}
	endChunks(&body)
	body.Write(manifest)
	return c.postJob(ctx, base, "/v2/jobs", js, &body, keys)
}

// postJob posts a protocol 2 job body whose header is js to base+path.
func (c *Client) postJob(ctx context.Context, base, path string, js []byte, body *bytes.Buffer, keys *snapshot.Keys) (*Accepted, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeoutJob)
	defer cancel()
	n := int64(body.Len())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/vnd.wasmsr.job")
	if keys != nil {
		req.Header.Set(signatureHeader, keys.SignData(signedHeader, js))
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, n, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, n, refusedV2(base, resp)
	}
	var acc Accepted
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&acc); err != nil {
		return nil, n, fmt.Errorf("%s: reading the answer: %w", base, err)
	}
	return &acc, n, nil
}

// pendingChunk is a chunk a sender has named and not yet sent.
type pendingChunk struct {
	addr   snapshot.Address
	stored []byte
}

// peerChunks is what a sender knows of one peer's chunk store, as the
// store of its Chunker: a chunk the peer is known to have is not stored
// again, and the others wait, compressed, until they are sent.
type peerChunks struct {
	target  string
	chunker *snapshot.Chunker

	mu      sync.Mutex
	known   map[snapshot.Address]bool
	pending []pendingChunk
}

func newPeerChunks(target string) *peerChunks {
	p := &peerChunks{target: target, known: map[snapshot.Address]bool{}}
	p.chunker = snapshot.NewChunker(p)
	return p
}

func (p *peerChunks) Has(_ context.Context, a snapshot.Address) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known[a], nil
}

func (p *peerChunks) Put(_ context.Context, a snapshot.Address, stored []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, pendingChunk{a, stored})
	return nil
}

func (p *peerChunks) Get(context.Context, snapshot.Address) ([]byte, error) {
	return nil, errors.New("a sender does not read chunks back")
}

// encode names the chunks of snap, as a manifest signed by enc's keys;
// the chunks the peer is not known to have are then pending.
func (p *peerChunks) encode(ctx context.Context, enc *snapshot.Encoder, snap *snapshot.Snapshot) ([]byte, error) {
	p.pending = nil
	var manifest bytes.Buffer
	if err := enc.EncodeChunked(ctx, &manifest, snap, p.chunker); err != nil {
		return nil, err
	}
	return manifest.Bytes(), nil
}

// sent records that the peer has the pending chunks and the last
// manifest's.
func (p *peerChunks) sent() {
	for _, c := range p.pending {
		p.known[c.addr] = true
	}
	p.pending = nil
	p.chunker.Commit()
}

// forget drops what is known of the peer's store.
func (p *peerChunks) forget() {
	p.known = map[snapshot.Address]bool{}
	p.pending = nil
	p.chunker.Forget()
}

// pendingBytes is the stored size of the pending chunks.
func (p *peerChunks) pendingBytes() int64 {
	var n int64
	for _, c := range p.pending {
		n += int64(len(c.stored))
	}
	return n
}

// preCopy sends the chunks of snap (taken while the job runs) that the
// peer lacks, so that the move sends only what changed since. It returns
// how many chunks and stored bytes it sent.
func (p *peerChunks) preCopy(ctx context.Context, cl *Client, enc *snapshot.Encoder, snap *snapshot.Snapshot) (int, int64, error) {
	if _, err := p.encode(ctx, enc, snap); err != nil {
		return 0, 0, err
	}
	addrs := make([]snapshot.Address, len(p.pending))
	byAddr := make(map[snapshot.Address][]byte, len(p.pending))
	for i, c := range p.pending {
		addrs[i] = c.addr
		byAddr[c.addr] = c.stored
	}
	var send []pendingChunk
	var n int64
	for start := 0; start < len(addrs); start += maxAddresses {
		missing, err := cl.MissingChunks(ctx, p.target, addrs[start:min(len(addrs), start+maxAddresses)])
		if err != nil {
			return 0, 0, err
		}
		for _, a := range missing {
			send = append(send, pendingChunk{a, byAddr[a]})
			n += int64(len(byAddr[a]))
		}
	}
	sent := len(send)
	// Bodies of a few tens of MiB: well under any host's job limit.
	for len(send) > 0 {
		batch, size := 0, int64(0)
		for batch < len(send) && (batch == 0 || size+int64(len(send[batch].stored)) <= 32<<20) {
			size += int64(len(send[batch].stored))
			batch++
		}
		if err := cl.PutChunks(ctx, p.target, send[:batch]); err != nil {
			return 0, 0, err
		}
		send = send[batch:]
	}
	p.sent()
	return sent, n, nil
}
