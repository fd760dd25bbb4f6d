"""The CPU build's inline math (vectorisable exp/log/erfcx/Phi) against mpmath, and the
SIMD lockstep pipelines against the one-option-at-a-time path each GPU thread runs."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gpu import analytics, bench, cpu
from nanogate.gpu.status import Status

mp = pytest.importorskip("mpmath")


def _ulps(got: np.ndarray, ref: list[float]) -> np.ndarray:
    r = np.array(ref)
    return np.abs(got - r) / np.spacing(np.abs(r))


def test_exp_log_expm1_within_two_ulps() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-745, 709, 400), rng.uniform(-1, 1, 300),
                        10 ** rng.uniform(-300, 0, 100) * rng.choice([-1, 1], 100)])
    with mp.workdps(40):
        ref = [float(mp.exp(mp.mpf(v))) for v in x]
        ref_m1 = [float(mp.expm1(mp.mpf(v))) for v in x]
    keep = np.array(ref) > 2.3e-308  # normal results
    assert np.max(_ulps(cpu.math_eval("exp", x), ref)[keep]) <= 2
    small = np.abs(x) < 50
    assert np.max(_ulps(cpu.math_eval("expm1", x), ref_m1)[small]) <= 2
    y = np.concatenate([10 ** rng.uniform(-307, 307, 500), rng.uniform(0.5, 2, 300), [5e-324]])
    with mp.workdps(40):
        ref = [float(mp.log(mp.mpf(v))) for v in y]
    assert np.max(_ulps(cpu.math_eval("log", y), ref)) <= 1
    spec = cpu.math_eval("log", np.array([0.0, -1.0, np.inf, np.nan]))
    assert spec[0] == -np.inf and np.isnan(spec[1]) and spec[2] == np.inf and np.isnan(spec[3])
    assert cpu.math_eval("exp", np.array([-800.0, 800.0]))[0] == 0.0
    assert cpu.math_eval("exp", np.array([800.0]))[0] == np.inf


def test_log_ratio_keeps_relative_accuracy_near_the_money() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(50, 150, 500)
    b = np.concatenate([a[:250] * (1 + 10 ** rng.uniform(-15, -1, 250)),
                        a[250:] * 10 ** rng.uniform(-3, 3, 250)])
    with mp.workdps(50):
        ref = [float(mp.log(mp.mpf(u) / mp.mpf(v))) for u, v in zip(a, b, strict=True)]
    assert np.max(_ulps(cpu.math_eval("log_ratio", a, b), ref)) <= 2


def test_erfcx_and_norm_cdf_relative_accuracy() -> None:
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.uniform(0, 5, 300), 10 ** rng.uniform(-8, 8, 300),
                        rng.uniform(-20, 0, 100)])
    with mp.workdps(40):
        ref = [float(mp.exp(mp.mpf(v) ** 2) * mp.erfc(mp.mpf(v))) for v in z]
    assert np.max(_ulps(cpu.math_eval("erfcx", z), ref)) <= 4
    x = np.concatenate([rng.uniform(-38, 8, 600)])
    with mp.workdps(40):
        ref = [float(mp.ncdf(mp.mpf(v))) for v in x]
    assert np.max(_ulps(cpu.math_eval("norm_cdf", x), ref)) <= 8


def _edge_chain(n: int = 30000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    c = bench.chain(n, seed=8)
    c["k"] = c["s"] * np.exp(rng.normal(0, 0.7, n))
    c["t"] = 10 ** rng.uniform(-4, 1.3, n)
    c["sigma"] = 10 ** rng.uniform(-2.5, 0.7, n)
    c["sigma"][::97] = 0.0          # zero vol: the full path
    c["t"][::89] = 0.0              # zero time
    c["s"][::101] = -1.0            # invalid
    c["cp"][::103] = 7              # invalid flag
    return c


@pytest.mark.parametrize("model", [0, 1])
def test_simd_greeks_equal_the_per_option_path(model: int) -> None:
    c = _edge_chain()
    args = [np.ascontiguousarray(c[x]) for x in ("s", "k", "t", "r", "q", "sigma")]
    n = len(args[0])
    out = {nm: np.empty(n) for nm in bench.GREEKS}
    st = np.empty(n, np.int32)
    cpu.black_greeks(*args, c["cp"], model, out, st)
    ref = np.empty((n, 8))
    st_ref = np.empty(n, np.int32)
    cpu.black_greeks_scalar(*args, c["cp"], model, ref, st_ref)
    np.testing.assert_array_equal(st, st_ref)
    assert {Status.OK, Status.INVALID_INPUT} <= set(st.tolist())
    for j, nm in enumerate(bench.GREEKS):
        np.testing.assert_allclose(out[nm], ref[:, j], rtol=4e-15, atol=0, equal_nan=True,
                                   err_msg=nm)


def test_simd_iv_equals_the_per_option_path() -> None:
    c = _edge_chain()
    args = [np.ascontiguousarray(c[x]) for x in ("s", "k", "t", "r", "q", "sigma")]
    price = analytics.price_greeks(*args, c["cp"], greeks=("price",), backend="cpu")["price"]
    price[::50] *= 1.5    # some above the maximum
    price[::53] *= 0.2    # some below intrinsic
    n = len(price)
    vol, st = np.empty(n), np.empty(n, np.int32)
    cpu.implied_vol(price, *args[:5], c["cp"], 0, vol, st)
    vol2, st2 = np.empty(n), np.empty(n, np.int32)
    cpu.implied_vol_scalar(price, *args[:5], c["cp"], 0, vol2, st2)
    np.testing.assert_array_equal(st, st2)
    assert len(set(st.tolist())) >= 4
    np.testing.assert_array_equal(vol, vol2)  # the same arithmetic, bit for bit
