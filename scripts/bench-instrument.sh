#!/usr/bin/env bash
# bench-instrument.sh measures wasmsr against the baseline it replaces,
# Binaryen's `wasm-opt -O2 --asyncify`, on the numbers README.md promises:
# instrument time and peak memory, output size, and how much slower the
# instrumented program runs on wazero's optimizing compiler when nobody
# pauses it. Inputs: gofmt (a large Go program, run as `gofmt -l` over
# wazero's internal/engine), and two C programs, a recursive fib and a
# call-free tight loop.
#
#   scripts/bench-instrument.sh
#
# Environment: BENCH_RUNS (timed rounds over all modules, median reported,
# default 3), BENCH_FIB_N (default 40), BENCH_TIGHTLOOP_N (default
# 400000000). wasm-opt is timed once per input: it takes most of a minute on
# gofmt, and its numbers only need to be in the right range.
#
# It prints machine information and markdown tables on stdout; intermediate
# files go to build/bench/. Run it on an otherwise idle machine: the load
# average is printed before and after so that a disturbed run can be told,
# and run times are also given in CPU time and for the fastest run, which
# other jobs affect less.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-3}
FIB_N=${BENCH_FIB_N:-40}
TIGHTLOOP_N=${BENCH_TIGHTLOOP_N:-400000000}
OUT=build/bench
CACHE=$OUT/cache
LIB_NAME=bench-instrument
source scripts/lib.sh
apt_install time binaryen

mkdir -p "$OUT" "$CACHE"
go build -o build/wasmsr ./cmd/wasmsr
go build -o "$OUT/runwasm" ./internal/bench/cmd/runwasm
go build -o "$OUT/growth" ./internal/bench/cmd/growth

GOFMT=build/testdata/go/gofmt.wasm
FIB=build/testdata/c/fib.wasm
TIGHTLOOP=build/testdata/c/tightloop.wasm
for f in "$GOFMT" "$FIB" "$TIGHTLOOP"; do
	if [ ! -f "$f" ]; then
		log "$f is missing: make testdata"
		make testdata >&2
		break
	fi
done
ENGINE_DIR="$(go list -m -f '{{.Dir}}' github.com/tetratelabs/wazero)/internal/engine"

VARIANTS=(original wasmsr-calls wasmsr-loops wasm-opt-asyncify wasm-opt)

# make_variant LABEL INPUT VARIANT: writes $OUT/LABEL.VARIANT.wasm, timing
# it (time_command); sets itime and irss.
make_variant() {
	local label=$1 input=$2 variant=$3 wasm=$OUT/$1.$3.wasm
	case $variant in
	wasmsr-*)
		log "$label: $variant: instrumenting ($RUNS runs)"
		time_command "$OUT/$label.$variant" "$RUNS" build/wasmsr instrument "$input" -o "$wasm" --safepoints "${variant#wasmsr-}"
		;;
	wasm-opt-asyncify)
		log "$label: $variant: instrumenting (1 run)"
		time_command "$OUT/$label.$variant" 1 wasm-opt -O2 --asyncify "${WASM_OPT_FEATURES[@]}" "$input" -o "$wasm"
		;;
	wasm-opt)
		log "$label: $variant: optimizing (1 run)"
		time_command "$OUT/$label.$variant" 1 wasm-opt -O2 "${WASM_OPT_FEATURES[@]}" "$input" -o "$wasm"
		;;
	esac
}

# module_path LABEL INPUT VARIANT prints the file of a variant.
module_path() {
	if [ "$3" = original ]; then echo "$2"; else echo "$OUT/$1.$3.wasm"; fi
}

# run_module WASM STDOUT RUNWASM-OPTIONS...: runs WASM with the arguments
# of the input being measured (ARGS, where @ stands for the module).
run_module() {
	local wasm=$1 stdout=$2 args=() a
	shift 2
	for a in "${ARGS[@]}"; do
		[ "$a" = @ ] && a=$wasm
		args+=("$a")
	done
	"$OUT/runwasm" -cachedir "$CACHE" "$@" "${args[@]}" >"$stdout" 2>"$stdout.err" ||
		{ log "$wasm: exit $?"; cat "$stdout.err" >&2; return 1; }
}

ROWS=()
# RESULT[LABEL/VARIANT] is "instrument-time rss size wall wall-fastest cpu
# cpu-fastest" (run times: medians and fastest runs) for the targets table,
# with "- -" for the original's instrument time and rss.
declare -A RESULT
# bench LABEL INPUT RUNWASM-ARGS...: makes the four variants of INPUT, runs
# each module once to fill the compilation cache and check that it prints
# what the original prints, then times RUNS rounds of all five, and
# appends their table rows. In RUNWASM-ARGS, @ stands for the module.
bench() {
	local label=$1 input=$2 variant r k t wall user sys sz
	shift 2
	ARGS=("$@")
	local -A itimes irsses walls cpus
	for variant in "${VARIANTS[@]:1}"; do
		make_variant "$label" "$input" "$variant"
		itimes[$variant]=$itime irsses[$variant]=$irss
	done
	log "$label: warm-up runs"
	for variant in "${VARIANTS[@]}"; do
		run_module "$(module_path "$label" "$input" "$variant")" "$OUT/$label.$variant.stdout"
		if ! cmp -s "$OUT/$label.original.stdout" "$OUT/$label.$variant.stdout"; then
			log "$label: $variant prints something else than the original:"
			diff "$OUT/$label.original.stdout" "$OUT/$label.$variant.stdout" | head >&2
			return 1
		fi
	done
	# Rounds rather than all runs of one module in a row, and each round
	# starting one module later: when the load of the machine drifts, it
	# then spreads over all modules instead of biasing one.
	for ((r = 0; r < RUNS; r++)); do
		log "$label: round $((r + 1)) of $RUNS"
		for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
			variant=${VARIANTS[(r + k) % ${#VARIANTS[@]}]}
			t=$OUT/$label.$variant.times
			run_module "$(module_path "$label" "$input" "$variant")" "$OUT/$label.$variant.stdout.timed" -times "$t"
			cmp -s "$OUT/$label.original.stdout" "$OUT/$label.$variant.stdout.timed" ||
				{ log "$label: $variant: output changed between runs"; return 1; }
			read -r wall user sys <"$t"
			walls[$variant]+=" $wall"
			cpus[$variant]+=" $(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')"
		done
	done
	# Other jobs only ever add time, so besides the median the fastest run
	# is given: it is the least disturbed one.
	local ow owm oc ocm w wm c cm
	# shellcheck disable=SC2086 # the lists are words
	ow=$(median ${walls[original]}) owm=$(least ${walls[original]}) oc=$(median ${cpus[original]}) ocm=$(least ${cpus[original]})
	for variant in "${VARIANTS[@]}"; do
		# shellcheck disable=SC2086
		w=$(median ${walls[$variant]}) wm=$(least ${walls[$variant]}) c=$(median ${cpus[$variant]}) cm=$(least ${cpus[$variant]})
		local wall_cell cpu_cell
		# shellcheck disable=SC2086
		wall_cell="$(printf '%.2f' "$w") ($(minmax ${walls[$variant]}))"
		cpu_cell="$(printf '%.2f (%.2f)' "$c" "$cm")"
		if [ "$variant" = original ]; then
			sz=$(size_of "$input")
			RESULT[$label/$variant]="- - $sz $w $wm $c $cm"
			ROWS+=("| $label | original | – | – | $sz | – | $wall_cell | – | $cpu_cell | – |")
			continue
		fi
		sz=$(size_of "$OUT/$label.$variant.wasm")
		RESULT[$label/$variant]="${itimes[$variant]} ${irsses[$variant]} $sz $w $wm $c $cm"
		ROWS+=("| $label | $variant | ${itimes[$variant]} | ${irsses[$variant]} | $sz | $(growth "$(size_of "$input")" "$sz") | $wall_cell | $(growth "$ow" "$w") ($(growth "$owm" "$wm")) | $cpu_cell | $(growth "$oc" "$c") ($(growth "$ocm" "$cm")) |")
	done
}

echo "## wasmsr instrument benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
	git diff --quiet HEAD -- || commit+=" with uncommitted changes"
else
	commit="unknown (not a git checkout)"
fi
echo "- commit: $commit"
echo "- nproc: $(nproc); CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); memory: $(awk '/^MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo)"
echo "- $(go version); wazero $(go list -m -f '{{.Version}}' github.com/tetratelabs/wazero) (optimizing compiler, warm compilation cache); $(wasm-opt --version)"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- timed runs: $RUNS rounds over all modules after a warm-up round; wasmsr instrument time: median of $RUNS, wasm-opt: 1 run"
echo

bench gofmt "$GOFMT" -mount "$ENGINE_DIR:/src:ro" @ -l /src
bench fib "$FIB" @ "$FIB_N"
bench tightloop "$TIGHTLOOP" @ "$TIGHTLOOP_N"

echo "Inputs: gofmt = \`gofmt -l /src\` with wazero's internal/engine mounted read-only at /src; fib = \`fib $FIB_N\`; tightloop = \`tightloop $TIGHTLOOP_N\`."
echo "wasm-opt = \`wasm-opt -O2\` without --asyncify, to tell Binaryen's optimizer apart from its instrumentation."
echo
echo "Run times: median, with the range (wall) or the fastest run (CPU) in parentheses; overheads: of the medians, and of the fastest runs in parentheses. Other jobs only add time, so on a busy machine (see the load average) the fastest runs are the better estimate. Wall time is what the targets are stated in; CPU time (user + system of the runner process) is less sensitive to other jobs."
echo
echo "| input | variant | instrument time (s) | instrument peak RSS (MB) | size (bytes) | size growth | run wall (s) | wall vs original | run CPU (s) | CPU vs original |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo

# target MEASURE WASMSR LIMIT WASM-OPT ANCHOR: a row of the targets table
# (smaller is better).
target() {
	local verdict
	verdict=$(awk -v v="$2" -v l="$3" 'BEGIN {print (v + 0 <= l + 0) ? "met" : "MISSED"}')
	echo "| $1 | $2 | ≤ $3 | $verdict | $4 | $5 |"
}
pctnum() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", 100 * (b - a) / a}'; }
read -r gl_time gl_rss gl_size gl_wall gl_wallmin gl_cpu gl_cpumin <<<"${RESULT[gofmt/wasmsr-loops]}"
read -r _ _ gc_size gc_wall gc_wallmin gc_cpu gc_cpumin <<<"${RESULT[gofmt/wasmsr-calls]}"
read -r wo_time wo_rss wo_size wo_wall wo_wallmin wo_cpu wo_cpumin <<<"${RESULT[gofmt/wasm-opt-asyncify]}"
read -r _ _ go_size go_wall go_wallmin go_cpu go_cpumin <<<"${RESULT[gofmt/original]}"
echo "Targets on gofmt (wasmsr's default is --safepoints=loops), with wasm-opt -O2 --asyncify measured in this run and its anchor from REFERENCE.md. Run time overheads are judged on the fastest runs, the median's is in parentheses:"
echo
echo "| measure | wasmsr | target | verdict | wasm-opt -O2 --asyncify | anchor |"
echo "|---|---:|---:|---|---:|---:|"
target "instrument time, loops (s)" "$gl_time" 2 "$wo_time" 45
target "instrument peak RSS, loops (MB)" "$gl_rss" 300 "$wo_rss" 400
target "size growth, loops (%)" "$(pctnum "$go_size" "$gl_size")" 20 "$(pctnum "$go_size" "$wo_size")" 38
target "size growth, calls (%)" "$(pctnum "$go_size" "$gc_size")" 20 "$(pctnum "$go_size" "$wo_size")" 38
overhead() { echo "$(pctnum "$1" "$2") ($(pctnum "$3" "$4"))"; }
target "run wall time overhead, calls (%)" "$(overhead "$go_wallmin" "$gc_wallmin" "$go_wall" "$gc_wall")" 10 "$(overhead "$go_wallmin" "$wo_wallmin" "$go_wall" "$wo_wall")" 30
target "run wall time overhead, loops (%)" "$(overhead "$go_wallmin" "$gl_wallmin" "$go_wall" "$gl_wall")" 15 "$(overhead "$go_wallmin" "$wo_wallmin" "$go_wall" "$wo_wall")" 30
target "run CPU time overhead, calls (%)" "$(overhead "$go_cpumin" "$gc_cpumin" "$go_cpu" "$gc_cpu")" 10 "$(overhead "$go_cpumin" "$wo_cpumin" "$go_cpu" "$wo_cpu")" 30
target "run CPU time overhead, loops (%)" "$(overhead "$go_cpumin" "$gl_cpumin" "$go_cpu" "$gl_cpu")" 15 "$(overhead "$go_cpumin" "$wo_cpumin" "$go_cpu" "$wo_cpu")" 30
echo
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "### Where gofmt's growth comes from (--safepoints=loops)"
echo
"$OUT/growth" -top 10 "$GOFMT" "$OUT/gofmt.wasmsr-loops.wasm"
echo "### The same with --safepoints=calls"
echo
"$OUT/growth" -top 0 "$GOFMT" "$OUT/gofmt.wasmsr-calls.wasm"
