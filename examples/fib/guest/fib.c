// fib.c is the seed prototype's first example: the naive recursive
// Fibonacci function, fib(n) = fib(n-1) + fib(n-2). Nearly all its time goes
// into calls and returns, and while it runs its whole state is the chain of
// fib frames on the call stack, each with its own n: a snapshot taken in the
// middle of the recursion shows that chain (wasmsr inspect).
//
//   fib [N]      prints fib(N) (default 9, the seed's)
//
// Build it with -O1 (see examples.mk): at -O2 clang turns the second
// recursive call into a loop, and the frames are less telling.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned fib(unsigned n) {
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv) {
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 9;
	printf("fib(%u) = %u\n", n, fib(n));
	return 0;
}
