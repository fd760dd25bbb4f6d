// Implied volatility at "Let's Be Rational" accuracy.
//
// Implemented from the description in P. Jaeckel, "Let's Be Rational" (2015)
// and its 2024 update; the structure follows the paper, the details are ours:
//   * everything happens on the normalised, undiscounted price
//       b(x, s) = e^{x/2} Phi(x/s + s/2) - e^{-x/2} Phi(x/s - s/2)
//     with x = ln(F/K) and s = sigma sqrt(T), reduced to an out-of-the-money
//     call (x <= 0) by put-call parity and the symmetry b(x,s,put) = b(-x,s,call);
//   * b is evaluated without cancellation in every region (see
//     normalised_black below);
//   * the inflection point s_c = sqrt(2|x|) splits the domain into a lower
//     branch, where the objective is ln b, and an upper branch, where it is
//     ln(b_max - b); both are close to linear in their regions, so
//     third-order Householder steps from an asymptotic starting point converge
//     in two or three iterations;
//   * a bracket is kept and a step that leaves it is replaced by bisection, so
//     a bad starting point costs iterations, never a wrong answer.
#pragma once
#include "common.cuh"

#define NG_IV_MAX_ITER 12
#define NG_IV_STEP_TOL 1e-5

namespace ng {

// sum_{k>=0} t^{2k+1}/(2k+1)! * Y^{(2k+1)}(h) for h <= 0, where
// Y(z) = Phi(z)/phi(z) and Y^{(n)}(h) = M_n = int_0^inf u^n e^{hu-u^2/2} du.
// So b = phi(h) e^{-t^2/2} * 2 * this sum, with no cancellation: every term
// is positive. The moments obey M_{n+1} = h M_n + n M_{n-1}; M_n is the
// minimal solution for h < 0, so forward recursion is used only for small
// |h| and the ratios rho_n = M_n/M_{n-1} = n/(rho_{n+1} - h) are run
// backwards (Miller) otherwise, nesting the series on the way down.
// m0 = M_0 = sqrt(pi/2) erfcx(-h/sqrt2). Both are branch-free, fixed-count
// (fully unrolled) loops, so they vectorise.

// Forward recursion, for -4 < h <= 0: M_1 = 1 + h M_0 loses at most h^2 < 16.
NG_HDI double taylor_forward_sum(double h, double t, double m0) {
    double t2 = t * t;
    double mprev = m0;
    double m = 1.0 + h * m0;  // M_1
    double term = t;          // t^n / n!
    double sum = term * m;
    NG_UNROLL
    for (int n = 1; n < 29; n += 2) {
        double m2 = h * m + n * mprev;     // M_{n+1}
        double m3 = h * m2 + (n + 1) * m;  // M_{n+2}
        term *= t2 * (1.0 / ((n + 1.0) * (n + 2.0)));
        sum += term * m3;
        mprev = m2;
        m = m3;
    }
    return sum;
}

// Backward (Miller) recursion, for h <= -4: start beyond the needed order at
// the fixed point of the ratio recursion and run the ratios down to rho_1,
// pairing (rho_{2k}, rho_{2k+1}) into the nested series on the way.
NG_HDI double taylor_backward_sum(double h, double t, double m0) {
    double t2 = t * t;
    const int n_top = 60;
    double rho = 0.5 * (sqrt(h * h + 4.0 * (n_top + 1)) + h);
    NG_UNROLL
    for (int n = n_top; n >= 30; --n) rho = n / (rho - h);
    double nest = 1.0;
    NG_UNROLL
    for (int n = 29; n >= 1; n -= 2) {
        rho = n / (rho - h);  // rho_n, n odd
        if (n >= 3) {
            double rho_odd = rho;
            rho = (n - 1) / (rho - h);  // rho_{n-1}
            nest = 1.0 + t2 * rho * rho_odd * (1.0 / ((n - 1.0) * n)) * nest;
        }
    }
    return t * m0 * rho * nest;  // rho = rho_1 = M_1 / M_0
}

NG_HDI double taylor_m0(double h) { return NG_SQRT_PI_OVER_2 * erfcx_pos(-h * (1.0 / NG_SQRT2)); }

NG_HD double odd_taylor_sum(double h, double t) {
    double m0 = taylor_m0(h);
    return h > -4.0 ? taylor_forward_sum(h, t, m0) : taylor_backward_sum(h, t, m0);
}

// x/s as x (1/s): the one reciprocal is shared by every quotient by s (a
// division costs a 16-cycle throughput per AVX-512 vector). 0/s stays 0
// where 1/s overflows (subnormal s).
NG_HDI double div_s(double x, double inv_s) { return x == 0.0 ? 0.0 : x * inv_s; }

// exp(-(h^2 + t^2)/2) with h = x/s, t = s/2, keeping the exponent to a few
// ulps absolute: a plain h*h carries a relative error that becomes h^2 ulps
// of b in the far tail (|h| ~ 30 costs 1e-13).
NG_HDI double exp_neg_half_hh_tt(double x, double s) {
    double inv_s = 1.0 / s;
    double h = div_s(x, inv_s);
    double h_lo = div_s(fma(-h, s, x), inv_s);  // x/s = h + h_lo to ~1 ulp^2
    double t = 0.5 * s;
    double hh = h * h;
    double hh_lo = fma(h, h, -hh) + 2.0 * h * h_lo;
    double tt = t * t;
    double tt_lo = fma(t, t, -tt);
    double e_hi = -0.5 * (hh + tt);
    double e_lo = -0.5 * (hh_lo + tt_lo) + ((-0.5 * hh - e_hi) - 0.5 * tt);
    return m_exp(e_hi) * (1.0 + e_lo);
}

// Forms (b) and (c) of b(x, s), x <= 0, and b_max - b, given e =
// exp_neg_half_hh_tt(x, s) and ex = e^{x/2}. With u = h + t, w = h - t:
// u^2/2 = (h^2 + t^2)/2 + x/2, so e^{x/2} Phi(u) = e erfcx(-u/sqrt2)/2 for
// u < 0 and e^{-x/2} Phi(w) = e erfcx(-w/sqrt2)/2 (w < 0 always, as x <= 0):
// both products come from the one compensated exponential e, with no
// e^{-u^2/2}, e^{-w^2/2} or e^{-x/2} of their own.
NG_HDI double erfcx_forms(double h, double t, double e, double ex, double& compl_) {
    double u = h + t, w = h - t;
    double a = 0.5 * e * erfcx_pos(fabs(u) * (1.0 / NG_SQRT2));  // e^{x/2} Phi(-|u|)
    double c = 0.5 * e * erfcx_pos(fabs(w) * (1.0 / NG_SQRT2));  // e^{-x/2} Phi(w)
    // b_max - b = e^{x/2} Phi(-u) + e^{-x/2} Phi(w): both terms positive.
    compl_ = (u > 0.0 ? a : ex - a) + c;
    // (b) u <= 0: the difference of two erfcx terms; (c) u > 0: e^{x/2} Phi(u) = ex - a
    return u <= 0.0 ? a - c : (ex - a) - c;
}

// Normalised out-of-the-money call price b(x, s), x <= 0, without branches,
// except the backward Taylor recursion (the costly one: 60 divisions), which
// is left to the caller when need_backward is set (see normalised_black).
// Regions, chosen to avoid cancellation:
//   (a) t < (|h| + 1.25)/8: Phi(h+t) - Phi(h-t) would cancel by more than a
//       factor 4: the odd Taylor series in t (all terms positive);
//   (b) else h + t <= 0: e^{x/2} Phi(h+t) = 1/2 e^{-(h^2+t^2)/2}
//       erfcx(-(h+t)/sqrt2), so the large exponentials cancel analytically;
//   (c) else the plain difference.
NG_HDI double normalised_black_fast2(double x, double s, bool& need_backward, double& compl_,
                                     double& e_out) {
    double h = div_s(x, 1.0 / s), t = 0.5 * s;
    double e = exp_neg_half_hh_tt(x, s);
    bool taylor = t < 0.125 * (fabs(h) + 1.25);
    need_backward = taylor & (h <= -4.0) & (s > 0.0);
    double ra = 2.0 * NG_INV_SQRT_2PI * e * taylor_forward_sum(h, t, taylor_m0(h));
    double b = erfcx_forms(h, t, e, m_exp(0.5 * x), compl_);
    e_out = e;
    b = taylor ? ra : b;
    return s > 0.0 ? b : 0.0;
}

NG_HDI double normalised_black_fast(double x, double s, bool& need_backward) {
    double c, e;
    return normalised_black_fast2(x, s, need_backward, c, e);
}

// The (a)-region value where h <= -4 (backward recursion).
NG_HDI double normalised_black_backward(double x, double s) {
    double h = div_s(x, 1.0 / s), t = 0.5 * s;
    return 2.0 * NG_INV_SQRT_2PI * exp_neg_half_hh_tt(x, s)
           * taylor_backward_sum(h, t, taylor_m0(h));
}

// Normalised out-of-the-money call price b(x, s) for x <= 0, accurate to a
// few ulps relative everywhere (tested against mpmath).
NG_HD double normalised_black(double x, double s) {
    bool backward;
    double b = normalised_black_fast(x, s, backward);
    return backward ? normalised_black_backward(x, s) : b;
}

// b_max - b(x, s) for x <= 0, without cancellation (both terms positive).
NG_HDI double normalised_black_complement(double x, double s) {
    double h = div_s(x, 1.0 / s), t = 0.5 * s;
    return m_exp(0.5 * x) * norm_cdf(-(h + t)) + m_exp(-0.5 * x) * norm_cdf(h - t);
}

// ln of the normalised vega db/ds = exp(-(h^2+t^2)/2)/sqrt(2pi).
NG_HDI double ln_normalised_vega(double x, double s) {
    double h = div_s(x, 1.0 / s), t = 0.5 * s;
    return -0.5 * (h * h + t * t) - 0.91893853320467274178;  // ln sqrt(2pi)
}

// State of the implied-s iteration (one option). The solver is split into
// iv_init and iv_step, both branch-free, so the CPU backend can run many
// options in lockstep with SIMD (compacting the ones still iterating) while
// the scalar loop below (GPU, reference) runs the very same arithmetic.
struct IvState {
    double x, beta, bmax, cbeta, lnbeta, lo, hi, s;
    bool upper;
};

#define NG_IV_CONTINUE (-1)

// Starting point and bracket for beta in (0, e^{x/2}), x <= 0. Returns
// NG_IV_CONTINUE, or a final status with st.s the answer.
NG_HDI int iv_init(double beta, double x, IvState& st) {
    double bmax = m_exp(0.5 * x);
    double ax = -x;
    double sc = sqrt(2.0 * ax);
    bool unused;
    double bc = normalised_black_fast(x, sc, unused);  // h = -t at s_c: never backward
    // The bracket comes from the inflection point: b is convex below s_c and
    // concave above it.
    bool above = beta > bc;
    double lo = above ? sc : 0.0;
    double hi = above ? inf_value() : sc;
    // Objective: ln b keeps relative price accuracy while b <= b_max/2;
    // above that ln(b_max - b) does (and is close to linear in s there).
    bool upper = beta > 0.5 * bmax;
    double vc = m_exp(ln_normalised_vega(x, sc));
    // Large s: b_max - b ~ (e^{x/2} + e^{-x/2}) Phi(-s/2).
    double s_up = -2.0 * inv_norm_cdf_approx((bmax - beta) / (bmax + m_exp(-0.5 * x)));
    // b is nearly linear around its inflection point.
    double s_mid = sc + (beta - bc) / vc;
    double s_atm = beta * NG_SQRT_2PI;  // b = erf(s/(2 sqrt2)) ~ s/sqrt(2pi)
    // Asymptotic lower branch:
    // ln b ~ -x^2/(2s^2) - s^2/8 + ln(s^3/x^2) - ln sqrt(2pi).
    double lb = m_log(beta);
    double lax = m_log(ax);
    double s_low = ax / sqrt(-2.0 * lb);
    NG_UNROLL
    for (int i = 0; i < 2; ++i) {
        double rhs = -lb + 3.0 * m_log(s_low) - 2.0 * lax - 0.91893853320467274178
                     - 0.125 * s_low * s_low;
        s_low = rhs > 0.0 ? ax / sqrt(2.0 * rhs) : s_low;
    }
    // (at the money b_c = 0 and v_c is 0/0: the ATM start, not s_mid)
    double s = upper ? s_up : (ax == 0.0 ? s_atm : (beta > 0.5 * bc ? s_mid : s_low));
    bool fin_hi = is_finite(hi);
    double s_bis = fin_hi ? (lo > 0.0 ? sqrt(lo * hi) : 0.5 * hi) : 2.0 * lo;
    s = (s > lo && s < hi) ? s : s_bis;
    double cbeta = bmax - beta;
    st.x = x; st.beta = beta; st.bmax = bmax; st.cbeta = cbeta;
    st.lnbeta = m_log(upper ? cbeta : beta);
    st.lo = lo; st.hi = hi; st.s = s; st.upper = upper;
    int code = NG_IV_CONTINUE;
    code = beta > 0.0 ? code : (beta == 0.0 ? NG_OK : NG_BELOW_INTRINSIC);
    st.s = beta > 0.0 ? st.s : 0.0;
    code = beta < bmax ? code : NG_ABOVE_MAX_PRICE;
    st.s = beta < bmax ? st.s : inf_value();
    return code;
}

// The value iv_step needs at st.s: b, or b_max - b on the upper branch
// (need_backward: the caller must use normalised_black_backward instead), and
// dens = e^{-(h^2+t^2)/2}, which gives b'.
NG_HDI double iv_objective_value(const IvState& st, bool& need_backward, double& dens) {
    bool nb;
    double c;
    double b = normalised_black_fast2(st.x, st.s, nb, c, dens);
    need_backward = nb & !st.upper;
    return st.upper ? c : b;
}

// The lockstep CPU solver evaluates each lane with only the form it needs:
// iv_region says which (0: Taylor, forward recursion; 1: Taylor, backward;
// 2: the erfcx / plain forms, or the complement on the upper branch), and
// the three functions below give exactly what iv_objective_value gives there.
NG_HDI int iv_region(const IvState& st) {
    double h = div_s(st.x, 1.0 / st.s), t = 0.5 * st.s;
    bool taylor = t < 0.125 * (fabs(h) + 1.25);
    double r = taylor ? (h <= -4.0 ? 1.0 : 0.0) : 2.0;
    return (int)(st.upper ? 2.0 : r);
}

NG_HDI double iv_value_taylor_forward(const IvState& st, double& dens) {
    double x = st.x, s = st.s;
    double h = div_s(x, 1.0 / s), t = 0.5 * s;
    double e = exp_neg_half_hh_tt(x, s);
    dens = e;
    double ra = 2.0 * NG_INV_SQRT_2PI * e * taylor_forward_sum(h, t, taylor_m0(h));
    return s > 0.0 ? ra : 0.0;
}

NG_HDI double iv_value_taylor_backward(const IvState& st, double& dens) {
    dens = exp_neg_half_hh_tt(st.x, st.s);
    return normalised_black_backward(st.x, st.s);
}

NG_HDI double iv_value_other(const IvState& st, double& dens) {
    double x = st.x, s = st.s;
    double h = div_s(x, 1.0 / s), t = 0.5 * s;
    double e = exp_neg_half_hh_tt(x, s);
    dens = e;
    double c;
    double b = erfcx_forms(h, t, e, m_exp(0.5 * x), c);
    b = s > 0.0 ? b : 0.0;
    return st.upper ? c : b;
}

// One safeguarded third-order Householder step on ln b (or ln(b_max - b)),
// given val and dens from iv_objective_value. Returns true when st.s is the
// answer.
NG_HDI bool iv_step(IvState& st, double val, double dens) {
    double x = st.x, s = st.s;
    double v = dens * NG_INV_SQRT_2PI;  // b'
    // Divisions are the costliest SIMD operation (a 16-cycle throughput
    // per AVX-512 vector): the derivatives, which only shape the step, use 1/s.
    double inv_s = 1.0 / s;
    double hs = x * x * (inv_s * inv_s * inv_s);     // x^2 / s^3
    double b1 = hs - 0.25 * s;                        // (d2b/ds2) / b'
    double b2 = -3.0 * hs * inv_s - 0.25 + b1 * b1;  // (d3b/ds3) / b'
    bool upper = st.upper;
    double target = upper ? st.cbeta : st.beta;
    // Objective ln(val / target): increasing in s for b, decreasing for c.
    // From the quotient, its absolute error is ~1 ulp of 1 (ln val - ln
    // target would carry ulps of |ln val|, 1e-13 far out of the money). A
    // quotient that under/overflows gives a huge |g|, which the bracket
    // safeguard handles like the +-inf of ln(0).
    double g = m_log(val / target);
    double q = (upper ? -v : v) / val;  // d ln val / ds
    // g' = q, g'' = q b1 - q^2, g''' = q b2 - 3 q^2 b1 + 2 q^3: the ratios
    // Householder needs, g''/g' and g'''/g', without dividing by g'.
    double hh2 = b1 - q;
    double hh3 = b2 - 3.0 * q * b1 + 2.0 * q * q;
    // Converged on the value: beta within an ulp of b_max makes
    // ln(b_max - beta) rounding noise, so the upper branch tests the residual.
    // (selects are on doubles, not bools: GCC 12 does not vectorise ?: of bools)
    double miss = upper ? fabs(val - st.cbeta) - NG_DBL_EPS * st.beta
                        : fabs(g) - 0.25 * NG_DBL_EPS;
    // (g == 0 needs no test of its own: then ds = 0 and the step test stops)
    double done = miss <= 0.0 ? 1.0 : 0.0;
    bool below = (upper ? -g : g) < 0.0;  // the root is above s
    double lo = below ? dmax(st.lo, s) : st.lo;
    double hi = below ? st.hi : dmin(st.hi, s);
    double nu = -g / q;
    double ds = nu * (1.0 + 0.5 * hh2 * nu) / (1.0 + nu * (hh2 + hh3 * nu * (1.0 / 6.0)));
    ds = is_finite(ds) ? ds : nu;
    double sn = s + ds;
    // Converged on the step: checked before the bracket test, because near the
    // root the sign of g is rounding noise and may contradict the bracket. The
    // step is third order (error^4 convergence), so once it is below
    // NG_IV_STEP_TOL relative, s + ds is accurate to rounding and no further
    // evaluation is needed to confirm it (saves one of ~3.5 evaluations).
    double small = fabs(ds) <= NG_IV_STEP_TOL * s ? 1.0 : 0.0;
    // Safeguard: bisect the bracket (geometrically when it is wide).
    double s_bis = is_finite(hi) ? ((lo > 0.0 && hi > 4.0 * lo) ? sqrt(lo * hi) : 0.5 * (lo + hi))
                                 : 2.0 * s;
    double s_next = (sn > lo && sn < hi) ? sn : s_bis;
    st.lo = lo;
    st.hi = hi;
    st.s = done > 0.0 ? s : (small > 0.0 ? sn : s_next);
    return done + small > 0.0;
}

// Implied s = sigma sqrt(T) from a normalised OTM call price beta in
// (0, e^{x/2}), x <= 0. Returns a status; s_out is set when NG_OK.
NG_HD int implied_s_otm_call(double beta, double x, double& s_out) {
    IvState st;
    int code = iv_init(beta, x, st);
    if (code != NG_IV_CONTINUE) { s_out = st.s; return code; }
    for (int it = 0; it < NG_IV_MAX_ITER; ++it) {
        bool backward;
        double dens;
        double val = iv_objective_value(st, backward, dens);
        if (backward) val = normalised_black_backward(st.x, st.s);
        if (iv_step(st, val, dens)) { s_out = st.s; return NG_OK; }
    }
    s_out = st.s;
    return NG_NOT_CONVERGED;
}

// Positive finite doubles one ulp down / up (a NaN or 0 stays put).
NG_HDI double next_down_pos(double v) {
#ifdef NG_DEVICE
    return nextafter(v, 0.0);
#else
    return v > 0.0 && v <= NG_DBL_MAX ? bits_double(double_bits(v) - 1) : v;
#endif
}

NG_HDI double next_up_pos(double v) {
#ifdef NG_DEVICE
    return nextafter(v, inf_value());
#else
    return v >= 0.0 && v < NG_DBL_MAX ? bits_double(double_bits(v) + 1) : v;
#endif
}

// Implied vol, split for the SIMD pipeline: iv_prologue reduces the option to
// an out-of-the-money normalised call (beta_otm, xs) and returns
// NG_IV_CONTINUE when the solver must run, else the final status with vol set.
NG_HDI double iv_prologue_d(double price, double s, double k, double t, double r, double q,
                            double cpd, int model, double& beta_otm, double& xs, double& vol) {
    bool valid = is_finite(price) & is_finite(s) & is_finite(k) & is_finite(t) & is_finite(r)
                 & is_finite(q) & (s > 0.0) & (k > 0.0) & (t > 0.0) & (price >= 0.0);
    valid = valid & ((cpd == 0.0) | (cpd == 1.0));
    q = model == 1 ? r : q;
    double x = log_moneyness(s, k, (r - q) * t);  // ln(F/K)
    // Normalise by the discounted geometric mean of F and K.
    double fk = sqrt(s * k) * m_exp(0.5 * (r - q) * t - r * t);  // D sqrt(FK)
    double beta = price / fk;
    valid = valid & is_finite(beta) & is_finite(x);
    double theta = cpd == 1.0 ? 1.0 : -1.0;
    double ex = m_exp(0.5 * x), emx = m_exp(-0.5 * x);
    // Intrinsic and maximum in normalised units; 2 sinh(x/2) without
    // cancellation: e^{x/2} - e^{-x/2} = -e^{x/2} expm1(-x).
    double two_sinh = -ex * m_expm1(-x);
    double intrinsic = dmax(theta * two_sinh, 0.0);
    double bmax = cpd == 1.0 ? ex : emx;
    // put-call parity: out-of-the-money twin. In the money, a time value
    // within the rounding of beta (4 ulps) is no time value: vol 0.
    // (flags are double selects: GCC 12 does not vectorise selects of bools)
    bool itm = theta * x > 0.0;
    double b = itm ? beta - intrinsic : beta;
    b = b <= 4.0 * NG_DBL_EPS * beta ? (itm ? 0.0 : b) : b;
    xs = -fabs(x);
    beta_otm = b;
    // Later assignments take precedence. A price that rounding put a few ulps
    // under intrinsic (deep in the money, time value below resolution) is at
    // intrinsic: vol 0.
    double code = NG_IV_CONTINUE;
    double v = nan_value();
    double cap = m_exp(0.5 * xs);
    code = b >= cap ? NG_ABOVE_MAX_PRICE : code;
    v = b >= cap ? inf_value() : v;
    code = b <= 0.0 ? NG_OK : code;  // exactly intrinsic
    v = b <= 0.0 ? 0.0 : v;
    double under_by = intrinsic - beta;
    double tol = 8.0 * NG_DBL_EPS * dmax(ex, emx);
    code = under_by > 0.0 ? (under_by > tol ? NG_BELOW_INTRINSIC : NG_OK) : code;
    v = under_by > 0.0 ? (under_by > tol ? nan_value() : 0.0) : v;
    code = beta >= bmax ? NG_ABOVE_MAX_PRICE : code;
    v = beta >= bmax ? inf_value() : v;
    code = valid ? code : NG_INVALID_INPUT;
    vol = valid ? v : nan_value();
    return code;
}

NG_HDI int iv_prologue(double price, double s, double k, double t, double r, double q,
                       int is_call, int model, double& beta_otm, double& xs, double& vol) {
    return (int)iv_prologue_d(price, s, k, t, r, q, (double)is_call, model, beta_otm, xs, vol);
}

// vol from the solved s. Far out of the money b moves by h^2 ulps per ulp of
// s, so of the doubles next to s/sqrt(T) take the vol whose sigma*sqrt(T) (as
// the pricer forms it) lands closest to s.
NG_HDI double iv_epilogue(double sv, int status, double t) {
    double sq = sqrt(t);
    double v = sv / sq;
    double e0 = fabs(v * sq - sv);
    double vd = next_down_pos(v), vu = next_up_pos(v);
    double ed = fabs(vd * sq - sv), eu = fabs(vu * sq - sv);
    v = (ed < e0 && ed <= eu) ? vd : ((eu < e0) ? vu : v);
    v = status == NG_ABOVE_MAX_PRICE ? inf_value() : v;
    return (status == NG_OK) | (status == NG_ABOVE_MAX_PRICE) ? v : nan_value();
}

// Implied volatility for BSM (model 0: s is the spot) or Black-76 (model 1:
// s is the forward). price is the discounted option premium.
NG_HD int implied_vol(double price, double s, double k, double t, double r, double q,
                      int is_call, int model, double& vol) {
    double b, xs;
    int code = iv_prologue(price, s, k, t, r, q, is_call, model, b, xs, vol);
    if (code != NG_IV_CONTINUE) return code;
    double sv;
    int st = implied_s_otm_call(b, xs, sv);
    vol = iv_epilogue(sv, st, t);
    return st;
}

}  // namespace ng
