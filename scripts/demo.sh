#!/usr/bin/env bash
# demo.sh is `make demo`: wasmsr's main job, end to end, with nothing but Go
# installed. It builds a Go program for WASI (examples/render: it draws the
# Mandelbrot set into a PNG, about 10 s of work), instruments it, renders
# the picture once without wasmsr as the reference, then renders it again
# under `wasmsr exec --snapshot-every 1s`, kills that process with SIGKILL
# part way, resumes the program from its newest snapshot in a new process,
# and checks that the two pictures are byte for byte the same.
#
#   scripts/demo.sh            (or: make demo)
#
# Environment: WASMSR (the wasmsr binary; default build/wasmsr, built if
# missing), GO, RENDER_ARGS (the renderer's flags), KILL_AFTER_SNAPSHOT
# (the kill comes this many seconds after the third snapshot; default 0.6),
# DEMO_OUT (where files go; default build/demo, emptied first).
set -euo pipefail
source "$(dirname "$0")/../examples/lib.sh"
cd "$REPO_ROOT"

OUT=${DEMO_OUT:-build/demo}
RENDER_ARGS=${RENDER_ARGS:-"-width 2560 -height 1920 -iterations 1000"}
KILL_AFTER_SNAPSHOT=${KILL_AFTER_SNAPSHOT:-0.6}
STEPS=7
# The compilation cache wasmsr uses (hostrt.DefaultCacheDir); the wazero
# command gets the same one, so that neither run compiles twice.
CACHE_DIR=${WASMSR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmsr}/wazero

rm -rf "$OUT"
mkdir -p "$OUT/reference" "$OUT/run"
# The mounts need absolute paths.
OUT_ABS=$(cd "$OUT" && pwd)
need_wasmsr

printf '%swasmsr demo%s: pause a running WebAssembly program anywhere, snapshot it, kill it,\n' "$BOLD" "$RESET"
printf 'and resume it in another process. The program: examples/render, which draws the\n'
printf 'Mandelbrot set into a PNG file (%s).\n' "$RENDER_ARGS"

step "Build the program for WASI with Go alone (GOOS=wasip1)"
GOOS=wasip1 GOARCH=wasm show "$GO" build -o "$OUT/render.wasm" ./examples/render
say "$OUT/render.wasm: $(human "$(size_of "$OUT/render.wasm")"), a plain WASI command"

step "Instrument it, so that it can unwind its call stack into memory and rewind it"
showi "$WASMSR" instrument "$OUT/render.wasm" -o "$OUT/render.sr.wasm"
say "$OUT/render.sr.wasm: $(human "$(size_of "$OUT/render.sr.wasm")"), still an ordinary WASI module"

step "Reference: the original, uninstrumented render.wasm on the stock wazero runtime"
say "(the wazero command line program, built from the wazero module wasmsr uses; no wasmsr"
say " code is involved in this run: it is the picture an uninterrupted run gives)"
need_wazero
t=$(now_ms)
showi "$WAZERO" run -cachedir "$CACHE_DIR" -mount "$OUT_ABS/reference:/out" "$OUT/render.wasm" \
	-o /out/mandelbrot.png $RENDER_ARGS
say "done in $(secs $(($(now_ms) - t))): $OUT/reference/mandelbrot.png"

step "Render it again under wasmsr with a snapshot every second, and kill -9 it part way"
t=$(now_ms)
start_bg "$WASMSR" exec "$OUT/render.sr.wasm" --snapshot-every 1s --snapshot-dir "$OUT/snapshots" \
	--mount "$OUT_ABS/run:/out" -- -o /out/mandelbrot.png $RENDER_ARGS
wait_snapshot "$OUT/snapshots" 3 "$BG_PID" ||
	die "the program ended before its third snapshot: see the output above"
sleep "$KILL_AFTER_SNAPSHOT"
kill -KILL "$BG_PID" 2>/dev/null || die "the program ended before the kill: make RENDER_ARGS larger"
wait "$BG_PIPE" 2>/dev/null || true
newest=$(newest_snapshot "$OUT/snapshots") || die "no snapshot in $OUT/snapshots"
say "${BOLD}kill -9 $BG_PID${RESET}, $KILL_AFTER_SNAPSHOT s after snapshot 3: the process is gone, and with it the rows"
say "it rendered after its newest snapshot. It wrote no picture ($OUT/run/: $(ls "$OUT/run" | wc -l) files)."
say "What is left is the snapshot directory (the newest 3 snapshots and a copy of the module):"
ls -l "$OUT/snapshots" | tail -n +2 | indent

step "Look inside the newest snapshot"
printf '    %s$ %s%s\n' "$DIM" "$(cmdline "$WASMSR" inspect "$newest")" "$RESET"
"$WASMSR" inspect "$newest" >"$OUT/inspect.txt"
head -n 5 "$OUT/inspect.txt" | indent
say "...its open files, and the paused call stack, outermost first, with every frame's locals"
say "(here only the frames; the full report is in $OUT/inspect.txt):"
sed -n '/^STACK/,/^$/p' "$OUT/inspect.txt" | grep -E '^(STACK|  #)' | indent

step "Resume the program in a new process from the newest snapshot"
say "(it goes on from the row it had reached at the snapshot; the program sees its files"
say " under the same path, /out, so resume mounts the directory again)"
t=$(now_ms)
showi "$WASMSR" resume "$OUT/snapshots" --mount "$OUT_ABS/run:/out"
say "done in $(secs $(($(now_ms) - t))): $OUT/run/mandelbrot.png"

step "Compare the pictures"
[ -f "$OUT/run/mandelbrot.png" ] || die "the resumed run wrote no picture"
ref=$(sha "$OUT/reference/mandelbrot.png")
got=$(sha "$OUT/run/mandelbrot.png")
say "sha256 $ref  reference/mandelbrot.png  (uninterrupted, original module, $(size_of "$OUT/reference/mandelbrot.png") bytes)"
say "sha256 $got  run/mandelbrot.png        (killed, resumed, $(size_of "$OUT/run/mandelbrot.png") bytes)"
if ! cmp -s "$OUT/reference/mandelbrot.png" "$OUT/run/mandelbrot.png"; then
	die "the pictures differ: $(cmp "$OUT/reference/mandelbrot.png" "$OUT/run/mandelbrot.png" 2>&1 || true)"
fi
pass "the picture rendered across a kill -9 and a resume is byte-identical to the uninterrupted run ($(secs $(($(now_ms) - T0))) in all)"
