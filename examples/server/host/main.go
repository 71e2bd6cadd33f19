// Command host is the server example's host program, built on the hostrt
// library: it runs the instrumented server guest (../guest) and turns keys
// into actions, as in the seed prototype's interactive server:
//
//	r  send a request: a line on the guest's stdin; the guest increments its
//	   counter and prints it (the host waits for that line)
//	s  snapshot the running guest into snapshot.bin; the guest goes on
//	q  quit: the guest's stdin ends and it exits (so does the end of the keys)
//
// With --from-snapshot snapshot.bin the host restores the guest from that
// file instead of starting it afresh, and the counter continues where it was.
//
// Keys are read one at a time from a terminal (the host switches it to raw
// mode with stty(1) and back when it ends; without stty, keys take effect
// at Enter), or from a pipe, for scripts and tests:
//
//	printf rrrs | host --module server.sr.wasm
//	printf r    | host --module server.sr.wasm --from-snapshot snapshot.bin
//
// The guest's output goes to stdout unchanged; the host's own messages go
// to stderr.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/hostrt/supervise"
)

func main() {
	restore := rawTerminal(os.Stdin)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		restore()
		os.Exit(130)
	}()
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	restore()
	os.Exit(code)
}

// run is the whole program, with its streams as arguments.
func run(args []string, keys io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modulePath := fs.String("module", "server.sr.wasm", "the instrumented server guest")
	snapPath := fs.String("snapshot", "snapshot.bin", "where key s writes the snapshot")
	from := fs.String("from-snapshot", "", "restore the guest from this snapshot instead of starting it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "host: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := serve(*modulePath, *snapPath, *from, keys, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "host:", err)
		return 1
	}
	return 0
}

// host is a running guest and the channels to it.
type host struct {
	requests *io.PipeWriter // the guest's stdin
	replies  chan string    // the guest's output lines
	triggers chan supervise.Trigger
	written  chan error    // each snapshot's outcome
	exited   chan struct{} // closed when Run returns
	res      supervise.Result
	runErr   error
}

func serve(modulePath, snapPath, from string, keys io.Reader, stdout, stderr io.Writer) error {
	ctx := context.Background()
	module, err := os.ReadFile(modulePath)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(modulePath)
	stdin, requests := io.Pipe()
	h := &host{
		requests: requests, replies: make(chan string, 1024), exited: make(chan struct{}),
		triggers: make(chan supervise.Trigger), written: make(chan error, 1),
	}
	cfg := hostrt.Config{
		Module: module, ModulePath: abs, Args: []string{"server"},
		Stdin: stdin, Stdout: &lineWriter{out: stdout, lines: h.replies},
		// Not the *os.File itself: hostrt cuts a regular file back to its
		// length at the snapshot when restoring, and the host's stderr is
		// the host's log, not the guest's own file.
		Stderr: struct{ io.Writer }{stderr},
	}
	// Key s is a trigger; the supervisor writes the snapshot into one
	// file, over the previous one.
	policy := supervise.Policy{
		Triggers: h.triggers,
		Sink:     fileSink{path: snapPath, enc: snapshot.NewEncoder()},
		OnSnapshot: func(path string, snap *snapshot.Snapshot) {
			size := int64(-1)
			if fi, err := os.Stat(path); err == nil {
				size = fi.Size()
			}
			fmt.Fprintf(stderr, "host: snapshot %d written to %s (%d bytes; the guest was paused for %s)\n",
				snap.Meta.Seq, path, size, snap.Meta.Paused.Round(1000))
			h.written <- nil
		},
		OnError: func(err error) { h.written <- fmt.Errorf("snapshot: %w", err) },
	}
	var sup *supervise.Supervisor
	if from == "" {
		sup, err = supervise.Start(ctx, cfg, nil, policy)
	} else {
		// Load checks that the snapshot was taken from this module.
		var loaded *hostrt.Loaded
		if loaded, err = hostrt.Load(from, hostrt.LoadOptions{Module: modulePath}); err == nil {
			sup, err = supervise.Start(ctx, cfg, loaded.Snapshot, policy)
			loaded.Close()
			if err == nil {
				fmt.Fprintf(stderr, "host: restored the guest from %s (snapshot %d, taken %s)\n",
					from, loaded.Snapshot.Meta.Seq, loaded.Snapshot.Meta.Created.Local().Format("15:04:05"))
			}
		}
	}
	if err != nil {
		return err
	}
	defer sup.Close(ctx)
	go func() {
		h.res, h.runErr = sup.Run(ctx)
		close(h.exited)
	}()
	fmt.Fprintf(stderr, "host: running %s; keys: r = request, s = snapshot to %s, q = quit\n", modulePath, snapPath)

	in := bufio.NewReader(keys)
loop:
	for {
		key, err := in.ReadByte()
		if err != nil {
			break // the end of the keys quits
		}
		switch key {
		case 'r', 'R':
			if err := h.request(); err != nil {
				return err
			}
		case 's', 'S':
			if err := h.snapshot(); err != nil {
				return err
			}
		case 'q', 'Q', 4: // 4: Ctrl-D on a raw terminal
			break loop
		case ' ', '\t', '\r', '\n':
		default:
			fmt.Fprintf(stderr, "host: key %q does nothing (r = request, s = snapshot, q = quit)\n", key)
		}
	}
	// The end of its input ends the guest.
	requests.Close()
	<-h.exited
	if h.runErr != nil {
		return fmt.Errorf("the guest failed: %w", h.runErr)
	}
	fmt.Fprintf(stderr, "host: the guest exited with status %d\n", h.res.Exit)
	if h.res.Exit != 0 {
		return fmt.Errorf("exit status %d", h.res.Exit)
	}
	return nil
}

// request sends one request and waits for the guest's answer (which the
// guest's stdout has already shown).
func (h *host) request() error {
	if _, err := h.requests.Write([]byte("r\n")); err != nil {
		return err
	}
	select {
	case <-h.replies:
		return nil
	case <-h.exited:
		return h.gone("without answering")
	}
}

// snapshot asks for a snapshot of the running guest into snapPath, which
// goes on, and waits until it is written.
func (h *host) snapshot() error {
	select {
	case h.triggers <- supervise.Trigger{Reason: "key s"}:
	case <-h.exited:
		return errors.New("the guest is not running: nothing to snapshot")
	}
	select {
	case err := <-h.written:
		return err
	case <-h.exited:
		return h.gone("before its snapshot")
	}
}

// gone is the error of a guest that ended when the host waited for it.
func (h *host) gone(when string) error {
	if h.runErr != nil {
		return fmt.Errorf("the guest failed: %w", h.runErr)
	}
	return fmt.Errorf("the guest exited (status %d) %s", h.res.Exit, when)
}

// fileSink writes every snapshot into the same file.
type fileSink struct {
	path string
	enc  *snapshot.Encoder
}

func (f fileSink) Write(snap *snapshot.Snapshot) (string, error) {
	return f.path, f.enc.WriteFile(f.path, snap)
}

// lineWriter passes the guest's output through and reports every complete
// line on a channel (without blocking the guest).
type lineWriter struct {
	out     io.Writer
	partial []byte
	lines   chan<- string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n, err := w.out.Write(p)
	w.partial = append(w.partial, p[:n]...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- string(w.partial[:i]):
		default: // nobody waits for so many lines
		}
		w.partial = w.partial[i+1:]
	}
	return n, err
}

// rawTerminal makes a terminal deliver keys one at a time without echo,
// with stty(1), and returns what puts it back. Anything else (a pipe, a
// file) is left alone.
func rawTerminal(f *os.File) (restore func()) {
	noop := func() {}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return noop
	}
	saved, err := stty(f, "-g")
	if err != nil {
		return noop // not a terminal after all (/dev/null), or no stty: line mode
	}
	if _, err := stty(f, "-icanon", "-echo", "min", "1", "time", "0"); err != nil {
		fmt.Fprintln(os.Stderr, "host: cannot switch the terminal to raw mode; press Enter after the keys")
		return noop
	}
	return func() { stty(f, strings.TrimSpace(saved)) }
}

func stty(tty *os.File, args ...string) (string, error) {
	cmd := exec.Command("stty", args...)
	cmd.Stdin = tty
	out, err := cmd.Output()
	return string(out), err
}
