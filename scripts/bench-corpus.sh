#!/usr/bin/env bash
# bench-corpus.sh measures what wasmsr's rewrite costs on real programs in
# several source languages, beside Binaryen's `wasm-opt -O2 --asyncify`,
# and prints one Markdown table (for README.md) and the targets of issue 13:
#
#   gofmt    Go     `gofmt -l` over wazero's internal/engine (make testdata)
#   ffmpeg   C      FFmpeg 5.1.9 encoding 30 s of testsrc2 at 640x360 to MPEG-4 (make ffmpeg)
#   nextpnr  C++    nextpnr-ice40 placing and routing testdata/corpus/ice40-mul32 (make corpus)
#   rzip     Rust   testdata/corpus/rzip compressing 12 MB (make corpus)
#   clang    C++    clang/lld (75 MB) compiling testdata/corpus/clang/wordfreq.cc -O2 (make corpus)
#
#   scripts/bench-corpus.sh [--quick]
#
# For each program and each variant (the original; wasmsr instrument
# --safepoints=loops, the default, and =calls; wasm-opt -O2 --asyncify):
# size; instrument wall and CPU time and peak RSS; wazero's compile time of
# the module (no cache: what a resumed or migrated job waits for); and the
# run time on wazero's optimizing compiler with a warm compilation cache
# (internal/bench/cmd/runwasm), in interleaved rounds, each round starting
# one variant later, so that a drift of the machine's speed spreads over all
# variants. Every run's stdout and output files must equal the original's
# (nextpnr's top.asc also its known sha256, rzip's stdout
# testdata/corpus/rzip/stdout).
#
# Environment:
#   BENCH_RUNS         rounds of timed runs (default 3). Instrumenting and
#                      compiling are timed BENCH_RUNS times too, once for
#                      inputs over 20 MB (clang).
#   BENCH_PROGRAMS     which programs (default: all five, in the order above)
#   BENCH_COMPILE_TIMEOUT  seconds after which a wazero compilation is
#                      stopped (default 600): the table then says so, and
#                      the variant is not run (wazero's SSA optimizer is
#                      superlinear in some functions the rewrite makes).
#   BENCH_NO_WASM_OPT  programs without the wasm-opt variant, or "all". Its
#                      outputs are cached under ${WASMSR_CACHE:-~/.cache/wasmsr}/wasm-opt,
#                      keyed by the input's sha256, wasm-opt's version and
#                      flags: on clang it takes ~15 min and 3.6 GB the first time.
# --quick: one round, no clang, no wasm-opt (for development; the
# environment still overrides).
#
# The machine has 2 cores shared with other jobs: CPU time (user + system of
# the runner) is the number to trust, wall time is given beside it; the
# fastest of the rounds is the least disturbed. The load average is printed
# before and after. Files go to build/bench-corpus/; the compilation caches
# in build/bench-corpus/cache, one per module content, are kept across runs
# (compiling clang's variants takes minutes): delete old ones to reclaim
# the space.
set -euo pipefail

LIB_NAME=bench-corpus
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	*) die "unknown argument '$arg' (usage: scripts/bench-corpus.sh [--quick])" ;;
	esac
done
if [ $QUICK = 1 ]; then
	RUNS=${BENCH_RUNS:-1}
	read -r -a PROGRAMS <<<"${BENCH_PROGRAMS:-gofmt ffmpeg nextpnr rzip}"
	NO_WASM_OPT=${BENCH_NO_WASM_OPT-all}
else
	RUNS=${BENCH_RUNS:-3}
	read -r -a PROGRAMS <<<"${BENCH_PROGRAMS:-gofmt ffmpeg nextpnr rzip clang}"
	NO_WASM_OPT=${BENCH_NO_WASM_OPT:-}
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$RUNS: want a positive number"
OUT=$REPO_ROOT/build/bench-corpus
CACHE=$OUT/cache
WASM_OPT_CACHE=${WASMSR_CACHE:-$HOME/.cache/wasmsr}/wasm-opt
WASM_OPT_FLAGS=(-O2 --asyncify "${WASM_OPT_FEATURES[@]}")
BIG_INPUT=$((20 << 20))
COMPILE_TIMEOUT=${BENCH_COMPILE_TIMEOUT:-600}
[[ $COMPILE_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BENCH_COMPILE_TIMEOUT=$COMPILE_TIMEOUT: want a positive number of seconds"

# ---- programs ---------------------------------------------------------------

source "$(dirname "$0")/corpus-programs.sh"

# ---- setup --------------------------------------------------------------------

apt_install time binaryen
mkdir -p "$OUT" "$CACHE"
log "building wasmsr, runwasm, compilewasm"
go build -o "$OUT/wasmsr" ./cmd/wasmsr
go build -o "$OUT/runwasm" ./internal/bench/cmd/runwasm
go build -o "$OUT/compilewasm" ./internal/bench/cmd/compilewasm
for p in "${PROGRAMS[@]}"; do
	program "$p"
	[ -f "$INPUT" ] || die "$p: $INPUT is missing: $MISSING"
done

wants_wasm_opt() { [ "$NO_WASM_OPT" != all ] && [[ " $NO_WASM_OPT " != *" $1 "* ]]; }

# Results, by PROGRAM/VARIANT: the module's path, compilation cache and size; instrumenting
# ("WALL CPU RSS-MB", with a trailing "cached" for a wasm-opt output made by
# an earlier run); and lists of compile and run times ("WALL CPU;" each).
# ORIGINAL_DIGEST, by PROGRAM: a hash of the original's first run's output.
# STOPPED, by PROGRAM/VARIANT: set when its compilation hit COMPILE_TIMEOUT.
declare -A MODULE CACHEDIR SIZE INSTRUMENT COMPILES RUNTIMES ORIGINAL_DIGEST STOPPED

# make_variants NAME: instruments INPUT into each variant, timing it.
make_variants() {
	local name=$1 v n=$RUNS
	[ "$(size_of "$INPUT")" -le $BIG_INPUT ] || n=1
	MODULE[$name/original]=$INPUT
	for v in loops calls; do
		log "$name: wasmsr instrument --safepoints=$v ($n run(s))"
		time_command "$OUT/$name.$v.instrument" "$n" "$OUT/wasmsr" instrument --safepoints "$v" "$INPUT" -o "$OUT/$name.$v.wasm"
		MODULE[$name/$v]=$OUT/$name.$v.wasm
		INSTRUMENT[$name/$v]="$itime $icpu $irss"
	done
	wants_wasm_opt "$name" || return 0
	local key dest
	key=$({
		sha256_of "$INPUT"
		wasm-opt --version
		echo "${WASM_OPT_FLAGS[*]}"
	} | sha256sum | cut -c1-32)
	dest=$WASM_OPT_CACHE/$key
	if [ -f "$dest.wasm" ] && [ -f "$dest.time" ]; then
		log "$name: wasm-opt ${WASM_OPT_FLAGS[*]}: cached ($dest.wasm)"
		INSTRUMENT[$name/asyncify]="$(cat "$dest.time") cached"
	else
		log "$name: wasm-opt ${WASM_OPT_FLAGS[*]} (1 run; minutes on large inputs, cached after)"
		mkdir -p "$WASM_OPT_CACHE"
		time_command "$OUT/$name.asyncify.instrument" 1 wasm-opt "${WASM_OPT_FLAGS[@]}" "$INPUT" -o "$dest.wasm.tmp"
		mv "$dest.wasm.tmp" "$dest.wasm"
		echo "$itime $icpu $irss" >"$dest.time"
		INSTRUMENT[$name/asyncify]="$itime $icpu $irss"
	fi
	MODULE[$name/asyncify]=$dest.wasm
}

# run_module NAME VARIANT: one run of the variant, with a fresh /out; appends
# its "WALL CPU" seconds to RUNTIMES and checks that its stdout and output
# files are the original's (the original runs first in the first round).
run_module() {
	local name=$1 v=$2 dir=$OUT/run/$1.$2 m mounts=() rc=0 digest
	rm -rf "$dir"
	mkdir -p "$dir"
	for m in "${MOUNTS[@]}"; do mounts+=(-mount "$m"); done
	"$OUT/runwasm" -cachedir "${CACHEDIR[$name/$v]}" -times "$dir.times" -mount "$dir:/out" "${mounts[@]}" \
		"${MODULE[$name/$v]}" "${ARGS[@]}" >"$dir.stdout" 2>"$dir.stderr" || rc=$?
	if [ $rc != 0 ]; then
		tail -n 20 "$dir.stderr" >&2
		die "$name: $v: runwasm ${MODULE[$name/$v]} ${ARGS[*]}: exit status $rc (its stderr: $dir.stderr)"
	fi
	RUNTIMES[$name/$v]+="$(awk '{print $1, $2 + $3}' "$dir.times");"
	digest=$( (cd "$dir" && find . -type f -print0 | sort -z | xargs -0r sha256sum && sha256sum <"$dir.stdout") | sha256sum)
	if [ "$v" = original ]; then
		if [ -z "${ORIGINAL_DIGEST[$name]:-}" ]; then
			[ -z "$CHECK" ] || "$CHECK" "$dir"
			ORIGINAL_DIGEST[$name]=$digest
		fi
	fi
	[ "$digest" = "${ORIGINAL_DIGEST[$name]}" ] ||
		die "$name: $v: the output (stdout: $dir.stdout, files: $dir/) differs from the original's first run"
}

# compile NAME VARIANT: one compilation of the variant, its "WALL CPU"
# appended to COMPILES; into its cache directory if that does not exist
# yet. When it takes longer than COMPILE_TIMEOUT, it is stopped and
# STOPPED set.
compile() {
	local module=${MODULE[$1/$2]} dir=${CACHEDIR[$1/$2]} cache=() rc=0
	[ -d "$dir" ] || cache=(-cachedir "$dir.tmp")
	timeout "$COMPILE_TIMEOUT" "$OUT/compilewasm" "${cache[@]}" -times "$OUT/compile.times" "$module" || rc=$?
	if [ $rc = 124 ]; then
		rm -rf "$dir.tmp"
		STOPPED[$1/$2]=1
		log "$1: $2: compilation stopped after $COMPILE_TIMEOUT s (BENCH_COMPILE_TIMEOUT); this variant will not run"
		return
	fi
	[ $rc = 0 ] || die "$1: $2: compilewasm $module failed (exit status $rc)"
	[ -d "$dir" ] || mv "$dir.tmp" "$dir"
	COMPILES[$1/$2]+="$(awk '{print $1, $2 + $3}' "$OUT/compile.times");"
}

# bench NAME: all measurements of one program.
bench() {
	local name=$1 variants=(original loops calls) v r k n=$RUNS
	program "$name"
	make_variants "$name"
	[ -z "${MODULE[$name/asyncify]:-}" ] || variants+=(asyncify)
	local count=${#variants[@]}
	for v in "${variants[@]}"; do SIZE[$name/$v]=$(size_of "${MODULE[$name/$v]}"); done

	# Each module's compiled code has a cache directory of its own, named by
	# its content. A module's first timed compilation fills it (writing it
	# adds a percent or less; for clang, it saves minutes); the others,
	# and any in later runs of this script, compile without a cache.
	for v in "${variants[@]}"; do
		CACHEDIR[$name/$v]=$CACHE/$(sha256_of "${MODULE[$name/$v]}" | cut -c1-24)
		rm -rf "${CACHEDIR[$name/$v]}.tmp"
	done
	[ "$(size_of "$INPUT")" -le $BIG_INPUT ] || n=1
	for ((r = 0; r < n; r++)); do
		log "$name: wazero compile, round $((r + 1)) of $n"
		for ((k = 0; k < count; k++)); do
			v=${variants[(r + k) % count]}
			[ -n "${STOPPED[$name/$v]:-}" ] || compile "$name" "$v"
		done
	done
	[ -z "${STOPPED[$name/original]:-}" ] || die "$name: the original did not compile within $COMPILE_TIMEOUT s"
	local runnable=()
	for v in "${variants[@]}"; do
		[ -n "${STOPPED[$name/$v]:-}" ] || runnable+=("$v")
	done

	for ((r = 0; r < RUNS; r++)); do
		log "$name: run round $((r + 1)) of $RUNS (load $(cut -d' ' -f1 /proc/loadavg))"
		for ((k = 0; k < ${#runnable[@]}; k++)); do
			run_module "$name" "${runnable[(r + k) % ${#runnable[@]}]}"
		done
	done
	rows "$name" "${variants[@]}"
	# Kept as each program finishes: a later failure does not lose them.
	printf '%s\n' "${ROWS[@]}" | grep -F "| $name (" >"$OUT/rows-$name.md"
	log "$name: done; its rows are in $OUT/rows-$name.md"
}

# ---- the tables -----------------------------------------------------------------

# fastest_median LIST FIELD prints "FASTEST MEDIAN" of the FIELDth numbers
# (1: wall, 2: CPU) of a ";"-separated list of "WALL CPU".
fastest_median() {
	local values
	values=$(tr ';' '\n' <<<"$1" | awk -v f="$2" 'NF {print $f}')
	# shellcheck disable=SC2086 # a list of numbers
	echo "$(least $values) $(median $values)"
}

fmt2() { printf '%.2f' "$1"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.0f %%", 100 * (b - a) / a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "×%.2f", b / a}'; }

ROWS=()
# JUDGED[NAME/VARIANT] holds what the targets table judges: "SIZE-GROWTH-%
# RUN-CPU-OVERHEAD-% COMPILE-RATIO INSTRUMENT-WALL INSTRUMENT-RSS-MB".
declare -A JUDGED

# rows NAME VARIANT...: the program's rows of the table.
rows() {
	local name=$1 v
	shift
	local osize=${SIZE[$name/original]} ocpu_min ocpu_med owall_min owall_med ocomp x
	read -r ocpu_min ocpu_med <<<"$(fastest_median "${RUNTIMES[$name/original]}" 2)"
	read -r owall_min owall_med <<<"$(fastest_median "${RUNTIMES[$name/original]}" 1)"
	read -r x ocomp <<<"$(fastest_median "${COMPILES[$name/original]}" 2)"
	for v in "$@"; do
		local size=${SIZE[$name/$v]} cells
		if [ "$v" = original ]; then
			cells="$size | – | –"
		else
			local it ic ir cached
			read -r it ic ir cached <<<"${INSTRUMENT[$name/$v]}"
			cells="$size ($(growth "$osize" "$size")) | $(fmt2 "$it") / $(fmt2 "$ic")${cached:+ (cached)} | $ir"
		fi
		local comp comp_wall judged_comp judged_run
		if [ -n "${STOPPED[$name/$v]:-}" ]; then
			judged_comp=">$(awk -v t="$COMPILE_TIMEOUT" -v k0="$ocomp" 'BEGIN {printf "%.0f", t / k0}')"
			cells+=" | stopped after $COMPILE_TIMEOUT s wall | ×$judged_comp | – (not compiled) | – | – | –"
			judged_run=–
		else
			read -r x comp <<<"$(fastest_median "${COMPILES[$name/$v]}" 2)"
			read -r x comp_wall <<<"$(fastest_median "${COMPILES[$name/$v]}" 1)"
			judged_comp=$(awk -v k0="$ocomp" -v k="$comp" 'BEGIN {printf "%.2f", k / k0}')
			local cpu_min cpu_med wall_min wall_med
			read -r cpu_min cpu_med <<<"$(fastest_median "${RUNTIMES[$name/$v]}" 2)"
			read -r wall_min wall_med <<<"$(fastest_median "${RUNTIMES[$name/$v]}" 1)"
			judged_run=$(awk -v c0="$ocpu_min" -v c="$cpu_min" 'BEGIN {printf "%+.1f", 100 * (c - c0) / c0}')
			if [ "$v" = original ]; then
				cells+=" | $(fmt2 "$comp") ($(fmt2 "$comp_wall")) | – | $(fmt2 "$cpu_min") / $(fmt2 "$cpu_med") | – | $(fmt2 "$wall_min") / $(fmt2 "$wall_med") | –"
			else
				cells+=" | $(fmt2 "$comp") ($(fmt2 "$comp_wall")) | ×$judged_comp"
				cells+=" | $(fmt2 "$cpu_min") / $(fmt2 "$cpu_med") | $(pct "$ocpu_min" "$cpu_min") / $(pct "$ocpu_med" "$cpu_med")"
				cells+=" | $(fmt2 "$wall_min") / $(fmt2 "$wall_med") | $(pct "$owall_min" "$wall_min") / $(pct "$owall_med" "$wall_med")"
			fi
		fi
		if [ "$v" != original ]; then
			local it ir x2
			read -r it x2 ir x2 <<<"${INSTRUMENT[$name/$v]}"
			JUDGED[$name/$v]="$(awk -v s0="$osize" -v s="$size" 'BEGIN {printf "%+.1f", 100 * (s - s0) / s0}') $judged_run $judged_comp $it $ir"
		fi
		ROWS+=("| $name ($LANGUAGE, $(awk -v b="$osize" 'BEGIN {printf "%.2f MB", b / 1e6}')) | $v | $cells |")
	done
}

# verdict VALUE LIMIT [UNIT]: "VALUE UNIT ✓" when VALUE ≤ LIMIT, else with
# ✗. VALUE may be a lower bound, ">N", or "–" for not measured.
verdict() {
	case $1 in
	–) echo "not run" ;;
	">"*) awk -v v="${1#>}" -v l="$2" -v u="${3:-}" 'BEGIN {printf ">%s%s %s", v, u, (v + 0 >= l + 0) ? "✗" : "?"}' ;;
	*) awk -v v="$1" -v l="$2" -v u="${3:-}" 'BEGIN {printf "%s%s %s", v, u, (v + 0 <= l + 0) ? "✓" : "✗"}' ;;
	esac
}

targets() {
	local name size_l run_l comp_l inst_l rss_l size_c run_c comp_c size_w x loops_size inst
	echo "| program | size, loops (≤ wasm-opt's) | size, calls (≤ +30 %) | run CPU, loops (≤ +15 %) | run CPU, calls (≤ +10 %) | compile, loops (≤ ×1.5) | compile, calls (≤ ×1.5) | instrument, loops (wall, peak RSS) |"
	echo "|---|---|---|---|---|---|---|---|"
	for name in "${PROGRAMS[@]}"; do
		read -r size_l run_l comp_l inst_l rss_l <<<"${JUDGED[$name/loops]}"
		read -r size_c run_c comp_c x x <<<"${JUDGED[$name/calls]}"
		if [ -n "${JUDGED[$name/asyncify]:-}" ]; then
			read -r size_w x <<<"${JUDGED[$name/asyncify]}"
			loops_size="$(verdict "$size_l" "$size_w" " %") (wasm-opt: $size_w %)"
		else
			loops_size="$size_l % (wasm-opt not run)"
		fi
		case $name in
		gofmt) inst="$(verdict "$inst_l" 2 " s") (≤ 2 s), $rss_l MB" ;;
		clang) inst="$(verdict "$inst_l" 30 " s") (≤ 30 s), $(verdict "$rss_l" 2048 " MB") (≤ 2048 MB)" ;;
		*) inst="$inst_l s, $rss_l MB" ;;
		esac
		echo "| $name | $loops_size | $(verdict "$size_c" 30 " %") | $(verdict "$run_l" 15 " %") | $(verdict "$run_c" 10 " %") | $(verdict "$comp_l" 1.5) | $(verdict "$comp_c" 1.5) | $inst |"
	done
}

# ---- main -------------------------------------------------------------------------

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for p in "${PROGRAMS[@]}"; do
	bench "$p"
done

if commit=$(git rev-parse --short HEAD 2>/dev/null); then
	git diff --quiet HEAD -- || commit+=" with uncommitted changes"
else
	commit="unknown (not a git checkout)"
fi
{
	echo "## wasmsr corpus benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $commit$([ $QUICK = 1 ] && echo "; --quick")"
	echo "- nproc: $(nproc); CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); memory: $(awk '/^MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo)"
	echo "- $(go version | cut -d' ' -f3-); wazero $(go list -m -f '{{.Version}}' github.com/tetratelabs/wazero) (optimizing compiler, one compilation worker); $(wasm-opt --version)"
	echo "- load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $RUNS timed round(s) of runs; instrument and compile times: median of $RUNS (of 1 for inputs over 20 MB); wasm-opt: 1 run; compilations stopped after $COMPILE_TIMEOUT s (BENCH_COMPILE_TIMEOUT)"
	echo
	echo "Sizes in bytes. Instrument: wall / CPU seconds (wasm-opt's from the run that made its cached output, if so marked). Compile: wazero's compiler from scratch (one compilation worker), CPU seconds (wall in parentheses), and against the original's. Run: fastest / median of the rounds, warm compilation cache, and the overhead of each against the original's; CPU = user + system of the runner. Workloads: see scripts/bench-corpus.sh."
	echo
	echo "| program | variant | size (vs original) | instrument wall / CPU (s) | instrument peak RSS (MB) | compile CPU (wall) (s) | compile vs original | run CPU fastest / median (s) | run CPU vs original | run wall fastest / median (s) | run wall vs original |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${ROWS[@]}"
	echo
	echo "Targets of issue 13 (run time judged on the fastest CPU times; compile on the median CPU times):"
	echo
	targets
} | tee "$OUT/table.md"
log "table written to $OUT/table.md"
