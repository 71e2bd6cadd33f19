#!/usr/bin/env bash
# bench-hostrt.sh measures hostrt's pauses and restores on the numbers
# README.md promises, with hostrt/bench_test.go:
#
#   - pause time (snapshot request -> unwound, captured, rewound, running
#     again) and snapshot size for 16, 64, 256 and 1024 MiB of live memory, beside
#     a plain copy() of the same memory in the same run (target: pause <= 2x
#     the copy);
#   - restore-to-running time of gofmt (instrumented) from a snapshot file
#     with a warm compilation cache (target: <= 300 ms).
#
#   scripts/bench-hostrt.sh
#
# Environment: BENCH_COUNT (pauses or restores per size, default 5). It
# builds the guests (make testdata) if needed, prints machine information
# and markdown tables on stdout, and the raw `go test -bench` output on
# stderr. Run it on an otherwise idle machine: the load average is printed
# before and after.
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${BENCH_COUNT:-5}
make -s build/testdata/bench/memhog.wasm build/testdata/go/gofmt.wasm >&2

echo "## hostrt benchmarks"
echo
echo "- $(go version | cut -d' ' -f3-), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

raw=$(WASMSR_REQUIRE_CORPUS=1 go test ./hostrt -run '^$' -bench 'Pause|RestoreGofmt' -benchtime "${COUNT}x" -timeout 20m)
echo "$raw" >&2
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# metric NAME LINE: the value before the unit NAME in a benchmark line.
metric() { awk -v m="$1" '{ for (i = 2; i <= NF; i++) if ($i == m) printf "%s", $(i-1) }' <<<"$2"; }

echo
echo "### Pause ($COUNT pauses per size after the first)"
echo
echo "| live memory | pause | first pause | capture | copy() | copy() into new memory | pause / copy() | snapshot | encode |"
echo "|---|---|---|---|---|---|---|---|---|"
for size in 16 64 256 1024; do
	line=$(grep "^BenchmarkPause/${size}MiB" <<<"$raw")
	pause=$(metric pause-ms "$line")
	copy=$(metric copy-ms "$line")
	printf '| %s MiB | %s ms | %s ms | %s ms | %s ms | %s ms | %.1fx | %s MiB | %s ms |\n' "$size" \
		"$pause" "$(metric first-pause-ms "$line")" "$(metric capture-ms "$line")" "$copy" \
		"$(metric fresh-copy-ms "$line")" "$(awk -v p="$pause" -v c="$copy" 'BEGIN { print p / c }')" \
		"$(metric snapshot-MiB "$line")" "$(metric encode-ms "$line")"
done

echo
echo "### Restore gofmt to running ($COUNT restores)"
echo
echo "| compilation cache | load snapshot + module | restore job | to running |"
echo "|---|---|---|---|"
for kind in disk-cache process-cache; do
	line=$(grep "^BenchmarkRestoreGofmt/$kind" <<<"$raw")
	printf '| %s | %s ms | %s ms | %s ms |\n' "$kind" "$(metric load-ms "$line")" "$(metric restore-ms "$line")" "$(metric to-running-ms "$line")"
done
