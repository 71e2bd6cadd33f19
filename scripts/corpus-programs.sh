# corpus-programs.sh: the programs scripts/bench-corpus.sh and
# scripts/bench-ab.sh run, what each takes and how its output is checked
# (sourced after lib.sh, not run).

NEXTPNR_ASC_SHA256=d6118a1b67397154e168c5e4fabe21dc50c3cdcf1d8bad401e563ec93c4b63cc
CORPUS=$REPO_ROOT/build/corpus

# program NAME sets what running NAME takes: LANGUAGE, INPUT (the module),
# MOUNTS (runwasm -mount values besides the fresh /out), ARGS, MISSING (how
# to get INPUT), and CHECK (a function checking the original's output
# directory, or empty).
program() {
	MOUNTS=() CHECK=
	case $1 in
	gofmt)
		LANGUAGE=Go INPUT=$REPO_ROOT/build/testdata/go/gofmt.wasm MISSING="make testdata"
		MOUNTS=("$(go list -m -f '{{.Dir}}' github.com/tetratelabs/wazero)/internal/engine:/src:ro")
		ARGS=(-l /src)
		;;
	ffmpeg)
		LANGUAGE=C INPUT=$REPO_ROOT/build/ffmpeg/ffmpeg.wasm MISSING="make ffmpeg"
		ARGS=(-hide_banner -nostdin -nostats -loglevel error -f lavfi -i testsrc2=duration=30:size=640x360:rate=25
			-c:v mpeg4 -q:v 3 -y /out/a.avi)
		;;
	nextpnr)
		LANGUAGE=C++ INPUT=$CORPUS/nextpnr/nextpnr-ice40.core.wasm MISSING="make corpus"
		MOUNTS=("$CORPUS/nextpnr/share:/share:ro" "$CORPUS/nextpnr/in:/in:ro")
		ARGS=(--hx8k --package ct256 --json /in/top.json --asc /out/top.asc --seed 7 --freq 3 -q)
		CHECK=check_nextpnr
		;;
	rzip)
		LANGUAGE=Rust INPUT=$CORPUS/rzip/rzip.wasm MISSING="make corpus"
		ARGS=(12 /out/stream.rz)
		CHECK=check_rzip
		;;
	clang)
		LANGUAGE=C++ INPUT=$CORPUS/clang/llvm.core.wasm MISSING="make corpus"
		MOUNTS=("$CORPUS/clang/usr:/usr:ro" "$REPO_ROOT/testdata/corpus/clang:/src:ro")
		ARGS=(clang++ -std=c++17 -O2 -Wall -c /src/wordfreq.cc -o /out/wordfreq.o)
		;;
	*) die "unknown program '$1' (known: gofmt ffmpeg nextpnr rzip clang)" ;;
	esac
}

check_nextpnr() {
	local sum
	sum=$(sha256_of "$1/top.asc")
	[ "$sum" = "$NEXTPNR_ASC_SHA256" ] || die "nextpnr: top.asc has sha256 $sum, want $NEXTPNR_ASC_SHA256"
}

check_rzip() {
	cmp -s "$1.stdout" testdata/corpus/rzip/stdout || die "rzip: its stdout ($1.stdout) is not testdata/corpus/rzip/stdout"
}
