package hostrt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/wasmsr/wasmsr/hostrt"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
	"github.com/wasmsr/wasmsr/instrument"
)

// The examples run testdata/greet.wasm, a WASI command that writes
// "name? ", reads a line from stdin and greets it.

// greetModule returns the example program, instrumented: a Job runs only
// instrumented modules (what `wasmsr instrument` writes).
func greetModule() []byte {
	wasm, err := os.ReadFile("testdata/greet.wasm")
	if err != nil {
		log.Fatal(err)
	}
	module, _, err := instrument.Instrument(wasm, instrument.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return module
}

// A program waiting for its input is snapshotted and stopped; a new job
// restored from the snapshot, with the input at hand, finishes it. The
// snapshot goes through the file format, as it would to reach another
// process or machine.
//
// While a job runs, the garbage collector of the whole process is held
// off (wazero's compiled code cannot be preempted); it runs at pauses and
// inside the program's WASI calls.
func Example() {
	ctx := context.Background()
	module := greetModule()

	// The program blocks reading stdin: the pipe stays empty.
	stdin, noInput := io.Pipe()
	defer noInput.Close()
	var stdout bytes.Buffer
	job, err := hostrt.Start(ctx, hostrt.Config{
		Module: module, Args: []string{"greet"},
		Stdin: stdin, Stdout: &stdout,
	})
	if err != nil {
		log.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() {
		_, err := job.Run(ctx)
		ran <- err
	}()
	// From any goroutine: the program pauses at its next safepoint or WASI
	// call (a blocked read gives up, to be issued again after the restore).
	snap, err := job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: "example", Stop: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run:", <-ran)
	job.Close(ctx)

	var file bytes.Buffer
	if err := snapshot.NewEncoder().Encode(&file, snap); err != nil {
		log.Fatal(err)
	}
	// Checked whole, then decoded within what the module and the host
	// allow; the memory is read from the buffer as the job is restored.
	decoded, err := hostrt.OpenSnapshot(bytes.NewReader(file.Bytes()), int64(file.Len()), module, hostrt.ReadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("snapshot %d (%s), paused in %s\n", decoded.Meta.Seq, decoded.Meta.Reason, decoded.Instance.Export)

	// The program keeps its arguments; it gets new standard streams.
	restored, err := hostrt.Restore(ctx, hostrt.Config{
		Module: module, Stdin: strings.NewReader("gopher\n"), Stdout: &stdout,
	}, decoded)
	if err != nil {
		log.Fatal(err)
	}
	defer restored.Close(ctx)
	exit, err := restored.Run(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d, stdout %q\n", exit, stdout.String())
	// Output:
	// run: the job stopped after a snapshot
	// snapshot 1 (example), paused in _start
	// exit 0, stdout "name? hello, gopher\n"
}

// A job snapshotted without stopping goes on running; its snapshots go to
// a snapshot directory, which Load reads back as `wasmsr resume` does: the
// newest snapshot and the copy of the module beside it.
func ExampleLoad() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hostrt-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := hostrt.OpenStore(dir, 3) // keeps the newest 3
	if err != nil {
		log.Fatal(err)
	}
	module := greetModule()
	modulePath, err := store.SaveModule(module)
	if err != nil {
		log.Fatal(err)
	}

	stdin, input := io.Pipe()
	var stdout bytes.Buffer
	job, err := hostrt.Start(ctx, hostrt.Config{
		Module: module, ModulePath: modulePath, Args: []string{"greet"},
		Stdin: stdin, Stdout: &stdout,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer job.Close(ctx)
	type result struct {
		exit uint32
		err  error
	}
	ran := make(chan result, 1)
	go func() {
		exit, err := job.Run(ctx)
		ran <- result{exit, err}
	}()
	for range 2 {
		snap, err := job.Snapshot(ctx, hostrt.SnapshotOptions{Reason: "checkpoint"})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := store.Write(snap); err != nil {
			log.Fatal(err)
		}
	}
	// The program still runs, and finishes once its input comes.
	io.WriteString(input, "world\n")
	input.Close()
	r := <-ran
	fmt.Printf("exit %d (%v), stdout %q\n", r.exit, r.err, stdout.String())

	loaded, err := hostrt.Load(dir, hostrt.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer loaded.Close()
	fmt.Printf("newest: snapshot %d (%s), module found: %v\n",
		loaded.Snapshot.Meta.Seq, loaded.Snapshot.Meta.Reason, loaded.ModulePath == modulePath)

	// Running the program again from there: it asks for its input again.
	stdout.Reset()
	again, err := hostrt.Restore(ctx, hostrt.Config{
		Module: loaded.Module, ModulePath: loaded.ModulePath,
		Stdin: strings.NewReader("again\n"), Stdout: &stdout,
	}, loaded.Snapshot)
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close(ctx)
	exit, err := again.Run(ctx)
	fmt.Printf("exit %d (%v), stdout %q\n", exit, err, stdout.String())
	// Output:
	// exit 0 (<nil>), stdout "name? hello, world\n"
	// newest: snapshot 2 (checkpoint), module found: true
	// exit 0 (<nil>), stdout "hello, again\n"
}

// A program is snapshotted when it first reads stdin, before the read
// takes anything: right after its initialisation. Config.OnStdin hears of
// every call about to read stdin; SnapshotAtStdin pauses the program at
// the one it is called for. The job restored from the snapshot makes the
// read.
func ExampleJob_SnapshotAtStdin() {
	ctx := context.Background()
	module := greetModule()
	var stdout bytes.Buffer
	var first <-chan hostrt.SnapshotResult
	job, err := hostrt.Start(ctx, hostrt.Config{
		Module: module, Args: []string{"greet"}, Stdout: &stdout, // no input yet
		// On the program's goroutine, before the call does anything.
		OnStdin: func(j *hostrt.Job) {
			if first == nil {
				first = j.SnapshotAtStdin(hostrt.SnapshotOptions{Reason: "first stdin", Stop: true})
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = job.Run(ctx)
	job.Close(ctx)
	res := <-first
	if res.Err != nil {
		log.Fatal(res.Err)
	}
	fmt.Printf("run: %v, stdout %q\n", err, stdout.String())

	// The snapshot holds the program before its read (and any input the
	// job had read ahead, for the restored program to read first).
	stdout.Reset()
	restored, err := hostrt.Restore(ctx, hostrt.Config{
		Module: module, Stdin: strings.NewReader("gopher\n"), Stdout: &stdout,
	}, res.Snapshot)
	if err != nil {
		log.Fatal(err)
	}
	defer restored.Close(ctx)
	exit, err := restored.Run(ctx)
	fmt.Printf("exit %d (%v), stdout %q\n", exit, err, stdout.String())
	// Output:
	// run: the job stopped after a snapshot, stdout "name? "
	// exit 0 (<nil>), stdout "hello, gopher\n"
}
