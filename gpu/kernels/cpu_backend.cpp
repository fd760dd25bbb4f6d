// CPU backend: the kernel headers compiled by the host C++ compiler, exposed
// as a plain C ABI over contiguous arrays (loaded with ctypes, see
// nanogate/gpu/cpu.py). Loops are OpenMP-parallel; ctypes drops the GIL
// around each call.
#include "black.cuh"
#include "iv.cuh"
#include "american.cuh"
#include "realized.cuh"

#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#define NG_EXPORT extern "C" __attribute__((visibility("default")))

typedef long long i64;

// Chunks big enough to amortise scheduling, small enough to balance the
// IV loop whose cost varies per element.
#define NG_CHUNK 4096

NG_EXPORT int ng_abi_version() { return 2; }

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

// Hot loops are compiled for several instruction sets inside one portable
// binary (GCC function multiversioning: an ifunc resolver picks the best at
// load time), so the wheel needs no -march=native. x86-64-v4 is AVX-512,
// v3 AVX2 + FMA (without FMA every fma() would be a libm call).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(NG_NO_CLONES)
#define NG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NG_CLONES
#endif

// Elements per block: the SIMD pass writes into stack buffers this long (so
// null outputs cost nothing and the loop has no pointer checks), then the
// rare elements the fast path refuses are redone by the scalar full path.
#define NG_BLOCK 512
// Options per scheduling chunk of the greeks loop (a multiple of NG_BLOCK).
#define NG_GREEKS_CHUNK (16 * NG_BLOCK)
// Outputs larger than this (bytes, all arrays of a call) are written with
// non-temporal stores: they cannot stay in a 32 MB L3 anyway, and streaming
// saves the read-for-ownership of every output line (68 of the 188 bytes of
// memory traffic per option with all greeks).
#ifndef NG_STREAM_BYTES
#define NG_STREAM_BYTES (48LL << 20)
#endif

namespace {

struct GreeksOut {
    double* out[8];
    int* status;
    bool stream;  // non-temporal stores (outputs far larger than the caches)
};

// Copy a block of results to its output; with `stream`, non-temporal stores
// (no read-for-ownership of lines that are overwritten whole) where the
// destination is 16-byte aligned.
inline void store_block(void* dst, const void* src, size_t bytes, bool stream) {
#if defined(__x86_64__)
    if (stream && ((uintptr_t)dst & 15) == 0) {
        __m128i* d = (__m128i*)dst;
        const __m128i* s = (const __m128i*)src;
        size_t v = bytes / 16;
        for (size_t i = 0; i < v; ++i) _mm_stream_si128(d + i, _mm_loadu_si128(s + i));
        __builtin_memcpy((char*)dst + 16 * v, (const char*)src + 16 * v, bytes - 16 * v);
        return;
    }
#endif
    (void)stream;
    __builtin_memcpy(dst, src, bytes);
}

NG_CLONES void greeks_range(i64 lo, i64 hi, const double* s, const double* k, const double* t,
                            const double* r, const double* q, const double* sigma,
                            const int* is_call, int model, const GreeksOut& o) {
    double buf[8][NG_BLOCK];
    int slow[NG_BLOCK], idx[NG_BLOCK], refok[NG_BLOCK], sub[NG_BLOCK];
    double refp[NG_BLOCK];
    for (i64 b0 = lo; b0 < hi; b0 += NG_BLOCK) {
        int m = (int)(hi - b0 < NG_BLOCK ? hi - b0 : NG_BLOCK);
        const double *sb = s + b0, *kb = k + b0, *tb = t + b0, *rb = r + b0, *qb = q + b0,
                     *vb = sigma + b0;
        const int* cb = is_call + b0;
#pragma omp simd
        for (int j = 0; j < m; ++j) {
            ng::Greeks g;
            int code = ng::black_greeks_fast(sb[j], kb[j], tb[j], rb[j], qb[j], vb[j], cb[j],
                                             model, g);
            buf[0][j] = g.price; buf[1][j] = g.delta; buf[2][j] = g.gamma;
            buf[3][j] = g.vega; buf[4][j] = g.theta; buf[5][j] = g.rho;
            buf[6][j] = g.vanna; buf[7][j] = g.volga;
            slow[j] = code;
        }
        // Second pass, over the (compacted) elements whose price cancels: the
        // branch-free Taylor form, vectorised with gathers.
        int nref = 0, nslow = 0;
        for (int j = 0; j < m; ++j) {
            idx[nref] = j;
            nref += slow[j] == NG_FAST_REFINE;
            nslow += slow[j] == NG_FAST_SLOW;
        }
#pragma omp simd
        for (int u = 0; u < nref; ++u) {
            int j = idx[u];
            double p;
            bool back = ng::black_price_refine_fast(sb[j], kb[j], tb[j], rb[j], qb[j], vb[j],
                                                    cb[j], model, false, p);
            refp[u] = p;
            refok[u] = back ? 1 : 0;
        }
        // ... and the backward Taylor recursion (60 divisions) only where needed
        int nback = 0;
        for (int u = 0; u < nref; ++u) {
            sub[nback] = u;
            nback += refok[u];
        }
#pragma omp simd
        for (int e = 0; e < nback; ++e) {
            int u = sub[e];
            int j = idx[u];
            double p;
            ng::black_price_refine_fast(sb[j], kb[j], tb[j], rb[j], qb[j], vb[j], cb[j], model,
                                        true, p);
            refp[u] = p;
        }
        for (int u = 0; u < nref; ++u) {
            int j = idx[u];
            buf[0][j] = refp[u];
            if (model == NG_MODEL_BLACK76) buf[5][j] = -tb[j] * refp[u];
            slow[j] = 0;
        }
        // Third: the full scalar path (invalid input, zero vol or time, ...).
        if (nslow) {
            for (int j = 0; j < m; ++j) {
                if (slow[j] != NG_FAST_SLOW) continue;
                ng::Greeks g;
                int st = ng::black_greeks(sb[j], kb[j], tb[j], rb[j], qb[j], vb[j], cb[j],
                                          model, g);
                buf[0][j] = g.price; buf[1][j] = g.delta; buf[2][j] = g.gamma;
                buf[3][j] = g.vega; buf[4][j] = g.theta; buf[5][j] = g.rho;
                buf[6][j] = g.vanna; buf[7][j] = g.volga;
                slow[j] = st;  // now the status (0 = ok)
            }
        }
        for (int x = 0; x < 8; ++x) {
            if (o.out[x]) store_block(o.out[x] + b0, buf[x], sizeof(double) * m, o.stream);
        }
        if (o.status) store_block(o.status + b0, slow, sizeof(int) * m, o.stream);
    }
#if defined(__x86_64__)
    if (o.stream) _mm_sfence();
#endif
}

}  // namespace

// Null output pointers are skipped, so callers pay only for what they keep.
NG_EXPORT void ng_black_greeks(i64 n, const double* s, const double* k, const double* t,
                               const double* r, const double* q, const double* sigma,
                               const int* is_call, int model, double* price, double* delta,
                               double* gamma, double* vega, double* theta, double* rho,
                               double* vanna, double* volga, int* status) {
    GreeksOut o = {{price, delta, gamma, vega, theta, rho, vanna, volga}, status, false};
    i64 out_bytes = status ? 4 * n : 0;
    for (double* p : o.out) out_bytes += p ? 8 * n : 0;
    o.stream = out_bytes > NG_STREAM_BYTES;
    // Dynamic chunks, not a static split: on a shared machine one thread is
    // often descheduled for a whole time slice, and a static half then waits
    // for it; with chunks the running thread takes over the rest. One atomic
    // increment per 8192 options costs nothing measurable.
    // Small batches get smaller chunks (at least ~4 per thread), whole blocks.
    i64 blocks = (n + NG_BLOCK - 1) / NG_BLOCK;
    i64 cb = blocks / (4 * (i64)ng_max_threads());
    cb = cb < 1 ? 1 : (cb > NG_GREEKS_CHUNK / NG_BLOCK ? NG_GREEKS_CHUNK / NG_BLOCK : cb);
    i64 chunk = cb * NG_BLOCK, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) if (n > 2 * NG_BLOCK)
    for (i64 c = 0; c < nchunks; ++c) {
        i64 lo = c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        greeks_range(lo, hi, s, k, t, r, q, sigma, is_call, model, o);
    }
}

namespace {

NG_CLONES void price_range(i64 lo, i64 hi, const double* s, const double* k, const double* t,
                           const double* r, const double* q, const double* sigma,
                           const int* is_call, int model, double* price, int* status) {
    for (i64 i = lo; i < hi; ++i) {
        int st = ng::black_price(s[i], k[i], t[i], r[i], q[i], sigma[i], is_call[i], model,
                                 price[i]);
        if (status) status[i] = st;
    }
}

// Implied vol in lockstep: the prologue, the solver's start and each
// Householder step are SIMD loops over the options of a block that still
// need them (index lists compacted after every pass); the costly backward
// Taylor recursion runs as its own pass over the few lanes that need it.
struct IvBlock {
    double x[NG_BLOCK], beta[NG_BLOCK], bmax[NG_BLOCK], cbeta[NG_BLOCK], lnbeta[NG_BLOCK],
        lo[NG_BLOCK], hi[NG_BLOCK], s[NG_BLOCK], val[NG_BLOCK], dens[NG_BLOCK];
    int upper[NG_BLOCK], code[NG_BLOCK], flag[NG_BLOCK];
    int act[NG_BLOCK], reg[3][NG_BLOCK];
    // SIMD loops store contiguously here; scalar loops scatter (AVX2 has no
    // scatter store: a loop that scatters does not vectorise there at all)
    double pk[4][NG_BLOCK];
};

// Solves n normalised problems (beta[u], x[u]) in B; s[u] and code[u] out.
NG_CLONES void iv_solve_block(IvBlock& B, int n) {
    double *__restrict X = B.x, *__restrict BE = B.beta, *__restrict BM = B.bmax,
           *__restrict CB = B.cbeta, *__restrict LB = B.lnbeta, *__restrict LO = B.lo,
           *__restrict HI = B.hi, *__restrict S = B.s, *__restrict VAL = B.val,
           *__restrict DENS = B.dens;
    int *__restrict UP = B.upper, *__restrict CODE = B.code, *__restrict FL = B.flag,
        *__restrict ACT = B.act;
    int(*REG)[NG_BLOCK] = B.reg;
    double *__restrict PV = B.pk[0], *__restrict PD = B.pk[1], *__restrict PL = B.pk[2],
           *__restrict PH = B.pk[3];
#pragma omp simd
    for (int u = 0; u < n; ++u) {
        ng::IvState st;
        int c = ng::iv_init(BE[u], X[u], st);
        BM[u] = st.bmax; CB[u] = st.cbeta; LB[u] = st.lnbeta;
        LO[u] = st.lo; HI[u] = st.hi; S[u] = st.s; UP[u] = st.upper ? 1 : 0;
        CODE[u] = c;
    }
    int na = 0;
    for (int u = 0; u < n; ++u) {
        ACT[na] = u;
        na += CODE[u] == NG_IV_CONTINUE;
    }
    for (int it = 0; it < NG_IV_MAX_ITER && na > 0; ++it) {
#pragma omp simd
        for (int a = 0; a < na; ++a) {
            int u = ACT[a];
            ng::IvState st;
            st.x = X[u]; st.s = S[u]; st.upper = UP[u] != 0;
            FL[a] = ng::iv_region(st);
        }
        // one index list per form of b (see iv_region), each a SIMD pass
        int nr[3] = {0, 0, 0};
        for (int a = 0; a < na; ++a) {
            int g = FL[a];
            REG[g][nr[g]++] = ACT[a];
        }
#pragma omp simd
        for (int j = 0; j < nr[0]; ++j) {
            int u = REG[0][j];
            ng::IvState st;
            st.x = X[u]; st.s = S[u]; st.upper = UP[u] != 0;
            double dens;
            PV[j] = ng::iv_value_taylor_forward(st, dens);
            PD[j] = dens;
        }
        for (int j = 0; j < nr[0]; ++j) {
            VAL[REG[0][j]] = PV[j];
            DENS[REG[0][j]] = PD[j];
        }
#pragma omp simd
        for (int j = 0; j < nr[1]; ++j) {
            int u = REG[1][j];
            ng::IvState st;
            st.x = X[u]; st.s = S[u]; st.upper = UP[u] != 0;
            double dens;
            PV[j] = ng::iv_value_taylor_backward(st, dens);
            PD[j] = dens;
        }
        for (int j = 0; j < nr[1]; ++j) {
            VAL[REG[1][j]] = PV[j];
            DENS[REG[1][j]] = PD[j];
        }
#pragma omp simd
        for (int j = 0; j < nr[2]; ++j) {
            int u = REG[2][j];
            ng::IvState st;
            st.x = X[u]; st.s = S[u]; st.upper = UP[u] != 0;
            double dens;
            PV[j] = ng::iv_value_other(st, dens);
            PD[j] = dens;
        }
        for (int j = 0; j < nr[2]; ++j) {
            VAL[REG[2][j]] = PV[j];
            DENS[REG[2][j]] = PD[j];
        }
#pragma omp simd
        for (int a = 0; a < na; ++a) {
            int u = ACT[a];
            ng::IvState st;
            st.x = X[u]; st.beta = BE[u]; st.bmax = BM[u]; st.cbeta = CB[u];
            st.lnbeta = LB[u]; st.lo = LO[u]; st.hi = HI[u]; st.s = S[u];
            st.upper = UP[u] != 0;
            bool done = ng::iv_step(st, VAL[u], DENS[u]);
            PL[a] = st.lo; PH[a] = st.hi; PV[a] = st.s;
            FL[a] = done ? 1 : 0;
        }
        int keep = 0;
        for (int a = 0; a < na; ++a) {
            int u = ACT[a];
            LO[u] = PL[a]; HI[u] = PH[a]; S[u] = PV[a];
            if (FL[a]) CODE[u] = NG_OK;
            ACT[keep] = u;
            keep += !FL[a];
        }
        na = keep;
    }
    for (int a = 0; a < na; ++a) CODE[ACT[a]] = NG_NOT_CONVERGED;
}

NG_CLONES void iv_range(i64 lo, i64 hi, const double* price, const double* s, const double* k,
                        const double* t, const double* r, const double* q, const int* is_call,
                        int model, double* vol, int* status) {
    IvBlock B;
    int code[NG_BLOCK], idx[NG_BLOCK];
    for (i64 b0 = lo; b0 < hi; b0 += NG_BLOCK) {
        int m = (int)(hi - b0 < NG_BLOCK ? hi - b0 : NG_BLOCK);
        const double *pb = price + b0, *sb = s + b0, *kb = k + b0, *tb = t + b0, *rb = r + b0,
                     *qb = q + b0;
        const int* cb = is_call + b0;
        double* __restrict vb = vol + b0;
        double *__restrict bbeta = B.beta, *__restrict bx = B.x;
        double* __restrict cd = B.val;  // scratch: the codes as doubles
#pragma omp simd
        for (int j = 0; j < m; ++j) {
            double bo, xs, v;
            cd[j] = ng::iv_prologue_d(pb[j], sb[j], kb[j], tb[j], rb[j], qb[j], (double)cb[j],
                                      model, bo, xs, v);
            vb[j] = v;
            bbeta[j] = bo;
            bx[j] = xs;
        }
        for (int j = 0; j < m; ++j) code[j] = (int)cd[j];
        int n = 0;
        for (int j = 0; j < m; ++j) {
            idx[n] = j;
            n += code[j] == NG_IV_CONTINUE;
        }
        // gather the problems to solve to the front of the block arrays
        for (int u = 0; u < n; ++u) {
            B.beta[u] = B.beta[idx[u]];
            B.x[u] = B.x[idx[u]];
        }
        iv_solve_block(B, n);
#pragma omp simd
        for (int u = 0; u < n; ++u) {
            int j = idx[u];
            vb[j] = ng::iv_epilogue(B.s[u], B.code[u], tb[j]);
            code[j] = B.code[u];
        }
        __builtin_memcpy(status + b0, code, sizeof(int) * m);
    }
}

NG_CLONES void normalised_range(i64 lo, i64 hi, const double* x, const double* s, double* out) {
    for (i64 i = lo; i < hi; ++i) out[i] = ng::normalised_black(x[i], s[i]);
}

NG_CLONES void implied_s_range(i64 lo, i64 hi, const double* beta, const double* x, double* s,
                               int* status) {
    IvBlock B;
    for (i64 b0 = lo; b0 < hi; b0 += NG_BLOCK) {
        int m = (int)(hi - b0 < NG_BLOCK ? hi - b0 : NG_BLOCK);
        for (int u = 0; u < m; ++u) {
            B.beta[u] = beta[b0 + u];
            B.x[u] = x[b0 + u];
        }
        iv_solve_block(B, m);
        for (int u = 0; u < m; ++u) {
            s[b0 + u] = B.s[u];
            status[b0 + u] = B.code[u];
        }
    }
}

}  // namespace

// Chunked loops: each chunk is one call into the multiversioned worker.
#define NG_PRAGMA_static _Pragma("omp parallel for schedule(static)")
#define NG_PRAGMA_dynamic _Pragma("omp parallel for schedule(dynamic, 1)")
#define NG_CHUNKED(n, schedule, call)                                  \
    NG_PRAGMA_##schedule                                                \
    for (i64 c0 = 0; c0 < (n); c0 += NG_CHUNK) {                        \
        i64 lo = c0, hi = c0 + NG_CHUNK < (n) ? c0 + NG_CHUNK : (n);    \
        call;                                                           \
    }

NG_EXPORT void ng_black_price(i64 n, const double* s, const double* k, const double* t,
                              const double* r, const double* q, const double* sigma,
                              const int* is_call, int model, double* price, int* status) {
    NG_CHUNKED(n, static, price_range(lo, hi, s, k, t, r, q, sigma, is_call, model, price,
                                        status))
}

NG_EXPORT void ng_implied_vol(i64 n, const double* price, const double* s, const double* k,
                              const double* t, const double* r, const double* q,
                              const int* is_call, int model, double* vol, int* status) {
    NG_CHUNKED(n, dynamic, iv_range(lo, hi, price, s, k, t, r, q, is_call, model, vol,
                                         status))
}

// Normalised building blocks, exported for the accuracy tests.
NG_EXPORT void ng_normalised_black(i64 n, const double* x, const double* s, double* out) {
    NG_CHUNKED(n, static, normalised_range(lo, hi, x, s, out))
}

NG_EXPORT void ng_implied_s_otm_call(i64 n, const double* beta, const double* x, double* s,
                                     int* status) {
    NG_CHUNKED(n, dynamic, implied_s_range(lo, hi, beta, x, s, status))
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

// ---------------------------------------------------------------------------
// For the tests: the inline math (0 exp, 1 log, 2 erfcx, 3 Phi, 4 ln(x/y),
// 5 expm1) and the one-option-at-a-time paths the GPU runs (same headers,
// scalar loops), to check the SIMD pipelines above against them.
NG_EXPORT void ng_math(i64 n, int which, const double* x, const double* y, double* out) {
    for (i64 i = 0; i < n; ++i) {
        double v = x[i];
        switch (which) {
            case 0: out[i] = ng::m_exp(v); break;
            case 1: out[i] = ng::m_log(v); break;
            case 2: out[i] = ng::erfcx(v); break;
            case 3: out[i] = ng::norm_cdf(v); break;
            case 4: out[i] = ng::log_moneyness(v, y[i], 0.0); break;
            case 5: out[i] = ng::m_expm1(v); break;
            default: out[i] = ng::nan_value();
        }
    }
}

NG_EXPORT void ng_implied_vol_scalar(i64 n, const double* price, const double* s,
                                     const double* k, const double* t, const double* r,
                                     const double* q, const int* is_call, int model, double* vol,
                                     int* status) {
    for (i64 i = 0; i < n; ++i)
        status[i] = ng::implied_vol(price[i], s[i], k[i], t[i], r[i], q[i], is_call[i], model,
                                    vol[i]);
}

NG_EXPORT void ng_black_greeks_scalar(i64 n, const double* s, const double* k, const double* t,
                                      const double* r, const double* q, const double* sigma,
                                      const int* is_call, int model, double* out8, int* status) {
    for (i64 i = 0; i < n; ++i) {
        ng::Greeks g;
        status[i] = ng::black_greeks(s[i], k[i], t[i], r[i], q[i], sigma[i], is_call[i], model,
                                     g);
        double* o = out8 + 8 * i;
        o[0] = g.price; o[1] = g.delta; o[2] = g.gamma; o[3] = g.vega;
        o[4] = g.theta; o[5] = g.rho; o[6] = g.vanna; o[7] = g.volga;
    }
}
