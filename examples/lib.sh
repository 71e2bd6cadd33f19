# lib.sh: helpers shared by scripts/demo.sh and the examples' run.sh
# scripts (sourced, not run). They print what they do, step by step, so that
# the output reads as a walk-through.
#
# The caller sets nothing; it may set WASMSR (the wasmsr binary, default
# build/wasmsr, built if missing), WAZERO (the stock wazero command, default
# build/wazero, built by need_wazero), GO (default go) and STEPS (the number
# of steps, for "[2/6]").

EXAMPLES_LIB=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$EXAMPLES_LIB")/.." && pwd)
GO=${GO:-go}
WASMSR=${WASMSR:-$REPO_ROOT/build/wasmsr}
WAZERO=${WAZERO:-$REPO_ROOT/build/wazero}

if [ -t 1 ]; then
	BOLD=$'\e[1m' GREEN=$'\e[32m' RED=$'\e[31m' DIM=$'\e[2m' RESET=$'\e[0m'
else
	BOLD='' GREEN='' RED='' DIM='' RESET=''
fi

now_ms() { date +%s%3N; }
T0=$(now_ms)
STEP=0

# secs MS: milliseconds as seconds with one decimal.
secs() { printf '%d.%01d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# step TEXT: a numbered heading.
step() {
	STEP=$((STEP + 1))
	printf '\n%s==> [%s/%s] %s%s %s(at %s)%s\n' "$BOLD" "$STEP" "${STEPS:-?}" "$*" "$RESET" "$DIM" "$(secs $(($(now_ms) - T0)))" "$RESET"
}

# say TEXT: an explanation.
say() { printf '    %s\n' "$*"; }

# cmdline CMD...: a command as a person would type it (paths relative to
# the repository).
cmdline() { printf '%q ' "$@" | sed -e "s|$REPO_ROOT/||g" -e 's/ $//'; }

# show CMD...: prints a command, then runs it.
show() {
	printf '    %s$ %s%s\n' "$DIM" "$(cmdline "$@")" "$RESET"
	"$@"
}

# showi CMD...: prints a command, then runs it with its output (stdout and
# stderr) indented.
showi() {
	printf '    %s$ %s%s\n' "$DIM" "$(cmdline "$@")" "$RESET"
	"$@" 2>&1 | indent
}

# indent: prefixes every line of its input, so that a program's own output
# stands apart from the narration.
indent() {
	local line
	while IFS= read -r line; do
		printf '    | %s\n' "$line"
	done
}

# indent_cr: indent, for output whose lines may end in \r as well
# (progress reports that redraw themselves): each becomes a line of its own.
# Byte by byte in bash, so that nothing waits in a buffer.
indent_cr() {
	local line='' c
	while IFS= read -r -N 1 c; do
		if [[ $c == $'\r' || $c == $'\n' ]]; then
			[ -z "$line" ] || printf '    | %s\n' "$line"
			line=''
		else
			line+=$c
		fi
	done
	[ -z "$line" ] || printf '    | %s\n' "$line"
}

die() {
	printf '%sFAIL%s: %s\n' "$RED$BOLD" "$RESET" "$*" >&2
	exit 1
}

pass() { printf '\n%sPASS%s: %s\n' "$GREEN$BOLD" "$RESET" "$*"; }

size_of() { stat -c %s "$1"; }

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1 bytes"; }

sha() { sha256sum "$1" | cut -c1-64; }

# need_wasmsr builds build/wasmsr from the working tree (go build is
# incremental, and a stale binary would measure old code), unless WASMSR
# names another one that exists.
need_wasmsr() {
	if [ "$WASMSR" = "$REPO_ROOT/build/wasmsr" ] || [ ! -x "$WASMSR" ]; then
		show "$GO" build -C "$REPO_ROOT" -o "$WASMSR" ./cmd/wasmsr
	fi
}

# need_wazero builds the stock wazero command line program, from the
# wazero module this repository depends on, into build/wazero: the plain,
# uninstrumented runtime the reference runs use.
need_wazero() {
	(cd "$REPO_ROOT" && "$GO" build -o "$WAZERO" github.com/tetratelabs/wazero/cmd/wazero) ||
		die "could not build the wazero command from the module cache"
}

# wait_snapshot DIR N PID: waits until DIR holds snapshot N while PID runs.
wait_snapshot() {
	local file
	file=$(printf '%s/snapshot-%06d.wsm' "$1" "$2")
	while [ ! -e "$file" ]; do
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
}

# newest_snapshot DIR: the path of the newest snapshot in DIR.
newest_snapshot() {
	local f
	f=$(ls "$1"/snapshot-*.ws[mr] 2>/dev/null | sort | tail -n 1)
	[ -n "$f" ] || return 1
	echo "$f"
}

# start_bg CMD...: runs CMD in the background with its output indented
# (by $BG_INDENT, default indent); sets BG_PID to CMD's process (not the
# indenting one) and BG_PIPE to the whole pipeline's, to wait for.
start_bg() {
	local pidfile
	pidfile=$(mktemp)
	printf '    %s$ %s &%s\n' "$DIM" "$(cmdline "$@")" "$RESET"
	# The subshell's own stderr only carries bash's notice that CMD was
	# killed, when it is.
	( sh -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" 2>&1 | "${BG_INDENT:-indent}" ) 2>/dev/null &
	BG_PIPE=$!
	while [ ! -s "$pidfile" ]; do sleep 0.01; done
	BG_PID=$(cat "$pidfile")
	rm -f "$pidfile"
}
