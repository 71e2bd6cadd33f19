#!/usr/bin/env bash
# spills.sh counts, in the amd64 code wazero's optimizing compiler makes of
# each module, the instructions and the stores to and loads from the
# machine stack (%rsp-relative movs: the register allocator's spills and
# reloads), and the stack-to-stack copies through %r11 it makes where a
# spilled value meets a block's (a join). Unlike run time on this shared
# machine these are the same on every run, so they compare two versions
# of the rewrite exactly; they are static counts, not executed ones.
#
#   scripts/spills.sh MODULE.wasm...
#   scripts/spills.sh -f N BASE.wasm MODULE.wasm
#
# With -f, it then lists the N functions whose stack stores grew most from
# BASE to MODULE (the rewrite keeps every function's index), with their
# counts in both: where to look first.
#
# It needs GNU objdump (binutils, installed if missing), and amd64. Compiled
# code goes to build/compiled/ (lib.sh: compiled_code), the counts per
# function to build/spills/CONTENT.funcs (index, name, instructions, stack
# stores, stack loads).
set -euo pipefail
LIB_NAME=spills
source "$(dirname "$0")/lib.sh"

usage="usage: scripts/spills.sh MODULE.wasm... | scripts/spills.sh -f N BASE.wasm MODULE.wasm"
top=0
if [ "${1:-}" = -f ]; then
	[ $# -eq 4 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$usage"
	top=$2
	shift 2
fi
[ $# -ge 1 ] || die "$usage"
[ "$(uname -m)" = x86_64 ] || die "the counts read amd64 code; this machine is $(uname -m)"
command -v objdump >/dev/null || apt_install binutils
OUT=$REPO_ROOT/build/spills
mkdir -p "$OUT"

echo "| module | size | instructions | stack stores | stack loads | stack-to-stack copies |"
echo "|---|---:|---:|---:|---:|---:|"
for m in "$@"; do
	[ -f "$m" ] || die "$m: no such file"
	compiled_code "$m"
	# The cache file holds the module's header and code; the header
	# decodes as a few stray instructions, the same in every file, before
	# the first function's code starts.
	# An instruction's line is "address:<TAB>bytes<TAB>mnemonic operands";
	# a long one's bytes go on into a line without the third field.
	objdump -D -b binary -m i386:x86-64 "$COMPILED_FILE" | awk -F'\t' -v m="$m" -v size="$(stat -c %s "$m")" -v map="$COMPILED_DIR.map" \
		-v funcs="$OUT/$(basename "$COMPILED_DIR").funcs" "$AWK_HEX"'
		BEGIN {
			while ((getline line < map) > 0) {
				if (line ~ /^#/) continue
				split(line, f, "\t")
				nf++; start[nf] = f[1]; idx[nf] = f[2]; name[nf] = f[3]
			}
			cur = 0
		}
		NF < 3 || $1 !~ /^ *[0-9a-f]+:$/ { next }
		{
			a = $1; gsub(/[ :]/, "", a); addr = hex(a)
			while (cur < nf && addr >= start[cur + 1]) cur++
			n++; fn[cur]++
		}
		$3 ~ /^mov[a-z]* +%[a-z0-9]+,(-?0x[0-9a-f]+)?\(%rsp\)$/ { st++; fst[cur]++; if (r11 && $3 ~ /%r11d?,/) copies++ }
		$3 ~ /^mov[a-z]* +(-?0x[0-9a-f]+)?\(%rsp\),%/ { ld++; fld[cur]++ }
		{ r11 = $3 ~ /^mov[a-z]* +(-?0x[0-9a-f]+)?\(%rsp\),%r11d?$/ }
		END {
			for (k = 1; k <= nf; k++) printf "%s\t%s\t%d\t%d\t%d\n", idx[k], name[k], fn[k], fst[k], fld[k] > funcs
			printf "| %s | %d | %d | %d | %d | %d |\n", m, size, n, st, ld, copies
		}'
done
if [ "$top" -gt 0 ]; then
	base=$OUT/$(sha256sum "$1" | cut -c1-16).funcs
	other=$OUT/$(sha256sum "$2" | cut -c1-16).funcs
	echo
	echo "The $top functions whose stack stores grew most from $1 to $2:"
	echo
	echo "| function | name | instructions | stack stores | stack loads |"
	echo "|---:|---|---:|---:|---:|"
	awk -F'\t' 'NR == FNR { ins[$1] = $3; st[$1] = $4; ld[$1] = $5; next }
		($1 in st) { printf "%d\t| %s | %s | %d → %d | %d → %d | %d → %d |\n", $4 - st[$1], $1, $2, ins[$1], $3, st[$1], $4, ld[$1], $5 }' \
		"$base" "$other" | sort -t$'\t' -k1,1nr | head -n "$top" | cut -f2-
fi
