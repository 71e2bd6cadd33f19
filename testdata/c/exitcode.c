// exitcode.c prints to stdout (including from an atexit handler, after main
// returns through exit) and exits with status 3, to test that the exit code
// and buffered output survive proc_exit.
#include <stdio.h>
#include <stdlib.h>

static void bye(void) { printf("atexit handler ran\n"); }

__attribute__((noinline)) static void finish(int code) {
	printf("exiting with %d\n", code);
	exit(code);
}

int main(void) {
	atexit(bye);
	printf("partial line without newline, flushed at exit; ");
	finish(3);
	printf("not reached\n");
	return 0;
}
