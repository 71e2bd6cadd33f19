// multivalue.c exercises functions returning small structs and pairs. Built
// with -mmultivalue and the experimental-mv ABI they return several values at
// once (multi-result function types), which unwinding must handle. clang 14
// is buggy with this ABI at -O2 (a crash and a miscompile), worked around
// below; the output was checked against a native build.
#include <stdint.h>
#include <stdio.h>

struct pair {
	int32_t lo, hi;
};
struct mixed {
	int64_t a;
	double b;
	float c;
	int32_t d;
};
struct divmod {
	uint32_t q, r;
};

__attribute__((noinline)) static struct pair minmax(const int32_t *v, int n) {
	struct pair p = {v[0], v[0]};
	for (int i = 1; i < n; i++) {
		if (v[i] < p.lo)
			p.lo = v[i];
		if (v[i] > p.hi)
			p.hi = v[i];
	}
	return p;
}

__attribute__((noinline)) static struct divmod udivmod(uint32_t a, uint32_t b) {
	return (struct divmod){a / b, a % b};
}

__attribute__((noinline)) static struct mixed make_mixed(int i) {
	struct mixed m = {(int64_t)i * 1000000007LL, i / 7.0, (float)i * 0.5f, -i};
	return m;
}

// Recursion through a multi-value function: Euclid's extended algorithm.
struct egcd {
	int64_t g, x, y;
};
__attribute__((noinline)) static struct egcd ext_gcd(int64_t a, int64_t b) {
	if (b == 0)
		return (struct egcd){a, 1, 0};
	struct egcd e = ext_gcd(b, a % b);
	return (struct egcd){e.g, e.y, e.x - (a / b) * e.y};
}

// Printing the struct fields right after the call in main is miscompiled by
// clang 14 with -mmultivalue -O2 (the printf arguments are stored before the
// call and print the previous iteration's values), so print them here.
__attribute__((noinline)) static void print_egcd(int64_t a, int64_t b, struct egcd e) {
	// The check is done mod 2^64 to avoid signed overflow.
	uint64_t lhs = (uint64_t)a * (uint64_t)e.x + (uint64_t)b * (uint64_t)e.y;
	printf("ext_gcd(%lld,%lld) = %lld, x=%lld y=%lld check=%d\n", (long long)a, (long long)b, (long long)e.g,
	       (long long)e.x, (long long)e.y, lhs == (uint64_t)e.g);
}

// Fibonacci pairs returned by value and threaded through calls.
__attribute__((noinline)) static struct pair fib_step(struct pair p) {
	return (struct pair){p.hi, (int32_t)((uint32_t)p.lo + (uint32_t)p.hi)};
}

int main(void) {
	int32_t v[100];
	uint32_t s = 99991;
	for (int i = 0; i < 100; i++) {
		s = s * 1664525u + 1013904223u;
		v[i] = (int32_t)(s >> 8) - (1 << 23);
	}
	struct pair mm = minmax(v, 100);
	printf("minmax: %d %d\n", mm.lo, mm.hi);

	uint32_t qsum = 0, rsum = 0;
	for (uint32_t a = 1000; a < 3000; a += 7) {
		struct divmod d = udivmod(a * 7919u, a % 97 + 3);
		qsum += d.q;
		rsum = rsum * 31u + d.r;
	}
	printf("divmod: %u %u\n", qsum, rsum);

	double bsum = 0;
	int64_t asum = 0;
	float csum = 0;
	int32_t dsum = 0;
	for (int i = 0; i < 500; i++) {
		struct mixed m = make_mixed(i);
		// Consumed in reverse order: in field order, clang 14 crashes in
		// WebAssembly Register Stackify with -mmultivalue at -O1 and above.
		dsum += m.d;
		csum += m.c;
		bsum += m.b;
		asum += m.a;
	}
	printf("mixed: %lld %.6f %.1f %d\n", (long long)asum, bsum, (double)csum, dsum);

	int64_t pairs[][2] = {{240, 46}, {1071, 462}, {1234567891011LL, 9876543210LL}, {17, 5}};
	for (int i = 0; i < 4; i++)
		print_egcd(pairs[i][0], pairs[i][1], ext_gcd(pairs[i][0], pairs[i][1]));

	struct pair f = {0, 1};
	for (int i = 0; i < 40; i++)
		f = fib_step(f);
	printf("fib(40) = %d, fib(41) = %d\n", f.lo, f.hi);
	return 0;
}
