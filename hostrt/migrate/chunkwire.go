package migrate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// Protocol 2 moves a job as a manifest (snapshot format version 3) and the
// chunks it names that the receiver lacks. Two encodings carry chunks and
// their addresses (see the package documentation for the requests):
//
//	address list   32-byte addresses, one after the other
//	chunk stream   records of u32 little-endian stored length, 32-byte
//	               address, the stored bytes (a zstd frame); a record of
//	               length 0 (no address, no bytes) ends the stream
const addressSize = len(snapshot.Address{})

// maxAddresses bounds an address list: the chunks of a 4 GiB memory and
// 4 GiB of files.
const maxAddresses = 1<<16 + 1<<12

// maxStoredChunk bounds a chunk's stored bytes: a zstd frame of at most
// snapshot.FileChunkSize raw bytes, which zstd may make a little larger
// when they do not compress.
const maxStoredChunk = snapshot.FileChunkSize + snapshot.FileChunkSize/64 + 4096

// encodeAddresses encodes an address list.
func encodeAddresses(addrs []snapshot.Address) []byte {
	out := make([]byte, 0, len(addrs)*addressSize)
	for _, a := range addrs {
		out = append(out, a[:]...)
	}
	return out
}

// decodeAddresses decodes an address list of outside bytes.
func decodeAddresses(b []byte) ([]snapshot.Address, error) {
	if len(b)%addressSize != 0 {
		return nil, fmt.Errorf("address list of %d bytes, not a multiple of %d", len(b), addressSize)
	}
	if len(b)/addressSize > maxAddresses {
		return nil, fmt.Errorf("address list of %d addresses (at most %d)", len(b)/addressSize, maxAddresses)
	}
	addrs := make([]snapshot.Address, len(b)/addressSize)
	for i := range addrs {
		copy(addrs[i][:], b[i*addressSize:])
	}
	return addrs, nil
}

// writeChunk writes one record of a chunk stream.
func writeChunk(w io.Writer, a snapshot.Address, stored []byte) error {
	var pre [4 + addressSize]byte
	binary.LittleEndian.PutUint32(pre[:], uint32(len(stored)))
	copy(pre[4:], a[:])
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	_, err := w.Write(stored)
	return err
}

// endChunks ends a chunk stream.
func endChunks(w io.Writer) error {
	_, err := w.Write(make([]byte, 4))
	return err
}

// readChunks reads a chunk stream of outside bytes up to its end record,
// checking each chunk against its address (snapshot.CheckChunk) before
// handing it to put. It returns how many chunks and stored bytes it read.
func readChunks(r io.Reader, put func(snapshot.Address, []byte) error) (n int, bytes int64, err error) {
	buf := make([]byte, 0, 64<<10)
	for i := 0; ; i++ {
		var pre [4 + addressSize]byte
		if _, err := io.ReadFull(r, pre[:4]); err != nil {
			return n, bytes, fmt.Errorf("chunk %d: %w", i, truncatedStream(err))
		}
		size := binary.LittleEndian.Uint32(pre[:4])
		if size == 0 {
			return n, bytes, nil
		}
		if size > maxStoredChunk {
			return n, bytes, fmt.Errorf("chunk %d: %d bytes (at most %d)", i, size, maxStoredChunk)
		}
		if _, err := io.ReadFull(r, pre[4:]); err != nil {
			return n, bytes, fmt.Errorf("chunk %d: %w", i, truncatedStream(err))
		}
		a := snapshot.Address(pre[4:])
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		stored := buf[:size]
		if _, err := io.ReadFull(r, stored); err != nil {
			return n, bytes, fmt.Errorf("chunk %d: %w", i, truncatedStream(err))
		}
		if err := snapshot.CheckChunk(a, stored); err != nil {
			return n, bytes, fmt.Errorf("chunk %d: %w", i, err)
		}
		if err := put(a, stored); err != nil {
			return n, bytes, err
		}
		n++
		bytes += int64(size)
	}
}

// truncatedStream names an end of the body in a chunk stream.
func truncatedStream(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
