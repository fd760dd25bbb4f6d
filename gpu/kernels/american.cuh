// American options on a Leisen-Reimer binomial tree (Peizer-Pratt method 2
// inversion, odd step count), continuous dividend yield, early exercise at
// every node. LR rather than CRR: its probabilities stay in (0, 1) for any
// drift (negative rates, q > r, tiny vol), and it converges as O(1/N^2)
// without the CRR odd/even oscillation.
//
// The tree parameters and the node update are shared; the loop around them
// differs: one option per thread on the CPU (american_price below), one option
// per block with the nodes of a time step spread over the threads on the GPU
// (kernels.cu).
#pragma once
#include "common.cuh"
#include "black.cuh"

namespace ng {

struct LrTree {
    double u, d, pu, pd_disc, pu_disc;  // moves and discounted probabilities
    int steps;                          // odd
};

// Peizer-Pratt inversion of the binomial distribution (method 2).
NG_HD double peizer_pratt(double z, int n) {
    double a = z / (n + 1.0 / 3.0 + 0.1 / (n + 1.0));
    double v = 0.5 * sqrt(1.0 - exp(-a * a * (n + 1.0 / 6.0)));
    return z >= 0.0 ? 0.5 + v : 0.5 - v;
}

// Returns false when the tree is degenerate (sigma*sqrt(T) == 0).
NG_HD bool lr_tree(double s, double k, double t, double r, double q, double sigma, int steps,
                   LrTree& tr) {
    int n = steps | 1;  // LR needs an odd number of steps
    double sd = sigma * sqrt(t);
    if (!(sd > 0.0)) return false;
    double dt = t / n;
    double d1 = (log(s / k) + (r - q) * t) / sd + 0.5 * sd;
    double d2 = d1 - sd;
    double p = peizer_pratt(d2, n);
    double pbar = peizer_pratt(d1, n);
    double growth = exp((r - q) * dt);
    tr.u = growth * pbar / p;
    tr.d = (growth - p * tr.u) / (1.0 - p);
    double disc = exp(-r * dt);
    tr.pu_disc = p * disc;
    tr.pd_disc = (1.0 - p) * disc;
    tr.pu = p;
    tr.steps = n;
    return tr.u > tr.d && tr.d > 0.0 && p > 0.0 && p < 1.0;
}

NG_HD double exercise_value(double spot, double k, double w) {
    double e = w * (spot - k);
    return e > 0.0 ? e : 0.0;
}

// One node of backward induction with early exercise.
NG_HD double lr_node(const LrTree& tr, double up, double down, double spot, double k, double w) {
    double cont = tr.pu_disc * up + tr.pd_disc * down;
    double ex = exercise_value(spot, k, w);
    return cont > ex ? cont : ex;
}

// Deterministic path (sigma*sqrt(T) == 0): best exercise time on the grid.
NG_HD double american_zero_vol(double s, double k, double t, double r, double q, double w,
                               int steps) {
    double best = 0.0;
    for (int i = 0; i <= steps; ++i) {
        double tau = t * i / steps;
        double v = exp(-r * tau) * exercise_value(s * exp((r - q) * tau), k, w);
        best = v > best ? v : best;
    }
    return best;
}

NG_HD int american_validate(double s, double k, double t, double r, double q, double sigma,
                            int is_call, int steps) {
    if (!(is_finite(s) && is_finite(k) && is_finite(t) && is_finite(r) && is_finite(q)
          && is_finite(sigma)) || s <= 0.0 || k <= 0.0 || t < 0.0 || sigma < 0.0
        || (is_call != 0 && is_call != 1) || steps < 1) {
        return NG_INVALID_INPUT;
    }
    return NG_OK;
}

#ifndef NG_DEVICE
// Sequential tree for the host; work is a scratch array of steps + 2 doubles.
inline int american_price(double s, double k, double t, double r, double q, double sigma,
                          int is_call, int steps, double* work, double& price) {
    int st = american_validate(s, k, t, r, q, sigma, is_call, steps);
    if (st != NG_OK) { price = nan_value(); return st; }
    double w = is_call ? 1.0 : -1.0;
    LrTree tr;
    if (!lr_tree(s, k, t, r, q, sigma, steps, tr)) {
        price = american_zero_vol(s, k, t, r, q, w, steps | 1);
        return NG_OK;
    }
    int n = tr.steps;
    double ratio = tr.u / tr.d;
    double spot = s * pow(tr.d, n);
    for (int j = 0; j <= n; ++j) {
        work[j] = exercise_value(spot, k, w);
        spot *= ratio;
    }
    for (int i = n - 1; i >= 0; --i) {
        spot = s * pow(tr.d, i);
        for (int j = 0; j <= i; ++j) {
            work[j] = lr_node(tr, work[j + 1], work[j], spot, k, w);
            spot *= ratio;
        }
    }
    price = work[0];
    return NG_OK;
}

// American implied vol: safeguarded secant (Illinois) on a bracket in sigma.
inline int american_iv(double price, double s, double k, double t, double r, double q,
                       int is_call, int steps, double* work, double& vol) {
    vol = nan_value();
    int st = american_validate(s, k, t, r, q, 0.0, is_call, steps);
    if (st != NG_OK || !is_finite(price) || price < 0.0 || t <= 0.0) return NG_INVALID_INPUT;
    double w = is_call ? 1.0 : -1.0;
    double intrinsic = exercise_value(s, k, w);
    double upper = is_call ? s : k;  // an American call is worth < S, a put < K
    if (price >= upper) { vol = inf_value(); return NG_ABOVE_MAX_PRICE; }
    double lo = 0.0, hi = 1.0;
    double flo, fhi;
    double p0;
    american_price(s, k, t, r, q, 0.0, is_call, steps, work, p0);
    flo = p0 - price;
    if (price < intrinsic || flo > 0.0) {
        // Below the zero-vol value (which is >= intrinsic) no vol reproduces it.
        if (flo > 1e-14 * (price > 1.0 ? price : 1.0)) return NG_BELOW_INTRINSIC;
        vol = 0.0;
        return NG_OK;
    }
    double ph;
    american_price(s, k, t, r, q, hi, is_call, steps, work, ph);
    fhi = ph - price;
    while (fhi < 0.0 && hi < 64.0) {
        lo = hi; flo = fhi;
        hi *= 2.0;
        american_price(s, k, t, r, q, hi, is_call, steps, work, ph);
        fhi = ph - price;
    }
    if (fhi < 0.0) return NG_ABOVE_MAX_PRICE;
    int side = 0;
    for (int it = 0; it < 100; ++it) {
        double m = (lo * fhi - hi * flo) / (fhi - flo);
        if (!(m > lo && m < hi)) m = 0.5 * (lo + hi);
        double pm;
        american_price(s, k, t, r, q, m, is_call, steps, work, pm);
        double fm = pm - price;
        if (fm == 0.0 || hi - lo < 1e-12 * hi
            || fabs(fm) <= 1e-13 * (price > 1e-300 ? price : 1e-300)) {
            vol = m;
            return NG_OK;
        }
        if (fm < 0.0) {
            lo = m; flo = fm;
            if (side == -1) fhi *= 0.5;  // Illinois: stop one end from sticking
            side = -1;
        } else {
            hi = m; fhi = fm;
            if (side == 1) flo *= 0.5;
            side = 1;
        }
    }
    vol = 0.5 * (lo + hi);
    return NG_NOT_CONVERGED;
}
#endif

}  // namespace ng
