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

namespace ng {

// sum_{k>=0} t^{2k+1}/(2k+1)! * Y^{(2k+1)}(h) for h <= 0, where
// Y(z) = Phi(z)/phi(z) and Y^{(n)}(h) = M_n = int_0^inf u^n e^{hu-u^2/2} du.
// So b = phi(h) e^{-t^2/2} * 2 * this sum, with no cancellation: every term
// is positive. The moments obey M_{n+1} = h M_n + n M_{n-1}; M_n is the
// minimal solution for h < 0, so forward recursion is used only for small
// |h| and the ratios rho_n = M_n/M_{n-1} = n/(rho_{n+1} - h) are run
// backwards (Miller) otherwise, nesting the series on the way down.
NG_HD double odd_taylor_sum(double h, double t) {
    double m0 = NG_SQRT_PI_OVER_2 * erfcx(-h / NG_SQRT2);
    double t2 = t * t;
    if (h > -4.0) {
        // forward: M_1 = 1 + h M_0 loses at most a factor h^2 < 16.
        double mprev = m0;
        double m = 1.0 + h * m0;  // M_1
        double term = t;          // t^n / n!
        double sum = term * m;
        for (int n = 1; n < 29; n += 2) {
            double m2 = h * m + n * mprev;          // M_{n+1}
            double m3 = h * m2 + (n + 1) * m;       // M_{n+2}
            term *= t2 / ((n + 1.0) * (n + 2.0));
            sum += term * m3;
            mprev = m2;
            m = m3;
        }
        return sum;
    }
    // backward: start beyond the needed order at the fixed point of the ratio
    // recursion; errors shrink by rho^2/n < 1/2 per step for h <= -4.
    const int n_top = 60;
    double rho = 0.5 * (sqrt(h * h + 4.0 * (n_top + 1)) + h);
    double nest = 1.0;
    double rho_odd = 0.0;
    for (int n = n_top; n >= 1; --n) {
        rho = n / (rho - h);
        if (n <= 29) {
            if (n & 1) {
                rho_odd = rho;  // rho_{2k+1}, paired with rho_{2k} next step
            } else {
                // nest = 1 + t^2 rho_{2k} rho_{2k+1} / ((2k)(2k+1)) * nest
                nest = 1.0 + t2 * rho * rho_odd / (n * (n + 1.0)) * nest;
            }
        }
    }
    // rho now holds rho_1 = M_1 / M_0.
    return t * m0 * rho * nest;
}

// exp(-(h^2 + t^2)/2) with h = x/s, t = s/2, keeping the exponent to a few
// ulps absolute: a plain h*h carries a relative error that becomes h^2 ulps
// of b in the far tail (|h| ~ 30 costs 1e-13).
NG_HD double exp_neg_half_hh_tt(double x, double s) {
    double h = x / s;
    double h_lo = fma(-h, s, x) / s;  // x/s = h + h_lo exactly to ~1 ulp^2
    double t = 0.5 * s;
    double hh = h * h;
    double hh_lo = fma(h, h, -hh) + 2.0 * h * h_lo;
    double tt = t * t;
    double tt_lo = fma(t, t, -tt);
    double e_hi = -0.5 * (hh + tt);
    double e_lo = -0.5 * (hh_lo + tt_lo) + ((-0.5 * hh - e_hi) - 0.5 * tt);
    return exp(e_hi) * (1.0 + e_lo);
}

// Normalised out-of-the-money call price b(x, s) for x <= 0, accurate to a
// few ulps relative everywhere (tested against mpmath).
NG_HD double normalised_black(double x, double s) {
    if (s <= 0.0) return 0.0;
    double h = x / s, t = 0.5 * s;
    if (t < 0.125 * (fabs(h) + 1.25)) {
        // Phi(h+t)-Phi(h-t) style cancellation would cost more than a factor 4.
        return 2.0 * NG_INV_SQRT_2PI * exp_neg_half_hh_tt(x, s) * odd_taylor_sum(h, t);
    }
    if (h + t <= 0.0) {
        // e^{x/2} Phi(h+t) = 1/2 e^{-(h^2+t^2)/2} erfcx(-(h+t)/sqrt2): the
        // large exponentials cancel analytically.
        return 0.5 * exp_neg_half_hh_tt(x, s)
               * (erfcx(-(h + t) / NG_SQRT2) - erfcx(-(h - t) / NG_SQRT2));
    }
    return exp(0.5 * x) * norm_cdf(h + t) - exp(-0.5 * x) * norm_cdf(h - t);
}

// b_max - b(x, s) for x <= 0, without cancellation (both terms positive).
NG_HD double normalised_black_complement(double x, double s) {
    double h = x / s, t = 0.5 * s;
    return exp(0.5 * x) * norm_cdf(-(h + t)) + exp(-0.5 * x) * norm_cdf(h - t);
}

// ln of the normalised vega db/ds = phi(h) e^{-t^2/2}... = exp(-(h^2+t^2)/2)/sqrt(2pi).
NG_HD double ln_normalised_vega(double x, double s) {
    double h = x / s, t = 0.5 * s;
    return -0.5 * (h * h + t * t) - 0.91893853320467274178;  // ln sqrt(2pi)
}

// Implied s = sigma sqrt(T) from a normalised OTM call price beta in
// (0, e^{x/2}), x <= 0. Returns a status; s_out is set when NG_OK.
NG_HD int implied_s_otm_call(double beta, double x, double& s_out) {
    double bmax = exp(0.5 * x);
    if (!(beta < bmax)) { s_out = inf_value(); return NG_ABOVE_MAX_PRICE; }
    if (!(beta > 0.0)) { s_out = 0.0; return beta == 0.0 ? NG_OK : NG_BELOW_INTRINSIC; }
    double ax = -x;
    double sc = sqrt(2.0 * ax);
    double bc = normalised_black(x, sc);
    // The bracket comes from the inflection point: b is convex below s_c and
    // concave above it.
    double lo = 0.0, hi = inf_value();
    if (beta > bc) lo = sc; else hi = sc;
    // Objective: ln b keeps relative price accuracy while b <= b_max/2;
    // above that ln(b_max - b) does (and is close to linear in s there).
    bool upper = beta > 0.5 * bmax;
    double vc = exp(ln_normalised_vega(x, sc));
    double s;
    if (upper) {
        // Large s: b_max - b ~ (e^{x/2} + e^{-x/2}) Phi(-s/2).
        double p = (bmax - beta) / (exp(0.5 * x) + exp(-0.5 * x));
        s = -2.0 * inv_norm_cdf_approx(p);
    } else if (beta > 0.5 * bc) {
        // b is nearly linear around its inflection point.
        s = sc + (beta - bc) / vc;
    } else if (ax == 0.0) {
        s = beta * NG_SQRT_2PI;  // b = erf(s/(2 sqrt2)) ~ s/sqrt(2pi)
    } else {
        // Asymptotic lower branch:
        // ln b ~ -x^2/(2s^2) - s^2/8 + ln(s^3/x^2) - ln sqrt(2pi).
        double lb = log(beta);
        s = ax / sqrt(-2.0 * lb);
        for (int i = 0; i < 2; ++i) {
            double rhs = -lb + 3.0 * log(s) - 2.0 * log(ax) - 0.91893853320467274178
                         - 0.125 * s * s;
            s = rhs > 0.0 ? ax / sqrt(2.0 * rhs) : s;
        }
    }
    if (!(s > lo && s < hi)) s = is_finite(hi) ? (lo > 0.0 ? sqrt(lo * hi) : 0.5 * hi) : 2.0 * lo;
    double cbeta = bmax - beta;
    double lnbeta = upper ? log(cbeta) : log(beta);
    for (int it = 0; it < NG_IV_MAX_ITER; ++it) {
        double v = exp_neg_half_hh_tt(x, s) * NG_INV_SQRT_2PI;  // b'
        double b1 = x * x / (s * s * s) - 0.25 * s;                 // b''/b'
        double b2 = -3.0 * x * x / (s * s * s * s) - 0.25 + b1 * b1;  // b'''/b'
        double g, g1, g2, g3;
        if (upper) {
            double c = normalised_black_complement(x, s);
            // objective ln(b_max - b(s)) - ln(b_max - beta), decreasing in s.
            g = log(c) - lnbeta;
            // beta within an ulp of b_max: ln(b_max - beta) is rounding noise,
            // so converge on the price residual instead.
            if (fabs(c - cbeta) <= NG_DBL_EPS * beta) { s_out = s; return NG_OK; }
            double q = -v / c;  // d ln c / ds
            g1 = q;
            g2 = q * b1 - q * q;
            g3 = q * b2 - 3.0 * q * q * b1 + 2.0 * q * q * q;
            if (g > 0.0) lo = dmax(lo, s); else hi = dmin(hi, s);
        } else {
            double b = normalised_black(x, s);
            g = log(b) - lnbeta;
            if (fabs(g) <= 0.25 * NG_DBL_EPS) { s_out = s; return NG_OK; }
            double q = v / b;  // d ln b / ds
            g1 = q;
            g2 = q * b1 - q * q;
            g3 = q * b2 - 3.0 * q * q * b1 + 2.0 * q * q * q;
            if (g < 0.0) lo = dmax(lo, s); else hi = dmin(hi, s);
        }
        if (g == 0.0) { s_out = s; return NG_OK; }
        double nu = -g / g1;
        double hh2 = g2 / g1, hh3 = g3 / g1;
        double ds = nu * (1.0 + 0.5 * hh2 * nu) / (1.0 + nu * (hh2 + hh3 * nu / 6.0));
        if (!is_finite(ds)) ds = nu;
        double sn = s + ds;
        // Converged: checked before the bracket test, because near the root
        // the sign of g is rounding noise and may contradict the bracket.
        if (fabs(ds) <= 4.0 * NG_DBL_EPS * s) { s_out = sn; return NG_OK; }
        if (!(sn > lo && sn < hi)) {
            // Safeguard: bisect the bracket (geometrically when it is wide).
            if (is_finite(hi)) {
                sn = lo > 0.0 && hi > 4.0 * lo ? sqrt(lo * hi) : 0.5 * (lo + hi);
            } else {
                sn = 2.0 * s;
            }
            ds = sn - s;
        }
        s = sn;
    }
    s_out = s;
    return NG_NOT_CONVERGED;
}

// Implied volatility for BSM (model 0: s is the spot) or Black-76 (model 1:
// s is the forward). price is the discounted option premium.
NG_HD int implied_vol(double price, double s, double k, double t, double r, double q,
                      int is_call, int model, double& vol) {
    vol = nan_value();
    if (!(is_finite(price) && is_finite(s) && is_finite(k) && is_finite(t) && is_finite(r)
          && is_finite(q)) || s <= 0.0 || k <= 0.0 || t <= 0.0 || price < 0.0
        || (is_call != 0 && is_call != 1)) {
        return NG_INVALID_INPUT;
    }
    if (model == 1) q = r;
    double x = log_moneyness(s, k, (r - q) * t);  // ln(F/K)
    double fk = sqrt(s * k) * exp(0.5 * (r - q) * t - r * t) ;  // D sqrt(FK)
    // Normalise by the discounted geometric mean of F and K.
    double beta = price / fk;
    if (!is_finite(beta) || !is_finite(x)) return NG_INVALID_INPUT;
    double theta = is_call ? 1.0 : -1.0;
    double ex = exp(0.5 * x), emx = exp(-0.5 * x);
    // Intrinsic and maximum in normalised units.
    double intrinsic = dmax(2.0 * theta * sinh(0.5 * x), 0.0);  // no cancellation at x ~ 0
    double bmax = is_call ? ex : emx;
    if (beta >= bmax) { vol = inf_value(); return NG_ABOVE_MAX_PRICE; }
    if (beta < intrinsic) {
        // A price that rounding put a few ulps under intrinsic (deep in the
        // money, time value below resolution) is at intrinsic: vol 0.
        if (intrinsic - beta > 8.0 * NG_DBL_EPS * dmax(ex, emx)) return NG_BELOW_INTRINSIC;
        vol = 0.0;
        return NG_OK;
    }
    double b = beta;
    if (theta * x > 0.0) b = beta - intrinsic;  // put-call parity: out-of-the-money twin
    if (b <= 0.0) { vol = 0.0; return NG_OK; }  // exactly intrinsic
    double xs = -fabs(x);
    if (b >= exp(0.5 * xs)) { vol = inf_value(); return NG_ABOVE_MAX_PRICE; }
    double sv;
    int st = implied_s_otm_call(b, xs, sv);
    if (st == NG_OK) vol = sv / sqrt(t);
    else if (st == NG_ABOVE_MAX_PRICE) vol = inf_value();
    return st;
}

}  // namespace ng
