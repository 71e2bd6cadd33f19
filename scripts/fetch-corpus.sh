#!/usr/bin/env bash
# fetch-corpus.sh puts the large real programs of the corpus benchmark
# (scripts/bench-corpus.sh) and of examples/nextpnr into build/corpus/:
#
#   nextpnr  C++, FPGA place and route: the npm package @yowasp/nextpnr-ice40
#            0.8.621. nextpnr/nextpnr-ice40.core.wasm (a plain wasip1
#            command), nextpnr/share/ice40/chipdb-8k.bin (the chip database
#            --hx8k reads from /share) and nextpnr/in/top.json (the netlist
#            of testdata/corpus/ice40-mul32.v, from ice40-mul32.json.zst).
#   clang    C++, 75 MB: the npm package @yowasp/clang 22.0.0-git20542-10.
#            clang/llvm.core.wasm (clang, lld and the LLVM tools; argv[1]
#            picks one) and clang/usr/ (llvm-resources.tar unpacked: the
#            headers and libraries the driver expects at /usr).
#   rzip     Rust: testdata/corpus/rzip/main.rs built for wasm32-wasi with
#            Debian's rustc (packages rustc, libstd-rust-dev-wasm32).
#
#   scripts/fetch-corpus.sh [--allow-offline] [nextpnr|clang|rzip]...   (default: all three)
#
# The npm packages are fetched with `npm pack` (npm checks the registry's
# sha512; this script then checks the tarball and each file it takes from
# it against the sha256 sums below, which pin the exact programs measured).
# Results are cached under ${WASMSR_CACHE:-$HOME/.cache/wasmsr}/corpus/,
# in a directory per program named by a hash of its contents' pins (npm) or
# of its source, compiler and flags (rzip): a later run only copies them to
# build/corpus/ (and not even that when build/corpus/NAME was made from the
# same cache entry). The tarballs are kept under .../npm/SHA256.tgz.
#
# --allow-offline: when the npm registry cannot be reached and the cache
# has no copy, say so, write the reason to build/corpus/NAME.unavailable
# (examples/nextpnr's test skips with it) and exit 0, instead of failing.
# Any other failure still fails.
set -euo pipefail

LIB_NAME=fetch-corpus
source "$(dirname "$0")/lib.sh"
CACHE_ROOT=${WASMSR_CACHE:-$HOME/.cache/wasmsr}
OUT=$REPO_ROOT/build/corpus
CORPUS_SRC=$REPO_ROOT/testdata/corpus

NEXTPNR_PACKAGE=@yowasp/nextpnr-ice40@0.8.621
NEXTPNR_TGZ_SHA256=f783e747b36eae7d0d181f0ad76a177059fb88d8254f740948584fd88e34a607
# FILE-IN-PACKAGE SHA256 WHERE-IN-build/corpus/nextpnr
NEXTPNR_FILES=(
	"package/gen/nextpnr-ice40.core.wasm 04573674df696358bf9e82cac5a8d52063ac21360a70438e4a71753642691ea9 nextpnr-ice40.core.wasm"
	"package/gen/share/ice40/chipdb-8k.bin 9d6b5b39de8cfade7c7826fdfadb58bc223a85b97c2ab699b5d2cf6dda013f10 share/ice40/chipdb-8k.bin"
)
NETLIST_SHA256=1f089600422bd41bbe876e2ec0f65109ee1aba6eae51808cb506fb2a81966eb3 # of in/top.json

CLANG_PACKAGE=@yowasp/clang@22.0.0-git20542-10
CLANG_TGZ_SHA256=6230ea1afa9691fa065935cf68c01642ff9b31c183fe8ac64cdfda025df06009
CLANG_FILES=(
	"package/gen/llvm.core.wasm 24fbed474c7b5b4968fd73fc4827440b93fb351c1b6264516130300eff3e7bf5 llvm.core.wasm"
	"package/gen/llvm-resources.tar 79eef0c336fe55cf03ff8f5b42b784c8168f929a3603138b2c6301f4601e4c86 llvm-resources.tar"
)

# Debian's rustc, not one on PATH (rustup's has no wasm32 standard library
# here, and its version would change the program).
RUSTC=/usr/bin/rustc
RZIP_FLAGS=(--edition 2021 --target wasm32-wasi -C opt-level=3 -C debuginfo=0 -C strip=debuginfo)

ALLOW_OFFLINE=0
PROGRAMS=()
for arg in "$@"; do
	case $arg in
	--allow-offline) ALLOW_OFFLINE=1 ;;
	nextpnr | clang | rzip) PROGRAMS+=("$arg") ;;
	*) die "unknown argument '$arg' (usage: scripts/fetch-corpus.sh [--allow-offline] [nextpnr|clang|rzip]...)" ;;
	esac
done
[ ${#PROGRAMS[@]} -gt 0 ] || PROGRAMS=(nextpnr clang rzip)

key_of() { sha256sum | cut -c1-16; }

# deliver NAME CACHE_DIR: copies CACHE_DIR to build/corpus/NAME unless it
# holds that entry already (its .key names the entry).
deliver() {
	local name=$1 dir=$2 dest=$OUT/$1
	rm -f "$OUT/$name.unavailable"
	if [ "$(cat "$dest/.key" 2>/dev/null)" = "$(basename "$dir")" ]; then
		log "$name: build/corpus/$name is up to date ($dir)"
		return
	fi
	rm -rf "$dest" "$dest.tmp"
	mkdir -p "$OUT"
	cp -r "$dir" "$dest.tmp"
	basename "$dir" >"$dest.tmp/.key"
	mv "$dest.tmp" "$dest"
	log "$name: build/corpus/$name from $dir"
}

# with_lock CMD...: runs CMD holding the corpus cache's lock, so that two
# runs (make -j, two worktrees) do not fill one entry at the same time.
with_lock() {
	mkdir -p "$CACHE_ROOT/corpus"
	(
		flock 9
		"$@"
	) 9>"$CACHE_ROOT/corpus/.lock"
}

# offline NAME REASON: the npm package cannot be had; fails unless
# --allow-offline.
offline() {
	if [ "$ALLOW_OFFLINE" = 1 ]; then
		mkdir -p "$OUT"
		echo "$2" >"$OUT/$1.unavailable"
		log "$1: skipped: $2"
		return 0
	fi
	die "$1: $2"
}

# npm_tarball PACKAGE SHA256: prints the path of the package's tarball in
# the cache, fetching it with `npm pack` if needed. Returns 3 (after
# printing why on stderr) when the registry cannot be reached.
npm_tarball() {
	local package=$1 want=$2 tgz=$CACHE_ROOT/npm/$2.tgz tmp out
	if [ -f "$tgz" ] && [ "$(sha256_of "$tgz")" = "$want" ]; then
		echo "$tgz"
		return
	fi
	command -v npm >/dev/null || apt_install npm
	mkdir -p "$CACHE_ROOT/npm"
	tmp=$(mktemp -d "$CACHE_ROOT/npm/pack.XXXXXX")
	log "npm pack $package"
	if ! out=$(cd "$tmp" && npm pack --loglevel=error "$package" 2>&1); then
		rm -rf "$tmp"
		# npm's error codes for a registry it cannot reach.
		if grep -Eq '^npm error code E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|HOSTUNREACH)$' <<<"$out"; then
			log "npm pack $package: $(grep -m1 'reason:' <<<"$out" || grep -m1 '^npm error code' <<<"$out")"
			return 3
		fi
		die "npm pack $package failed:"$'\n'"$out"
	fi
	local got=("$tmp"/*.tgz)
	[ ${#got[@]} = 1 ] && [ -f "${got[0]}" ] || die "npm pack $package left no single tarball in $tmp"
	local sum
	sum=$(sha256_of "${got[0]}")
	[ "$sum" = "$want" ] || die "npm pack $package: tarball sha256 $sum, want $want (the registry serves other bytes than those this benchmark was pinned to)"
	mv "${got[0]}" "$tgz"
	rm -rf "$tmp"
	echo "$tgz"
}

# npm_entry NAME PACKAGE TGZ_SHA256 FILES-ARRAY-NAME [FINISH]: makes the
# cache entry of an npm program (the files of FILES, checked; then FINISH
# DIR, if given) and delivers it.
npm_entry() {
	local name=$1 package=$2 tgz_sum=$3 files_var=$4[@] finish=${5:-}
	local files=("${!files_var}") key dir
	key=$({
		echo "$tgz_sum"
		printf '%s\n' "${files[@]}"
		[ -z "$finish" ] || declare -f "$finish"
	} | key_of)
	dir=$CACHE_ROOT/corpus/$name-$key
	if [ ! -f "$dir/.complete" ]; then
		local tgz rc=0
		tgz=$(npm_tarball "$package" "$tgz_sum") || rc=$?
		if [ $rc = 3 ]; then
			offline "$name" "npm cannot reach its registry to fetch $package (and the cache has no copy); run scripts/fetch-corpus.sh $name where it can"
			return
		fi
		[ $rc = 0 ] || exit $rc
		local stage=$dir.stage.$$ line path sum dest
		rm -rf "$stage"
		mkdir -p "$stage/x"
		local paths=()
		for line in "${files[@]}"; do paths+=("${line%% *}"); done
		tar -xzf "$tgz" -C "$stage/x" "${paths[@]}" || die "$tgz: cannot extract ${paths[*]}"
		for line in "${files[@]}"; do
			read -r path sum dest <<<"$line"
			[ "$(sha256_of "$stage/x/$path")" = "$sum" ] || die "$package: $path: sha256 $(sha256_of "$stage/x/$path"), want $sum"
			mkdir -p "$(dirname "$stage/$dest")"
			mv "$stage/x/$path" "$stage/$dest"
		done
		rm -rf "$stage/x"
		[ -z "$finish" ] || "$finish" "$stage"
		touch "$stage/.complete"
		rm -rf "$dir"
		mv "$stage" "$dir"
		log "$name: cached in $dir"
	fi
	deliver "$name" "$dir"
}

# The netlist goes with the program: nextpnr's command reads it from /in.
nextpnr_netlist() {
	apt_install zstd
	mkdir -p "$1/in"
	zstd -q -d "$CORPUS_SRC/ice40-mul32.json.zst" -o "$1/in/top.json" || die "cannot decompress $CORPUS_SRC/ice40-mul32.json.zst"
	[ "$(sha256_of "$1/in/top.json")" = "$NETLIST_SHA256" ] || die "$CORPUS_SRC/ice40-mul32.json.zst: the netlist's sha256 is not $NETLIST_SHA256"
}

clang_resources() {
	mkdir -p "$1/usr"
	tar -xf "$1/llvm-resources.tar" -C "$1/usr" || die "cannot unpack llvm-resources.tar"
	rm "$1/llvm-resources.tar"
}

fetch_nextpnr() {
	# The netlist's own hash is in the key through nextpnr_netlist's text.
	npm_entry nextpnr "$NEXTPNR_PACKAGE" "$NEXTPNR_TGZ_SHA256" NEXTPNR_FILES nextpnr_netlist
}

fetch_clang() { npm_entry clang "$CLANG_PACKAGE" "$CLANG_TGZ_SHA256" CLANG_FILES clang_resources; }

build_rzip() {
	[ -x "$RUSTC" ] && [ -d /usr/lib/rustlib/wasm32-wasi ] || apt_install rustc libstd-rust-dev-wasm32
	local key dir
	key=$({
		sha256sum <"$CORPUS_SRC/rzip/main.rs"
		"$RUSTC" -vV
		echo "${RZIP_FLAGS[*]}"
	} | key_of)
	dir=$CACHE_ROOT/corpus/rzip-$key
	if [ ! -f "$dir/.complete" ]; then
		local stage=$dir.stage.$$
		rm -rf "$stage"
		mkdir -p "$stage"
		log "rzip: $RUSTC ${RZIP_FLAGS[*]} testdata/corpus/rzip/main.rs"
		"$RUSTC" "${RZIP_FLAGS[@]}" "$CORPUS_SRC/rzip/main.rs" -o "$stage/rzip.wasm" || die "rustc failed on $CORPUS_SRC/rzip/main.rs"
		touch "$stage/.complete"
		rm -rf "$dir"
		mv "$stage" "$dir"
		log "rzip: cached in $dir"
	fi
	deliver rzip "$dir"
}

for p in "${PROGRAMS[@]}"; do
	case $p in
	nextpnr) with_lock fetch_nextpnr ;;
	clang) with_lock fetch_clang ;;
	rzip) with_lock build_rzip ;;
	esac
done
