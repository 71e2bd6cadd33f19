// Package ffmpegtest is what the tests of the FFmpeg examples
// (transcoding, preempt) share: where the FFmpeg build is, the short clip
// they transcode, and the output of an uninterrupted transcode by the
// uninstrumented FFmpeg on stock wazero, which theirs must equal byte for
// byte.
package ffmpegtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsr/wasmsr/examples/internal/extest"
	"github.com/wasmsr/wasmsr/hostrt"
)

// Path is the FFmpeg build the tests use (make ffmpeg, or
// scripts/build-ffmpeg.sh), relative to the repository's root.
const Path = "build/ffmpeg/ffmpeg.wasm"

// Output is the file Args writes, in the directory mounted at /out.
const Output = "a.avi"

// Args transcode a short clip: 900 frames of 640x360, about 6 s
// instrumented on the project's machine type, so that 2-second snapshots
// fall in the middle of it and a kill up to 1.5 s after the first one
// comes before the end.
var Args = []string{
	"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
	"-f", "lavfi", "-i", "testsrc2=duration=36:size=640x360:rate=25",
	"-c:v", "mpeg4", "-q:v", "3", "-y", "/out/" + Output,
}

// Find returns the path of the FFmpeg build. When it is missing, skip says
// why the tests cannot run, or, under WASMSR_REQUIRE_FFMPEG=1 (make
// test), err does.
func Find() (path, skip string, err error) {
	root, err := extest.Root()
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(root, Path)
	if _, err := os.Stat(path); err != nil {
		skip = fmt.Sprintf("%s is missing: build it with `make ffmpeg` (scripts/build-ffmpeg.sh; a few minutes the first time, cached after)", Path)
		if os.Getenv("WASMSR_REQUIRE_FFMPEG") == "1" {
			return "", "", errors.New("WASMSR_REQUIRE_FFMPEG=1: " + skip)
		}
	}
	return path, skip, nil
}

// Reference transcodes Args with the uninstrumented module at path on
// plain wazero and its own WASI (no wasmsr code), as the wazero command
// would, into the directory out, and returns the output file and how long
// the transcode took.
func Reference(path, out string) ([]byte, time.Duration, error) {
	ctx := context.Background()
	module, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	// The compilation cache wasmsr uses: the plain module has its own entry.
	cache, err := hostrt.DefaultCache()
	if err != nil {
		return nil, 0, err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithArgs(append([]string{"ffmpeg"}, Args...)...).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(out, "/out")).
		WithStdout(&stderr).WithStderr(&stderr).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader)
	start := time.Now()
	_, err = rt.InstantiateWithConfig(ctx, module, cfg)
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		return nil, 0, fmt.Errorf("reference run: %v\n%s", err, stderr.String())
	}
	took := time.Since(start)
	avi, err := os.ReadFile(filepath.Join(out, Output))
	return avi, took, err
}
