#!/usr/bin/env bash
# profile.sh runs a module on wazero's optimizing compiler under `perf
# record -e cpu-clock` (a timer, so it works where the machine offers no
# hardware counters) and says which of the module's functions the samples
# fell in: where a module's run time goes, function by function, with the
# same function indices as scripts/spills.sh -f (the rewrite keeps them).
#
#   scripts/profile.sh [-n N] [-mount HOST[:GUEST][:ro]]... MODULE.wasm [ARG...]
#
# It prints the N (default 25) functions with the most samples, with their
# share of all the run's samples (every function's count, and the run's,
# go to build/profile/CONTENT.samples, to compare two runs); the rest of
# the samples are wazero's and Go's own (compiling is done before, into
# build/compiled/: lib.sh, compiled_code). perf sees
# wazero's code only as anonymous memory: the script finds where the
# module's code was mapped in /proc/PID/maps while it runs (the mapping of
# the code's size, codemap's "# code" line), so a run must last a second
# or so. Needs perf (linux-perf, installed if missing).
set -euo pipefail
LIB_NAME=profile
source "$(dirname "$0")/lib.sh"

usage="usage: scripts/profile.sh [-n N] [-mount HOST[:GUEST][:ro]]... MODULE.wasm [ARG...]"
top=25
mounts=()
while [ $# -gt 0 ]; do
	case $1 in
	-n)
		[ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$usage"
		top=$2
		shift 2
		;;
	-mount)
		[ $# -ge 2 ] || die "$usage"
		mounts+=(-mount "$2")
		shift 2
		;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || die "$usage"
module=$1
shift
[ -f "$module" ] || die "$module: no such file"
command -v perf >/dev/null || apt_install linux-perf

OUT=$REPO_ROOT/build/profile
mkdir -p "$OUT"
(cd "$REPO_ROOT" && go build -o "$OUT/runwasm" ./internal/bench/cmd/runwasm)
compiled_code "$module"
out=$OUT/$(basename "$COMPILED_DIR")
read -r _ _ code length < <(head -1 "$COMPILED_DIR.map")
page=$(getconf PAGESIZE)
mapping=$(((length + page - 1) / page * page))

perf record -q -e cpu-clock -F 999 -o "$out.perf" -- "$OUT/runwasm" -cachedir "$COMPILED_DIR" "${mounts[@]}" "$module" "$@" >/dev/null &
perf_pid=$!
# The module's code: an anonymous executable mapping of its code's size.
base=
while kill -0 "$perf_pid" 2>/dev/null; do
	pid=$(pgrep -P "$perf_pid" -x runwasm || true)
	if [ -n "$pid" ]; then
		base=$(awk -v size="$mapping" "$AWK_HEX"'
			$2 == "r-xp" && NF == 5 { split($1, r, "-"); if (hex(r[2]) - hex(r[1]) == size) { print r[1]; exit } }' \
			"/proc/$pid/maps" 2>/dev/null || true)
		[ -n "$base" ] && break
	fi
	sleep 0.05
done
wait "$perf_pid" || die "$module: the run failed (perf record exit status $?)"
[ -n "$base" ] || die "$module: the run ended before its code was seen mapped; profile a longer run"

echo "| function | name | samples | share of the run's samples |"
echo "|---:|---|---:|---:|"
perf script -i "$out.perf" -F ip 2>/dev/null | awk -v map="$COMPILED_DIR.map" -v samples="$out.samples" -v base="$base" -v code="$code" -v codelen="$length" "$AWK_HEX"'
	BEGIN {
		while ((getline line < map) > 0) {
			if (line ~ /^#/) continue
			split(line, f, "\t")
			nf++; start[nf] = f[1] - code; idx[nf] = f[2]; name[nf] = f[3]
		}
		b = hex(base)
	}
	{
		total++
		off = hex($1) - b
		if (off < 0 || off >= codelen) next
		lo = 1; hi = nf
		while (lo < hi) { mid = int((lo + hi + 1) / 2); if (start[mid] <= off) lo = mid; else hi = mid - 1 }
		n[lo]++
	}
	END {
		printf "all\t-\t%d\n", total > samples
		for (k in n) {
			printf "%s\t%s\t%d\n", idx[k], name[k], n[k] > samples
			printf "%d\t| %s | %s | %d | %.1f %% |\n", n[k], idx[k], name[k], n[k], 100 * n[k] / total
		}
	}' |
	sort -t$'\t' -k1,1nr | head -n "$top" | cut -f2-
