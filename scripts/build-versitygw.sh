#!/usr/bin/env bash
# build-versitygw.sh builds versitygw, the S3-compatible server the tests of
# the S3 store start on loopback (internal/s3test), with `go install` from
# the Go module proxy, and caches it per machine:
#
#   ${WASMSR_CACHE:-$HOME/.cache/wasmsr}/versitygw-VERSION/versitygw
#
# The first run takes a minute or two; later runs find the binary and stop.
# VERSION must match internal/s3test's Version. Environment: GO (the go
# command), WASMSR_CACHE (cache root).
set -euo pipefail

VERSION=v1.8.0
GO=${GO:-go}
CACHE_ROOT=${WASMSR_CACHE:-$HOME/.cache/wasmsr}
DIR=$CACHE_ROOT/versitygw-$VERSION
BIN=$DIR/versitygw

log() { echo "build-versitygw: $*" >&2; }

if [ -x "$BIN" ]; then
	log "cached: $BIN"
	exit 0
fi
mkdir -p "$CACHE_ROOT"
# One build at a time per cache; a second run waits, then finds it built.
exec 9>"$CACHE_ROOT/versitygw.lock"
flock 9
if [ -x "$BIN" ]; then
	log "cached: $BIN"
	exit 0
fi
# Build into a fresh directory and rename it into place, so that the cache
# never holds half a binary.
STAGE=$DIR.stage.$$
trap 'rm -rf "$STAGE"' EXIT
rm -rf "$DIR".stage.*
mkdir -p "$STAGE"
log "go install github.com/versity/versitygw/cmd/versitygw@$VERSION (a minute or two)"
start=$(date +%s)
GOBIN=$STAGE "$GO" install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
"$STAGE/versitygw" --version >/dev/null
rm -rf "$DIR"
mv "$STAGE" "$DIR"
log "built $BIN in $(($(date +%s) - start)) s"
