// tightloop.c is a pure computation loop with no calls in its body (xorshift64*
// iterated N times, N = argv[1], default 200000000): used to measure how long
// pausing takes when the guest sits in a call-free loop.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000000ULL;
	uint64_t x = 0x9e3779b97f4a7c15ULL, acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		acc += (x * 0x2545f4914f6cdd1dULL) >> 32;
	}
	printf("n=%llu x=%016llx acc=%016llx\n", (unsigned long long)n, (unsigned long long)x, (unsigned long long)acc);
	return 0;
}
