# ffmpeg.mk: `make ffmpeg` builds the real FFmpeg command line program for
# wasm32-wasi into build/ffmpeg (ffmpeg.wasm stripped, ffmpeg_g.wasm with the
# name section), a large guest for trying wasmsr on. Include it from the
# top-level Makefile; paths are relative to the repository root.
#
# The work is done by scripts/build-ffmpeg.sh, which installs what it needs
# with apt-get and caches the result under $WASMSR_CACHE (default
# ~/.cache/wasmsr): the first run takes a few minutes, later runs only copy.
# The target is phony because the script, not make, knows when to rebuild.

FFMPEG_MK := $(lastword $(MAKEFILE_LIST))
FFMPEG_SCRIPT := $(dir $(FFMPEG_MK))build-ffmpeg.sh
FFMPEG_OUT := build/ffmpeg

.PHONY: ffmpeg

ffmpeg:
	bash $(FFMPEG_SCRIPT) $(FFMPEG_OUT)
