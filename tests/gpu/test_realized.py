"""Realized volatility estimators against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gpu import analytics, reference
from nanogate.gpu.status import Status


def _ohlc(n: int, sigma: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, sigma / np.sqrt(252), n)))
    open_ = close * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    return open_, high, low, close


def test_matches_reference_per_instrument() -> None:
    series = [_ohlc(n, sig, i) for i, (n, sig) in enumerate([(300, 0.2), (50, 0.6), (1000, 0.1)])]
    cat = [np.concatenate([s[j] for s in series]) for j in range(4)]
    offsets = np.cumsum([0] + [len(s[3]) for s in series])
    got = analytics.realized_vol(cat[3], offsets, open_=cat[0], high=cat[1], low=cat[2])
    assert got["status"].tolist() == [Status.OK] * 3
    for i, s in enumerate(series):
        ref = reference.realized_vol(*s)
        for nm, v in ref.items():
            assert got[nm][i] == pytest.approx(v, rel=1e-12), nm
    # the estimators see the simulated vol of the long series (sigma 0.1)
    assert got["close_to_close"][2] == pytest.approx(0.1, rel=0.1)


def test_bad_series_flagged() -> None:
    close = np.array([100.0, 101.0, -1.0, 100.0, 100.5, 101.0])
    got = analytics.realized_vol(close, [0, 3, 4, 6])
    assert got["status"].tolist() == [Status.INVALID_INPUT, Status.INVALID_INPUT, Status.OK]
    assert np.isnan(got["close_to_close"][0]) and np.isnan(got["parkinson"][2])
    with pytest.raises(ValueError, match="offsets"):
        analytics.realized_vol(close, [0, 3, 5])
