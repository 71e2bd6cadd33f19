#!/usr/bin/env bash
# run.sh is `make example-server`: the seed's interactive server, with the
# keys scripted. The host program (host/, built on the hostrt library) runs
# the instrumented guest; keys r r r s send three requests and take a
# snapshot into snapshot.bin; a new host process restored from it answers
# the next r with counter 4.
#
#   examples/server/run.sh DIR     (DIR holds server.sr.wasm and host, built by examples.mk)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
DIR=$(readlink -f "${1:?usage: run.sh DIR}")
STEPS=2
cd "$DIR"
rm -f snapshot.bin

# session KEYS ARGS...: runs the host with KEYS on its stdin, shows what it
# printed (stdout and stderr, in order) and leaves the guest's lines in $counters.
session() {
	local keys=$1
	shift
	printf '    %s$ printf %q | ./host --module server.sr.wasm%s%s\n' "$DIM" "$keys" "${*:+ $*}" "$RESET"
	printf '%s' "$keys" | ./host --module server.sr.wasm "$@" >session.log 2>&1 || {
		indent <session.log
		die "the host failed"
	}
	indent <session.log
	counters=$(grep '^counter ' session.log || true)
}

step "Start the server; keys r r r s: three requests, then a snapshot into snapshot.bin"
session 'r r r s'
[ -s snapshot.bin ] || die "no snapshot.bin"

step "A new host process restores the server from snapshot.bin; key r"
session r --from-snapshot snapshot.bin
[ "$counters" = "counter 4" ] || die "the restored server printed '$counters', want 'counter 4'"

pass "the counter continued where the snapshot left it (counter 4)"
say "Try it with your own keys: make example-server-live (r = request, s = snapshot, q = quit),"
say "then make example-server-live FROM=snapshot.bin"
