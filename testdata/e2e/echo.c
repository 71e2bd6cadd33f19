// echo.c is a guest of cmd/wasmsr's end-to-end tests (e2e_test.go): a
// program that initialises, then serves its input. It prints a banner
// (with -env, its environment first), then echoes stdin line by line,
// numbered, and at the end how many lines it read. With -poll it first
// waits for input with poll(), so that its first stdin call is
// poll_oneoff rather than fd_read.
//
//	echo [-env] [-poll]
#include <poll.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv) {
	int env = 0, wait = 0;
	for (int i = 1; i < argc; i++) {
		env |= strcmp(argv[i], "-env") == 0;
		wait |= strcmp(argv[i], "-poll") == 0;
	}
	if (env)
		for (char **e = environ; *e; e++)
			printf("env: %s\n", *e);
	printf("echo: ready\n");
	fflush(stdout);
	if (wait) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		if (poll(&p, 1, -1) != 1) {
			fprintf(stderr, "echo: poll failed\n");
			return 1;
		}
	}
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, stdin)) {
		printf("%d: %s", ++n, line);
		fflush(stdout);
	}
	printf("echo: %d lines\n", n);
	return 0;
}
