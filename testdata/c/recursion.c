// recursion.c exercises deep call stacks: 20000-deep recursion with several
// locals live across the recursive call, a recursion that keeps an
// address-taken array on the shadow stack in every frame, mutual recursion,
// fib and ackermann. Unwinding/rewinding must preserve every frame's locals.
// Needs wazero's compiler engine: its interpreter allows only 2000 frames.
#include <stdint.h>
#include <stdio.h>

// Mixing that LLVM cannot turn into an accumulator loop: a, b, c are all
// needed after the recursive call returns.
__attribute__((noinline)) static uint32_t deep(uint32_t n, uint32_t seed) {
	if (n == 0)
		return seed;
	uint32_t a = seed * 2654435761u + n;
	uint32_t b = (a >> 13) ^ (n * 40503u);
	double c = (double)(n % 97) * 0.5;
	uint32_t r = deep(n - 1, a ^ b);
	return ((r ^ a) * 31u + b) + (uint32_t)(c * 3.0);
}

__attribute__((noinline)) static void fill(uint32_t *buf, int len, uint32_t v) {
	for (int i = 0; i < len; i++)
		buf[i] = v * (uint32_t)(i + 1) + (uint32_t)i;
}

// Each frame holds an array in linear memory (the shadow stack), so the
// __stack_pointer global must be restored correctly on rewind.
__attribute__((noinline)) static uint32_t framed(int n, uint32_t v) {
	uint32_t buf[8];
	fill(buf, 8, v);
	if (n == 0)
		return buf[7];
	uint32_t r = framed(n - 1, buf[3] ^ (uint32_t)n);
	uint32_t s = 0;
	for (int i = 0; i < 8; i++)
		s = s * 33u + buf[i];
	return s ^ (r * 7u);
}

__attribute__((noinline)) static int is_odd(unsigned n);
__attribute__((noinline)) static int is_even(unsigned n) {
	return n == 0 ? 1 : is_odd(n - 1);
}
__attribute__((noinline)) static int is_odd(unsigned n) {
	return n == 0 ? 0 : is_even(n - 1);
}

__attribute__((noinline)) static int fib(int n) {
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) static unsigned ack(unsigned m, unsigned n) {
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ack(m - 1, 1);
	return ack(m - 1, ack(m, n - 1));
}

int main(void) {
	for (uint32_t depth = 10000; depth <= 20000; depth += 5000)
		printf("deep(%u) = %08x\n", depth, deep(depth, 12345u));
	printf("framed(1000) = %08x\n", framed(1000, 7u));
	printf("is_even(7777) = %d, is_odd(7777) = %d\n", is_even(7777), is_odd(7777));
	for (int i = 0; i <= 25; i += 5)
		printf("fib(%d) = %d\n", i, fib(i));
	for (unsigned m = 0; m <= 3; m++)
		for (unsigned n = 0; n <= 4; n++)
			printf("ack(%u,%u) = %u\n", m, n, ack(m, n));
	printf("ack(3,6) = %u\n", ack(3, 6));
	return 0;
}
