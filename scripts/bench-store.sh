#!/usr/bin/env bash
# bench-store.sh measures the snapshot store against issue 15's targets,
# with hostrt/store_bench_test.go and examples/transcoding's
# BenchmarkPeriodicSnapshots:
#
#   - what a periodic snapshot writes against a full one: FFmpeg with a
#     snapshot every second (its output file carried in each, and memory
#     only), and 1 GiB of memory with 1 % of its pages changed between
#     snapshots, in a directory and in a versitygw bucket;
#   - restoring 256 MiB from a directory and from versitygw, beside a
#     copy() of the memory;
#   - forking: one loaded 64 MiB snapshot restored into new jobs, beside a
#     copy() (BenchmarkFork);
#   - the pause of a job with 1 GiB of live memory, beside a copy()
#     (BenchmarkPause/1024MiB; the store writes after the job runs again).
#
#   scripts/bench-store.sh
#
# Environment: BENCH_COUNT (snapshots, restores or pauses per case,
# default 3; forks: ten times as many).
# Needs versitygw (make versitygw) and FFmpeg (make ffmpeg). Markdown on
# stdout, the raw `go test -bench` output on stderr.
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${BENCH_COUNT:-3}

echo "## Snapshot store benchmarks"
echo
echo "- $(go version | cut -d' ' -f3-), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
store=$(WASMSR_REQUIRE_S3=1 WASMSR_REQUIRE_CORPUS=1 go test ./hostrt -run '^$' -bench 'StoreIncremental|StoreRestore|Pause/1024MiB' -benchtime "${COUNT}x" -timeout 30m)
echo "$store" >&2
# A job's first restore reads the module's code from the compilation
# cache's file; the later ones are what a fork costs.
fork=$(WASMSR_REQUIRE_CORPUS=1 go test ./hostrt -run '^$' -bench 'Fork' -benchtime "$((COUNT * 10))x" -timeout 30m)
echo "$fork" >&2
ffmpeg=$(WASMSR_REQUIRE_FFMPEG=1 go test ./examples/transcoding -run '^$' -bench PeriodicSnapshots -benchtime 1x -timeout 30m)
echo "$ffmpeg" >&2
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# metric NAME LINE: the value before the unit NAME in a benchmark line.
metric() { awk -v m="$1" '{ for (i = 2; i <= NF; i++) if ($i == m) printf "%s", $(i-1) }' <<<"$2"; }
line() { grep -E "^Benchmark$1-[0-9]+ " <<<"$2" || true; }

echo
echo "| case | full | periodic | periodic / full | target |"
echo "|---|---:|---:|---:|---|"
for variant in with-output-file memory-only; do
	l=$(line "PeriodicSnapshots/$variant" "$ffmpeg")
	echo "| FFmpeg, a snapshot every 1 s, $variant | | | $(metric periodic-% "$l") % | ≤ 25 % |"
done
for s in dir s3; do
	l=$(line "StoreIncremental/$s" "$store")
	echo "| 1 GiB, 1 % of pages changed, $s | $(metric full-MiB "$l") MiB | $(metric incremental-MiB "$l") MiB in $(metric write-ms "$l") ms | $(metric incremental-% "$l") % | ≤ 3 % |"
done
echo
echo "| restore 256 MiB | restore | copy() | restore / directory's |"
echo "|---|---:|---:|---:|"
dir=$(metric restore-ms "$(line StoreRestore/dir "$store")")
for s in dir s3; do
	l=$(line "StoreRestore/$s" "$store")
	echo "| $s | $(metric restore-ms "$l") ms | $(metric copy-ms "$l") ms | $(awk -v a="$(metric restore-ms "$l")" -v b="$dir" 'BEGIN {printf "%.2f×", a / b}') |"
done

echo
l=$(line Fork "$fork")
echo "Fork: $(metric restore-ms "$l") ms per job restored from a loaded $(metric memory-MiB "$l") MiB snapshot, copy() $(metric copy-ms "$l") ms."
l=$(line Pause/1024MiB "$store")
echo "Pause with 1 GiB of live memory: $(metric pause-ms "$l") ms, copy() $(metric copy-ms "$l") ms ($(awk -v p="$(metric pause-ms "$l")" -v c="$(metric copy-ms "$l")" 'BEGIN {printf "%.2f×", p / c}'))."
