// crash.c is the C guest of the crash-recovery and cross-process tests
// (cmd/wasmsr/e2e_test.go). It writes a long deterministic file and a
// deterministic stdout, block by block; each block is made by a loop phase
// (fill) and a recursion phase (a binary tree of calls whose leaves do the
// work), so a pause lands in either. The output file stays open from the
// start to the end, and so does the optional input file, which is read a
// little per block. At the end the file is read back through a new
// descriptor and its hash printed.
//
//	crash OUT [IN|-] [BLOCKS] [FILL_ROUNDS] [TREE_DEPTH]
//
// Progress lines are flushed before each phase, so a test reading stdout
// knows which phase runs.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (64 * 1024)

static unsigned char block[BLOCK];

static uint64_t xorshift(uint64_t *s) {
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

// fill is the loop phase: rounds passes over the block.
__attribute__((noinline)) static void fill(uint64_t seed, long rounds) {
	uint64_t s = seed | 1;
	for (long r = 0; r < rounds; r++) {
		for (size_t i = 0; i < BLOCK; i += 8) {
			uint64_t x = xorshift(&s);
			// Half the bits are text-like, so the file compresses somewhat.
			block[i] ^= (unsigned char)('a' + x % 26);
			block[i + 1] = (unsigned char)(x >> 8);
			block[i + 2] = (unsigned char)(x >> 16) & 0x3f;
			block[i + 3] = (unsigned char)(r + i);
			block[i + 4] = ' ';
			block[i + 5] = (unsigned char)(x >> 40);
			block[i + 6] = (unsigned char)('0' + (x >> 50) % 10);
			block[i + 7] = '\n';
		}
	}
}

// recurse is the recursion phase: a tree of calls of the given depth;
// each leaf mixes a stretch of the block.
__attribute__((noinline)) static uint64_t recurse(int depth, uint64_t x) {
	if (depth == 0) {
		for (int i = 0; i < 2048; i++) {
			size_t at = (x >> 3) % BLOCK;
			x = x * 6364136223846793005u + 1442695040888963407u + block[at];
			block[(at * 7) % BLOCK] ^= (unsigned char)(x >> 56);
		}
		return x;
	}
	uint64_t a = recurse(depth - 1, x ^ (uint64_t)depth);
	uint64_t b = recurse(depth - 1, a + 0x9e3779b97f4a7c15u);
	// Not an accumulation: clang would turn the second call into a loop.
	return ((b << 7) | (b >> 57)) ^ (a * 31);
}

static uint32_t fnv(uint32_t h, const unsigned char *p, size_t n) {
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void die(const char *what, const char *path) {
	fprintf(stderr, "crash: %s %s failed\n", what, path);
	exit(2);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: crash OUT [IN|-] [BLOCKS] [FILL_ROUNDS] [TREE_DEPTH]\n");
		return 2;
	}
	const char *out_path = argv[1];
	const char *in_path = argc > 2 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
	long blocks = argc > 3 ? atol(argv[3]) : 360;
	long rounds = argc > 4 ? atol(argv[4]) : 20;
	int depth = argc > 5 ? atoi(argv[5]) : 8;

	FILE *out = fopen(out_path, "w");
	if (!out)
		die("open", out_path);
	FILE *in = NULL;
	if (in_path && !(in = fopen(in_path, "r")))
		die("open", in_path);

	uint64_t seed = 0x243f6a8885a308d3u;
	for (long b = 0; b < blocks; b++) {
		printf("block %ld: fill\n", b);
		fflush(stdout);
		fill(seed + (uint64_t)b, rounds);
		printf("block %ld: recurse\n", b);
		fflush(stdout);
		uint64_t h = recurse(depth, seed ^ (uint64_t)b);
		if (in) {
			unsigned char extra[16];
			size_t n = fread(extra, 1, sizeof extra, in);
			for (size_t i = 0; i < n; i++)
				block[(h + i) % BLOCK] ^= extra[i];
			h ^= fnv(2166136261u, extra, n);
		}
		if (fwrite(block, 1, BLOCK, out) != BLOCK)
			die("write", out_path);
		seed = seed * 6364136223846793005u + h;
		printf("block %ld: %016llx\n", b, (unsigned long long)h);
		fflush(stdout);
	}
	if (fclose(out) != 0)
		die("close", out_path);
	if (in)
		fclose(in);

	FILE *back = fopen(out_path, "r");
	if (!back)
		die("reopen", out_path);
	uint32_t h = 2166136261u;
	long long total = 0;
	size_t n;
	while ((n = fread(block, 1, BLOCK, back)) > 0) {
		h = fnv(h, block, n);
		total += (long long)n;
	}
	fclose(back);
	printf("file: %lld bytes, fnv %08x\n", total, h);
	printf("done\n");
	return 0;
}
