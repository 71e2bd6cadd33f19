// loops.c exercises loops with many int/long long/float/double values live
// across calls to noinline functions, nested loops, switch statements that
// compile to br_table, and early exits (break, continue, goto, return from
// inside loops), so every kind of loop state must survive a pause at a call.
#include <stdint.h>
#include <stdio.h>

__attribute__((noinline)) static int step_i(int x) { return (int)((unsigned)x * 1103515245u + 12345u); }
__attribute__((noinline)) static long long step_ll(long long x) { return (long long)((unsigned long long)x * 6364136223846793005ULL + 1442695040888963407ULL); }
__attribute__((noinline)) static float step_f(float x) { return x * 0.75f + 1.25f; }
__attribute__((noinline)) static double step_d(double x) { return x * 0.9921875 + 0.5; }

// A dense switch: clang emits a br_table for it.
__attribute__((noinline)) static int classify(int v) {
	switch (v & 15) {
	case 0: return 3;
	case 1: return v >> 3;
	case 2: return (int)((unsigned)v * 7u);
	case 3: return -v;
	case 4: return v ^ 0x55;
	case 5: return 11;
	case 6: return v + 100;
	case 7: return v & 0xff;
	case 8: return v | 1;
	case 9: return (int)((unsigned)v * (unsigned)v);
	case 10: return 42;
	case 11: return v - 9;
	default: return v / 3;
	}
}

// A switch inside the loop body with fallthrough and continue/break.
__attribute__((noinline)) static uint32_t state_machine(const char *s) {
	uint32_t acc = 7;
	int state = 0;
	for (int i = 0; s[i]; i++) {
		switch (state) {
		case 0:
			if (s[i] == 'a') { state = 1; continue; }
			acc = acc * 3 + (uint32_t)s[i];
			break;
		case 1:
			acc ^= (uint32_t)s[i] << (i & 7);
			/* fallthrough */
		case 2:
			state = (s[i] == 'z') ? 3 : 2;
			acc += (uint32_t)state;
			break;
		case 3:
			goto done;
		}
		acc = step_i((int)acc);
	}
done:
	return acc;
}

// Searches a grid with nested loops, leaving all loops at once with goto and
// returning from inside the innermost loop.
__attribute__((noinline)) static int find_first(int limit, int *out_i, int *out_j) {
	for (int i = 0; i < 100; i++) {
		for (int j = 0; j < 100; j++) {
			int v = classify(i * 100 + j);
			if (v > limit) {
				*out_i = i;
				*out_j = j;
				return v;
			}
		}
	}
	return -1;
}

int main(void) {
	// Many values of every numeric type live across calls.
	int i1 = 1, i2 = 2, i3 = 3;
	long long l1 = 10, l2 = 20;
	float f1 = 0.5f, f2 = 1.5f;
	double d1 = 0.25, d2 = 2.5;
	uint32_t mix = 0;
	for (int n = 0; n < 2000; n++) {
		i1 = step_i(i1);
		l1 = step_ll(l1 ^ i1);
		f1 = step_f(f1) + (float)(n & 7) * 0.125f;
		d1 = step_d(d1 + f1);
		i2 = (int)((unsigned)i2 + (unsigned)classify(i1 >> 8));
		l2 += (l1 >> 40) + i2;  // stays far below overflow
		f2 = f2 * 0.5f + step_f((float)(i2 & 1023));
		d2 = d2 * 0.25 + step_d((double)(l2 & 4095));
		i3 ^= (int)(d2 * 16.0) + (int)(f2 * 8.0f);
		mix = mix * 16777619u ^ (uint32_t)i1 ^ (uint32_t)(l1 >> 32) ^ (uint32_t)i3;
		if ((n & 511) == 511)
			printf("n=%d i=%d,%d,%d l=%lld,%lld f=%.4f,%.4f d=%.6f,%.6f mix=%08x\n",
			       n, i1, i2, i3, l1, l2, f1, f2, d1, d2, mix);
	}

	// Nested loops with continue and break at several levels.
	uint64_t h = 1469598103934665603ULL;
	int count = 0;
	for (int a = 0; a < 40; a++) {
		if (a % 7 == 3)
			continue;
		for (int b = 0; b < 40; b++) {
			if (b > a)
				break;
			for (int c = 0; c < 8; c++) {
				int v = classify(a * 40 * 8 + b * 8 + c);
				if (v == 42)
					continue;
				if (v < -1000)
					goto next_a;
				h = (h ^ (uint64_t)(uint32_t)v) * 1099511628211ULL;
				count++;
			}
		}
	next_a:;
	}
	printf("nested: count=%d hash=%016llx\n", count, (unsigned long long)h);

	// A do-while and a while with a computed exit.
	int x = 27, steps = 0;
	do {
		x = (x & 1) ? 3 * x + 1 : x / 2;
		steps++;
	} while (x != 1);
	printf("collatz(27) steps=%d\n", steps);
	long long w = 1;
	int k = 0;
	while (1) {
		w = step_ll(w);
		if ((w & 0xfff) == 0x123 || ++k >= 100000)
			break;
	}
	printf("while: k=%d w=%lld\n", k, w);

	int fi = -1, fj = -1;
	int fv = find_first(8000, &fi, &fj);
	printf("find_first: v=%d at (%d,%d)\n", fv, fi, fj);
	printf("state_machine: %08x %08x %08x\n", state_machine("hello world"),
	       state_machine("banana split z!"), state_machine("abcdefghijklmnopqrstuvwxyz"));

	// A switch over all br_table targets, summed.
	long long total = 0;
	for (int v = -50; v < 5000; v++)
		total += classify(v);
	printf("classify total=%lld\n", total);
	return 0;
}
