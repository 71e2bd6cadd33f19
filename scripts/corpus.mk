# corpus.mk: the large real programs of the corpus benchmark, in
# build/corpus/ (see scripts/fetch-corpus.sh). Include it from the
# top-level Makefile; paths are relative to the repository root.
#
#   make corpus          nextpnr-ice40 and clang (npm packages) and rzip (Rust, built here)
#   make corpus-nextpnr  nextpnr-ice40 only, for examples/nextpnr's test: when npm cannot
#                        reach its registry (and the cache is cold) this says so and
#                        succeeds, and the test skips with that reason
#   make bench-corpus    scripts/bench-corpus.sh (BENCH_RUNS, --quick: see the script)
#
# The targets are phony: the script caches under ~/.cache/wasmsr and knows
# when to fetch again; warm, it copies or does nothing.

CORPUS_MK := $(lastword $(MAKEFILE_LIST))
CORPUS_FETCH := $(dir $(CORPUS_MK))fetch-corpus.sh

.PHONY: corpus corpus-nextpnr bench-corpus

corpus:
	bash $(CORPUS_FETCH)

corpus-nextpnr:
	bash $(CORPUS_FETCH) --allow-offline nextpnr

bench-corpus: testdata ffmpeg corpus
	bash $(dir $(CORPUS_MK))bench-corpus.sh
