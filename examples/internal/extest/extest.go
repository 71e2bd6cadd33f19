// Package extest builds what the examples' tests run: the wasmsr command,
// Go programs for WASI, C programs for WASI with clang. Everything is
// built from the repository's sources, so a test never runs a stale binary.
// It also kills a running wasmsr at a chosen moment, for the tests of
// resuming after a crash.
package extest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Root is the repository's root: the directory of go.mod, from the
// working directory up.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("extest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// GoBuild builds the package pkg (a path relative to the repository root,
// such as ./cmd/wasmsr) into out; wasi builds it for GOOS=wasip1.
func GoBuild(out, pkg string, wasi bool) error {
	root, err := Root()
	if err != nil {
		return err
	}
	cmd := exec.Command(goCommand(), "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if wasi {
		cmd.Env = append(cmd.Env, "GOOS=wasip1", "GOARCH=wasm")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// BuildWasmsr builds the wasmsr command into dir and returns its path.
func BuildWasmsr(dir string) (string, error) {
	out := filepath.Join(dir, "wasmsr")
	return out, GoBuild(out, "./cmd/wasmsr", false)
}

// WASISysroot is where wasi-libc is looked for, as in testdata/testdata.mk.
const WASISysroot = "/usr"

// Clang returns the path of a clang that can build C for wasm32-wasi, or
// an error that says what is missing.
func Clang() (string, error) {
	clang := os.Getenv("CLANG")
	if clang == "" {
		clang = "clang"
	}
	p, err := exec.LookPath(clang)
	if err != nil {
		return "", fmt.Errorf("no C compiler %q (install clang, lld, wasi-libc and libclang-rt-dev-wasm32, or run make test)", clang)
	}
	if _, err := os.Stat(filepath.Join(WASISysroot, "lib/wasm32-wasi/libc.a")); err != nil {
		return "", fmt.Errorf("no wasi-libc under %s (install wasi-libc, or run make test)", WASISysroot)
	}
	return p, nil
}

// CompileC builds one C file for wasm32-wasi the way examples.mk does:
// compiling and linking are separate steps, so that clang never runs
// wasm-opt on the output behind our back.
func CompileC(clang, out, src string, cflags ...string) error {
	obj := strings.TrimSuffix(out, ".wasm") + ".o"
	target := []string{"--target=wasm32-wasi", "--sysroot=" + WASISysroot}
	compile := append(append(append([]string{}, target...), cflags...), "-c", src, "-o", obj)
	link := append(append([]string{}, target...), "-Wl,--strip-debug", obj, "-o", out)
	for _, args := range [][]string{compile, link} {
		if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", clang, strings.Join(args, " "), err, b)
		}
	}
	return nil
}

// KillAfterFile starts cmd, waits until the file at path exists (a first
// snapshot, say), and kills the process with SIGKILL delay after that. It
// reports whether the kill ended the process: false when the process
// exited successfully first. Exiting with an error first, or before path
// exists, is an error.
func KillAfterFile(cmd *exec.Cmd, path string, delay time.Duration) (killed bool, err error) {
	if err := cmd.Start(); err != nil {
		return false, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		select {
		case err := <-exited:
			return false, fmt.Errorf("%s ended before %s existed: %v", cmd.Path, path, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case err := <-exited:
		return false, err
	case <-time.After(delay):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled(), nil // not signaled: it ended just before the kill
}

// Main is an example's TestMain: setup builds what its tests run into a
// fresh temporary directory, which is removed after them; a setup error
// ends the run with it.
func Main(m *testing.M, name string, setup func(dir string) error) {
	dir, err := os.MkdirTemp("", "wasmsr-"+name+"-test-")
	if err == nil {
		err = setup(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// SnapshotLines returns the "wasmsr: snapshot N -> ..." reports in a
// wasmsr command's stderr.
func SnapshotLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "wasmsr: snapshot ") {
			lines = append(lines, l)
		}
	}
	return lines
}
