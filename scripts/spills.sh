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
#
# It needs GNU objdump (binutils, installed if missing), and amd64. Compiled code
# goes to build/spills/, one directory per module content.
set -euo pipefail
LIB_NAME=spills
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: scripts/spills.sh MODULE.wasm..."
[ "$(uname -m)" = x86_64 ] || die "the counts read amd64 code; this machine is $(uname -m)"
command -v objdump >/dev/null || apt_install binutils
OUT=$REPO_ROOT/build/spills
mkdir -p "$OUT"
(cd "$REPO_ROOT" && go build -o "$OUT/compilewasm" ./internal/bench/cmd/compilewasm)

echo "| module | size | instructions | stack stores | stack loads | stack-to-stack copies |"
echo "|---|---:|---:|---:|---:|---:|"
for m in "$@"; do
	[ -f "$m" ] || die "$m: no such file"
	dir=$OUT/$(sha256sum "$m" | cut -c1-16)
	if [ ! -d "$dir" ]; then
		rm -rf "$dir.tmp"
		"$OUT/compilewasm" -cachedir "$dir.tmp" -times /dev/null "$m" || die "$m: wazero could not compile it"
		mv "$dir.tmp" "$dir"
	fi
	# The cache holds one file per module: its header and code; the
	# header decodes as a few stray instructions, the same in every file.
	code=$(find "$dir" -type f | head -1)
	# An instruction's line is "address:<TAB>bytes<TAB>mnemonic operands";
	# a long one's bytes go on into a line without the third field.
	objdump -D -b binary -m i386:x86-64 "$code" | awk -F'\t' -v m="$m" -v size="$(stat -c %s "$m")" '
		NF < 3 || $1 !~ /^ *[0-9a-f]+:$/ { next }
		{ n++ }
		$3 ~ /^mov[a-z]* +%[a-z0-9]+,(-?0x[0-9a-f]+)?\(%rsp\)$/ { st++; if (r11 && $3 ~ /%r11d?,/) copies++ }
		$3 ~ /^mov[a-z]* +(-?0x[0-9a-f]+)?\(%rsp\),%/ { ld++ }
		{ r11 = $3 ~ /^mov[a-z]* +(-?0x[0-9a-f]+)?\(%rsp\),%r11d?$/ }
		END { printf "| %s | %d | %d | %d | %d | %d |\n", m, size, n, st, ld, copies }'
done
