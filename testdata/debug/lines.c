// lines.c: a program built with DWARF (testdata.mk: lines-g, lines-O2 and their
// -dwarf5 twins) whose source lines the tests of issue 17 look for after the
// rewrite: keep the line numbers of the marked lines, or change the tests too.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int divisor = 1;
static int read_at = -1;

int work(int n) {
  int total = 0;
  for (int i = 0; i < n; i++) {
    total += i * i % 7;
    if (i % 1000 == 0)
      printf("step %d total %d\n", i, total);
    if (i == read_at)
      total += getchar(); // line 18: with "read": the first read of stdin
  }
  return total / divisor; // line 20: with "trap": divides by zero
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "trap") == 0)
    divisor = 0;
  if (argc > 1 && strcmp(argv[1], "read") == 0)
    read_at = 10;
  int r = work(argc > 2 ? atoi(argv[2]) : 5000); // line 28
  printf("result %d\n", r);
  return 0;
}
