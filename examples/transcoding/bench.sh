#!/usr/bin/env bash
# bench.sh measures what wasmsr costs FFmpeg: wall and CPU time of one
# transcode, uninstrumented against instrumented, without and with
# snapshots every 10 s, and the size and pause of those snapshots.
#
#   examples/transcoding/bench.sh [FFMPEG.wasm]     (default build/ffmpeg/ffmpeg_g.wasm)
#
# Configurations, run in interleaved rounds so that a disturbance hits all
# of them alike, each with a warm compilation cache (one untimed run first):
#
#   plain      the uninstrumented module on the stock wazero CLI (build/wazero)
#   sr-wazero  the instrumented module on the stock wazero CLI: the cost of
#              the instrumented code alone, without wasmsr's runtime
#   sr-loops-wazero  the same, instrumented with --safepoints=loops: what
#              safepoints at every loop header would add
#   sr         the instrumented module under `wasmsr exec`, no snapshots
#   sr-snap    the same with --snapshot-every $EVERY
#   sr-migrate the same job started by `wasmsr exec` and moved between two
#              `wasmsr serve` hosts on loopback, A and B, every $EVERY (live
#              migration: the output file travels with the job)
#
# The instrumented module is made with --safepoints=$SAFEPOINTS (default
# calls, as examples/transcoding/run.sh does: FFmpeg calls WASI for every
# packet, so a pause never waits long for a call).
#
# Environment: WASMSR (default build/wasmsr), ROUNDS (default 3), CONFIGS
# (a subset of the above, plain first; default all), CLIP
# (default testsrc2=duration=40:size=1280x720:rate=25, about 20-30 s of
# work), EVERY (default 10s). Prints markdown tables; files go to
# build/bench-transcoding/. The load average is printed before and after:
# on a shared machine, trust the minimum and the CPU times more than the
# medians.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$REPO_ROOT"
FFMPEG=$(readlink -f "${1:-build/ffmpeg/ffmpeg_g.wasm}")
ROUNDS=${ROUNDS:-3}
CLIP=${CLIP:-testsrc2=duration=40:size=1280x720:rate=25}
EVERY=${EVERY:-10s}
SAFEPOINTS=${SAFEPOINTS:-calls}
OUT=$REPO_ROOT/build/bench-transcoding
CACHE_DIR=${WASMSR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmsr}/wazero
ARGS=(-hide_banner -nostdin -nostats -loglevel error -f lavfi -i "$CLIP" -c:v mpeg4 -q:v 3 -y /out/a.avi)
read -r -a CONFIGS <<<"${CONFIGS:-plain sr-wazero sr-loops-wazero sr sr-snap sr-migrate}"
[ "${CONFIGS[0]}" = plain ] || die "CONFIGS must start with plain (the reference output)"

[ -f "$FFMPEG" ] || die "$FFMPEG is missing: make ffmpeg"
need_wasmsr
need_wazero
rm -rf "$OUT"
mkdir -p "$OUT"
"$WASMSR" instrument --safepoints "$SAFEPOINTS" "$FFMPEG" -o "$OUT/ffmpeg.sr.wasm" 2>"$OUT/instrument.log"
if [[ " ${CONFIGS[*]} " == *" sr-loops-wazero "* ]]; then
	"$WASMSR" instrument --safepoints loops "$FFMPEG" -o "$OUT/ffmpeg.loops.wasm" 2>"$OUT/instrument-loops.log"
fi

# The two hosts sr-migrate moves the job between, for the whole run.
HOSTS=$OUT/hosts
HOST_PIDS=()
trap 'for p in "${HOST_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
if [[ " ${CONFIGS[*]} " == *" sr-migrate "* ]]; then
	mkdir -p "$HOSTS"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HOSTS/token"
	chmod 600 "$HOSTS/token"
	URL_A=http://127.0.0.1:${PORT_A:-7543} URL_B=http://127.0.0.1:${PORT_B:-7544}
	for h in A B; do
		if [ $h = A ]; then listen=${URL_A#http://} peer=$URL_B; else listen=${URL_B#http://} peer=$URL_A; fi
		mkdir -p "$HOSTS/$h/out"
		"$WASMSR" serve --name $h --listen "$listen" --peer "$peer" --token-file "$HOSTS/token" \
			--mount "$HOSTS/$h/out:/out" --state-dir "$HOSTS/$h/state" >"$HOSTS/$h.log" 2>&1 &
		HOST_PIDS+=($!)
	done
	for h in A B; do
		for _ in $(seq 100); do grep -q "listening on" "$HOSTS/$h.log" && break; sleep 0.1; done
		grep -q "listening on" "$HOSTS/$h.log" || die "host $h did not start: $(cat "$HOSTS/$h.log")"
	done
fi

# run CONFIG N: one transcode; appends "wall cpu" to $OUT/CONFIG.times.
run() {
	local config=$1 n=$2 dir=$OUT/$1.out
	rm -rf "$dir" "$OUT/snapshots"
	mkdir -p "$dir"
	local cmd
	case $config in
	plain) cmd=("$WAZERO" run -cachedir "$CACHE_DIR" -mount "$dir:/out" "$FFMPEG" "${ARGS[@]}") ;;
	sr-wazero) cmd=("$WAZERO" run -cachedir "$CACHE_DIR" -mount "$dir:/out" "$OUT/ffmpeg.sr.wasm" "${ARGS[@]}") ;;
	sr-loops-wazero) cmd=("$WAZERO" run -cachedir "$CACHE_DIR" -mount "$dir:/out" "$OUT/ffmpeg.loops.wasm" "${ARGS[@]}") ;;
	sr) cmd=("$WASMSR" exec -q "$OUT/ffmpeg.sr.wasm" --mount "$dir:/out" -- "${ARGS[@]}") ;;
	sr-snap) cmd=("$WASMSR" exec "$OUT/ffmpeg.sr.wasm" --snapshot-every "$EVERY" --keep 1 \
		--snapshot-dir "$OUT/snapshots" --mount "$dir:/out" -- "${ARGS[@]}") ;;
	sr-migrate)
		rm -rf "$HOSTS"/A/out/* "$HOSTS"/B/out/*
		cmd=("$WASMSR" exec --name L --mount "$dir:/out" --migrate-to "$URL_A,$URL_B" --migrate-every "$EVERY" \
			--token-file "$HOSTS/token" "$OUT/ffmpeg.sr.wasm" -- "${ARGS[@]}")
		;;
	esac
	local TIMEFORMAT='%R %U %S' t
	t=$({ time "${cmd[@]}" >"$OUT/$config.$n.log" 2>&1; } 2>&1) || {
		cat "$OUT/$config.$n.log" >&2
		die "$config: ${cmd[*]} failed"
	}
	[ "$n" = warm ] && return
	read -r real user sys <<<"$t"
	if [ "$config" = sr-migrate ]; then
		# The job's CPU time is spent on the hosts: only wall time counts.
		user=0 sys=0
		local final
		final=$(sed -n 's/.*finished on \([^ ]*\) after.*/\1/p' "$OUT/$config.$n.log" | tail -1)
		[ -n "$final" ] || die "$config: the job did not finish: $(cat "$OUT/$config.$n.log")"
		[ "$final" = L ] || cp "$HOSTS/$final/out/a.avi" "$dir/a.avi"
	fi
	awk -v r="$real" -v u="$user" -v s="$sys" 'BEGIN {print r, u + s}' >>"$OUT/$config.times"
	if ! cmp -s "$dir/a.avi" "$OUT/plain.a.avi"; then
		die "$config: a.avi differs from the uninstrumented run's"
	fi
}

# stats FILE COLUMN: "min median" of a column of numbers.
stats() {
	sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f", v[1], m}'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wasmsr: $WASMSR (tree $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)), --safepoints=$SAFEPOINTS: $(sed 's/^wasmsr: //' "$OUT/instrument.log")"
echo "workload: ffmpeg ${ARGS[*]}"
echo
# Warm the caches (compilation, page cache); the plain run also gives the
# output every timed run must reproduce byte for byte.
for c in "${CONFIGS[@]}"; do run "$c" warm; done
cp "$OUT/plain.out/a.avi" "$OUT/plain.a.avi"
for i in $(seq "$ROUNDS"); do
	for c in "${CONFIGS[@]}"; do
		run "$c" "$i"
	done
	echo "round $i of $ROUNDS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done

read -r pw_min pw_med <<<"$(stats "$OUT/plain.times" 1)"
read -r pc_min pc_med <<<"$(stats "$OUT/plain.times" 2)"
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.0f %%", (a / b - 1) * 100}'; }
echo "| configuration | wall min | wall median | CPU min | CPU median | wall overhead (min / median) | CPU overhead (min / median) |"
echo "|---|---|---|---|---|---|---|"
for c in "${CONFIGS[@]}"; do
	read -r w_min w_med <<<"$(stats "$OUT/$c.times" 1)"
	read -r c_min c_med <<<"$(stats "$OUT/$c.times" 2)"
	if [ "$c" = plain ]; then
		echo "| $c | $w_min s | $w_med s | $c_min s | $c_med s | | |"
	elif [ "$c" = sr-migrate ]; then
		echo "| $c | $w_min s | $w_med s | – | – | $(pct "$w_min" "$pw_min") / $(pct "$w_med" "$pw_med") | – |"
	else
		echo "| $c | $w_min s | $w_med s | $c_min s | $c_med s | $(pct "$w_min" "$pw_min") / $(pct "$w_med" "$pw_med") | $(pct "$c_min" "$pc_min") / $(pct "$c_med" "$pc_med") |"
	fi
done
if [[ " ${CONFIGS[*]} " == *" sr-snap "* ]]; then
echo
echo "Snapshots (sr-snap, every $EVERY, all rounds):"
grep -h '^wasmsr: snapshot ' "$OUT"/sr-snap.[0-9]*.log |
	sed -E 's/.*\(([0-9.]+) (KiB|MiB), memory ([0-9.]+ MiB), paused ([0-9.]+)(µs|ms|s),.*/\1 \2 \3 \4 \5/' |
	awk '{ size = ($2 == "MiB") ? $1 * 1024 : $1; p = $5; if ($6 == "µs") p /= 1000; if ($6 == "s") p *= 1000;
	       n++; s[n] = size; q[n] = p; mem = $3 " " $4 }
	     END { if (!n) { print "  none"; exit }
	           asort_n(s, n); asort_n(q, n);
	           printf "  %d snapshots; size min %.0f KiB, median %.0f KiB, max %.0f KiB (memory %s)\n", n, s[1], s[int((n+1)/2)], s[n], mem;
	           printf "  pause min %.1f ms, median %.1f ms, max %.1f ms\n", q[1], q[int((n+1)/2)], q[n] }
	     function asort_n(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }'
fi
if [[ " ${CONFIGS[*]} " == *" sr-migrate "* ]]; then
	echo
	echo "Moves (sr-migrate, every $EVERY between hosts A and B, all runs): downtime = pause on one host -> running on the next"
	grep -h -o 'downtime [0-9.]*[µm]*s = pause [0-9.]*[µm]*s' "$OUT"/sr-migrate.*.log "$HOSTS"/A.log "$HOSTS"/B.log |
		sed -E 's/downtime ([0-9.]+)(µs|ms|s) = pause ([0-9.]+)(µs|ms|s)/\1 \2 \3 \4/' |
		awk 'function ms(v, u) { return u == "µs" ? v / 1000 : u == "s" ? v * 1000 : v }
		     { n++; d[n] = ms($1, $2); q[n] = ms($3, $4) }
		     END { if (!n) { print "  none"; exit }
		           asort_n(d, n); asort_n(q, n);
		           printf "  %d moves; downtime min %.0f ms, median %.0f ms, max %.0f ms (of which the pause: median %.1f ms)\n", n, d[1], d[int((n+1)/2)], d[n], q[int((n+1)/2)] }
		     function asort_n(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }'
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
