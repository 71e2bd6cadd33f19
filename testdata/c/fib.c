// fib.c is a recursion benchmark: naive recursive fib(n), n = argv[1]
// (default 30), so nearly all time is spent in calls and returns.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned fib(unsigned n) {
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv) {
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 30;
	printf("fib(%u) = %u\n", n, fib(n));
	return 0;
}
