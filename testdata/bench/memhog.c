// memhog.c is the guest of hostrt's pause benchmarks (hostrt/bench_test.go):
// it fills MIB mebibytes of memory with half-compressible data, prints the
// address of a counter and how many bytes it filled, then increments the
// counter in an endless loop (a safepoint per iteration), touching the
// memory as it goes. The host watches the counter to see the program run
// again after a pause, and ends the program with a stopping snapshot.
//
//	memhog MIB
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

volatile uint32_t counter;

int main(int argc, char **argv) {
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 16;
	size_t words = mib * (1 << 20) / 8;
	uint64_t *mem = malloc(words * 8);
	if (!mem) {
		fprintf(stderr, "memhog: cannot allocate %zu MiB\n", mib);
		return 1;
	}
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < words; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		mem[i] = s & 0x0f0f0f0f0f0f0f0fu;
	}
	printf("%lu %zu\n", (unsigned long)(uintptr_t)&counter, words * 8);
	fflush(stdout);
	// Flipping a low bit keeps the memory as compressible as it started,
	// however long the program runs.
	for (size_t i = 0;; i = (i + 4099) % words) {
		mem[i] ^= 1;
		counter++;
	}
}
