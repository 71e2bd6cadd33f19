// funcptr.c exercises indirect calls (call_indirect through the function
// table): a dispatch table of handlers, qsort with comparators calling back
// into the program from libc, callbacks taking callbacks, function pointers
// of several signatures and a struct-of-function-pointers "vtable".
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t (*binop)(int32_t, int32_t);
static int32_t op_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t op_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static int32_t op_mul(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
static int32_t op_xor(int32_t a, int32_t b) { return a ^ b; }
static int32_t op_max(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t op_rot(int32_t a, int32_t b) {
	uint32_t x = (uint32_t)a;
	unsigned r = (unsigned)b & 31;
	return (int32_t)(r ? (x << r) | (x >> (32 - r)) : x);
}
static const binop handlers[] = {op_add, op_sub, op_mul, op_xor, op_max, op_rot};
#define NHANDLERS (sizeof handlers / sizeof handlers[0])

// Different signatures in the same table.
typedef double (*dfn)(double);
static double d_half(double x) { return x * 0.5; }
static double d_sq(double x) { return x * x; }
static double d_inc(double x) { return x + 1.0; }
typedef int64_t (*lfn)(int64_t, int32_t);
static int64_t l_shift(int64_t x, int32_t s) { return (int64_t)((uint64_t)x << (s & 63)); }
static int64_t l_addmul(int64_t x, int32_t s) { return (int64_t)((uint64_t)x * 3u + (uint64_t)s); }

// Callbacks: apply f n times, where f is chosen by another callback.
typedef binop (*chooser)(int);
static binop choose_mod(int i) { return handlers[(unsigned)i % NHANDLERS]; }
static binop choose_rev(int i) { return handlers[NHANDLERS - 1 - (unsigned)i % NHANDLERS]; }
__attribute__((noinline)) static int32_t fold(chooser ch, int n, int32_t acc) {
	for (int i = 0; i < n; i++)
		acc = ch(i)(acc, i * 2654435761u >> 7);
	return acc;
}

// A recursive callback: the comparator recurses through a function pointer.
__attribute__((noinline)) static uint32_t walk(uint32_t (*visit)(uint32_t, int), uint32_t v, int depth) {
	if (depth == 0)
		return v;
	return walk(visit, visit(v, depth), depth - 1) ^ (uint32_t)depth;
}
static uint32_t visit_mix(uint32_t v, int d) { return v * 31u + (uint32_t)d; }
static uint32_t visit_rot(uint32_t v, int d) { return (v << 5 | v >> 27) ^ (uint32_t)d; }

// A vtable-like struct.
struct shape_ops {
	const char *name;
	int64_t (*area2)(const int32_t *dims); // twice the area, integral
	int64_t (*perimeter)(const int32_t *dims);
};
static int64_t rect_area2(const int32_t *d) { return 2LL * d[0] * d[1]; }
static int64_t rect_perim(const int32_t *d) { return 2LL * (d[0] + d[1]); }
static int64_t tri_area2(const int32_t *d) { return (int64_t)d[0] * d[1]; }
static int64_t tri_perim(const int32_t *d) { return (int64_t)d[0] + d[1] + d[2]; }
static const struct shape_ops shapes[] = {
	{"rect", rect_area2, rect_perim},
	{"tri", tri_area2, tri_perim},
};

static int cmp_int_asc(const void *a, const void *b) {
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}
static int cmp_int_desc_by_low_byte(const void *a, const void *b) {
	int32_t x = *(const int32_t *)a & 0xff, y = *(const int32_t *)b & 0xff;
	if (x != y)
		return (y > x) - (y < x);
	return cmp_int_asc(a, b);
}
struct rec {
	char name[8];
	int32_t score;
};
static int cmp_rec(const void *a, const void *b) {
	const struct rec *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->name, y->name);
}

static uint32_t hash_ints(const int32_t *v, int n) {
	uint32_t h = 2166136261u;
	for (int i = 0; i < n; i++)
		h = (h ^ (uint32_t)v[i]) * 16777619u;
	return h;
}

int main(void) {
	int32_t acc = 1;
	for (int i = 0; i < 1000; i++)
		acc = handlers[(unsigned)(acc ^ i) % NHANDLERS](acc, i);
	printf("dispatch: %d\n", acc);
	printf("fold: %d %d\n", fold(choose_mod, 500, 7), fold(choose_rev, 500, 7));

	dfn dfns[] = {d_half, d_sq, d_inc, d_sq, d_half};
	double x = 1.5;
	for (int i = 0; i < 25; i++)
		x = dfns[i % 5](x);
	printf("dfns: %.10g\n", x);
	lfn lfns[] = {l_shift, l_addmul};
	int64_t l = 5;
	for (int i = 0; i < 40; i++)
		l = lfns[i & 1](l, i);
	printf("lfns: %lld\n", (long long)l);

	printf("walk: %08x %08x\n", walk(visit_mix, 1, 300), walk(visit_rot, 1, 300));

	int32_t dims[3] = {3, 4, 5};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		printf("%s: area2=%lld perimeter=%lld\n", shapes[i].name,
		       (long long)shapes[i].area2(dims), (long long)shapes[i].perimeter(dims));

	enum { N = 3000 };
	static int32_t arr[N];
	uint32_t s = 12345;
	for (int i = 0; i < N; i++) {
		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		arr[i] = (int32_t)(s % 100000) - 50000;
	}
	qsort(arr, N, sizeof arr[0], cmp_int_asc);
	int sorted = 1;
	for (int i = 1; i < N; i++)
		sorted &= arr[i - 1] <= arr[i];
	printf("qsort asc: sorted=%d min=%d max=%d median=%d hash=%08x\n", sorted, arr[0], arr[N - 1],
	       arr[N / 2], hash_ints(arr, N));
	qsort(arr, N, sizeof arr[0], cmp_int_desc_by_low_byte);
	printf("qsort by low byte: first=%d last=%d hash=%08x\n", arr[0], arr[N - 1], hash_ints(arr, N));

	struct rec recs[] = {{"delta", 50}, {"alpha", 70}, {"echo", 50}, {"bravo", 90},
	                     {"golf", 10}, {"charlie", 70}, {"fox", 50}};
	size_t nrec = sizeof recs / sizeof recs[0];
	qsort(recs, nrec, sizeof recs[0], cmp_rec);
	for (size_t i = 0; i < nrec; i++)
		printf("%s%s:%d", i ? " " : "", recs[i].name, recs[i].score);
	printf("\n");

	int32_t key = arr[1234];
	qsort(arr, N, sizeof arr[0], cmp_int_asc);
	int32_t *found = bsearch(&key, arr, N, sizeof arr[0], cmp_int_asc);
	printf("bsearch: key=%d found=%d\n", key, found != NULL && *found == key);
	return 0;
}
