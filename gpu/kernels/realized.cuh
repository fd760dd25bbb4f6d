// Realized volatility of one instrument from its price series [begin, end).
// Estimators (variance per period, annualised by periods_per_year):
//   close-to-close  sample variance of log returns (n-1 denominator)
//   Parkinson       sum ln(H/L)^2 / (4 ln 2 n)
//   Garman-Klass    mean of 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2
//   EWMA            RiskMetrics recursion s2 = lambda s2 + (1-lambda) r^2,
//                   seeded with the first squared return; the last value
// Missing open/high/low (null pointers) give NaN for the estimators that need
// them. Non-positive or non-finite prices make the instrument invalid.
#pragma once
#include "common.cuh"

namespace ng {

struct Realized {
    double close_to_close, parkinson, garman_klass, ewma;
};

NG_HD int realized_vol(const double* open, const double* high, const double* low,
                       const double* close, long long begin, long long end, double lambda,
                       double periods_per_year, Realized& out) {
    double nan = nan_value();
    out.close_to_close = nan; out.parkinson = nan; out.garman_klass = nan; out.ewma = nan;
    long long n = end - begin;
    if (n < 2 || !(lambda >= 0.0 && lambda < 1.0) || !(periods_per_year > 0.0)) {
        return NG_INVALID_INPUT;
    }
    for (long long i = begin; i < end; ++i) {
        if (!(close[i] > 0.0 && is_finite(close[i]))) return NG_INVALID_INPUT;
    }
    // Welford: one pass, no catastrophic cancellation on tiny returns.
    double mean = 0.0, m2 = 0.0, ew = 0.0;
    for (long long i = begin + 1; i < end; ++i) {
        double ret = log(close[i] / close[i - 1]);
        long long c = i - begin;
        double delta = ret - mean;
        mean += delta / c;
        m2 += delta * (ret - mean);
        ew = (i == begin + 1) ? ret * ret : lambda * ew + (1.0 - lambda) * ret * ret;
    }
    if (n >= 3) out.close_to_close = sqrt(m2 / (n - 2) * periods_per_year);
    out.ewma = sqrt(ew * periods_per_year);
    if (high != nullptr && low != nullptr) {
        double sp = 0.0, sg = 0.0;
        bool ok = true;
        for (long long i = begin; i < end; ++i) {
            if (!(high[i] > 0.0 && low[i] > 0.0 && high[i] >= low[i] && is_finite(high[i]))) {
                ok = false;
                break;
            }
            double hl = log(high[i] / low[i]);
            sp += hl * hl;
            if (open != nullptr) {
                if (!(open[i] > 0.0 && is_finite(open[i]))) { ok = false; break; }
                double co = log(close[i] / open[i]);
                sg += 0.5 * hl * hl - (2.0 * 0.69314718055994530942 - 1.0) * co * co;
            }
        }
        if (!ok) return NG_INVALID_INPUT;
        out.parkinson = sqrt(sp / (4.0 * 0.69314718055994530942 * n) * periods_per_year);
        if (open != nullptr) out.garman_klass = sqrt(dmax(sg / n, 0.0) * periods_per_year);
    }
    return NG_OK;
}

}  // namespace ng
