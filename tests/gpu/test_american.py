"""American options on the Leisen-Reimer tree: NumPy reference, QuantLib oracle, American IV."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gpu import analytics, reference
from nanogate.gpu.status import Status


def test_matches_numpy_reference_tree() -> None:
    rng = np.random.default_rng(5)
    n = 25
    s, k = rng.uniform(60, 140, n), rng.uniform(60, 140, n)
    t, r, q = rng.uniform(0.05, 2, n), rng.uniform(-0.02, 0.08, n), rng.uniform(0, 0.1, n)
    sig, cp = rng.uniform(0.05, 0.8, n), rng.integers(0, 2, n)
    got, st = analytics.american_price(s, k, t, r, q, sig, cp, steps=101, backend="cpu")
    ref = [reference.american_lr(*a, steps=101) for a in zip(s, k, t, r, q, sig, cp == 1,
                                                                strict=True)]
    assert np.all(st == Status.OK)
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12)


def _ql_american(s: float, k: float, t_days: int, r: float, q: float, sigma: float, call: bool,
                 engine: str) -> float:
    ql = pytest.importorskip("QuantLib")
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(s)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), sigma, dc)))
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, k)
    opt = ql.VanillaOption(payoff, ql.AmericanExercise(today, today + t_days))
    if engine == "lr":
        opt.setPricingEngine(ql.BinomialLRVanillaEngine(proc, 801))
    else:
        opt.setPricingEngine(ql.FdBlackScholesVanillaEngine(proc, 800, 800))
    return float(opt.NPV())


@pytest.mark.parametrize(("s", "k", "days", "r", "q", "sig", "call"), [
    (100.0, 100.0, 365, 0.05, 0.0, 0.2, False),   # classic early-exercise put
    (60.0, 100.0, 180, 0.08, 0.0, 0.3, False),    # deep ITM put: exercise now region
    (100.0, 90.0, 730, 0.01, 0.06, 0.25, True),   # call with q > r: early exercise pays
    (100.0, 110.0, 365, -0.01, 0.0, 0.3, False),  # negative rate put
])
def test_quantlib_oracle(s: float, k: float, days: int, r: float, q: float, sig: float,
                         call: bool) -> None:
    t = days / 365
    got, st = analytics.american_price(s, k, t, r, q, sig, "call" if call else "put",
                                       steps=801, backend="cpu")
    assert st == Status.OK
    assert float(got) == pytest.approx(_ql_american(s, k, days, r, q, sig, call, "lr"), rel=2e-5)
    assert float(got) == pytest.approx(_ql_american(s, k, days, r, q, sig, call, "fd"), rel=5e-4)
    euro = analytics.price_greeks(s, k, t, r, q, sig, "call" if call else "put",
                                  backend="cpu")["price"]
    # American >= European, up to the tree error where exercise never pays
    assert float(got) >= float(euro) * (1 - 1e-6)


def test_call_without_dividends_is_european() -> None:
    got, _ = analytics.american_price(100.0, 95.0, 1.0, 0.03, 0.0, 0.25, "call", steps=1001,
                                      backend="cpu")
    euro = analytics.price_greeks(100.0, 95.0, 1.0, 0.03, 0.0, 0.25, "call", backend="cpu")
    assert float(got) == pytest.approx(float(euro["price"]), rel=1e-5)


def test_zero_vol_and_invalid_inputs() -> None:
    p, st = analytics.american_price([80.0, np.nan], 100.0, 1.0, 0.05, 0.0, 0.0, "put",
                                     backend="cpu")
    assert st.tolist() == [Status.OK, Status.INVALID_INPUT]
    assert p[0] == pytest.approx(20.0)  # exercise at once
    assert np.isnan(p[1])


def test_american_iv_round_trip_and_status() -> None:
    s, k, t, r, q = 100.0, 105.0, 0.75, 0.04, 0.01
    sig = np.array([0.1, 0.3, 0.9])
    price, _ = analytics.american_price(s, k, t, r, q, sig, "put", steps=201, backend="cpu")
    vol, st = analytics.american_implied_vol(price, s, k, t, r, q, "put", steps=201)
    assert np.all(st == Status.OK)
    np.testing.assert_allclose(vol, sig, rtol=1e-9)
    _, st2 = analytics.american_implied_vol([1.0, 200.0], s, k, t, r, q, "put")
    assert st2.tolist() == [Status.BELOW_INTRINSIC, Status.ABOVE_MAX_PRICE]
