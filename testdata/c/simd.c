// simd.c exercises 128-bit SIMD (built with -msimd128): v128 loads/stores,
// lane extract/replace, shuffles/swizzles, integer and float vector arithmetic,
// saturating/widening/narrowing ops, and v128 values live across calls, so
// unwinding must save and restore v128 locals and operand-stack values.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wasm_simd128.h>

static uint32_t fnv(uint32_t h, const void *p, size_t n) {
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}
static uint32_t vhash(uint32_t h, v128_t v) {
	uint8_t b[16];
	wasm_v128_store(b, v);
	return fnv(h, b, 16);
}

// Takes and returns v128 by value; noinline keeps the call boundary.
__attribute__((noinline)) static v128_t mix(v128_t a, v128_t b, int round) {
	v128_t x = wasm_i32x4_add(a, wasm_i32x4_shuffle(b, b, 1, 2, 3, 0));
	x = wasm_v128_xor(x, wasm_i32x4_shl(x, (uint32_t)(round % 7 + 1)));
	x = wasm_i32x4_mul(x, wasm_i32x4_splat(0x9e3779b1));
	return wasm_v128_xor(x, wasm_u32x4_shr(x, 15));
}

__attribute__((noinline)) static int noop(int x) { return x * 3 + 1; }

// Read at run time so the compiler cannot constant-fold the vector code.
static volatile int seed = 11;

// Dot product of float arrays, 4 lanes at a time, with a scalar tail.
__attribute__((noinline)) static float dot(const float *a, const float *b, int n) {
	v128_t acc = wasm_f32x4_splat(0.0f);
	int i = 0;
	for (; i + 4 <= n; i += 4)
		acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
	float s = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) +
	          wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

// A plain loop that clang auto-vectorizes with -msimd128.
__attribute__((noinline)) static void saxpy(int32_t *y, const int32_t *x, int32_t a, int n) {
	for (int i = 0; i < n; i++)
		y[i] = a * x[i] + y[i];
}

int main(void) {
	uint32_t h = 2166136261u;

	// Integer lanes, with v128 state carried across calls.
	v128_t s0 = wasm_i32x4_make(1, 2, 3, 4);
	v128_t s1 = wasm_i32x4_make(0x01234567, (int32_t)0x89abcdef, 0x7f00ff00, -5);
	v128_t s2 = wasm_i64x2_make(0x0123456789abcdefLL, -42);
	int k = 0;
	for (int r = 0; r < 1000; r++) {
		v128_t t = mix(s0, s1, r);
		k = noop(k) & 0xffff; // s0, s1, s2, t live across this call
		s1 = s0;
		s0 = wasm_v128_xor(t, wasm_i32x4_splat(k));
		s2 = wasm_i64x2_add(s2, wasm_i64x2_extend_low_i32x4(s0));
	}
	printf("mix: %08x %08x %08x %08x k=%d\n", wasm_i32x4_extract_lane(s0, 0), wasm_i32x4_extract_lane(s0, 1),
	       wasm_i32x4_extract_lane(s0, 2), wasm_i32x4_extract_lane(s0, 3), k);
	printf("i64x2: %016llx %016llx\n", (unsigned long long)wasm_i64x2_extract_lane(s2, 0),
	       (unsigned long long)wasm_i64x2_extract_lane(s2, 1));

	// Bytes: shuffles, swizzle, saturating arithmetic, comparisons, bitmask.
	uint8_t bytes[32];
	for (int i = 0; i < 32; i++)
		bytes[i] = (uint8_t)(i * 37 + seed);
	v128_t a = wasm_v128_load(bytes), b = wasm_v128_load(bytes + 16);
	v128_t rev = wasm_i8x16_shuffle(a, b, 31, 0, 30, 1, 29, 2, 28, 3, 27, 4, 26, 5, 25, 6, 24, 7);
	// Swizzle indices 16 and -56 are out of range and select 0.
	v128_t sw = wasm_i8x16_swizzle(a, wasm_i8x16_make(15, 14, 13, 12, 3, 2, 1, 0, 16, -56, 7, 7, 7, 7, 5, 9));
	v128_t adds = wasm_u8x16_add_sat(a, b), subs = wasm_i8x16_sub_sat(a, b);
	v128_t avg = wasm_u8x16_avgr(a, b), mn = wasm_u8x16_min(a, b), mx = wasm_i8x16_max(a, b);
	v128_t gt = wasm_i8x16_gt(a, b);
	v128_t sel = wasm_v128_bitselect(a, b, gt);
	h = vhash(h, rev);
	h = vhash(h, sw);
	h = vhash(h, adds);
	h = vhash(h, subs);
	h = vhash(h, avg);
	h = vhash(h, mn);
	h = vhash(h, mx);
	h = vhash(h, sel);
	h = vhash(h, wasm_i8x16_popcnt(a));
	h = vhash(h, wasm_i8x16_abs(b));
	printf("bytes: rev0=%u sw0=%u bitmask=%04x any=%d all=%d hash=%08x\n", wasm_u8x16_extract_lane(rev, 0),
	       wasm_u8x16_extract_lane(sw, 0), wasm_i8x16_bitmask(gt), wasm_v128_any_true(gt),
	       wasm_i8x16_all_true(a), h);

	// 16-bit lanes: widen, narrow, multiply, q15, dot product.
	v128_t w0 = wasm_u16x8_extend_low_u8x16(a), w1 = wasm_i16x8_extend_high_i8x16(b);
	v128_t prod = wasm_i16x8_mul(w0, w1);
	v128_t q15 = wasm_i16x8_q15mulr_sat(w0, w1);
	v128_t dotv = wasm_i32x4_dot_i16x8(w0, w1);
	v128_t nar = wasm_u8x16_narrow_i16x8(prod, w1);
	v128_t em = wasm_i32x4_extmul_high_i16x8(w0, w1);
	h = vhash(h, prod);
	h = vhash(h, q15);
	h = vhash(h, dotv);
	h = vhash(h, nar);
	h = vhash(h, em);
	printf("i16: prod3=%d dot=%d,%d,%d,%d hash=%08x\n", wasm_i16x8_extract_lane(prod, 3),
	       wasm_i32x4_extract_lane(dotv, 0), wasm_i32x4_extract_lane(dotv, 1), wasm_i32x4_extract_lane(dotv, 2),
	       wasm_i32x4_extract_lane(dotv, 3), h);

	// Lane replace and extract of every shape.
	v128_t r = wasm_i32x4_splat(seed - 11);
	r = wasm_i8x16_replace_lane(r, 0, -1);
	r = wasm_i16x8_replace_lane(r, 1, 0x1234);
	r = wasm_i32x4_replace_lane(r, 1, 0x55667788);
	r = wasm_f32x4_replace_lane(r, 2, 1.5f);
	r = wasm_i64x2_replace_lane(r, 1, wasm_i64x2_extract_lane(r, 1) ^ (1LL << 62));
	printf("lanes: %d %u %d %x %g %llx\n", wasm_i8x16_extract_lane(r, 0), wasm_u8x16_extract_lane(r, 0),
	       wasm_i16x8_extract_lane(r, 1), wasm_i32x4_extract_lane(r, 1), (double)wasm_f32x4_extract_lane(r, 2),
	       (unsigned long long)wasm_i64x2_extract_lane(r, 1));

	// Floats: arithmetic, sqrt, rounding, min/max, conversions.
	float fa[64], fb[64];
	for (int i = 0; i < 64; i++) {
		fa[i] = (float)(i + seed - 11) * 0.25f - 3.0f;
		fb[i] = 1.0f / (float)(i + 1);
	}
	printf("dot: %.6f\n", (double)dot(fa, fb, 63));
	v128_t f0 = wasm_v128_load(fa + 8), f1 = wasm_v128_load(fb + 8);
	v128_t fsq = wasm_f32x4_sqrt(wasm_f32x4_abs(f0));
	v128_t fdiv = wasm_f32x4_div(f0, f1);
	v128_t fmn = wasm_f32x4_min(f0, f1), fmx = wasm_f32x4_pmax(f0, f1);
	v128_t fnear = wasm_f32x4_nearest(wasm_f32x4_mul(f0, wasm_f32x4_splat(3.3f)));
	v128_t ftr = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_mul(f0, wasm_f32x4_splat(1e9f)));
	v128_t fconv = wasm_f32x4_convert_i32x4(wasm_i32x4_make(-7, 16777217, 2147483647, seed));
	v128_t d0 = wasm_f64x2_promote_low_f32x4(fdiv);
	v128_t d1 = wasm_f64x2_sqrt(wasm_f64x2_make(2.0 + (seed - 11), 1e-300));
	v128_t d2 = wasm_f64x2_mul(d0, d1);
	v128_t dconv = wasm_f64x2_convert_low_i32x4(wasm_i32x4_make(-2147483647 - 1, 77 + seed, 0, 0));
	v128_t ddem = wasm_f32x4_demote_f64x2_zero(d2);
	h = 2166136261u;
	h = vhash(h, fsq);
	h = vhash(h, fdiv);
	h = vhash(h, fmn);
	h = vhash(h, fmx);
	h = vhash(h, fnear);
	h = vhash(h, ftr);
	h = vhash(h, fconv);
	h = vhash(h, d0);
	h = vhash(h, d1);
	h = vhash(h, d2);
	h = vhash(h, dconv);
	h = vhash(h, ddem);
	printf("f32x4: sqrt=%g div=%g near=%g trunc_sat=%d,%d conv=%g\n", (double)wasm_f32x4_extract_lane(fsq, 1),
	       (double)wasm_f32x4_extract_lane(fdiv, 2), (double)wasm_f32x4_extract_lane(fnear, 3),
	       wasm_i32x4_extract_lane(ftr, 0), wasm_i32x4_extract_lane(ftr, 3),
	       (double)wasm_f32x4_extract_lane(fconv, 1));
	printf("f64x2: %.17g %.17g conv=%g hash=%08x\n", wasm_f64x2_extract_lane(d2, 0), wasm_f64x2_extract_lane(d2, 1),
	       wasm_f64x2_extract_lane(dconv, 0), h);

	// Auto-vectorized loop, and a 16-byte aligned copy through v128 locals.
	static int32_t xs[1003], ys[1003];
	for (int i = 0; i < 1003; i++) {
		xs[i] = i * 7 - 500;
		ys[i] = i ^ 0x5a5a;
	}
	for (int rep = 0; rep < 50; rep++)
		saxpy(ys, xs, rep - 25, 1003);
	printf("saxpy: hash=%08x y[1002]=%d\n", fnv(2166136261u, ys, sizeof ys), ys[1002]);
	return 0;
}
