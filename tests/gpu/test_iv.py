"""Implied volatility: accuracy against mpmath and py_lets_be_rational, status codes, edges."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gpu import analytics
from nanogate.gpu.status import Status

mp = pytest.importorskip("mpmath")


def _b_mp(x: float, s: float) -> float:
    """Normalised OTM call b(x, s) at 40 digits (x and s taken as exact doubles)."""
    with mp.workdps(40):
        xm, sm = mp.mpf(x), mp.mpf(s)
        h, t = xm / sm, sm / 2
        return float(mp.exp(xm / 2) * mp.ncdf(h + t) - mp.exp(-xm / 2) * mp.ncdf(h - t))


def _normalised_domain(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # |x| from 1e-10 (at the money) to 300 (far out), s from 1e-4 (T -> 0) to 30 (huge vol)
    x = -np.concatenate([10 ** rng.uniform(-10, 2.5, n // 2), rng.uniform(0, 3, n - n // 2)])
    s = 10 ** rng.uniform(-4, 1.5, n)
    return x, s


def test_normalised_black_accurate_everywhere() -> None:
    x, s = _normalised_domain(600, 5)
    got = analytics.normalised_black(x, s)
    ref = np.array([_b_mp(a, b) for a, b in zip(x, s, strict=True)])
    keep = ref > 1e-300
    rel = np.abs(got[keep] - ref[keep]) / ref[keep]
    assert keep.sum() > 300
    assert rel.max() < 2e-14, rel.max()


def test_iv_price_normalised_relative_error_below_1e13() -> None:
    x, s_true = _normalised_domain(600, 7)
    beta = np.array([_b_mp(a, b) for a, b in zip(x, s_true, strict=True)])
    keep = (beta > 1e-280) & (beta < np.exp(x / 2) * (1 - 1e-15))
    x, beta = x[keep], beta[keep]
    s, st = analytics.implied_s_otm_call(beta, x)
    assert np.all(st == Status.OK), np.bincount(st)
    back = np.array([_b_mp(a, b) for a, b in zip(x, s, strict=True)])
    rel = np.abs(back - beta) / beta
    assert rel.max() <= 1e-13, rel.max()


def test_matches_py_lets_be_rational() -> None:
    lbr = pytest.importorskip("py_lets_be_rational")
    rng = np.random.default_rng(17)
    n = 300
    f = rng.uniform(50, 150, n)
    k = rng.uniform(50, 150, n)
    t = 10 ** rng.uniform(-2, 1, n)
    sig = rng.uniform(0.05, 1.5, n)
    cp = rng.integers(0, 2, n)
    g = analytics.price_greeks(f, k, t, 0.0, 0.0, sig, cp, model="black76", backend="cpu")
    ours, st = analytics.implied_vol(g["price"], f, k, t, 0.0, 0.0, cp, model="black76",
                                     backend="cpu")
    def their_iv(p: float, ff: float, kk: float, tt: float, c: int) -> float:
        try:
            return float(lbr.implied_volatility_from_a_transformed_rational_guess(
                p, ff, kk, tt, 1 if c else -1))
        except Exception:  # its intrinsic is F - K with cancellation: an ulp can trip it
            return float("nan")

    theirs = np.array([their_iv(*a) for a in zip(g["price"], f, k, t, cp, strict=True)])
    assert np.all(st == Status.OK)
    # compare where the price still determines the vol: the relative vol error that
    # one ulp of price causes is eps * price / (vega * sigma)
    cond = g["price"] / (g["vega"] * sig)
    vega_ok = (cond < 1e3) & np.isfinite(theirs)
    assert vega_ok.sum() > 200
    np.testing.assert_allclose(ours[vega_ok], theirs[vega_ok], rtol=1e-10)
    np.testing.assert_allclose(ours[vega_ok], sig[vega_ok], rtol=1e-10)


def test_bsm_round_trip_with_edge_cases() -> None:
    rng = np.random.default_rng(23)
    n = 20000
    s = rng.uniform(20, 200, n)
    k = s * np.exp(rng.normal(0, 0.6, n))          # deep ITM and OTM
    t = 10 ** rng.uniform(-4, 1.3, n)               # T -> 0 and long dated
    r = rng.uniform(-0.03, 0.12, n)                 # negative rates
    q = rng.uniform(0.0, 0.15, n)                   # q > r
    sig = 10 ** rng.uniform(-2.5, 0.7, n)           # sigma -> 0 and huge vol
    cp = rng.integers(0, 2, n)
    g = analytics.price_greeks(s, k, t, r, q, sig, cp, backend="cpu")
    vol, st = analytics.implied_vol(g["price"], s, k, t, r, q, cp, backend="cpu")
    # Never silent NaN: an ok status always carries a finite vol; NaN only with a status.
    assert np.all(np.isfinite(vol[st == Status.OK]))
    assert not np.any(np.isnan(vol) & (st == Status.OK))
    assert np.all(st != Status.NOT_CONVERGED)
    cap = np.where(cp == 1, s * np.exp(-q * t), k * np.exp(-r * t))
    at_cap = g["price"] >= cap * (1 - 4e-16)  # huge vol: the price rounds to its maximum
    assert np.all(np.isin(st[at_cap], [Status.OK, Status.ABOVE_MAX_PRICE]))
    priced = (g["price"] > 1e-250) & ~at_cap
    assert np.all(st[priced] == Status.OK), np.bincount(st[priced])
    back = analytics.price_greeks(s, k, t, r, q, vol, cp, greeks=("price",), backend="cpu")
    rel = np.abs(back["price"][priced] - g["price"][priced]) / g["price"][priced]
    assert rel.max() < 1e-13, rel.max()


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_exactly_at_the_money_forward(model: str) -> None:
    # x = ln(F/K) = 0 exactly (S = K with r = q; Black-76 with F = K): b_c = 0 and the
    # slope at s_c is 0/0, which once sent every such option to not_converged.
    sig = np.array([0.002, 0.01, 0.2, 1.0, 3.0])
    s, k, t, r, q = 100.0, 100.0, 0.5, 0.02, 0.02
    for cp in ("call", "put"):
        p = analytics.price_greeks(s, k, t, r, q, sig, cp, model=model, greeks=("price",),
                                   backend="cpu")["price"]
        vol, st = analytics.implied_vol(p, s, k, t, r, q, cp, model=model, backend="cpu")
        assert np.all(st == Status.OK), st
        np.testing.assert_allclose(vol, sig, rtol=1e-12)
    beta = np.array([1e-200, 1e-8, 0.1, 0.6, 0.999])
    s_iv, st = analytics.implied_s_otm_call(beta, np.zeros(5))
    assert np.all(st == Status.OK), st
    with mp.workdps(40):  # b(0, s) = erf(s / (2 sqrt 2)), no cancellation at tiny s
        back = np.array([float(mp.erf(mp.mpf(v) / (2 * mp.sqrt(2)))) for v in s_iv])
    assert np.max(np.abs(back - beta) / beta) <= 1e-13


def test_deep_itm_put_with_negative_rate() -> None:
    s, k, t, r, q, sig = 40.0, 100.0, 0.5, -0.005, 0.0, 0.25
    p = analytics.price_greeks(s, k, t, r, q, sig, "put", backend="cpu")["price"]
    vol, st = analytics.implied_vol(p, s, k, t, r, q, "put", backend="cpu")
    assert st == Status.OK
    # the time value is 1e-7 of the price, so the vol is only known to ~1e-9
    assert vol == pytest.approx(sig, rel=1e-8)
    back = analytics.price_greeks(s, k, t, r, q, vol, "put", backend="cpu")["price"]
    assert back == pytest.approx(p, rel=1e-15)


@pytest.mark.parametrize(("price", "spot", "strike", "t", "cp", "status"), [
    (19.0, 120.0, 100.0, 1.0, "call", Status.BELOW_INTRINSIC),   # < S e^-qT - K e^-rT
    (0.0, 100.0, 100.0, 1.0, "call", Status.BELOW_INTRINSIC),    # ATM: intrinsic 0 < forward
    (130.0, 120.0, 100.0, 1.0, "call", Status.ABOVE_MAX_PRICE),  # > spot
    (101.0, 120.0, 100.0, 1.0, "put", Status.ABOVE_MAX_PRICE),   # > K e^-rT
    (np.nan, 100.0, 100.0, 1.0, "call", Status.INVALID_INPUT),
    (10.0, np.inf, 100.0, 1.0, "call", Status.INVALID_INPUT),
    (10.0, 100.0, 100.0, 0.0, "call", Status.INVALID_INPUT),     # T = 0
    (-1.0, 100.0, 100.0, 1.0, "call", Status.INVALID_INPUT),
    (10.0, 100.0, -5.0, 1.0, "call", Status.INVALID_INPUT),
    (10.0, 100.0, 100.0, 1.0, "straddle", Status.INVALID_INPUT),
])
def test_status_codes(price: float, spot: float, strike: float, t: float, cp: str,
                      status: Status) -> None:
    vol, st = analytics.implied_vol(price, spot, strike, t, 0.0, 0.0, cp, backend="cpu")
    if price == 0.0 and status == Status.BELOW_INTRINSIC:
        # ATM forward has zero intrinsic: price 0 means sigma 0, reported ok
        assert st == Status.OK and vol == 0.0
        return
    assert st == status
    if status == Status.ABOVE_MAX_PRICE:
        assert vol == np.inf
    else:
        assert np.isnan(vol)


def test_price_at_intrinsic_is_zero_vol() -> None:
    s, k, r = 150.0, 100.0, 0.02
    intrinsic = s - k * np.exp(-r)
    vol, st = analytics.implied_vol(intrinsic, s, k, 1.0, r, 0.0, "call", backend="cpu")
    assert st == Status.OK and vol == 0.0
