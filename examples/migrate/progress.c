// progress.c writes a file block by block while keeping it open, to show a
// job moving between wasmsr hosts with its open files. Usage:
//
//	progress OUT [BLOCKS [WORK [SLEEP_MS [TRAP_AFTER]]]]
//
// It writes a 64-byte header placeholder, then BLOCKS (default 64) blocks of
// 64 KiB, each word mixed WORK (default 16) times so that the computation
// takes a while and every block depends on all before it, sleeping
// SLEEP_MS between blocks. At the end it seeks back and writes the header
// (block count and a running sum). It prints a line per block and one at
// the end; stdout and the file are the same wherever the program ran.
// With TRAP_AFTER > 0 it traps (a WebAssembly `unreachable`) right after
// printing the line of that block: how a host reports a job that crashes.
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORDS 8192

static uint64_t state = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void) {
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dULL;
}

static void write_all(int fd, const void *p, size_t n, const char *path) {
	const char *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w <= 0) {
			perror(path);
			exit(1);
		}
		b += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: progress OUT [BLOCKS [WORK [SLEEP_MS [TRAP_AFTER]]]]\n");
		return 2;
	}
	const char *path = argv[1];
	int blocks = argc > 2 ? atoi(argv[2]) : 64;
	long work = argc > 3 ? atol(argv[3]) : 16;
	int sleep_ms = argc > 4 ? atoi(argv[4]) : 0;
	int trap_after = argc > 5 ? atoi(argv[5]) : 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	char header[64];
	memset(header, ' ', sizeof header);
	header[sizeof header - 1] = '\n';
	write_all(fd, header, sizeof header, path);

	static uint64_t block[WORDS];
	uint64_t sum = 0;
	for (int b = 0; b < blocks; b++) {
		for (int i = 0; i < WORDS; i++) {
			uint64_t v = next();
			for (long k = 0; k < work; k++)
				v = (v ^ (v >> 31)) * 0xbf58476d1ce4e5b9ULL + (uint64_t)k;
			block[i] = v;
			sum = sum * 31 + v;
		}
		write_all(fd, block, sizeof block, path);
		printf("block %d of %d: sum %016llx\n", b + 1, blocks, (unsigned long long)sum);
		fflush(stdout);
		if (b + 1 == trap_after)
			__builtin_trap();
		if (sleep_ms > 0) {
			struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	int n = snprintf(header, sizeof header, "progress: %d blocks, sum %016llx", blocks, (unsigned long long)sum);
	memset(header + n, ' ', sizeof header - (size_t)n);
	header[sizeof header - 1] = '\n';
	if (lseek(fd, 0, SEEK_SET) != 0) {
		perror(path);
		return 1;
	}
	write_all(fd, header, sizeof header, path);
	if (close(fd) != 0) {
		perror(path);
		return 1;
	}
	printf("done: %d blocks, sum %016llx\n", blocks, (unsigned long long)sum);
	return 0;
}
