"""NumPy float64 reference implementations (tests and the vectorised baseline of the benchmark).

Straightforward textbook formulas, independent of the kernels' numerics: the
kernels must agree with these where these are accurate, and beat them where
they are not (far tails, cancellation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def _ncdf(x: F64) -> F64:
    """Phi(x): scipy's vectorised ndtr when installed, else math.erfc element by element."""
    try:
        from scipy.special import ndtr  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        from math import erfc

        xs = np.asarray(x, dtype=np.float64)
        return np.asarray(np.frompyfunc(lambda v: 0.5 * erfc(-v / np.sqrt(2.0)), 1, 1)(xs),
                          dtype=np.float64)
    return np.asarray(ndtr(x), dtype=np.float64)


def black_greeks(s: Any, k: Any, t: Any, r: Any, q: Any, sigma: Any, is_call: Any,
                 model: str = "bsm") -> dict[str, F64]:
    """Closed-form BSM / Black-76 price and greeks (theta per year, vega per 1.00)."""
    s, k, t, r, q, sigma = (np.asarray(a, dtype=np.float64) for a in (s, k, t, r, q, sigma))
    w = np.where(np.asarray(is_call) == 1, 1.0, -1.0)
    if model == "black76":
        q = r
    sq = np.sqrt(t)
    sd = sigma * sq
    d1 = (np.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    dq, dr = np.exp(-q * t), np.exp(-r * t)
    pdf = np.exp(-0.5 * d1 * d1) / np.sqrt(2 * np.pi)
    n1, n2 = _ncdf(w * d1), _ncdf(w * d2)
    price = w * (s * dq * n1 - k * dr * n2)
    vega = s * dq * pdf * sq
    out = {
        "price": price,
        "delta": w * dq * n1,
        "gamma": dq * pdf / (s * sd),
        "vega": vega,
        "theta": -s * dq * pdf * sigma / (2 * sq) - w * r * k * dr * n2 + w * q * s * dq * n1,
        "rho": -t * price if model == "black76" else w * k * t * dr * n2,
        "vanna": -dq * pdf * d2 / sigma,
        "volga": vega * d1 * d2 / sigma,
    }
    return {nm: np.asarray(v, dtype=np.float64) for nm, v in out.items()}


def implied_vol_newton(price: Any, s: Any, k: Any, t: Any, r: Any, q: Any, is_call: Any,
                       iterations: int = 40) -> F64:
    """Vectorised Newton/bisection IV: the NumPy baseline the kernels are compared to."""
    price, s, k, t, r, q = (np.asarray(a, dtype=np.float64) for a in (price, s, k, t, r, q))
    lo = np.full(price.shape, 1e-6)
    hi = np.full(price.shape, 10.0)
    sig = np.full(price.shape, 0.3)
    for _ in range(iterations):
        g = black_greeks(s, k, t, r, q, sig, is_call)
        f = g["price"] - price
        lo = np.where(f < 0, sig, lo)
        hi = np.where(f > 0, sig, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            nxt = sig - f / g["vega"]
        bad = ~((nxt > lo) & (nxt < hi))
        sig = np.where(bad, 0.5 * (lo + hi), nxt)
    return sig


def american_lr(s: float, k: float, t: float, r: float, q: float, sigma: float, is_call: bool,
                steps: int) -> float:
    """Leisen-Reimer American price, one option, NumPy over the nodes of each step."""
    n = steps | 1
    sd = sigma * np.sqrt(t)
    dt = t / n
    d1 = (np.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd

    def pp(z: float) -> float:
        a = z / (n + 1 / 3 + 0.1 / (n + 1))
        v = 0.5 * float(np.sqrt(1 - np.exp(-a * a * (n + 1 / 6))))
        return 0.5 + v if z >= 0 else 0.5 - v

    p, pbar = pp(d2), pp(d1)
    g = np.exp((r - q) * dt)
    u = g * pbar / p
    d = (g - p * u) / (1 - p)
    disc = np.exp(-r * dt)
    w = 1.0 if is_call else -1.0
    j = np.arange(n + 1)
    v = np.maximum(w * (s * u**j * d ** (n - j) - k), 0.0)
    for i in range(n - 1, -1, -1):
        j = np.arange(i + 1)
        spot = s * u**j * d ** (i - j)
        v = np.maximum(disc * (p * v[1:] + (1 - p) * v[:-1]), np.maximum(w * (spot - k), 0.0))
    return float(np.asarray(v)[0])


def realized_vol(open_: F64, high: F64, low: F64, close: F64, lam: float = 0.94,
                 periods_per_year: float = 252.0) -> dict[str, float]:
    """The four estimators of kernels/realized.cuh for one instrument."""
    ret = np.diff(np.log(close))
    ew = ret[0] ** 2
    for x in ret[1:]:
        ew = lam * ew + (1 - lam) * x * x
    hl = np.log(high / low)
    co = np.log(close / open_)
    return {
        "close_to_close": float(np.sqrt(np.var(ret, ddof=1) * periods_per_year)),
        "parkinson": float(np.sqrt(np.mean(hl**2) / (4 * np.log(2)) * periods_per_year)),
        "garman_klass": float(np.sqrt(np.mean(0.5 * hl**2 - (2 * np.log(2) - 1) * co**2)
                                      * periods_per_year)),
        "ewma": float(np.sqrt(ew * periods_per_year)),
    }
