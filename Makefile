# wasmsr build, test and demo entry points. `make test` is what CI runs: it
# installs what the tests need on a fresh Debian machine, builds the test
# programs, and runs every Go test.

GO ?= go
BUILD := build
WASMSR := $(BUILD)/wasmsr
# Debian packages the tests use: clang and wasi-libc build the C test
# programs, wabt validates encoder output, binaryen is the comparison baseline.
APT_PACKAGES := clang lld wasi-libc libclang-rt-dev-wasm32 wabt binaryen llvm
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*') go.mod go.sum

.PHONY: all build deps test demo bench fuzz clean

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

test: deps testdata
	WASMSR_REQUIRE_CORPUS=1 $(GO) test -timeout 30m ./...

# demo builds the example guest for WASI with Go alone and describes it.
demo: $(WASMSR) $(BUILD)/examples/render.wasm
	$(WASMSR) inspect $(BUILD)/examples/render.wasm

$(BUILD)/examples/render.wasm: $(wildcard examples/render/*.go)
	@mkdir -p $(@D)
	GOOS=wasip1 GOARCH=wasm $(GO) build -o $@ ./examples/render

bench: testdata
	$(GO) test -run '^$$' -bench . -benchmem ./wasm/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./wasm/

clean:
	rm -rf $(BUILD)

include testdata/testdata.mk
