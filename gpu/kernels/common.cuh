// Shared prelude of every analytics kernel.
//
// The headers in this folder are written in the common subset of CUDA C++ and
// C++17: NVRTC compiles them for the GPU (CuPy RawModule) and g++ compiles the
// very same text into the CPU extension. Rules that keep both happy:
//   * no standard library beyond <cmath> on the host (NVRTC has none),
//   * unqualified math calls (exp, log, erfc, ...) resolve to the CUDA math
//     library on the device and to libm on the host,
//   * constants are macros (namespace-scope constexpr is not usable from
//     device code without --expt-relaxed-constexpr),
//   * every element function is NG_HD (host + device, inline).
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define NG_DEVICE 1
#define NG_HD __host__ __device__ __forceinline__
#define NG_HDI __host__ __device__ __forceinline__
#define NG_UNROLL _Pragma("unroll")
#else
#include <cmath>
#include <cfloat>
// Everything is inlined into the batch loops of cpu_backend.cpp, which are
// compiled once per instruction set (target_clones): a function left out of
// line would be compiled for baseline x86-64 only (no FMA: every fma() a call).
#define NG_HD inline __attribute__((always_inline))
// Forced inlining for the small functions used by the vectorised fast paths:
// a call left in a loop body stops GCC from vectorising the loop.
#define NG_HDI inline __attribute__((always_inline))
// Fixed-count loops inside vectorised loop bodies must be unrolled completely.
#define NG_UNROLL _Pragma("GCC unroll 64")
#endif

#define NG_PI 3.14159265358979323846
#define NG_SQRT2 1.41421356237309504880
#define NG_SQRT_PI 1.77245385090551602730
#define NG_SQRT_2PI 2.50662827463100050242
#define NG_INV_SQRT_2PI 0.39894228040143267794
#define NG_SQRT_PI_OVER_2 1.25331413731550025121
#define NG_DBL_EPS 2.220446049250313e-16
#define NG_DBL_MAX 1.7976931348623157e308

// Per-element status codes shared by every kernel and by the Python side
// (nanogate.gpu.status mirrors them).
#define NG_OK 0
#define NG_BELOW_INTRINSIC 1
#define NG_ABOVE_MAX_PRICE 2
#define NG_INVALID_INPUT 3
#define NG_NOT_CONVERGED 4

namespace ng {

// NaN without <limits> or a division by zero that -ffast-math could fold.
NG_HDI double nan_value() {
#ifdef NG_DEVICE
    return __longlong_as_double(0x7ff8000000000000LL);
#else
    return NAN;
#endif
}

NG_HDI double inf_value() {
#ifdef NG_DEVICE
    return __longlong_as_double(0x7ff0000000000000LL);
#else
    return HUGE_VAL;
#endif
}

// Comparisons instead of isnan/isfinite: those are macros on the host and
// functions on the device.
NG_HDI bool is_finite(double x) { return fabs(x) <= NG_DBL_MAX; }
NG_HDI bool is_nan(double x) { return x != x; }

NG_HDI double dmax(double a, double b) { return a > b ? a : b; }
NG_HDI double dmin(double a, double b) { return a < b ? a : b; }

#ifndef NG_DEVICE
// ---------------------------------------------------------------------------
// Host-only math: branch-free, inlinable replacements for libm's exp, log and
// erfc, so that `#pragma omp simd` loops over the kernels vectorise (a libm
// call in a loop body stops GCC from vectorising it) and scalar code avoids
// ~10-30 ns calls. Accuracy ~1 ulp (exp, log) and ~2 ulp (erfcx), checked
// against mpmath in tests/gpu/test_fastmath.py. The device keeps CUDA's own
// (already fast and accurate) functions, see the wrappers below.
#define NG_LOG2E 1.4426950408889634
#define NG_LN2_HI 0.6931471805599453
#define NG_LN2_LO 2.3190468138462996e-17
#define NG_SQRT1_2 0.70710678118654752440

NG_HDI double bits_double(long long b) { double d; __builtin_memcpy(&d, &b, 8); return d; }
NG_HDI long long double_bits(double d) { long long b; __builtin_memcpy(&b, &d, 8); return b; }

// e^x: x = n ln2 + r, |r| <= ln2/2, Taylor degree 13 (truncation 4e-18), 2^n
// applied in two halves so results down to the subnormal range are right and
// past the range give 0 / inf. NaN propagates through r.
NG_HDI double host_exp_core(double x, double& em1_small) {
    // Integer tricks stay within what AVX2 vectorises (64-bit add/sub and left
    // shifts; no 64-bit int<->double conversion, no arithmetic right shift):
    // adding 1.5 * 2^52 rounds to an integer held in the low mantissa bits.
    const double magic = 6755399441055744.0;
    const long long magic_bits = 0x4338000000000000LL;
    double xc = x < -746.0 ? -746.0 : (x > 710.0 ? 710.0 : x);
    double n = fma(xc, NG_LOG2E, magic) - magic;
    double r = fma(-n, NG_LN2_HI, xc);
    r = fma(-n, NG_LN2_LO, r);
    double p = 1.0 / 6227020800.0;
    p = fma(p, r, 1.0 / 479001600.0);
    p = fma(p, r, 1.0 / 39916800.0);
    p = fma(p, r, 1.0 / 3628800.0);
    p = fma(p, r, 1.0 / 362880.0);
    p = fma(p, r, 1.0 / 40320.0);
    p = fma(p, r, 1.0 / 5040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r * r, r);  // e^r - 1 = r + r^2 (1/2 + r/6 + ...)
    // 2^n as 2^n1 * 2^n2 so that subnormal results come out right.
    double k1 = fma(n, 0.5, magic);
    double n2 = n - (k1 - magic);
    double k2 = n2 + magic;
    double s1 = bits_double((double_bits(k1) - magic_bits + 1023) << 52);
    double s2 = bits_double((double_bits(k2) - magic_bits + 1023) << 52);
    em1_small = p;  // e^x - 1 when n == 0 (|x| < ln2/2), to full relative accuracy
    return n == 0.0 ? 1.0 + p : (1.0 + p) * s1 * s2;
}

NG_HDI double host_exp(double x) {
    double unused;
    return host_exp_core(x, unused);
}

// e^x - 1 with full relative accuracy near 0.
NG_HDI double host_expm1(double x) {
    double p;
    double e = host_exp_core(x, p);
    return fabs(x) < 0.34 ? p : e - 1.0;
}

// x = 2^e m with m in [sqrt(1/2), sqrt(2)); subnormals are pre-scaled by 2^54.
NG_HDI void split_log_arg(double x, double& m, double& e) {
    bool sub = x < 2.2250738585072014e-308;
    double xs = sub ? x * 18014398509481984.0 : x;
    long long b = double_bits(xs);
    // biased exponent to double without an int64 -> double conversion
    double eb = bits_double(((b >> 52) & 0x7ff) | 0x4330000000000000LL) - 4503599627370496.0;
    m = bits_double((b & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
    bool big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = eb - 1023.0 + (big ? 1.0 : 0.0) - (sub ? 54.0 : 0.0);
}

// ln(2^e (1+f)/(1-f)) = e ln2 + 2 atanh(f), f = num/den, summed with the
// rounding errors of den (den_err), of the division and of e*ln2 carried
// separately, so the result is within ~0.5 ulp + a little (the IV objective
// ln b loses |ln b| ulps of absolute accuracy otherwise).
NG_HDI double log_assemble(double e, double num, double den, double den_err, double rel_corr) {
    // One division: f may be an ulp off, the exact residual fma(-f, den, num)
    // puts that back into f_lo, so f + f_lo is as accurate as with num / den.
    double inv = 1.0 / den;
    double f = num * inv;
    double f_lo = (fma(-f, den, num) - f * den_err) * inv;  // num/(den+den_err) - f
    double sq = f * f;
    double p = 1.0 / 21.0;
    p = fma(p, sq, 1.0 / 19.0);
    p = fma(p, sq, 1.0 / 17.0);
    p = fma(p, sq, 1.0 / 15.0);
    p = fma(p, sq, 1.0 / 13.0);
    p = fma(p, sq, 1.0 / 11.0);
    p = fma(p, sq, 1.0 / 9.0);
    p = fma(p, sq, 1.0 / 7.0);
    p = fma(p, sq, 1.0 / 5.0);
    double tail = 2.0 * f * sq * fma(p, sq, 1.0 / 3.0);  // 2 atanh(f) - 2f
    double ph = e * NG_LN2_HI;
    double pl = fma(e, NG_LN2_HI, -ph);
    double low = pl + fma(e, NG_LN2_LO, 2.0 * f_lo + rel_corr + tail);
    double hi = ph + 2.0 * f;  // Fast2Sum: |ph| >= |2f| whenever e != 0
    double err = (ph - hi) + 2.0 * f;
    return hi + (err + low);
}

// ln x for any double, ~0.5 ulp; 0 -> -inf, x < 0 or NaN -> NaN, inf -> inf.
NG_HDI double host_log(double x) {
    double m, e;
    split_log_arg(x, m, e);
    double den = m + 1.0;
    double den_err = (m - (den - 1.0));  // m + 1 is exact to this (|m| < 2)
    double l = log_assemble(e, m - 1.0, den, den_err, 0.0);
    l = x == 0.0 ? -HUGE_VAL : l;
    l = x > NG_DBL_MAX ? x : l;
    return x >= 0.0 ? l : NAN;
}

// ln(a/b) for a, b > 0 with full relative accuracy near a = b: there
// (a-b)/(a+b) is formed from the exact difference a - b (Sterbenz);
// elsewhere the rounding of a/b is corrected to first order.
NG_HDI double host_log_ratio(double a, double b) {
    double ratio = a / b;
    double m, e;
    split_log_arg(ratio, m, e);
    bool near = e == 0.0;
    double num = near ? a - b : m - 1.0;
    double x = near ? a : m, y = near ? b : 1.0;
    double den = x + y;
    double yv = den - x;
    double den_err = (x - (den - yv)) + (y - yv);  // TwoSum
    double corr = near ? 0.0 : fma(-ratio, b, a) / a;  // ln(a/b) - ln(ratio)
    double l = log_assemble(e, num, den, den_err, corr);
    return ratio > NG_DBL_MAX ? ratio : (ratio == 0.0 ? -HUGE_VAL : l);
}

// erfcx(z) = e^{z^2} erfc(z) for z >= 0: (1 + 2z) erfcx(z) is smooth on
// [0, inf] in t = (z - 4)/(z + 4) in [-1, 1]. Its Chebyshev series
// (coefficients computed with mpmath) truncated after T_24 (the tail is
// < 1e-17, 0.05 ulp) and converted, in mpmath, to powers of t (sum |a_k| is
// 1.78 against values >= 1, so the monomial form loses under an ulp).
// Summed as even and odd halves in t^2: one fma per term, where Clenshaw
// needs an fma and a subtraction, and two independent chains of 12 fmas
// instead of one of 27 (the SIMD loops are latency-bound). Same maximum
// error as the 27-term Clenshaw sum it replaced (5 ulp, next to z = 0).
NG_HDI double erfcx_nonneg(double z) {
    double t = (z - 4.0) / (z + 4.0);
    t = z > NG_DBL_MAX ? 1.0 : t;
    double t2 = t * t;
    double pe = -2.659599690242689e-10;
    pe = fma(pe, t2, 3.1695881915648173e-09);
    pe = fma(pe, t2, -2.05606492756992e-08);
    pe = fma(pe, t2, 7.746992727017941e-08);
    pe = fma(pe, t2, 2.919733377963012e-07);
    pe = fma(pe, t2, -1.1221287012353486e-05);
    pe = fma(pe, t2, 0.0001506214900124047);
    pe = fma(pe, t2, -0.0007577732613730956);
    pe = fma(pe, t2, -0.016197734059799265);
    pe = fma(pe, t2, -0.06633036581218697);
    pe = fma(pe, t2, -0.10103906603630056);
    pe = fma(pe, t2, 0.015379652102619604);
    pe = fma(pe, t2, 1.2329951186255526);
    double po = 9.311744978232572e-10;
    po = fma(po, t2, -1.234686604382353e-08);
    po = fma(po, t2, 1.0633855618594884e-07);
    po = fma(po, t2, -8.210939042560568e-07);
    po = fma(po, t2, 5.706604414895734e-06);
    po = fma(po, t2, -2.4397746422436416e-05);
    po = fma(po, t2, -0.00019925714661091188);
    po = fma(po, t2, 0.005031970067657489);
    po = fma(po, t2, 0.03716751552655567);
    po = fma(po, t2, 0.0937328349990944);
    po = fma(po, t2, 0.06809705425466908);
    po = fma(po, t2, -0.1396211168405623);
    return fma(t, po, pe) / fma(2.0, z, 1.0);
}

// e^{-x^2/2} with x^2 kept in double-double, so the result keeps full relative
// accuracy in the tails (a plain exp(-0.5*x*x) loses x^2/2 ulps).
NG_HDI double host_exp_neg_half_sq(double x) {
    double hi = x * x;
    double lo = fma(x, x, -hi);
    lo = hi <= NG_DBL_MAX ? lo : 0.0;  // x = +-inf: e^{-inf}, not inf - inf
    return host_exp(-0.5 * hi) * (1.0 - 0.5 * lo);
}

// Phi(x), full relative accuracy in the lower tail: Phi(-|x|) =
// e^{-x^2/2} erfcx(|x|/sqrt2) / 2.
NG_HDI double host_norm_cdf(double x) {
    double c = 0.5 * host_exp_neg_half_sq(x) * erfcx_nonneg(fabs(x) * NG_SQRT1_2);
    return x < 0.0 ? c : 1.0 - c;
}
#endif

// Wrappers used by the kernels: CUDA's math library on the device, the inline
// versions above on the host.
NG_HDI double m_exp(double x) {
#ifdef NG_DEVICE
    return exp(x);
#else
    return host_exp(x);
#endif
}

NG_HDI double m_expm1(double x) {
#ifdef NG_DEVICE
    return expm1(x);
#else
    return host_expm1(x);
#endif
}

NG_HDI double m_log(double x) {
#ifdef NG_DEVICE
    return log(x);
#else
    return host_log(x);
#endif
}

// erfcx(x) = exp(x^2) erfc(x). CUDA has it; libm does not.
NG_HD double erfcx(double x) {
#ifdef NG_DEVICE
    return ::erfcx(x);
#else
    // x < 0: erfcx(x) = 2 e^{x^2} - erfcx(-x) (no cancellation: the first term dominates).
    double a = erfcx_nonneg(fabs(x));
    if (x >= 0.0) return a;
    double hi = x * x, lo = fma(x, x, -hi);
    lo = hi <= NG_DBL_MAX ? lo : 0.0;
    return 2.0 * host_exp(hi) * (1.0 + lo) - a;
#endif
}

// erfcx(z) for z >= 0 (no branch on the host).
NG_HDI double erfcx_pos(double z) {
#ifdef NG_DEVICE
    return ::erfcx(z);
#else
    return erfcx_nonneg(z);
#endif
}

NG_HDI double norm_pdf(double x) { return NG_INV_SQRT_2PI * m_exp(-0.5 * x * x); }

// Phi(x) with relative accuracy in the lower tail.
NG_HD double norm_cdf(double x) {
#ifdef NG_DEVICE
    return 0.5 * erfc(-x / NG_SQRT2);
#else
    return host_norm_cdf(x);
#endif
}

// e^{-x^2/2} with x^2 in double-double (full relative accuracy in the tails).
NG_HDI double exp_neg_half_sq(double x) {
    double hi = x * x;
    double lo = fma(x, x, -hi);
    lo = hi <= NG_DBL_MAX ? lo : 0.0;  // x = +-inf: e^{-inf}, not inf - inf
    return m_exp(-0.5 * hi) * (1.0 - 0.5 * lo);
}

// Phi(x) given e = exp_neg_half_sq(x), which callers share with the density.
NG_HDI double norm_cdf_given_exp(double x, double e) {
#ifdef NG_DEVICE
    (void)e;
    return norm_cdf(x);
#else
    double c = 0.5 * e * erfcx_nonneg(fabs(x) * NG_SQRT1_2);
    return x < 0.0 ? c : 1.0 - c;
#endif
}

// Rough inverse of Phi for p in (0, 1): Abramowitz & Stegun 26.2.23
// (|error| < 4.5e-4), enough for a starting point that Householder refines.
NG_HD double inv_norm_cdf_approx(double p) {
    double q = p < 0.5 ? p : 1.0 - p;
    double t = sqrt(-2.0 * m_log(q));
    double z = t - (2.515517 + t * (0.802853 + t * 0.010328))
                   / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
    return p < 0.5 ? -z : z;
}

// ln(S/K) + carry with full relative accuracy near the money, where S - K is
// exact (Sterbenz) and log(S/K) would carry an absolute error of one ulp.
NG_HDI double log_moneyness(double s, double k, double carry) {
#ifdef NG_DEVICE
    double ratio = s / k;
    double lm = (ratio > 0.5 && ratio < 2.0) ? log1p((s - k) / k) : log(ratio);
    return lm + carry;
#else
    return host_log_ratio(s, k) + carry;
#endif
}

}  // namespace ng
