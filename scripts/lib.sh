# lib.sh: helpers the benchmark and corpus scripts under scripts/ share
# (sourced, not run): messages, installing Debian packages, and the
# statistics their tables print.
#
# The sourcing script sets LIB_NAME (the prefix of its messages) first.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { echo "${LIB_NAME:-wasmsr}: $*" >&2; }

die() {
	echo "${LIB_NAME:-wasmsr}: error: $*" >&2
	exit 1
}

# apt_install PACKAGE...: installs those of the Debian packages that are
# missing, as the Makefile's deps target does (apt-get, sudo if not root).
apt_install() {
	local missing=() p sudo=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "cannot install ${missing[*]}: not root and no sudo"
		sudo=(sudo)
	fi
	log "installing Debian packages: ${missing[*]}"
	"${sudo[@]}" apt-get update -qq || die "apt-get update failed"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}

size_of() { stat -c %s "$1"; }

sha256_of() { sha256sum "$1" | cut -c1-64; }

# median prints the middle of its numeric arguments (the lower middle for
# an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# least prints the smallest of its numeric arguments.
least() { printf '%s\n' "$@" | sort -g | head -1; }

# minmax prints "lo–hi" of its numeric arguments, two decimals.
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f–%.2f", lo, hi}'; }

# growth A B prints how much larger B is than A, as "+12.3 %".
growth() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f %%", 100 * (b - a) / a}'; }

# time_command PREFIX RUNS CMD...: runs CMD RUNS times under /usr/bin/time,
# its output going to PREFIX.log (shown, and the script stopped, when it
# fails), and sets itime (median wall seconds), icpu (median user + system
# seconds) and irss (largest peak RSS, MB).
time_command() {
	local prefix=$1 runs=$2 times=() cpus=() rss=() i t u s m
	shift 2
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%e %U %S %M' -o "$prefix.time" "$@" >"$prefix.log" 2>&1 ||
			{ cat "$prefix.log" >&2; die "failed: $*"; }
		read -r t u s m <"$prefix.time"
		times+=("$t")
		cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')")
		rss+=("$m")
	done
	itime=$(median "${times[@]}")
	icpu=$(median "${cpus[@]}")
	irss=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1 | awk '{printf "%.0f", $1 / 1024}')
}

# The WebAssembly features Binaryen's wasm-opt (108) must be told of to read
# the benchmarks' modules: those of Go's wasip1 output; clang's and rustc's
# (C, C++, Rust) use a subset. Without them it rejects sign-extension ops.
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals)

# AWK_HEX defines hex(s), a hexadecimal number's value, for awk programs
# (prepend it): mawk, Debian's awk, has no strtonum. Addresses fit a double.
AWK_HEX='function hex(s,   v, k) {
	v = 0
	for (k = 1; k <= length(s); k++) v = v * 16 + index("0123456789abcdef", substr(tolower(s), k, 1)) - 1
	return v
}'

# compiled_code MODULE: compiles MODULE with wazero's optimizing compiler
# into build/compiled/CONTENT/ (once per content: scripts/spills.sh and
# scripts/profile.sh read the same code) and maps it with
# internal/bench/cmd/codemap into build/compiled/CONTENT.map (its "# code"
# line, then each function's offset, index and name). Sets COMPILED_DIR,
# the compilation cache directory, and COMPILED_FILE, its one file.
compiled_code() {
	local module=$1 out=$REPO_ROOT/build/compiled
	mkdir -p "$out"
	(cd "$REPO_ROOT" && go build -o "$out/compilewasm" ./internal/bench/cmd/compilewasm &&
		go build -o "$out/codemap" ./internal/bench/cmd/codemap)
	COMPILED_DIR=$out/$(sha256sum "$module" | cut -c1-16)
	if [ ! -d "$COMPILED_DIR" ]; then
		log "compiling $module"
		rm -rf "$COMPILED_DIR.tmp"
		"$out/compilewasm" -cachedir "$COMPILED_DIR.tmp" -times /dev/null "$module" || die "$module: wazero could not compile it"
		mv "$COMPILED_DIR.tmp" "$COMPILED_DIR"
	fi
	COMPILED_FILE=$(find "$COMPILED_DIR" -type f | head -1)
	if [ ! -f "$COMPILED_DIR.map" ]; then
		"$out/codemap" "$module" "$COMPILED_FILE" >"$COMPILED_DIR.map.tmp" || die "$module: cannot map its compiled code"
		mv "$COMPILED_DIR.map.tmp" "$COMPILED_DIR.map"
	fi
}
