#!/usr/bin/env bash
# pingpong.sh WASMSR OUTDIR: two `wasmsr serve` hosts, A and B, on loopback
# ports, and a job bounced between them every $MIGRATE_EVERY (2s) until it
# ends. See migrate.mk and README.md.
set -euo pipefail

wasmsr=$(realpath "$1")
out=$(realpath -m "$2")
every=${MIGRATE_EVERY:-2s}
job=${MIGRATE_JOB:-}
port_a=${MIGRATE_PORT_A:-7533}
port_b=${MIGRATE_PORT_B:-7534}
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ -z "$job" ]; then
	if [ -f "$root/build/ffmpeg/ffmpeg.wasm" ]; then job=ffmpeg; else job=progress; fi
fi
case $job in
ffmpeg)
	src=$root/build/ffmpeg/ffmpeg.wasm
	file=a.avi
	args=(-nostdin -hide_banner -nostats -f lavfi -i testsrc2=duration=90:size=320x240:rate=25 -c:v mpeg4 -q:v 3 -y /out/a.avi)
	;;
progress)
	src=$out/progress.wasm
	file=p.bin
	args=(/out/p.bin 200 256)
	;;
*)
	echo "MIGRATE_JOB=$job: want ffmpeg or progress" >&2
	exit 2
	;;
esac
[ -f "$src" ] || { echo "$src is missing (make ffmpeg, or MIGRATE_JOB=progress)" >&2; exit 1; }

demo=$out/demo
rm -rf "$demo"
mkdir -p "$demo"/{A,B,L,ref}/out
module=$demo/$job.sr.wasm
"$wasmsr" instrument "$src" -o "$module"
# A token only these processes know.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo/token"
chmod 600 "$demo/token"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

url_a=http://127.0.0.1:$port_a
url_b=http://127.0.0.1:$port_b
for h in A B; do
	if [ $h = A ]; then listen=127.0.0.1:$port_a peer=$url_b; else listen=127.0.0.1:$port_b peer=$url_a; fi
	"$wasmsr" serve --name $h --listen "$listen" --peer "$peer" --token-file "$demo/token" \
		--mount "$demo/$h/out:/out" --state-dir "$demo/$h/state" > >(tee "$demo/$h.log") 2>&1 &
	pids+=($!)
done
for h in A B; do
	for _ in $(seq 100); do
		grep -q "listening on" "$demo/$h.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "listening on" "$demo/$h.log" || { echo "host $h did not start" >&2; exit 1; }
done

echo "== $job: starts on L, then moves A -> B -> A ... every $every"
start=$(date +%s.%N)
"$wasmsr" exec --name L --mount "$demo/L/out:/out" --migrate-to "$url_a,$url_b" \
	--migrate-every "$every" --migrate-after 0 --token-file "$demo/token" "$module" -- "${args[@]}" 2>&1 | tee "$demo/L.log"
end=$(date +%s.%N)
final=$(sed -n 's/.*finished on \([^ ]*\) after.*/\1/p' "$demo/L.log" | tail -1)
[ -n "$final" ] || { echo "the job did not finish" >&2; exit 1; }

echo "== the same job without moving, for comparison"
"$wasmsr" exec -q --mount "$demo/ref/out:/out" "$module" -- "${args[@]}" >/dev/null 2>&1
got=$(sha256sum <"$demo/$final/out/$file" | cut -c1-64)
want=$(sha256sum <"$demo/ref/out/$file" | cut -c1-64)
echo "$file on $final: sha256 $got"
echo "$file unmoved:   sha256 $want"
[ "$got" = "$want" ] || { echo "DIFFERENT" >&2; exit 1; }
echo "identical; $(grep -h 'moved to' "$demo"/{A,B,L}.log | wc -l) moves in $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
echo "== downtime (pause on one host -> running on the next), ms:"
grep -h -o 'downtime [0-9.]*ms' "$demo"/{A,B,L}.log | tr -dc '0-9.\n' | sort -n |
	awk '{d[NR]=$1} END {printf "  %d moves: min %.1f, median %.1f, max %.1f\n", NR, d[1], d[int((NR+1)/2)], d[NR]}'
