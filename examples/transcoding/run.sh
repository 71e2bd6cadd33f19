#!/usr/bin/env bash
# run.sh is `make example-transcoding`: the real FFmpeg, built for WASI,
# instrumented, encodes a generated video with a snapshot every 10 s; the
# process is killed with SIGKILL part way, the transcode resumes from the
# newest snapshot in a new process, and the video is compared byte for byte
# with the uninstrumented FFmpeg's on the stock wazero runtime.
#
#   examples/transcoding/run.sh FFMPEG.wasm DIR
#
# FFMPEG.wasm is build/ffmpeg/ffmpeg_g.wasm (scripts/build-ffmpeg.sh): the
# stripped ffmpeg.wasm plus the name section, so that inspect shows names.
# Environment: WASMSR (default build/wasmsr), CLIP (the lavfi test source;
# default testsrc2=duration=30:size=1280x720:rate=25, about 20 s of
# work uninstrumented here), EVERY (default 10s), KILL_AFTER (seconds after
# the first snapshot; default 4).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
FFMPEG=$(readlink -f "${1:?usage: run.sh FFMPEG.wasm DIR}")
DIR=${2:?usage: run.sh FFMPEG.wasm DIR}
mkdir -p "$DIR"
DIR=$(readlink -f "$DIR")
CLIP=${CLIP:-testsrc2=duration=30:size=1280x720:rate=25}
EVERY=${EVERY:-10s}
KILL_AFTER=${KILL_AFTER:-4}
STEPS=6
CACHE_DIR=${WASMSR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmsr}/wazero
need_wasmsr
rm -rf "$DIR/reference" "$DIR/run" "$DIR/snapshots"
mkdir -p "$DIR/reference" "$DIR/run"
ARGS=(-hide_banner -nostdin -stats_period 2 -f lavfi -i "$CLIP" -c:v mpeg4 -q:v 3 -y /out/a.avi)

step "Instrument FFmpeg ($(basename "$FFMPEG"), $(human "$(size_of "$FFMPEG")"))"
t=$(now_ms)
# FFmpeg calls WASI for every packet it writes, so pauses served at calls
# come soon enough, and safepoints at every loop header would cost about
# ten per cent more run time (bench.sh measures both).
showi "$WASMSR" instrument --safepoints calls "$FFMPEG" -o "$DIR/ffmpeg.sr.wasm"
say "done in $(secs $(($(now_ms) - t)))"

step "Reference: the uninstrumented FFmpeg on the stock wazero runtime (no wasmsr code)"
need_wazero
t=$(now_ms)
printf '    %s$ %s%s\n' "$DIM" "$(cmdline "$WAZERO" run -cachedir "$CACHE_DIR" -mount "$DIR/reference:/out" "$FFMPEG" "${ARGS[@]}")" "$RESET"
"$WAZERO" run -cachedir "$CACHE_DIR" -mount "$DIR/reference:/out" "$FFMPEG" "${ARGS[@]}" 2>&1 | indent_cr
ref_ms=$(($(now_ms) - t))
say "done in $(secs $ref_ms): reference/a.avi, $(human "$(size_of "$DIR/reference/a.avi")")"

step "The instrumented FFmpeg under wasmsr, a snapshot every $EVERY; kill -9 ${KILL_AFTER} s after the first"
t=$(now_ms)
BG_INDENT=indent_cr start_bg "$WASMSR" exec "$DIR/ffmpeg.sr.wasm" --snapshot-every "$EVERY" --snapshot-dir "$DIR/snapshots" \
	--mount "$DIR/run:/out" -- "${ARGS[@]}"
wait_snapshot "$DIR/snapshots" 1 "$BG_PID" || die "the transcode ended before its first snapshot: lengthen CLIP"
sleep "$KILL_AFTER"
kill -KILL "$BG_PID" 2>/dev/null || die "the transcode ended before the kill: lengthen CLIP"
wait "$BG_PIPE" 2>/dev/null || true
say "${BOLD}killed${RESET} after $(secs $(($(now_ms) - t))); run/a.avi has $(human "$(size_of "$DIR/run/a.avi")") of an unfinished video"

step "The newest snapshot: open files and where FFmpeg was"
newest=$(newest_snapshot "$DIR/snapshots") || die "no snapshot in $DIR/snapshots"
"$WASMSR" inspect "$newest" >"$DIR/inspect.txt"
head -n 4 "$DIR/inspect.txt" | indent
sed -n '/^OPEN FILES/,/^$/p' "$DIR/inspect.txt" | indent
say "The call stack, outermost first (full report with every frame's locals: $DIR/inspect.txt):"
sed -n '/^STACK/,/^$/p' "$DIR/inspect.txt" | grep -E '^  #' | indent

step "Resume from it in a new process"
t=$(now_ms)
printf '    %s$ %s%s\n' "$DIM" "$(cmdline "$WASMSR" resume "$DIR/snapshots" --mount "$DIR/run:/out")" "$RESET"
"$WASMSR" resume "$DIR/snapshots" --mount "$DIR/run:/out" 2>&1 | indent_cr
say "done in $(secs $(($(now_ms) - t)))"

step "Compare"
ref=$(sha "$DIR/reference/a.avi")
got=$(sha "$DIR/run/a.avi")
say "sha256 $ref  reference/a.avi  (uninstrumented, uninterrupted, $(size_of "$DIR/reference/a.avi") bytes)"
say "sha256 $got  run/a.avi        (instrumented, killed, resumed, $(size_of "$DIR/run/a.avi") bytes)"
cmp -s "$DIR/reference/a.avi" "$DIR/run/a.avi" ||
	die "the videos differ: $(cmp "$DIR/reference/a.avi" "$DIR/run/a.avi" 2>&1 || true)"
pass "FFmpeg's output across a kill -9 and a resume is byte-identical to the uninstrumented run's"
