// Black-Scholes-Merton and Black-76 prices and greeks.
//
// Units (documented in docs/analytics.md):
//   delta  dV/dS (or dV/dF for Black-76)      gamma  d2V/dS2
//   vega   dV/dsigma per 1.00 of vol          theta  dV/dt per YEAR (calendar
//          time passing, i.e. -dV/dT)
//   rho    dV/dr per 1.00 of rate             vanna  d2V/dS dsigma
//   volga  d2V/dsigma2
// Black-76 is BSM with spot = forward and q = r, except rho, which moves the
// discount factor only: rho = -T V.
#pragma once
#include "common.cuh"
#include "iv.cuh"

#define NG_MODEL_BSM 0
#define NG_MODEL_BLACK76 1

namespace ng {

// The textbook difference S e^{-qT} N(d1) - K e^{-rT} N(d2) loses digits when
// the two terms nearly cancel (far out of the money, tiny sigma sqrt(T)):
// there the price is rebuilt from the normalised form, which has no
// cancellation: discounted intrinsic + D sqrt(FK) b(-|x|, s).
// The error of the difference is about eps * (big / p) * (1 + d^2): the d^2 is
// the conditioning of Phi in the tail.
NG_HD double black_price_refine(double p, double big, double d, double s, double k, double t,
                                double r, double q, double lfk, double sd, double w) {
    if (!(sd > 0.0) || !(p * 32.0 < big * (1.0 + d * d))) return p;
    double scale = sqrt(s * k) * m_exp(0.5 * (r - q) * t - r * t);  // D sqrt(FK)
    double intrinsic = w * k * m_exp(-r * t) * expm1(lfk);  // D(F-K) without cancellation
    double tv = scale * normalised_black(-fabs(lfk), sd);
    return (w * lfk > 0.0 ? intrinsic : 0.0) + tv;
}

struct Greeks {
    double price, delta, gamma, vega, theta, rho, vanna, volga;
};

NG_HD void fill_nan(Greeks& g) {
    double n = nan_value();
    g.price = n; g.delta = n; g.gamma = n; g.vega = n;
    g.theta = n; g.rho = n; g.vanna = n; g.volga = n;
}

#define NG_FAST_OK 0
#define NG_FAST_REFINE 1
#define NG_FAST_SLOW 2

// Fast path for the common case: finite inputs in the domain and
// sigma sqrt(T) > 0. Written with selects only (no early returns, no loops)
// so that CPU loops over it vectorise. Returns NG_FAST_OK when g equals what
// black_greeks gives; NG_FAST_REFINE when only the price (and the Black-76
// rho, -T V) suffer from cancellation: black_price_refine_fast fixes them;
// NG_FAST_SLOW (invalid input, sigma sqrt(T) == 0, overflow) when
// black_greeks must be used, and then g is junk.
NG_HDI int black_greeks_fast(double s, double k, double t, double r, double q, double sigma,
                             int is_call, int model, Greeks& g) {
    q = model == NG_MODEL_BLACK76 ? r : q;
    double w = is_call ? 1.0 : -1.0;
    double sq = sqrt(t);
    double sd = sigma * sq;
    double dq = m_exp(-q * t), dr = m_exp(-r * t);
    double sdq = s * dq, kdr = k * dr;
    double lfk = log_moneyness(s, k, (r - q) * t);
    double d1 = lfk / sd + 0.5 * sd;
    double d2 = d1 - sd;
    double e1 = exp_neg_half_sq(d1);
    double pdf = NG_INV_SQRT_2PI * e1;
    double nd1 = norm_cdf_given_exp(w * d1, e1);
    double nd2 = norm_cdf_given_exp(w * d2, exp_neg_half_sq(d2));
    double a = sdq * nd1, b = kdr * nd2;
    double p = w * (a - b);
    double d = dmax(fabs(d1), fabs(d2));
    // & rather than && keeps the test free of branches.
    bool ok = ((is_call == 0) | (is_call == 1)) & (s > 0.0) & (k > 0.0) & (t > 0.0)
              & (sigma > 0.0) & (sd > 0.0) & is_finite(s) & is_finite(k) & is_finite(t)
              & is_finite(r) & is_finite(q) & is_finite(sigma) & is_finite(d1)
              & is_finite(sdq) & is_finite(kdr);
    // the criterion of black_price_refine
    bool cancel = p * 32.0 < dmax(a, b) * (1.0 + d * d);
    g.price = p;
    g.delta = w * dq * nd1;
    g.vega = sdq * pdf * sq;
    g.gamma = dq * pdf / (s * sd);
    g.theta = -sdq * pdf * sigma / (2.0 * sq) - w * r * b + w * q * a;
    g.rho = model == NG_MODEL_BLACK76 ? -t * p : w * t * b;
    g.vanna = -dq * pdf * d2 / sigma;
    g.volga = g.vega * d1 * d2 / sigma;
    return ok ? (cancel ? NG_FAST_REFINE : NG_FAST_OK) : NG_FAST_SLOW;
}

// The price without cancellation for NG_FAST_REFINE elements, branch-free:
// discounted intrinsic + D sqrt(FK) b(-|x|, s) (as black_price_refine). With
// backward = false, b comes from normalised_black_fast and the function
// returns true where that is not enough (the backward Taylor recursion is
// needed); with backward = true it uses that recursion. CPU loops run the
// first form over all such elements and the second over the few it flags.
NG_HDI bool black_price_refine_fast(double s, double k, double t, double r, double q,
                                    double sigma, int is_call, int model, bool backward,
                                    double& price) {
    q = model == NG_MODEL_BLACK76 ? r : q;
    double w = is_call ? 1.0 : -1.0;
    double sd = sigma * sqrt(t);
    double lfk = log_moneyness(s, k, (r - q) * t);
    double x = -fabs(lfk);
    bool need_backward;
    double b = backward ? normalised_black_backward(x, sd)
                        : normalised_black_fast(x, sd, need_backward);
    double scale = sqrt(s * k) * m_exp(0.5 * (r - q) * t - r * t);
    double intrinsic = w * k * m_exp(-r * t) * m_expm1(lfk);
    double p = (w * lfk > 0.0 ? intrinsic : 0.0) + scale * b;
    price = p < 0.0 ? 0.0 : p;
    return backward ? false : need_backward;
}

// Returns a status code; outputs are NaN unless NG_OK.
// is_call: 1 call, 0 put. model: NG_MODEL_BSM or NG_MODEL_BLACK76 (then s is
// the forward and q is ignored).
NG_HD int black_greeks(double s, double k, double t, double r, double q, double sigma,
                       int is_call, int model, Greeks& g) {
    if (!(is_finite(s) && is_finite(k) && is_finite(t) && is_finite(r) && is_finite(q)
          && is_finite(sigma)) || s <= 0.0 || k <= 0.0 || t < 0.0 || sigma < 0.0
        || (is_call != 0 && is_call != 1)) {
        fill_nan(g);
        return NG_INVALID_INPUT;
    }
    if (model == NG_MODEL_BLACK76) q = r;
    double w = is_call ? 1.0 : -1.0;
    double dq = m_exp(-q * t), dr = m_exp(-r * t);
    double sq = sqrt(t);
    double sd = sigma * sq;
    double sdq = s * dq, kdr = k * dr;
    double d1, d2, pdf;
    // log(F/K) computed from S/K and the carry separately to keep digits.
    double lfk = log_moneyness(s, k, (r - q) * t);
    if (sd > 0.0) {
        d1 = lfk / sd + 0.5 * sd;
        d2 = d1 - sd;
        pdf = NG_INV_SQRT_2PI * exp_neg_half_sq(d1);  // as the fast path: tails kept
    } else {
        // sigma*sqrt(T) == 0: the option is its discounted forward intrinsic.
        double z = lfk > 0.0 ? inf_value() : (lfk < 0.0 ? -inf_value() : 0.0);
        d1 = z; d2 = z;
        pdf = lfk == 0.0 ? NG_INV_SQRT_2PI : 0.0;
    }
    double nd1 = norm_cdf(w * d1), nd2 = norm_cdf(w * d2);
    g.price = black_price_refine(w * (sdq * nd1 - kdr * nd2), dmax(sdq * nd1, kdr * nd2),
                                 dmax(fabs(d1), fabs(d2)), s, k, t, r, q, lfk, sd, w);
    if (g.price < 0.0) g.price = 0.0;  // rounding at the intrinsic boundary
    g.delta = w * dq * nd1;
    g.vega = sdq * pdf * sq;
    g.gamma = sd > 0.0 ? dq * pdf / (s * sd) : (pdf > 0.0 ? inf_value() : 0.0);
    double decay = sq > 0.0 ? -sdq * pdf * sigma / (2.0 * sq) : (pdf > 0.0 && sigma > 0.0 ? -inf_value() : 0.0);
    g.theta = decay - w * r * (kdr * nd2) + w * q * (sdq * nd1);  // grouped as the fast path
    if (model == NG_MODEL_BLACK76) {
        g.rho = -t * g.price;
    } else {
        g.rho = w * t * (kdr * nd2);
    }
    if (sigma > 0.0 && sd > 0.0) {
        g.vanna = -dq * pdf * d2 / sigma;
        g.volga = g.vega * d1 * d2 / sigma;
    } else {
        g.vanna = 0.0;
        g.volga = 0.0;
    }
    return NG_OK;
}

// Price only (cheaper: no greeks). Same conventions and status.
NG_HD int black_price(double s, double k, double t, double r, double q, double sigma,
                      int is_call, int model, double& price) {
    if (!(is_finite(s) && is_finite(k) && is_finite(t) && is_finite(r) && is_finite(q)
          && is_finite(sigma)) || s <= 0.0 || k <= 0.0 || t < 0.0 || sigma < 0.0
        || (is_call != 0 && is_call != 1)) {
        price = nan_value();
        return NG_INVALID_INPUT;
    }
    if (model == NG_MODEL_BLACK76) q = r;
    double w = is_call ? 1.0 : -1.0;
    double sd = sigma * sqrt(t);
    double lfk = log_moneyness(s, k, (r - q) * t);
    double d1, d2;
    if (sd > 0.0) {
        d1 = lfk / sd + 0.5 * sd;
        d2 = d1 - sd;
    } else {
        d1 = lfk > 0.0 ? inf_value() : (lfk < 0.0 ? -inf_value() : 0.0);
        d2 = d1;
    }
    double a = s * m_exp(-q * t) * norm_cdf(w * d1);
    double b = k * m_exp(-r * t) * norm_cdf(w * d2);
    double p = black_price_refine(w * (a - b), dmax(a, b), dmax(fabs(d1), fabs(d2)), s, k, t, r,
                                  q, lfk, sd, w);
    price = p < 0.0 ? 0.0 : p;
    return NG_OK;
}

}  // namespace ng
