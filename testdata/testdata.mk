# testdata.mk builds the guest test programs (see internal/corpus) into
# build/testdata. Include it from the top-level Makefile; paths are relative
# to the repository root, where make runs.
#
#   make testdata              build everything
#   make build/testdata/c/fib.wasm
#
# Adding a C program: put NAME.c in testdata/c, add NAME to
# TESTDATA_C_PROGRAMS (and per-program flags to TESTDATA_CFLAGS_NAME if
# needed), and add its expected stdout as testdata/c/NAME.stdout.
# Adding a Go program: put it in testdata/go/NAME/main.go with a
# //go:build wasip1 line, add NAME to TESTDATA_GO_PROGRAMS and add
# testdata/go/NAME/stdout.

CLANG ?= clang
WASI_SYSROOT ?= /usr
GO ?= go

TESTDATA_C_PROGRAMS := recursion loops funcptr floats simd multivalue files tightloop fib exitcode
TESTDATA_GO_PROGRAMS := goroutines compute

TESTDATA_OUT := build/testdata
TESTDATA_MK := $(lastword $(MAKEFILE_LIST))

# Compiling and linking are separate steps on purpose: when clang links with
# an -O flag and finds binaryen's wasm-opt on PATH, it silently runs
# wasm-opt on the output (dropping the name section, changing the code), so
# the result would depend on what else is installed. Linking without -O gives
# plain clang+wasm-ld output. DWARF (mostly from wasi-libc) is stripped; the
# name section is kept.
TESTDATA_CFLAGS := --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -std=c11 -O2 -Wall -Wextra
TESTDATA_LDFLAGS := --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -Wl,--strip-debug
TESTDATA_CFLAGS_simd := -msimd128
# Multi-value returns of structs (clang 14 calls this ABI experimental).
TESTDATA_CFLAGS_multivalue := -mmultivalue -Xclang -target-abi -Xclang experimental-mv

TESTDATA_C_WASM := $(TESTDATA_C_PROGRAMS:%=$(TESTDATA_OUT)/c/%.wasm)
TESTDATA_GO_WASM := $(TESTDATA_GO_PROGRAMS:%=$(TESTDATA_OUT)/go/%.wasm)
TESTDATA_GOFMT := $(TESTDATA_OUT)/go/gofmt.wasm

.PHONY: testdata testdata-c testdata-go testdata-crash testdata-e2e testdata-debug
testdata: testdata-c testdata-go testdata-crash testdata-e2e testdata-debug
testdata-c: $(TESTDATA_C_WASM)
testdata-go: $(TESTDATA_GO_WASM) $(TESTDATA_GOFMT)

define testdata_check_clang
	@command -v $(CLANG) >/dev/null 2>&1 || { \
	  echo >&2 "testdata: C compiler '$(CLANG)' not found. Install clang, lld, wasi-libc and libclang-rt-dev-wasm32 (Debian/Ubuntu), or set CLANG=/path/to/clang."; \
	  exit 1; }
	@test -f $(WASI_SYSROOT)/lib/wasm32-wasi/libc.a || { \
	  echo >&2 "testdata: wasi-libc not found under WASI_SYSROOT=$(WASI_SYSROOT) (no lib/wasm32-wasi/libc.a). Install wasi-libc, or set WASI_SYSROOT."; \
	  exit 1; }
endef

$(TESTDATA_OUT)/c/%.wasm: testdata/c/%.c $(TESTDATA_MK)
	$(testdata_check_clang)
	@mkdir -p $(@D)
	$(CLANG) $(TESTDATA_CFLAGS) $(TESTDATA_CFLAGS_$*) -c $< -o $(@:.wasm=.o)
	$(CLANG) $(TESTDATA_LDFLAGS) $(TESTDATA_CFLAGS_$*) $(@:.wasm=.o) -o $@

# The Go version is a dependency too (through GOROOT/VERSION, if present).
TESTDATA_GOROOT := $(shell $(GO) env GOROOT 2>/dev/null)
TESTDATA_GO_DEPS := go.mod $(wildcard go.sum) $(TESTDATA_MK) $(wildcard $(TESTDATA_GOROOT)/VERSION)
TESTDATA_GO_BUILD = GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildvcs=false

$(TESTDATA_GO_WASM): $(TESTDATA_OUT)/go/%.wasm: $(TESTDATA_GO_DEPS)
	@mkdir -p $(@D)
	$(TESTDATA_GO_BUILD) -o $@ ./testdata/go/$*
# Each Go program also depends on its own sources.
$(foreach p,$(TESTDATA_GO_PROGRAMS),$(eval $(TESTDATA_OUT)/go/$(p).wasm: $(wildcard testdata/go/$(p)/*.go)))

# gofmt from the Go distribution: a large real-world Go program.
$(TESTDATA_GOFMT): $(TESTDATA_MK) $(wildcard $(TESTDATA_GOROOT)/VERSION)
	@mkdir -p $(@D)
	$(TESTDATA_GO_BUILD) -o $@ cmd/gofmt

# Guests of the crash-recovery and cross-process tests (cmd/wasmsr/e2e_test.go)
# and of hostrt's benchmarks. They live outside testdata/c and testdata/go,
# whose programs corpus runs in every test: these run for seconds, or forever.
TESTDATA_CRASH := $(TESTDATA_OUT)/crash/crash-c.wasm $(TESTDATA_OUT)/crash/crash-go.wasm
TESTDATA_BENCH_PROGRAMS := memhog
TESTDATA_BENCH := $(TESTDATA_BENCH_PROGRAMS:%=$(TESTDATA_OUT)/bench/%.wasm)

testdata-crash: $(TESTDATA_CRASH) $(TESTDATA_BENCH)

$(TESTDATA_OUT)/crash/crash-c.wasm: testdata/crash/crash.c $(TESTDATA_MK)
	$(testdata_check_clang)
	@mkdir -p $(@D)
	$(CLANG) $(TESTDATA_CFLAGS) -c $< -o $(@:.wasm=.o)
	$(CLANG) $(TESTDATA_LDFLAGS) $(@:.wasm=.o) -o $@

$(TESTDATA_OUT)/crash/crash-go.wasm: $(wildcard testdata/crash/go/*.go) $(TESTDATA_GO_DEPS)
	@mkdir -p $(@D)
	$(TESTDATA_GO_BUILD) -o $@ ./testdata/crash/go

$(TESTDATA_BENCH): $(TESTDATA_OUT)/bench/%.wasm: testdata/bench/%.c $(TESTDATA_MK)
	$(testdata_check_clang)
	@mkdir -p $(@D)
	$(CLANG) $(TESTDATA_CFLAGS) -c $< -o $(@:.wasm=.o)
	$(CLANG) $(TESTDATA_LDFLAGS) $(@:.wasm=.o) -o $@

# Other guests of cmd/wasmsr's end-to-end tests: they wait for input, so
# they stay out of testdata/c too.
TESTDATA_E2E_PROGRAMS := echo preview1
TESTDATA_E2E := $(TESTDATA_E2E_PROGRAMS:%=$(TESTDATA_OUT)/e2e/%.wasm)

testdata-e2e: $(TESTDATA_E2E)

$(TESTDATA_E2E): $(TESTDATA_OUT)/e2e/%.wasm: testdata/e2e/%.c $(TESTDATA_MK)
	$(testdata_check_clang)
	@mkdir -p $(@D)
	$(CLANG) $(TESTDATA_CFLAGS) -c $< -o $(@:.wasm=.o)
	$(CLANG) $(TESTDATA_LDFLAGS) $(@:.wasm=.o) -o $@

# preview1.c's counterpart through Rust's standard library, built by
# Debian's rustc and libstd-rust-dev-wasm32 (rustup's rustc, if it comes
# first on PATH, may lack the target).
RUSTC ?= /usr/bin/rustc
TESTDATA_RUST_E2E := $(TESTDATA_OUT)/e2e/preview1-rs.wasm
testdata-e2e: $(TESTDATA_RUST_E2E)

$(TESTDATA_RUST_E2E): testdata/e2e/preview1.rs $(TESTDATA_MK)
	@command -v $(RUSTC) >/dev/null 2>&1 && $(RUSTC) --print target-list | grep -qx wasm32-wasi || { \
	  echo >&2 "testdata: $(RUSTC) cannot build for wasm32-wasi. Install rustc and libstd-rust-dev-wasm32 (Debian), or set RUSTC."; \
	  exit 1; }
	@mkdir -p $(@D)
	$(RUSTC) --edition 2021 --target wasm32-wasi -O -C strip=debuginfo -o $@ $<

# Programs that keep their DWARF (and wasi-libc's), for the tests of debug
# info through the rewrite (issue 17): built with -g, at -O0 and -O2, in
# clang's default DWARF 4 and in DWARF 5 (whose lines.c unit sits beside
# wasi-libc's DWARF 4 ones).
TESTDATA_DEBUG_VARIANTS := g O2 g-dwarf5 O2-dwarf5
TESTDATA_DEBUG := $(TESTDATA_DEBUG_VARIANTS:%=$(TESTDATA_OUT)/debug/lines-%.wasm)
TESTDATA_DEBUG_CFLAGS := --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -std=c11 -g -Wall -Wextra
TESTDATA_DEBUG_CFLAGS_g := -O0
TESTDATA_DEBUG_CFLAGS_O2 := -O2
TESTDATA_DEBUG_CFLAGS_g-dwarf5 := -O0 -gdwarf-5
TESTDATA_DEBUG_CFLAGS_O2-dwarf5 := -O2 -gdwarf-5

testdata-debug: $(TESTDATA_DEBUG)

$(TESTDATA_DEBUG): $(TESTDATA_OUT)/debug/lines-%.wasm: testdata/debug/lines.c $(TESTDATA_MK)
	$(testdata_check_clang)
	@mkdir -p $(@D)
	$(CLANG) $(TESTDATA_DEBUG_CFLAGS) $(TESTDATA_DEBUG_CFLAGS_$*) -c $< -o $(@:.wasm=.o)
	$(CLANG) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) $(@:.wasm=.o) -o $@
