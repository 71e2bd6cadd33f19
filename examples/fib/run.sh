#!/usr/bin/env bash
# run.sh is `make example-fib`: the seed's fib(9), then fib(42) paused in
# the middle of its recursion, the snapshot's call stack shown with every
# frame's n, and the program resumed from it.
#
#   examples/fib/run.sh DIR     (DIR holds fib.sr.wasm, built by examples.mk)
#
# Environment: WASMSR (default build/wasmsr), FIB_N (default 42).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
DIR=$(readlink -f "${1:?usage: run.sh DIR}")
MODULE=$DIR/fib.sr.wasm
N=${FIB_N:-42}
STEPS=4
need_wasmsr
rm -rf "$DIR/snapshots"

step "The seed's fib(9), instrumented, run by wasmsr"
showi "$WASMSR" exec "$MODULE" -- 9

step "fib($N), stopped by its first snapshot, 0.3 s in: deep in the recursion"
showi "$WASMSR" exec "$MODULE" --snapshot-every 300ms --stop-after-snapshot --snapshot-dir "$DIR/snapshots" -- "$N"

step "The execution state in the snapshot: every frame, outermost first, with its locals"
say "fib's local 0 is n. At a call, the values on the operand stack are saved in locals too:"
say "at the first call (fib(n-1)) local 3 is its argument n-1; at the second (fib(n-2)),"
say "local 3 is fib(n-1), already computed, and local 4 the argument n-2. The innermost frame"
say "was paused at its entry (a safepoint: every recursive function has one)."
snapshot=$(newest_snapshot "$DIR/snapshots") || die "no snapshot in $DIR/snapshots"
showi "$WASMSR" inspect "$snapshot"

step "Resume fib($N) from the snapshot in a new process"
showi "$WASMSR" resume "$DIR/snapshots"
