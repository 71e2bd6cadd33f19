#!/usr/bin/env bash
# bench-ab.sh compares the run-time cost of two versions of the rewrite on
# one program of the corpus (gofmt unless AB_PROGRAM names another of
# scripts/corpus-programs.sh), in paired rounds: each round runs the
# original, then the module
# each version made, and divides. This machine type's speed drifts by up to
# 20 % within an hour, which moves a single run's overhead by 5 to 10
# points; ratios taken within one round cancel most of the drift, and the
# median over rounds resolves a point or two.
#
#   scripts/bench-ab.sh REV_A REV_B [WASMSR_INSTRUMENT_FLAGS...]
#
# REV_A and REV_B are git revisions, or "." for the working tree. Extra
# arguments go to `wasmsr instrument` (for example --safepoints=calls).
# Environment: AB_PROGRAM (default gofmt); AB_ROUNDS (default 8); AB_PADS,
# paddings to run every module
# under (default "0"; "0 1 2 3" for four: see internal/bench/cmd/padwasm,
# since where wazero happens to place a hot loop moves a run by up to 25
# points, the same for every round). It prints, for each version, the
# module's size and the quartiles of its run time over the original's
# under the same padding in the same round, over all rounds and paddings;
# intermediate files go to build/bench-ab/.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: scripts/bench-ab.sh REV_A REV_B [instrument flags...]" >&2
	exit 2
fi
LIB_NAME=bench-ab
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/corpus-programs.sh"
cd "$REPO_ROOT"
A=$1 B=$2
shift 2
ROUNDS=${AB_ROUNDS:-8}
PADS=${AB_PADS:-0}
PROGRAM=${AB_PROGRAM:-gofmt}
OUT=build/bench-ab
program "$PROGRAM"

[ -f "$INPUT" ] || $MISSING >&2
mkdir -p "$OUT/cache" "$OUT/out"
go build -o "$OUT/runwasm" ./internal/bench/cmd/runwasm
go build -o "$OUT/padwasm" ./internal/bench/cmd/padwasm

# build NAME REV: the wasmsr command of revision REV, as $OUT/wasmsr-NAME.
build() {
	local name=$1 rev=$2
	if [ "$rev" = . ]; then
		go build -o "$OUT/wasmsr-$name" ./cmd/wasmsr
		return
	fi
	local tree="$OUT/tree-$name"
	rm -rf "$tree"
	mkdir -p "$tree"
	git archive "$rev" | tar -x -C "$tree"
	(cd "$tree" && go build -o "../wasmsr-$name" ./cmd/wasmsr)
	rm -rf "$tree"
}

cp "$INPUT" "$OUT/original.wasm"
for v in a b; do
	rev=$A
	[ $v = b ] && rev=$B
	log "building $v ($rev) and instrumenting $PROGRAM"
	build $v "$rev"
	"$OUT/wasmsr-$v" instrument "$INPUT" -o "$OUT/$v.wasm" "$@" 2>"$OUT/$v.log"
done

for p in $PADS; do
	for m in original a b; do
		"$OUT/padwasm" -n "$p" "$OUT/$m.wasm" "$OUT/$m.pad$p.wasm"
	done
done

# run MODULE: CPU seconds (user + system of the runner) of the program's
# workload (corpus-programs.sh): the machine is shared, and CPU time is
# what other jobs disturb least.
run() {
	local mounts=(-mount "$REPO_ROOT/$OUT/out:/out") m
	for m in "${MOUNTS[@]}"; do
		mounts+=(-mount "$m")
	done
	"$OUT/runwasm" -cachedir "$OUT/cache" -times "$OUT/times" "${mounts[@]}" "$OUT/$1.wasm" "${ARGS[@]}" >/dev/null
	awk '{print $2 + $3}' "$OUT/times"
}
for p in $PADS; do
	for m in original a b; do run $m.pad$p >/dev/null; done # compile into the cache
done

declare -A ratios
for ((r = 1; r <= ROUNDS; r++)); do
	log "round $r of $ROUNDS"
	for p in $PADS; do
		base=$(run original.pad$p)
		for v in a b; do
			ratios[$v]+=" $(awk -v t="$(run $v.pad$p)" -v b="$base" 'BEGIN {print t / b}')"
		done
	done
done

echo "$PROGRAM, $ROUNDS paired rounds, paddings $PADS; instrument flags: ${*:-(defaults)}"
echo "| version | revision | size | overhead: lower quartile | median | upper quartile |"
echo "|---|---|---:|---:|---:|---:|"
for v in a b; do
	rev=$A
	[ $v = b ] && rev=$B
	printf '| %s | %s | %d |' $v "$rev" "$(stat -c %s "$OUT/$v.wasm")"
	printf '%s\n' ${ratios[$v]} | sort -g | awk '{r[NR] = $1}
		END {
			q = int((NR + 3) / 4); m = int((NR + 1) / 2); u = NR + 1 - q
			printf " %+.1f %% | %+.1f %% | %+.1f %% |\n", 100 * (r[q] - 1), 100 * (r[m] - 1), 100 * (r[u] - 1)
		}'
done
