#!/usr/bin/env bash
# build-ffmpeg.sh builds the real FFmpeg command line program for wasm32-wasi:
# a large, realistic guest for wasmsr (3.7 MB, 22 WASI imports, runs for as
# long as you ask it to encode, deterministic output).
#
#   scripts/build-ffmpeg.sh [OUTDIR]      (default OUTDIR: build/ffmpeg in the repo)
#
# Results: OUTDIR/ffmpeg.wasm (stripped) and OUTDIR/ffmpeg_g.wasm (DWARF
# removed, name section kept so stacks and `wasmsr inspect` show names).
#
# Source: Debian bookworm's ffmpeg 5.1.9 (the upstream orig tarball, checked
# against its md5; the Debian patches are not applied), fetched with
# `apt-get source`, so the only network used is the Debian archive.
# Toolchain: Debian's clang, lld, wasi-libc and compiler-rt for wasm32,
# installed with apt-get when missing.
#
# The build runs once per machine: its results are cached under
# ${WASMSR_CACHE:-$HOME/.cache/wasmsr}/ffmpeg-KEY/, where KEY hashes this
# script, the source checksum and the clang version. Editing this script,
# or a new clang, gives a new key and a rebuild. With a warm cache the
# script only copies the results to OUTDIR.
#
# Environment: WASMSR_CACHE (cache root), WASMSR_KEEP_WORK=1 (keep the build
# tree after a successful build, until the next build), JOBS (make -j,
# default nproc). A failed build keeps its tree and logs for inspection.
set -euo pipefail

FFMPEG_VERSION=5.1.9
ORIG_TARBALL=ffmpeg_${FFMPEG_VERSION}.orig.tar.xz
ORIG_MD5=53c90cb64c8d7783b347bdb86d7e98b0 # from the .dsc of Debian's ffmpeg 5.1.9
DEBIAN_SUITE=bookworm
APT_PACKAGES=(clang lld wasi-libc libclang-rt-dev-wasm32 llvm xz-utils dpkg-dev patch make gcc)
DEB_SRC_FILE=/etc/apt/sources.list.d/wasmsr-deb-src.sources

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT")/.." && pwd)
OUT=${1:-$REPO_ROOT/build/ffmpeg}
CACHE_ROOT=${WASMSR_CACHE:-$HOME/.cache/wasmsr}
JOBS=${JOBS:-$(nproc)}

# ---- output helpers -------------------------------------------------------

now_ms() { date +%s%3N; }
T0=$(now_ms)

fmt_ms() { printf '%d.%01ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }

log() { printf '==> [%7s] %s\n' "$(fmt_ms $(($(now_ms) - T0)))" "$*"; }

die() {
	printf 'build-ffmpeg: error: %s\n' "$*" >&2
	exit 1
}

# step NAME CMD...: runs CMD, printing NAME before and its duration after.
step() {
	local name=$1 start
	shift
	log "$name"
	start=$(now_ms)
	"$@"
	log "$name: done in $(fmt_ms $(($(now_ms) - start)))"
}

# run_logged LOG CMD...: runs CMD with its output in LOG; on failure shows
# the end of LOG and stops.
run_logged() {
	local logfile=$1
	shift
	if ! "$@" >"$logfile" 2>&1; then
		tail -n 40 "$logfile" >&2
		die "'$1' failed; full output in $logfile"
	fi
}

size_of() { stat -c %s "$1"; }

human() { numfmt --to=iec --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1 bytes"; }

SUDO=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || die "not root and sudo is not installed; cannot run apt-get"
	SUDO=(sudo)
fi

apt_get() {
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}

# ---- toolchain ------------------------------------------------------------

install_packages() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "Debian packages already installed: ${APT_PACKAGES[*]}"
		return
	fi
	log "installing Debian packages: ${missing[*]}"
	apt_get update -qq || die "apt-get update failed"
	apt_get install -y -qq --no-install-recommends "${missing[@]}" ||
		die "apt-get install ${missing[*]} failed"
}

# find_tool NAME: prints the path of NAME, NAME-<clang major>, or the newest
# NAME-<N> on PATH (Debian ships llvm-ar-14 and, with the llvm package, llvm-ar).
find_tool() {
	local name=$1 major candidate
	if command -v "$name" >/dev/null; then
		command -v "$name"
		return
	fi
	major=$("$CLANG" -dumpversion 2>/dev/null | cut -d. -f1)
	if [ -n "$major" ] && command -v "$name-$major" >/dev/null; then
		command -v "$name-$major"
		return
	fi
	candidate=$(compgen -c "$name-" | while read -r c; do
		[[ ${c#"$name"-} =~ ^[0-9]+$ ]] && echo "$c"
	done | sort -V | tail -n 1 || true)
	[ -n "$candidate" ] || die "cannot find $name (nor $name-N) on PATH; is the llvm package installed?"
	command -v "$candidate"
}

find_clang() {
	CLANG=$(command -v clang || true)
	[ -n "$CLANG" ] || CLANG=$(compgen -c clang- | grep -E '^clang-[0-9]+$' | sort -V | tail -n 1 || true)
	[ -n "$CLANG" ] && CLANG=$(command -v "$CLANG")
}

# ---- cache ----------------------------------------------------------------

# The key: this script's content, the source checksum and the clang version.
cache_key() {
	{
		sha256sum <"$SCRIPT"
		echo "$ORIG_MD5"
		"$CLANG" --version | head -n 1
	} | sha256sum | cut -c1-16
}

# deliver copies the cached results to OUT (leaving files that are already
# identical untouched, so their timestamps stay put) and prints them.
deliver() {
	local f
	mkdir -p "$OUT"
	for f in ffmpeg.wasm ffmpeg_g.wasm; do
		if ! cmp -s "$CACHE_DIR/$f" "$OUT/$f"; then
			cp -f "$CACHE_DIR/$f" "$OUT/$f.tmp.$$"
			mv -f "$OUT/$f.tmp.$$" "$OUT/$f"
		fi
	done
	log "cached build: $CACHE_DIR"
	for f in ffmpeg.wasm ffmpeg_g.wasm; do
		printf '    %-40s %10d bytes (%s)\n' "$OUT/$f" "$(size_of "$OUT/$f")" "$(human "$(size_of "$OUT/$f")")"
	done
}

cache_is_warm() { [ -s "$CACHE_DIR/ffmpeg.wasm" ] && [ -s "$CACHE_DIR/ffmpeg_g.wasm" ]; }

# ---- source ---------------------------------------------------------------

md5_ok() { [ -f "$1" ] && [ "$(md5sum <"$1" | cut -d' ' -f1)" = "$ORIG_MD5" ]; }

has_deb_src() {
	grep -Eqs '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
	grep -Eiqs '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources && return 0
	return 1
}

# debian_mirror prints the URI of the configured archive that serves the
# suite (deb822 or one-line style), defaulting to deb.debian.org.
debian_mirror() {
	local uri
	uri=$(awk -v suite="$DEBIAN_SUITE" '
		BEGIN { RS = "" }
		/(^|\n)Types:[^\n]*deb/ && $0 ~ "(^|\n)Suites:[^\n]*[ \t]" suite "([ \t\n]|$)" {
			if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) {
				s = substr($0, RSTART, RLENGTH); sub(/^\n?URIs:[ \t]*/, "", s); print s; exit
			}
		}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [ -z "$uri" ]; then
		uri=$(awk -v suite="$DEBIAN_SUITE" '$1 == "deb" {
			for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) break
			if ($(i + 1) == suite) { print $i; exit }
		}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

enable_deb_src() {
	local mirror tmp
	mirror=$(debian_mirror)
	log "enabling Debian source packages: $DEB_SRC_FILE ($mirror $DEBIAN_SUITE main)"
	tmp=$(mktemp)
	cat >"$tmp" <<EOF
# Added by wasmsr scripts/build-ffmpeg.sh to fetch Debian's ffmpeg source.
Types: deb-src
URIs: $mirror
Suites: $DEBIAN_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	"${SUDO[@]}" install -m 0644 "$tmp" "$DEB_SRC_FILE"
	rm -f "$tmp"
}

# source_version prints the Debian version of ffmpeg $FFMPEG_VERSION in the
# source index, if any.
source_version() {
	apt-cache showsrc ffmpeg 2>/dev/null |
		awk -v v="$FFMPEG_VERSION" '$1 == "Version:" && index($2, ":" v "-") { print $2; exit }'
}

fetch_source() {
	local dir=$CACHE_ROOT/src version
	TARBALL=$dir/$ORIG_TARBALL
	if md5_ok "$TARBALL"; then
		log "source already downloaded: $TARBALL (md5 ok)"
		return
	fi
	if ! has_deb_src; then
		enable_deb_src
		log "apt-get update (for the source index)"
		apt_get update -qq || die "apt-get update failed"
	fi
	version=$(source_version)
	if [ -z "$version" ]; then
		log "apt-get update (the source index has no ffmpeg $FFMPEG_VERSION yet)"
		apt_get update -qq || die "apt-get update failed"
		version=$(source_version)
	fi
	[ -n "$version" ] || die "Debian's source index has no ffmpeg $FFMPEG_VERSION (it has: $(apt-cache showsrc ffmpeg 2>/dev/null | awk '$1 == "Version:" { printf "%s ", $2 }'))"
	mkdir -p "$dir"
	log "apt-get source --download-only ffmpeg=$version into $dir"
	# As root, apt would warn that _apt cannot reach the directory and then
	# download as root anyway; ask for that directly.
	local sandbox=()
	[ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
	(cd "$dir" && apt-get source --download-only -qq "${sandbox[@]}" "ffmpeg=$version") ||
		die "apt-get source --download-only ffmpeg=$version failed"
	[ -f "$TARBALL" ] || die "apt-get source did not produce $TARBALL"
	md5_ok "$TARBALL" || die "$TARBALL: md5 $(md5sum <"$TARBALL" | cut -d' ' -f1), want $ORIG_MD5"
	log "source: $TARBALL (md5 $ORIG_MD5 ok)"
}

# ---- build ----------------------------------------------------------------

# The one source change: wasi-libc has neither mkstemp() nor tempnam(), so
# avpriv_tempfile() cannot compile. On WASI it fails with ENOSYS instead; its
# only users (the cache protocol, libxvid) are not enabled. The original
# function is kept for other targets. patch --fuzz=0 fails if the upstream
# text differs from what this expects.
patch_source() {
	patch -d "$SRC" -p1 --forward --batch --fuzz=0 <<'EOF'
--- a/libavutil/file_open.c
+++ b/libavutil/file_open.c
@@ -111,6 +111,13 @@
 {
     FileLogContext file_log_ctx = { &file_log_ctx_class, log_offset, log_ctx };
     int fd = -1;
+#if defined(__wasi__)
+    /* wasi-libc has neither mkstemp() nor tempnam(): no temporary files. */
+    (void)fd;
+    *filename = NULL;
+    av_log(&file_log_ctx, AV_LOG_ERROR, "ff_tempfile: temporary files are not supported on WASI\n");
+    return AVERROR(ENOSYS);
+#else
 #if !HAVE_MKSTEMP
     void *ptr= tempnam(NULL, prefix);
     if(!ptr)
@@ -153,6 +160,7 @@
         return err;
     }
     return fd; /* success */
+#endif /* !defined(__wasi__) */
 }
 
 FILE *avpriv_fopen_utf8(const char *path, const char *mode)
EOF
}

unpack() {
	rm -rf "$WORK"
	mkdir -p "$WORK/build"
	SRC=$WORK/ffmpeg-$FFMPEG_VERSION
	tar -C "$WORK" -xJf "$TARBALL"
	[ -f "$SRC/configure" ] || die "$TARBALL did not unpack to $SRC"
	patch_source || die "patching $SRC/libavutil/file_open.c failed (the source is not the expected ffmpeg $FFMPEG_VERSION)"
}

configure_ffmpeg() {
	local wasi_cflags="--target=wasm32-wasi --sysroot=/usr -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_MMAN -D_WASI_EMULATED_GETPID"
	local args=(
		--enable-cross-compile --target-os=none --arch=wasm32
		--cc="$CLANG" --cxx="$CLANGXX" --ld="$CLANG"
		--ar="$AR" --nm="$NM" --ranlib="$RANLIB" --strip="$STRIP"
		--pkg-config=false --host-cc=gcc
		--extra-cflags="$wasi_cflags" --extra-cxxflags="$wasi_cflags"
		--extra-ldflags="--target=wasm32-wasi --sysroot=/usr -Wl,-z,stack-size=8388608"
		--extra-libs="-lwasi-emulated-process-clocks -lwasi-emulated-signal -lwasi-emulated-mman -lwasi-emulated-getpid"
		--disable-asm --disable-x86asm --disable-inline-asm
		--disable-pthreads --disable-w32threads --disable-os2threads
		--disable-network --disable-autodetect --disable-debug --disable-doc
		--disable-ffplay --disable-ffprobe --disable-shared --enable-static
		--disable-everything
		--enable-avcodec --enable-avformat --enable-avfilter --enable-avdevice
		--enable-swscale --enable-swresample
		--enable-protocol=file,pipe
		--enable-demuxer=avi,mov,matroska,rawvideo,mpegts,image2,nut,wav,flac,aac
		--enable-muxer=avi,mp4,mov,matroska,rawvideo,mpegts,image2,nut,wav,flac,adts,null,framemd5,md5,framecrc
		--enable-decoder=mpeg4,mjpeg,rawvideo,ffv1,pcm_s16le,flac,aac
		--enable-encoder=mpeg4,mjpeg,rawvideo,ffv1,pcm_s16le,flac,aac,wrapped_avframe
		--enable-parser=mpeg4video,mjpeg,flac,aac
		--enable-filter=scale,format,null,anull,testsrc,testsrc2,sine,anullsrc,aresample,aformat,fps,setpts,asetpts,trim,atrim,nullsink,anullsink,copy,hflip,vflip,transpose
		--enable-indev=lavfi
	)
	(cd "$WORK/build" && run_logged "$WORK/configure.log" "$SRC/configure" "${args[@]}")
	# clang runs binaryen's wasm-opt on the output when it links with -O and
	# finds wasm-opt on PATH, which would make the result depend on what else
	# is installed. FFmpeg links without -O; make sure it stays that way.
	if grep -E '^LD[A-Z]*FLAGS=.*(^|[[:space:]])-O' "$WORK/build/ffbuild/config.mak"; then
		die "configure put an -O flag in LDFLAGS; clang would run wasm-opt at link time"
	fi
}

make_ffmpeg() {
	(cd "$WORK/build" && run_logged "$WORK/make.log" env -u MAKEFLAGS -u MFLAGS make -j"$JOBS" ffmpeg)
	[ -s "$WORK/build/ffmpeg" ] && [ -s "$WORK/build/ffmpeg_g" ] ||
		die "make succeeded but $WORK/build/ffmpeg or ffmpeg_g is missing"
}

is_wasm() { [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 0061736d ]; }

# stage_results writes ffmpeg.wasm (FFmpeg's own stripped binary) and
# ffmpeg_g.wasm (debug sections removed, name section kept) into a fresh
# directory and then renames it into place, so the cache never holds half a
# result.
stage_results() {
	local stage=$CACHE_DIR.stage.$$
	rm -rf "$stage"
	mkdir -p "$stage"
	cp "$WORK/build/ffmpeg" "$stage/ffmpeg.wasm"
	"$OBJCOPY" --strip-debug "$WORK/build/ffmpeg_g" "$stage/ffmpeg_g.wasm"
	is_wasm "$stage/ffmpeg.wasm" && is_wasm "$stage/ffmpeg_g.wasm" || die "the results in $stage are not wasm modules"
	"$OBJDUMP" -h "$stage/ffmpeg_g.wasm" | grep -qw name || die "$stage/ffmpeg_g.wasm has no name section"
	rm -rf "$CACHE_DIR"
	mv "$stage" "$CACHE_DIR"
}

# ---- main -----------------------------------------------------------------

main() {
	log "FFmpeg $FFMPEG_VERSION for wasm32-wasi -> $OUT"
	find_clang
	if [ -z "$CLANG" ]; then
		step "install toolchain" install_packages
		find_clang
		[ -n "$CLANG" ] || die "clang is still missing after installing ${APT_PACKAGES[*]}"
	fi
	local key
	key=$(cache_key)
	CACHE_DIR=$CACHE_ROOT/ffmpeg-$key
	if cache_is_warm; then
		deliver
		return
	fi

	log "cache miss: $CACHE_DIR (key from script, source md5 and $("$CLANG" --version | head -n 1))"
	mkdir -p "$CACHE_ROOT"
	# One build at a time per cache; a second run waits, then finds it warm.
	exec 9>"$CACHE_ROOT/ffmpeg.lock"
	if ! flock -n 9; then
		log "another build holds $CACHE_ROOT/ffmpeg.lock; waiting"
		flock 9
	fi
	if cache_is_warm; then
		deliver
		return
	fi

	# Build trees of earlier runs (failed, or for another key) are no longer
	# needed; no other build is running while we hold the lock.
	rm -rf "$CACHE_ROOT"/ffmpeg-*.work "$CACHE_ROOT"/ffmpeg-*.stage.*

	step "install toolchain" install_packages
	CLANGXX=$(find_tool clang++)
	AR=$(find_tool llvm-ar)
	NM=$(find_tool llvm-nm)
	RANLIB=$(find_tool llvm-ranlib)
	STRIP=$(find_tool llvm-strip)
	OBJCOPY=$(find_tool llvm-objcopy)
	OBJDUMP=$(find_tool llvm-objdump)
	log "tools: $CLANG $CLANGXX $AR $NM $RANLIB $STRIP $OBJCOPY"
	[ -f /usr/lib/wasm32-wasi/libc.a ] || die "wasi-libc is not in /usr/lib/wasm32-wasi (package wasi-libc)"

	step "fetch source" fetch_source
	WORK=$CACHE_DIR.work
	step "unpack and patch into $WORK" unpack
	step "configure (log: $WORK/configure.log)" configure_ffmpeg
	step "make -j$JOBS (log: $WORK/make.log)" make_ffmpeg
	step "store results in $CACHE_DIR" stage_results
	if [ "${WASMSR_KEEP_WORK:-0}" = 1 ]; then
		log "keeping the build tree $WORK"
	else
		rm -rf "$WORK"
	fi
	deliver
	log "total $(fmt_ms $(($(now_ms) - T0)))"
}

main
