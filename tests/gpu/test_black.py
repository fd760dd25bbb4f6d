"""Black-Scholes-Merton / Black-76 prices and greeks: NumPy reference, QuantLib oracle, edges."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gpu import analytics, reference
from nanogate.gpu.status import Status

NAMES = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")


def _domain(n: int = 4000, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "s": rng.uniform(20, 200, n),
        "k": rng.uniform(20, 200, n),
        "t": 10 ** rng.uniform(-3, 1.5, n),
        "r": rng.uniform(-0.02, 0.10, n),   # negative rates included
        "q": rng.uniform(0.0, 0.12, n),     # q > r included
        "sigma": 10 ** rng.uniform(-2, 0.5, n),
        "cp": rng.integers(0, 2, n),
    }


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_matches_numpy_reference(model: str) -> None:
    d = _domain()
    got = analytics.price_greeks(d["s"], d["k"], d["t"], d["r"], d["q"], d["sigma"], d["cp"],
                                 model=model, backend="cpu")
    ref = reference.black_greeks(d["s"], d["k"], d["t"], d["r"], d["q"], d["sigma"], d["cp"],
                                 model=model)
    assert np.all(got["status"] == Status.OK)
    for nm in NAMES:
        scale = np.maximum(np.abs(ref[nm]), 1e-8 * np.maximum(d["s"], d["k"]))
        err = np.abs(got[nm] - ref[nm]) / scale
        assert np.max(err) < 1e-9, (nm, np.max(err))


def _ql_greeks(s: float, k: float, t: float, r: float, q: float, sigma: float, call: bool
               ) -> dict[str, float]:
    ql = pytest.importorskip("QuantLib")
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    days = round(t * 365)
    expiry = today + days
    t_exact = dc.yearFraction(today, expiry)
    spot = ql.SimpleQuote(s)
    rate = ql.FlatForward(today, r, dc, ql.Continuous)
    div = ql.FlatForward(today, q, dc, ql.Continuous)
    vol = ql.BlackConstantVol(today, ql.NullCalendar(), sigma, dc)
    proc = ql.BlackScholesMertonProcess(ql.QuoteHandle(spot), ql.YieldTermStructureHandle(div),
                                        ql.YieldTermStructureHandle(rate),
                                        ql.BlackVolTermStructureHandle(vol))
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, k)
    opt = ql.VanillaOption(payoff, ql.EuropeanExercise(expiry))
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return {"t": t_exact, "price": opt.NPV(), "delta": opt.delta(), "gamma": opt.gamma(),
            "vega": opt.vega(), "theta": opt.theta(), "rho": opt.rho()}


def test_quantlib_oracle() -> None:
    rng = np.random.default_rng(11)
    for _ in range(60):
        s, k = rng.uniform(50, 150, 2)
        t = rng.integers(5, 3 * 365) / 365
        r, q = rng.uniform(-0.02, 0.08), rng.uniform(0, 0.1)
        sigma = rng.uniform(0.05, 0.9)
        call = bool(rng.integers(0, 2))
        ref = _ql_greeks(s, k, t, r, q, sigma, call)
        got = analytics.price_greeks(s, k, ref["t"], r, q, sigma, int(call), backend="cpu")
        for nm in ("price", "delta", "gamma", "vega", "theta", "rho"):
            assert got[nm] == pytest.approx(ref[nm], rel=1e-9, abs=1e-10), nm


def test_black76_is_bsm_on_the_forward_with_rho_minus_t_v() -> None:
    f, k, t, r, sig = 105.0, 100.0, 0.75, 0.03, 0.25
    b76 = analytics.price_greeks(f, k, t, r, 0.0, sig, "put", model="black76", backend="cpu")
    bsm = analytics.price_greeks(f, k, t, r, r, sig, "put", model="bsm", backend="cpu")
    for nm in ("price", "delta", "gamma", "vega", "theta", "vanna", "volga"):
        assert b76[nm] == pytest.approx(bsm[nm], rel=1e-14)
    assert b76["rho"] == pytest.approx(-t * b76["price"], rel=1e-14)


def test_greeks_are_derivatives_of_price() -> None:
    # Central finite differences on the kernel's own price: catches sign/unit slips.
    s, k, t, r, q, sig = 90.0, 100.0, 0.6, -0.01, 0.03, 0.35
    for cp in ("call", "put"):
        g = analytics.price_greeks(s, k, t, r, q, sig, cp, backend="cpu")

        def p(cp: str = cp, **kw: float) -> float:
            a = {"s": s, "k": k, "t": t, "r": r, "q": q, "sig": sig} | kw
            return float(analytics.price_greeks(a["s"], a["k"], a["t"], a["r"], a["q"],
                                                a["sig"], cp, backend="cpu")["price"])

        h = 1e-4
        assert g["delta"] == pytest.approx((p(s=s + h) - p(s=s - h)) / (2 * h), rel=1e-6)
        h2 = 1e-2  # second differences need a wider step than first ones
        assert g["gamma"] == pytest.approx((p(s=s + h2) - 2 * p() + p(s=s - h2)) / h2**2, rel=1e-4)
        assert g["vega"] == pytest.approx((p(sig=sig + h) - p(sig=sig - h)) / (2 * h), rel=1e-6)
        assert g["theta"] == pytest.approx(-(p(t=t + h) - p(t=t - h)) / (2 * h), rel=1e-6)
        assert g["rho"] == pytest.approx((p(r=r + h) - p(r=r - h)) / (2 * h), rel=1e-6)
        dvega = analytics.price_greeks(s + h, k, t, r, q, sig, cp, backend="cpu")["vega"]
        dvega2 = analytics.price_greeks(s - h, k, t, r, q, sig, cp, backend="cpu")["vega"]
        assert g["vanna"] == pytest.approx((dvega - dvega2) / (2 * h), rel=1e-5)
        vup = analytics.price_greeks(s, k, t, r, q, sig + h, cp, backend="cpu")["vega"]
        vdn = analytics.price_greeks(s, k, t, r, q, sig - h, cp, backend="cpu")["vega"]
        assert g["volga"] == pytest.approx((vup - vdn) / (2 * h), rel=1e-6)


def test_zero_vol_and_zero_time_give_discounted_intrinsic() -> None:
    s, k, r, q = 120.0, 100.0, 0.05, 0.01
    g = analytics.price_greeks(s, k, 1.0, r, q, 0.0, "call", backend="cpu")
    assert g["status"] == Status.OK
    assert g["price"] == pytest.approx(s * np.exp(-q) - k * np.exp(-r), rel=1e-14)
    assert g["delta"] == pytest.approx(np.exp(-q))
    assert g["gamma"] == 0.0 and g["vega"] == 0.0
    g0 = analytics.price_greeks(s, k, 0.0, r, q, 0.2, "put", backend="cpu")
    assert g0["price"] == 0.0 and g0["status"] == Status.OK
    # deep ITM put with tiny T converges to intrinsic from above
    tiny = analytics.price_greeks(50.0, 100.0, 1e-8, 0.05, 0.0, 0.3, "put", backend="cpu")
    assert tiny["price"] == pytest.approx(50.0, rel=1e-8)
    assert tiny["delta"] == pytest.approx(-1.0, rel=1e-8)


@pytest.mark.parametrize("bad", [
    {"s": np.nan}, {"s": -1.0}, {"k": 0.0}, {"t": -0.1}, {"sigma": -0.2}, {"r": np.inf},
    {"q": np.nan}, {"cp": "straddle"},
])
def test_invalid_inputs_flagged_not_raised(bad: dict[str, object]) -> None:
    a: dict[str, object] = {"s": 100.0, "k": 100.0, "t": 1.0, "r": 0.01, "q": 0.0,
                            "sigma": 0.2, "cp": "call"} | bad
    g = analytics.price_greeks(a["s"], a["k"], a["t"], a["r"], a["q"], a["sigma"], a["cp"],
                               backend="cpu")
    assert g["status"] == Status.INVALID_INPUT
    assert np.isnan(g["price"]) and np.isnan(g["delta"])


def test_put_call_parity_with_negative_rates_and_q_above_r() -> None:
    s, k, t, r, q, sig = 100.0, 95.0, 2.0, -0.01, 0.04, 0.3
    c = analytics.price_greeks(s, k, t, r, q, sig, "call", backend="cpu")
    p = analytics.price_greeks(s, k, t, r, q, sig, "put", backend="cpu")
    assert c["price"] - p["price"] == pytest.approx(s * np.exp(-q * t) - k * np.exp(-r * t),
                                                    rel=1e-13)
    assert c["delta"] - p["delta"] == pytest.approx(np.exp(-q * t), rel=1e-13)
