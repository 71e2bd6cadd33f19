# examples.mk: `make demo` and the examples. Include it from the top-level
# Makefile, which defines GO, BUILD and WASMSR (build/wasmsr) and the rule
# that builds $(WASMSR); paths are relative to the repository root.
#
#   make demo                 scripts/demo.sh: a Go program renders a PNG under wasmsr, is
#                             killed with SIGKILL, resumes from its newest snapshot in a new
#                             process, and the PNG equals an uninterrupted run's (Go only)
#   make examples             example-fib, example-cat and example-server
#   make example-fib          fib(9); fib(42) snapshotted mid-recursion and inspected (every
#                             frame with its n), then resumed (C: needs clang and wasi-libc)
#   make example-cat          a file copy snapshotted half way: open files and offsets;
#                             resumed in place, and elsewhere from --snapshot-files (Go)
#   make example-server       the seed's server, keys scripted: r r r s, then a new process
#                             restored from snapshot.bin answers r with counter 4 (Go)
#   make example-server-live  the same with your keys (r, s, q); FROM=snapshot.bin restores
#   make example-transcoding  FFmpeg: build it (cached; minutes cold, with apt-get), instrument
#                             it, transcode with a snapshot every 10 s, kill -9, resume,
#                             compare with the uninstrumented run
#
# Everything is built into build/examples/ (build/demo/ for the demo).

GO ?= go
BUILD ?= build
WASMSR ?= $(BUILD)/wasmsr
CLANG ?= clang
WASI_SYSROOT ?= /usr

EXAMPLES_MK := $(lastword $(MAKEFILE_LIST))
EXAMPLES_OUT := $(BUILD)/examples
EXAMPLES_GO_DEPS := go.mod $(wildcard go.sum) $(EXAMPLES_MK)
EXAMPLES_WASI_GO := GOOS=wasip1 GOARCH=wasm $(GO) build
# The scripts get absolute paths, as they may change directory.
EXAMPLES_ENV = WASMSR=$(abspath $(WASMSR)) GO=$(GO)
# The host programs are built on the library: any Go source may matter.
EXAMPLES_HOST_DEPS := $(or $(GO_SOURCES),$(shell find . -name '*.go' -not -path './build/*')) go.mod

.PHONY: demo examples example-fib example-cat example-server example-server-live example-transcoding

demo: $(WASMSR)
	@$(EXAMPLES_ENV) bash scripts/demo.sh

examples: example-fib example-cat example-server

# Instrumenting, with the default options.
$(EXAMPLES_OUT)/%.sr.wasm: $(EXAMPLES_OUT)/%.wasm $(WASMSR)
	$(WASMSR) instrument $< -o $@

# ---- fib: C, so that every frame shows n in a local -------------------------

# -O1 keeps fib's two recursive calls; -O2 turns one of them into a loop.
# Compiling and linking are separate steps, as in testdata/testdata.mk:
# clang linking with -O runs wasm-opt when it finds it on PATH.
$(EXAMPLES_OUT)/fib/fib.wasm: examples/fib/guest/fib.c $(EXAMPLES_MK)
	@command -v $(CLANG) >/dev/null 2>&1 || { \
	  echo >&2 "example-fib: C compiler '$(CLANG)' not found. Install clang, lld, wasi-libc and libclang-rt-dev-wasm32 (Debian/Ubuntu; make test does), or set CLANG=/path/to/clang."; \
	  exit 1; }
	@test -f $(WASI_SYSROOT)/lib/wasm32-wasi/libc.a || { \
	  echo >&2 "example-fib: wasi-libc not found under WASI_SYSROOT=$(WASI_SYSROOT) (no lib/wasm32-wasi/libc.a). Install wasi-libc, or set WASI_SYSROOT."; \
	  exit 1; }
	@mkdir -p $(@D)
	$(CLANG) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -O1 -Wall -c $< -o $(@:.wasm=.o)
	$(CLANG) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -Wl,--strip-debug $(@:.wasm=.o) -o $@

example-fib: $(WASMSR) $(EXAMPLES_OUT)/fib/fib.sr.wasm
	@$(EXAMPLES_ENV) bash examples/fib/run.sh $(EXAMPLES_OUT)/fib

# ---- cat: Go --------------------------------------------------------------

$(EXAMPLES_OUT)/cat/cat.wasm: $(wildcard examples/cat/guest/*.go) $(EXAMPLES_GO_DEPS)
	@mkdir -p $(@D)
	$(EXAMPLES_WASI_GO) -o $@ ./examples/cat/guest

example-cat: $(WASMSR) $(EXAMPLES_OUT)/cat/cat.sr.wasm
	@$(EXAMPLES_ENV) bash examples/cat/run.sh $(EXAMPLES_OUT)/cat

# ---- server: a Go guest, and a Go host on the hostrt library ----------------

$(EXAMPLES_OUT)/server/server.wasm: $(wildcard examples/server/guest/*.go) $(EXAMPLES_GO_DEPS)
	@mkdir -p $(@D)
	$(EXAMPLES_WASI_GO) -o $@ ./examples/server/guest

$(EXAMPLES_OUT)/server/host: $(EXAMPLES_HOST_DEPS)
	@mkdir -p $(@D)
	$(GO) build -o $@ ./examples/server/host

example-server: $(EXAMPLES_OUT)/server/server.sr.wasm $(EXAMPLES_OUT)/server/host
	@bash examples/server/run.sh $(EXAMPLES_OUT)/server

# FROM=snapshot.bin restores (relative to build/examples/server).
example-server-live: $(EXAMPLES_OUT)/server/server.sr.wasm $(EXAMPLES_OUT)/server/host
	cd $(EXAMPLES_OUT)/server && ./host --module server.sr.wasm $(if $(FROM),--from-snapshot $(FROM))

# ---- transcoding: FFmpeg --------------------------------------------------

# scripts/build-ffmpeg.sh knows when to rebuild (it caches by its own
# content, the source and clang), so it always runs; warm, it only copies.
example-transcoding: $(WASMSR)
	bash scripts/build-ffmpeg.sh $(BUILD)/ffmpeg
	@$(EXAMPLES_ENV) bash examples/transcoding/run.sh $(BUILD)/ffmpeg/ffmpeg_g.wasm $(EXAMPLES_OUT)/transcoding
