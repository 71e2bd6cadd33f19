// A freestanding program (no libc) for comparing wasmsr with wasm-opt
// --asyncify: it calls an imported sleep from recursion and from loops,
// with arrays on the C shadow stack (so __stack_pointer matters) and a
// global array, and reports intermediate values through a log import.
//
// clang --target=wasm32-wasi --sysroot=/usr -O2 -nostdlib -Wl,--no-entry
//   -Wl,--export=run -Wl,--allow-undefined sleepy.c -o sleepy.wasm

#define IMPORT(name) __attribute__((import_module("env"), import_name(name)))

IMPORT("sleep_i32") int sleep_i32(int x); // returns x + 1
IMPORT("log_i32") void log_i32(int x);

#define NOINLINE __attribute__((noinline))

static unsigned table[64];

// Recursive Fibonacci with a sleep at every leaf: fib(n) = fib(n-1) + fib(n-2).
NOINLINE static int fib(int n) {
	if (n < 2)
		return sleep_i32(n) - 1;
	return fib(n - 1) + fib(n - 2);
}

// A checksum over a buffer that sleeps every 16 bytes.
NOINLINE static unsigned checksum(const unsigned char *p, int len) {
	unsigned h = 2166136261u;
	for (int i = 0; i < len; i++) {
		h = (h ^ p[i]) * 16777619u;
		if (i % 16 == 15)
			h += (unsigned)sleep_i32((int)(h & 0xff));
	}
	return h;
}

// A recursion whose frames keep arrays on the shadow stack across sleeps.
NOINLINE static unsigned nested(int depth, unsigned seed) {
	volatile unsigned local[8];
	for (int i = 0; i < 8; i++)
		local[i] = seed * (unsigned)(i + 1) + (unsigned)depth;
	unsigned below = 0;
	if (depth > 0)
		below = nested(depth - 1, seed * 31u + 7u);
	else
		below = (unsigned)sleep_i32((int)seed & 0xffff);
	unsigned sum = below;
	for (int i = 0; i < 8; i++)
		sum = sum * 3u + local[i];
	if (depth % 4 == 0)
		sum ^= (unsigned)sleep_i32(depth);
	return sum;
}

// Nested loops filling a global table, sleeping in the inner one.
NOINLINE static unsigned fill(int rows) {
	unsigned total = 0;
	for (int r = 0; r < rows; r++) {
		for (int c = 0; c < 8; c++) {
			int v = sleep_i32(r * 8 + c);
			table[(r * 8 + c) & 63] = (unsigned)v * 2654435761u;
			total += table[(r * 8 + c) & 63] >> 7;
		}
		log_i32((int)total);
	}
	return total;
}

int run(int n) {
	unsigned char buf[96];
	for (int i = 0; i < (int)sizeof buf; i++)
		buf[i] = (unsigned char)(i * 7 + n);
	int f = fib(n);
	log_i32(f);
	unsigned c = checksum(buf, (int)sizeof buf);
	log_i32((int)c);
	unsigned d = nested(12, (unsigned)n);
	log_i32((int)d);
	unsigned t = fill(3);
	return (int)(((unsigned)f * 1000003u) ^ c ^ (d * 7u) ^ t);
}
