// floats.c exercises float and double arithmetic, libm, printf of %f/%g/%e/%a,
// NaN/infinity/-0.0 handling and int<->float conversions of every width, so
// f32/f64 values in locals, on the value stack and in memory must survive
// unwinding bit-exactly. (The sign and payload of NaNs produced by arithmetic
// are nondeterministic in WebAssembly, so computed NaNs print as "nan".)
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static uint32_t f32bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static uint64_t f64bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

// Prints a double; NaNs print without sign.
__attribute__((noinline)) static void pd(const char *label, double d) {
	if (isnan(d))
		printf("%s = nan\n", label);
	else
		printf("%s = %.17g (%a) bits=%016" PRIx64 "\n", label, d, d, f64bits(d));
}
__attribute__((noinline)) static void pf(const char *label, float f) {
	if (isnan(f))
		printf("%s = nan\n", label);
	else
		printf("%s = %.9g (%a) bits=%08" PRIx32 "\n", label, (double)f, (double)f, f32bits(f));
}

// volatile so the compiler cannot fold the special values at compile time.
static volatile double vzero = 0.0, vone = 1.0, vbig = 1e308, vtiny = 5e-324;
static volatile float fzero = 0.0f, fone = 1.0f;

__attribute__((noinline)) static double series(int n) {
	// Leibniz series for pi, summed backwards for accuracy.
	double s = 0.0;
	for (int k = n - 1; k >= 0; k--)
		s += (k & 1 ? -4.0 : 4.0) / (2.0 * k + 1.0);
	return s;
}

__attribute__((noinline)) static float fsum(int n) {
	float s = 0.0f, c = 0.0f; // Kahan summation
	for (int i = 1; i <= n; i++) {
		float y = 1.0f / (float)i - c;
		float t = s + y;
		c = (t - s) - y;
		s = t;
	}
	return s;
}

int main(void) {
	printf("formats: %f %.3f %e %.10e %g %g %g %a %a\n", 3.14159265358979, 2.0 / 3.0, 12345.678,
	       1.0 / 7.0, 1e-5, 123456789.0, 0.0001, 1.0, -0.1);
	printf("widths: [%10.4f] [%-10.2e] [%+g] [%08.3f] [%.0f] [%.0f] [%.0f]\n", 3.14159, 31415.9, 2.5,
	       -3.5, 0.5, 1.5, 2.5);
	pd("pi series", series(100000));
	pf("harmonic f32", fsum(100000));

	pd("sqrt(2)", sqrt(2.0 * vone));
	pd("cbrt(27)", cbrt(27.0 * vone));
	pd("sin(1)", sin(vone));
	pd("cos(1)", cos(vone));
	pd("tan(0.5)", tan(0.5 * vone));
	pd("atan2(1,-1)", atan2(vone, -vone));
	pd("exp(1)", exp(vone));
	pd("log(10)", log(10.0 * vone));
	pd("pow(2,0.5)", pow(2.0 * vone, 0.5));
	pd("pow(1.0001,10000)", pow(1.0001 * vone, 10000.0));
	pd("fmod(10,3.3)", fmod(10.0 * vone, 3.3));
	pd("hypot(3,4)", hypot(3.0 * vone, 4.0));
	pf("sqrtf(3)", sqrtf(3.0f * fone));
	pf("expf(-2)", expf(-2.0f * fone));
	pf("sinf(0.3)", sinf(0.3f * fone));
	pf("powf(1.5,7)", powf(1.5f * fone, 7.0f));

	double vals[] = {2.5, -2.5, 3.5, -0.4, 0.5, 1e15 + 0.5, -7.999999};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		double v = vals[i] * vone;
		printf("round %g: floor=%g ceil=%g trunc=%g round=%g nearbyint=%g rint=%g llround=%lld\n", v,
		       floor(v), ceil(v), trunc(v), round(v), nearbyint(v), rint(v), llround(v));
	}

	// Infinities, NaNs, signed zeros.
	double inf = vone / vzero, ninf = -vone / vzero, nan1 = vzero / vzero;
	pd("inf", inf);
	pd("-inf", ninf);
	pd("inf-inf", inf - inf);
	pd("0/0", nan1);
	pd("-0.0", -vzero);
	pd("1/-inf", vone / ninf);
	pd("overflow", vbig * 10.0);
	pd("denormal", vtiny);
	pd("denormal/2", vtiny / 2.0);
	pd("DBL_MIN/3", DBL_MIN * vone / 3.0);
	pf("FLT_MAX*2", FLT_MAX * fone * 2.0f);
	pf("FLT_TRUE_MIN", FLT_TRUE_MIN * fone);
	pf("-0.0f", -fzero);
	printf("nan compare: == %d != %d < %d > %d <= %d isnan %d isinf %d %d signbit(-0) %d\n", nan1 == nan1,
	       nan1 != nan1, nan1 < 1.0, nan1 > 1.0, nan1 <= nan1, isnan(nan1), isinf(inf) != 0, isinf(ninf) != 0,
	       signbit(-vzero) != 0);
	pd("fmin(nan,1)", fmin(nan1, vone));
	pd("fmax(2,nan)", fmax(2.0 * vone, nan1));
	pd("fmin(-0,0)", fmin(-vzero, vzero));
	pd("copysign(3,-0)", copysign(3.0 * vone, -vzero));
	printf("inf formats: %f %e %g %F\n", inf, ninf, inf, ninf);
	printf("fpclassify: %d %d %d %d %d\n", fpclassify(inf) == FP_INFINITE, fpclassify(nan1) == FP_NAN,
	       fpclassify(vtiny) == FP_SUBNORMAL, fpclassify(vzero) == FP_ZERO, fpclassify(vone) == FP_NORMAL);
	int e;
	double m = frexp(1234.5 * vone, &e);
	printf("frexp: %g * 2^%d, ldexp: %g, modf: ", m, e, ldexp(m, e));
	double ip;
	double fp = modf(-3.75 * vone, &ip);
	printf("%g %g\n", ip, fp);

	// Conversions: ints of every width to and from floats.
	int32_t i32s[] = {0, 1, -1, 16777217, -16777217, INT32_MAX, INT32_MIN};
	for (size_t i = 0; i < sizeof i32s / sizeof i32s[0]; i++) {
		volatile int32_t v = i32s[i];
		printf("i32 %" PRId32 ": f32=%.9g f64=%.17g u32->f32=%.9g\n", v, (double)(float)v, (double)v,
		       (double)(float)(uint32_t)v);
	}
	int64_t i64s[] = {0, -1, 9007199254740993LL, INT64_MAX, INT64_MIN, 1LL << 62};
	for (size_t i = 0; i < sizeof i64s / sizeof i64s[0]; i++) {
		volatile int64_t v = i64s[i];
		printf("i64 %" PRId64 ": f32=%.9g f64=%.17g u64->f32=%.9g u64->f64=%.17g\n", v, (double)(float)v,
		       (double)v, (double)(float)(uint64_t)v, (double)(uint64_t)v);
	}
	double ds[] = {0.9, -0.9, 2147483647.0, -2147483648.0, 4294967295.0, 9.2e18, -9.2e18, 1.8e19,
	               123456789.987654321};
	for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
		volatile double v = ds[i];
		printf("f64 %.17g:", v);
		if (v > -2147483649.0 && v < 2147483648.0)
			printf(" i32=%" PRId32, (int32_t)v);
		if (v > -1.0 && v < 4294967296.0)
			printf(" u32=%" PRIu32, (uint32_t)v);
		if (v >= -9223372036854775808.0 && v < 9223372036854775808.0)
			printf(" i64=%" PRId64, (int64_t)v);
		if (v > -1.0 && v < 18446744073709551616.0)
			printf(" u64=%" PRIu64, (uint64_t)v);
		printf(" f32=%.9g\n", (double)(float)v);
	}
	volatile float f = 3.99f;
	printf("f32 3.99: i32=%d u64=%llu f64=%.17g\n", (int)f, (unsigned long long)f, (double)f);

	// A small numerical integration mixing float and double state.
	double y = 1.0, t = 0.0;
	float yf = 1.0f;
	for (int i = 0; i < 1000; i++) {
		double h = 0.001;
		double k1 = -2.0 * t * y;
		double k2 = -2.0 * (t + h / 2) * (y + h / 2 * k1);
		double k3 = -2.0 * (t + h / 2) * (y + h / 2 * k2);
		double k4 = -2.0 * (t + h) * (y + h * k3);
		y += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
		yf += (float)h * (-2.0f * (float)t * yf);
		t += h;
	}
	pd("rk4 y(1)", y);
	pd("exp(-1)", exp(-vone));
	pf("euler y(1)", yf);
	return 0;
}
