# migrate.mk: `make example-migrate` runs the seed's ping-pong: two
# `wasmsr serve` hosts, A and B, on loopback ports, and a job that moves from
# one to the other every 2 s until it ends — FFmpeg encoding a clip when
# build/ffmpeg/ffmpeg.wasm exists (`make ffmpeg`), else examples/migrate/
# progress.c. Each host's lines are prefixed with its name; at the end the
# output file on the host where the job finished is compared with a run
# that never moved, and the moves' downtimes are summed up.
#
# Include it from the top-level Makefile; paths are relative to the
# repository root. MIGRATE_JOB=progress|ffmpeg picks the job,
# MIGRATE_EVERY the interval (default 2s).

MIGRATE_MK := $(lastword $(MAKEFILE_LIST))
MIGRATE_DIR := $(dir $(MIGRATE_MK))
MIGRATE_OUT := build/examples/migrate
MIGRATE_WASMSR := $(or $(WASMSR),build/wasmsr)
CLANG ?= clang
WASI_SYSROOT ?= /usr
GO ?= go

.PHONY: example-migrate example-migrate-progress

example-migrate: $(MIGRATE_WASMSR) $(MIGRATE_OUT)/progress.wasm
	bash $(MIGRATE_DIR)pingpong.sh $(MIGRATE_WASMSR) $(MIGRATE_OUT)

example-migrate-progress: $(MIGRATE_OUT)/progress.wasm

# Built as the test programs are (testdata/testdata.mk): compile and link
# apart, so that clang does not run wasm-opt on the output.
$(MIGRATE_OUT)/progress.wasm: $(MIGRATE_DIR)progress.c $(MIGRATE_MK)
	@mkdir -p $(@D)
	$(CLANG) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -std=c11 -O2 -Wall -Wextra -c $< -o $(@:.wasm=.o)
	$(CLANG) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -Wl,--strip-debug $(@:.wasm=.o) -o $@

# Standalone use (make -f examples/migrate/migrate.mk): build wasmsr too.
ifndef WASMSR
$(MIGRATE_WASMSR): FORCE
	$(GO) build -o $@ ./cmd/wasmsr
.PHONY: FORCE
FORCE:
endif
