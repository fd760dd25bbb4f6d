// CUDA entry points over the shared kernel headers (compiled by NVRTC through
// CuPy RawModule, see nanogate/gpu/cuda.py). Element-wise kernels use a
// grid-stride loop; the American tree runs one option per block with the
// nodes of each time step spread over the block's threads.
#include "black.cuh"
#include "iv.cuh"
#include "american.cuh"
#include "realized.cuh"

typedef long long i64;

#define NG_GRID_LOOP(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

extern "C" __global__ void ng_black_greeks_k(i64 n, const double* __restrict__ s,
        const double* __restrict__ k, const double* __restrict__ t, const double* __restrict__ r,
        const double* __restrict__ q, const double* __restrict__ sigma,
        const int* __restrict__ is_call, int model, double* price, double* delta, double* gamma,
        double* vega, double* theta, double* rho, double* vanna, double* volga, int* status) {
    NG_GRID_LOOP(i, n) {
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

extern "C" __global__ void ng_black_price_k(i64 n, const double* __restrict__ s,
        const double* __restrict__ k, const double* __restrict__ t, const double* __restrict__ r,
        const double* __restrict__ q, const double* __restrict__ sigma,
        const int* __restrict__ is_call, int model, double* price, int* status) {
    NG_GRID_LOOP(i, n) {
        double p;
        int st = ng::black_price(s[i], k[i], t[i], r[i], q[i], sigma[i], is_call[i], model, p);
        price[i] = p;
        if (status) status[i] = st;
    }
}

extern "C" __global__ void ng_implied_vol_k(i64 n, const double* __restrict__ price,
        const double* __restrict__ s, const double* __restrict__ k, const double* __restrict__ t,
        const double* __restrict__ r, const double* __restrict__ q,
        const int* __restrict__ is_call, int model, double* vol, int* status) {
    NG_GRID_LOOP(i, n) {
        double v;
        status[i] = ng::implied_vol(price[i], s[i], k[i], t[i], r[i], q[i], is_call[i], model, v);
        vol[i] = v;
    }
}

extern "C" __global__ void ng_normalised_black_k(i64 n, const double* x, const double* s,
                                                 double* out) {
    NG_GRID_LOOP(i, n) { out[i] = ng::normalised_black(x[i], s[i]); }
}

// Dynamic shared memory: 2 * (steps + 2) doubles (double-buffered time steps).
extern "C" __global__ void ng_american_price_k(i64 n, const double* s, const double* k,
        const double* t, const double* r, const double* q, const double* sigma,
        const int* is_call, int steps, double* price, int* status) {
    extern __shared__ double buf[];
    for (i64 o = blockIdx.x; o < n; o += gridDim.x) {
        int st = ng::american_validate(s[o], k[o], t[o], r[o], q[o], sigma[o], is_call[o], steps);
        ng::LrTree tr;
        double w = is_call[o] ? 1.0 : -1.0;
        bool tree = st == NG_OK && ng::lr_tree(s[o], k[o], t[o], r[o], q[o], sigma[o], steps, tr);
        if (!tree) {
            if (threadIdx.x == 0) {
                price[o] = st == NG_OK
                    ? ng::american_zero_vol(s[o], k[o], t[o], r[o], q[o], w, steps | 1)
                    : ng::nan_value();
                status[o] = st;
            }
            continue;  // uniform across the block: no barrier skipped by some threads only
        }
        int nsteps = tr.steps;
        double lu = log(tr.u), ld = log(tr.d);
        double* cur = buf;
        double* nxt = buf + nsteps + 2;
        for (int j = threadIdx.x; j <= nsteps; j += blockDim.x) {
            cur[j] = ng::exercise_value(s[o] * exp(j * lu + (nsteps - j) * ld), k[o], w);
        }
        __syncthreads();
        for (int i = nsteps - 1; i >= 0; --i) {
            for (int j = threadIdx.x; j <= i; j += blockDim.x) {
                double spot = s[o] * exp(j * lu + (i - j) * ld);
                nxt[j] = ng::lr_node(tr, cur[j + 1], cur[j], spot, k[o], w);
            }
            __syncthreads();
            double* tmp = cur; cur = nxt; nxt = tmp;
        }
        if (threadIdx.x == 0) {
            price[o] = cur[0];
            status[o] = NG_OK;
        }
        __syncthreads();
    }
}

extern "C" __global__ void ng_realized_vol_k(i64 n_instruments, const i64* offsets,
        const double* open, const double* high, const double* low, const double* close,
        double lambda, double periods_per_year, double* c2c, double* parkinson,
        double* garman_klass, double* ewma, int* status) {
    NG_GRID_LOOP(i, n_instruments) {
        ng::Realized rv;
        status[i] = ng::realized_vol(open, high, low, close, offsets[i], offsets[i + 1], lambda,
                                     periods_per_year, rv);
        c2c[i] = rv.close_to_close;
        parkinson[i] = rv.parkinson;
        garman_klass[i] = rv.garman_klass;
        ewma[i] = rv.ewma;
    }
}
