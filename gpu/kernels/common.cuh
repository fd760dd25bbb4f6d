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
#else
#include <cmath>
#include <cfloat>
#define NG_HD inline
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
NG_HD double nan_value() {
#ifdef NG_DEVICE
    return __longlong_as_double(0x7ff8000000000000LL);
#else
    return NAN;
#endif
}

NG_HD double inf_value() {
#ifdef NG_DEVICE
    return __longlong_as_double(0x7ff0000000000000LL);
#else
    return HUGE_VAL;
#endif
}

// Comparisons instead of isnan/isfinite: those are macros on the host and
// functions on the device.
NG_HD bool is_finite(double x) { return fabs(x) <= NG_DBL_MAX; }
NG_HD bool is_nan(double x) { return x != x; }

NG_HD double dmax(double a, double b) { return a > b ? a : b; }
NG_HD double dmin(double a, double b) { return a < b ? a : b; }

// erfcx(x) = exp(x^2) erfc(x). CUDA has it; libm does not.
NG_HD double erfcx(double x) {
#ifdef NG_DEVICE
    return ::erfcx(x);
#else
    if (x < 26.0) {
        // x*x split into hi + lo so exp(x^2) keeps full relative accuracy
        // (a plain exp(x*x) loses x^2 ulps for large |x|).
        double hi = x * x;
        double lo = fma(x, x, -hi);
        return exp(hi) * (1.0 + lo) * ::erfc(x);
    }
    // erfc underflows past ~26.5: asymptotic series, 8 terms reach 1e-17.
    double s = 1.0 / (2.0 * x * x);
    double p = 1.0 + s * (-1.0 + s * (3.0 + s * (-15.0 + s * (105.0 + s * (-945.0
             + s * (10395.0 + s * -135135.0))))));
    return p / (x * NG_SQRT_PI);
#endif
}

NG_HD double norm_pdf(double x) { return NG_INV_SQRT_2PI * exp(-0.5 * x * x); }

// Phi(x) through erfc keeps relative accuracy in the lower tail.
NG_HD double norm_cdf(double x) { return 0.5 * erfc(-x / NG_SQRT2); }

// Rough inverse of Phi for p in (0, 1): Abramowitz & Stegun 26.2.23
// (|error| < 4.5e-4), enough for a starting point that Householder refines.
NG_HD double inv_norm_cdf_approx(double p) {
    double q = p < 0.5 ? p : 1.0 - p;
    double t = sqrt(-2.0 * log(q));
    double z = t - (2.515517 + t * (0.802853 + t * 0.010328))
                   / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
    return p < 0.5 ? -z : z;
}

// ln(S/K) + carry with full relative accuracy near the money, where S - K is
// exact (Sterbenz) and log(S/K) would carry an absolute error of one ulp.
NG_HD double log_moneyness(double s, double k, double carry) {
    double ratio = s / k;
    double lm = (ratio > 0.5 && ratio < 2.0) ? log1p((s - k) / k) : log(ratio);
    return lm + carry;
}

}  // namespace ng
