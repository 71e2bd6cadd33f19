#!/usr/bin/env bash
# run.sh is `make example-cat`: a WASI program copies a file line by line
# (numbering the lines, like cat -n, and slowly), is stopped by a snapshot
# half way with both files open, and is resumed: in place, and then
# "elsewhere", in a directory holding only the input, from a snapshot that
# carries the half-written output file (--snapshot-files).
#
#   examples/cat/run.sh DIR     (DIR holds cat.sr.wasm, built by examples.mk)
#
# Environment: WASMSR (default build/wasmsr), LINES (default 3000).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
DIR=$(readlink -f "${1:?usage: run.sh DIR}")
MODULE=$DIR/cat.sr.wasm
LINES=${LINES:-3000}
STEPS=5
need_wasmsr
rm -rf "$DIR/data" "$DIR/elsewhere" "$DIR/snapshots" "$DIR/snapshots-files"
mkdir -p "$DIR/data" "$DIR/elsewhere"
CAT_ARGS=(-n -delay 1ms -o /data/out.txt /data/in.txt)

step "An input file, and what cat -n makes of it on the host"
seq -f 'line %g: the quick brown fox jumps over the lazy dog' 1 "$LINES" >"$DIR/data/in.txt"
cat -n "$DIR/data/in.txt" >"$DIR/expected.txt"
say "data/in.txt: $LINES lines, $(size_of "$DIR/data/in.txt") bytes; expected.txt: $(size_of "$DIR/expected.txt") bytes"

step "Copy it with the WASI cat (1 ms per line), stopped by its first snapshot, after 1 s"
say "The program sees the host directory data/ as /data (--mount)."
showi "$WASMSR" exec "$MODULE" --mount "$DIR/data:/data" --snapshot-every 1s --stop-after-snapshot \
	--snapshot-dir "$DIR/snapshots" -- "${CAT_ARGS[@]}"
say "data/out.txt so far: $(wc -l <"$DIR/data/out.txt") lines, $(size_of "$DIR/data/out.txt") bytes; its last line:"
tail -n 1 "$DIR/data/out.txt" | indent

step "The snapshot's open files: which, open how, and how far read or written"
snapshot=$(newest_snapshot "$DIR/snapshots") || die "no snapshot in $DIR/snapshots"
printf '    %s$ %s%s\n' "$DIM" "$(cmdline "$WASMSR" inspect "$snapshot")" "$RESET"
"$WASMSR" inspect "$snapshot" >"$DIR/inspect.txt"
sed -n '/^OPEN FILES/,/^$/p' "$DIR/inspect.txt" | indent
say "in.txt is read in 4 KiB blocks, ahead of the last line written (the rest of the block"
say "is in the program's memory, in the snapshot too); out.txt is written a line at a time."
say "Where the program was paused (it spends most of its time in time.Sleep, in Go's scheduler):"
sed -n '/^STACK/,/^$/p' "$DIR/inspect.txt" | grep -E '^  #' | indent

step "Resume it in place: the files are reopened at their offsets"
showi "$WASMSR" resume "$DIR/snapshots" --mount "$DIR/data:/data"
cmp "$DIR/expected.txt" "$DIR/data/out.txt" || die "data/out.txt differs from cat -n's output"
say "data/out.txt is identical to cat -n's output ($(sha "$DIR/data/out.txt"))"

step "Resume elsewhere: a directory with only the input, and the output file in the snapshot"
say "--snapshot-files embeds the contents of the files open for writing: the resume can go"
say "where the disk is not shared (here: elsewhere/, holding nothing but a copy of in.txt)."
rm "$DIR/data/out.txt"
showi "$WASMSR" exec "$MODULE" --mount "$DIR/data:/data" --snapshot-every 1s --stop-after-snapshot \
	--snapshot-files --snapshot-dir "$DIR/snapshots-files" -- "${CAT_ARGS[@]}"
cp "$DIR/data/in.txt" "$DIR/elsewhere/in.txt"
snapshot=$(newest_snapshot "$DIR/snapshots-files") || die "no snapshot in $DIR/snapshots-files"
"$WASMSR" inspect "$snapshot" | grep 'file /data/out.txt' | indent
showi "$WASMSR" resume "$DIR/snapshots-files" --mount "$DIR/elsewhere:/data"
cmp "$DIR/expected.txt" "$DIR/elsewhere/out.txt" || die "elsewhere/out.txt differs from cat -n's output"
say "elsewhere/out.txt is identical to cat -n's output ($(sha "$DIR/elsewhere/out.txt"))"

pass "the copies made across a snapshot and a resume, in place and elsewhere, equal cat -n's output"
