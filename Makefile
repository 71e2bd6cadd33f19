# wasmsr build, test and demo entry points. `make test` is what CI runs: it
# installs what the tests need on a fresh Debian machine, builds the test
# programs, and runs every Go test.

GO ?= go
BUILD := build
WASMSR := $(BUILD)/wasmsr
# Debian packages the tests use: clang and wasi-libc build the C test
# programs, rustc and its wasm32-wasi std a Rust one (testdata/e2e/preview1.rs),
# wabt validates encoder output, binaryen is the comparison baseline,
# GNU time measures the peak memory of wasmsr on hostile snapshots.
APT_PACKAGES := clang lld wasi-libc libclang-rt-dev-wasm32 rustc libstd-rust-dev-wasm32 wabt binaryen llvm time
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*') go.mod go.sum

.PHONY: all build deps test bench fuzz clean versitygw

all: build

build: $(WASMSR)

$(WASMSR): $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/wasmsr

# deps installs the Debian packages that are missing, and the Go modules.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(GO) mod download

# The FFmpeg build is cached per machine (scripts/build-ffmpeg.sh): a few
# minutes the first time, a copy afterwards. The tests that need it fail
# rather than skip when it is required.
# versitygw, the S3-compatible server of the S3 store's tests, is built
# likewise once per machine (scripts/build-versitygw.sh); under make test
# the tests that need it fail rather than skip without it.
# The examples' tests build and run the wasmsr command in another process,
# which go test's result cache cannot see: they always run (-count=1), or a
# change to the rewrite could pass from the cache.
test: deps testdata ffmpeg corpus-nextpnr example-migrate-progress versitygw
	WASMSR_REQUIRE_CORPUS=1 WASMSR_REQUIRE_FFMPEG=1 WASMSR_REQUIRE_S3=1 $(GO) test -timeout 45m $$($(GO) list ./... | grep -v /examples/)
	WASMSR_REQUIRE_CORPUS=1 WASMSR_REQUIRE_FFMPEG=1 WASMSR_REQUIRE_S3=1 WASMSR_REQUIRE_NPM=1 $(GO) test -timeout 45m -count=1 ./examples/...

# bench measures what README.md reports: the Go benchmarks, instrument time,
# size and run-time cost beside wasm-opt --asyncify, pauses and restores,
# and FFmpeg's cost under snapshots and migration. Run it on an idle machine.
bench: testdata ffmpeg corpus versitygw
	$(GO) test -run '^$$' -bench . -benchmem ./wasm/ ./instrument/
	bash scripts/bench-instrument.sh
	bash scripts/bench-corpus.sh
	bash scripts/bench-hostrt.sh
	bash scripts/bench-store.sh
	bash examples/transcoding/bench.sh

# fuzz runs every fuzz target (each decoder of outside bytes, and the
# structure-aware ones that mutate decoded snapshots, WASI states, job
# frames and modules and re-encode them) for FUZZTIME. Their seed corpora
# (testdata/fuzz) run with the tests.
FUZZTIME ?= 60s
# Found in the sources, so that a new target cannot be left out.
FUZZ_TARGETS = $(shell grep -r --include='*_test.go' --exclude-dir=build -o '^func Fuzz[A-Za-z0-9_]*' . | \
	sed -E 's#^(.*)/[^/]*:func (.*)#\1/:\2#' | sort)
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t%%:*} $${t##*:}"; \
		$(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; \
	done

versitygw:
	GO=$(GO) bash scripts/build-versitygw.sh

clean:
	rm -rf $(BUILD)

include testdata/testdata.mk
include scripts/ffmpeg.mk
include scripts/corpus.mk
include examples/examples.mk
include examples/migrate/migrate.mk
