// CPU backend: the kernel headers compiled by the host C++ compiler, exposed
// as a plain C ABI over contiguous arrays (loaded with ctypes, see
// nanogate/gpu/cpu.py). Loops are OpenMP-parallel; ctypes drops the GIL
// around each call.
#include "black.cuh"
#include "iv.cuh"
#include "american.cuh"
#include "realized.cuh"

#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#define NG_EXPORT extern "C" __attribute__((visibility("default")))

typedef long long i64;

// Chunks big enough to amortise scheduling, small enough to balance the
// IV loop whose cost varies per element.
#define NG_CHUNK 4096

NG_EXPORT int ng_abi_version() { return 1; }

NG_EXPORT int ng_max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

NG_EXPORT void ng_set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

// Null output pointers are skipped, so callers pay only for what they keep.
NG_EXPORT void ng_black_greeks(i64 n, const double* s, const double* k, const double* t,
                               const double* r, const double* q, const double* sigma,
                               const int* is_call, int model, double* price, double* delta,
                               double* gamma, double* vega, double* theta, double* rho,
                               double* vanna, double* volga, int* status) {
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        ng::Greeks g;
        int st = ng::black_greeks(s[i], k[i], t[i], r[i], q[i], sigma[i], is_call[i], model, g);
        if (price) price[i] = g.price;
        if (delta) delta[i] = g.delta;
        if (gamma) gamma[i] = g.gamma;
        if (vega) vega[i] = g.vega;
        if (theta) theta[i] = g.theta;
        if (rho) rho[i] = g.rho;
        if (vanna) vanna[i] = g.vanna;
        if (volga) volga[i] = g.volga;
        if (status) status[i] = st;
    }
}

NG_EXPORT void ng_black_price(i64 n, const double* s, const double* k, const double* t,
                              const double* r, const double* q, const double* sigma,
                              const int* is_call, int model, double* price, int* status) {
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        int st = ng::black_price(s[i], k[i], t[i], r[i], q[i], sigma[i], is_call[i], model,
                                 price[i]);
        if (status) status[i] = st;
    }
}

NG_EXPORT void ng_implied_vol(i64 n, const double* price, const double* s, const double* k,
                              const double* t, const double* r, const double* q,
                              const int* is_call, int model, double* vol, int* status) {
#pragma omp parallel for schedule(dynamic, NG_CHUNK)
    for (i64 i = 0; i < n; ++i) {
        status[i] = ng::implied_vol(price[i], s[i], k[i], t[i], r[i], q[i], is_call[i], model,
                                    vol[i]);
    }
}

// Normalised building blocks, exported for the accuracy tests.
NG_EXPORT void ng_normalised_black(i64 n, const double* x, const double* s, double* out) {
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) out[i] = ng::normalised_black(x[i], s[i]);
}

NG_EXPORT void ng_implied_s_otm_call(i64 n, const double* beta, const double* x, double* s,
                                     int* status) {
#pragma omp parallel for schedule(dynamic, NG_CHUNK)
    for (i64 i = 0; i < n; ++i) status[i] = ng::implied_s_otm_call(beta[i], x[i], s[i]);
}

NG_EXPORT void ng_american_price(i64 n, const double* s, const double* k, const double* t,
                                 const double* r, const double* q, const double* sigma,
                                 const int* is_call, int steps, double* price, int* status) {
#pragma omp parallel
    {
        std::vector<double> work((steps | 1) + 2);
#pragma omp for schedule(dynamic, 1)
        for (i64 i = 0; i < n; ++i) {
            status[i] = ng::american_price(s[i], k[i], t[i], r[i], q[i], sigma[i], is_call[i],
                                           steps, work.data(), price[i]);
        }
    }
}

NG_EXPORT void ng_american_iv(i64 n, const double* price, const double* s, const double* k,
                              const double* t, const double* r, const double* q,
                              const int* is_call, int steps, double* vol, int* status) {
#pragma omp parallel
    {
        std::vector<double> work((steps | 1) + 2);
#pragma omp for schedule(dynamic, 1)
        for (i64 i = 0; i < n; ++i) {
            status[i] = ng::american_iv(price[i], s[i], k[i], t[i], r[i], q[i], is_call[i],
                                        steps, work.data(), vol[i]);
        }
    }
}

NG_EXPORT void ng_realized_vol(i64 n_instruments, const i64* offsets, const double* open,
                               const double* high, const double* low, const double* close,
                               double lambda, double periods_per_year, double* c2c,
                               double* parkinson, double* garman_klass, double* ewma,
                               int* status) {
#pragma omp parallel for schedule(dynamic, 16)
    for (i64 i = 0; i < n_instruments; ++i) {
        ng::Realized rv;
        status[i] = ng::realized_vol(open, high, low, close, offsets[i], offsets[i + 1], lambda,
                                     periods_per_year, rv);
        c2c[i] = rv.close_to_close;
        parkinson[i] = rv.parkinson;
        garman_klass[i] = rv.garman_klass;
        ewma[i] = rv.ewma;
    }
}
