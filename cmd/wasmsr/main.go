// Command wasmsr makes WebAssembly (WASI) programs pausable anywhere and
// runs them: instrument rewrites a module so that its program can unwind
// and rewind; exec runs it on wazero, taking snapshots (at an interval, on
// a signal, at the first read of stdin); resume continues one, in another
// process or on another machine; serve is a host that jobs migrate to and
// from; inspect describes a module or a snapshot; keygen makes the keys
// that sign snapshots. The rewrite is package instrument's, running and
// snapshotting package hostrt's, the snapshot policy (interval, signals,
// first stdin, keep) package hostrt/supervise's: here are the flags, the
// policy they make and the lines printed.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code. Errors are
// printed as a single line, "wasmsr: FILE: what is wrong".
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	if err := app.Run(flagsFirst(app, args)); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return int(exit)
		}
		fmt.Fprintf(stderr, "wasmsr: %v\n", err)
		return 1
	}
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "wasmsr",
		Usage:     "pause, snapshot and resume WebAssembly programs",
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are reported once, by run.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Suggest:         true,
		Commands: []*cli.Command{
			instrumentCommand(),
			execCommand(),
			resumeCommand(),
			serveCommand(),
			inspectCommand(),
			keygenCommand(),
		},
	}
}

// flagsFirst moves a command's flags ahead of its positional arguments, so
// that "wasmsr inspect x.wasm --json" works like "wasmsr inspect --json
// x.wasm" (urfave/cli stops parsing flags at the first positional argument).
// Arguments after "--" stay where they are: they belong to the guest.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	flags, positional := []string{}, []string{}
	rest := args[2:]
	for len(rest) > 0 {
		a := rest[0]
		rest = rest[1:]
		if a == "--" {
			positional = append(positional, append([]string{a}, rest...)...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if takesValue[name] && !hasValue && len(rest) > 0 {
			flags = append(flags, rest[0])
			rest = rest[1:]
		}
	}
	return append(append(append([]string{}, args[:2]...), flags...), positional...)
}

// readFile reads a module, with errors in the form "PATH: what is wrong":
// a regular file (a FIFO or a device would block or never end) of at most
// hostrt.MaxModuleSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, hostrt.MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > hostrt.MaxModuleSize {
		return nil, fmt.Errorf("%s: larger than %s", path, snapshot.FormatBytes(hostrt.MaxModuleSize))
	}
	return data, nil
}

// openInput opens a file given on the command line, which must be a
// regular file.
func openInput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return nil, fmt.Errorf("%s: %w", path, pathErr.Err)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// hasMagic reports whether the file starts with magic.
func hasMagic(path, magic string) (bool, error) {
	f, err := openInput(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, len(magic))
	n, _ := io.ReadFull(f, head)
	return string(head[:n]) == magic, nil
}
