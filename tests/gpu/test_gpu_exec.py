"""GPU execution of the same kernels (needs a CUDA device; skipped otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gpu import analytics
from nanogate.gpu.backend import cuda_available, get_backend

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="no CUDA device reachable"),
]


def _inputs(n: int = 20000) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.uniform(50, 150, n), rng.uniform(50, 150, n), rng.uniform(0.01, 3, n),
            rng.uniform(-0.01, 0.06, n), rng.uniform(0, 0.05, n), rng.uniform(0.05, 1.2, n),
            rng.integers(0, 2, n)]


def test_gpu_greeks_and_iv_match_cpu() -> None:
    s, k, t, r, q, sig, cp = _inputs()
    g_cpu = analytics.price_greeks(s, k, t, r, q, sig, cp, backend="cpu")
    g_gpu = analytics.price_greeks(s, k, t, r, q, sig, cp, backend="cuda")
    for nm in ("price", "delta", "gamma", "vega", "theta", "rho"):
        np.testing.assert_allclose(g_gpu[nm], g_cpu[nm], rtol=1e-12, atol=1e-13)
    v_gpu, st = analytics.implied_vol(g_cpu["price"], s, k, t, r, q, cp, backend="cuda")
    v_cpu, _ = analytics.implied_vol(g_cpu["price"], s, k, t, r, q, cp, backend="cpu")
    ok = st == 0
    np.testing.assert_allclose(v_gpu[ok], v_cpu[ok], rtol=1e-11)


def test_gpu_american_matches_cpu() -> None:
    s, k, t, r, q, sig, cp = (a[:64] for a in _inputs())
    p_gpu, _ = analytics.american_price(s, k, t, r, q, sig, cp, steps=301, backend="cuda")
    p_cpu, _ = analytics.american_price(s, k, t, r, q, sig, cp, steps=301, backend="cpu")
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-11, atol=1e-12)


def test_auto_picks_cuda_when_present() -> None:
    assert get_backend("auto").name == "cuda"


def test_gpu_out_buffers_are_filled_and_returned() -> None:
    s, k, t, r, q, sig, cp = (a[:1000] for a in _inputs())
    out = {"price": np.empty(1000), "status": np.empty(1000, np.int32)}
    g = analytics.price_greeks(s, k, t, r, q, sig, cp, greeks=("price", "delta"),
                               backend="cuda", out=out)
    assert g["price"] is out["price"] and g["status"] is out["status"]
    ref = analytics.price_greeks(s, k, t, r, q, sig, cp, greeks=("price", "delta"),
                                 backend="cpu")
    np.testing.assert_allclose(g["price"], ref["price"], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(g["delta"], ref["delta"], rtol=1e-12, atol=1e-13)
    vol, st = np.empty(1000), np.empty(1000, np.int32)
    got = analytics.implied_vol(ref["price"], s, k, t, r, q, cp, backend="cuda", out=(vol, st))
    assert got[0] is vol and got[1] is st
    ref_v, _ = analytics.implied_vol(ref["price"], s, k, t, r, q, cp, backend="cpu")
    ok = st == 0
    np.testing.assert_allclose(vol[ok], ref_v[ok], rtol=1e-11)
