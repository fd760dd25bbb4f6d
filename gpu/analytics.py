"""Array API over the kernels: prices, greeks, implied vol, American options, realized vol.

Inputs broadcast against each other (NumPy rules) and are converted to
contiguous float64; option types are booleans/ints (1 call, 0 put) or the
strings ``call``/``put`` (``c``/``p``). Invalid elements never raise: they
come back as NaN with status ``invalid_input``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import cpu
from .backend import GREEK_NAMES, Backend, get_backend

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
MODELS = {"bsm": 0, "black76": 1}
DEFAULT_AMERICAN_STEPS = 501


def parse_option_type(option_type: Any) -> I32:
    """1 for call, 0 for put, -1 (flagged invalid by the kernels) for anything else."""
    a = np.asarray(option_type)
    if a.dtype.kind in "biu":
        return np.where((a == 0) | (a == 1), a, -1).astype(np.int32)
    if a.dtype.kind == "f":
        return np.where((a == 0) | (a == 1), a, -1).astype(np.int32)
    low = np.char.lower(np.char.strip(a.astype(str)))
    out = np.full(low.shape, -1, np.int32)
    out[(low == "call") | (low == "c")] = 1
    out[(low == "put") | (low == "p")] = 0
    return out


def _prepare(*arrays: Any, option_type: Any) -> tuple[list[F64], I32, tuple[int, ...]]:
    flag = parse_option_type(option_type)
    b = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays), flag)
    shape = b[0].shape
    floats = [np.ascontiguousarray(x, dtype=np.float64).ravel() for x in b[:-1]]
    return floats, np.ascontiguousarray(b[-1], dtype=np.int32).ravel(), shape


def _model(model: str) -> int:
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}: expected one of {sorted(MODELS)}") from None


def _backend(backend: str | Backend) -> Backend:
    return get_backend(backend) if isinstance(backend, str) else backend


def price_greeks(spot: Any, strike: Any, expiry_years: Any, rate: Any, dividend_yield: Any,
                 vol: Any, option_type: Any, *, model: str = "bsm",
                 greeks: tuple[str, ...] = GREEK_NAMES, backend: str | Backend = "auto"
                 ) -> dict[str, Any]:
    """Black-Scholes-Merton (or Black-76: spot is the forward) price and greeks.

    Returns a dict with the requested arrays plus ``status``. Units: vega per 1.00 of
    vol, theta per year (``theta / 365`` per calendar day), rho per 1.00 of rate.
    """
    (s, k, t, r, q, sig), flag, shape = _prepare(spot, strike, expiry_years, rate,
                                                  dividend_yield, vol, option_type=option_type)
    out, status = _backend(backend).black_greeks(s, k, t, r, q, sig, flag, _model(model), greeks)
    res: dict[str, Any] = {nm: a.reshape(shape) for nm, a in out.items()}
    res["status"] = status.reshape(shape)
    return res


def implied_vol(price: Any, spot: Any, strike: Any, expiry_years: Any, rate: Any,
                dividend_yield: Any, option_type: Any, *, model: str = "bsm",
                backend: str | Backend = "auto") -> tuple[F64, I32]:
    """European implied volatility; returns (vol, status). vol is NaN unless status is ok
    (inf for above_max_price)."""
    (p, s, k, t, r, q), flag, shape = _prepare(price, spot, strike, expiry_years, rate,
                                                dividend_yield, option_type=option_type)
    vol, status = _backend(backend).implied_vol(p, s, k, t, r, q, flag, _model(model))
    return vol.reshape(shape), status.reshape(shape)


def american_price(spot: Any, strike: Any, expiry_years: Any, rate: Any, dividend_yield: Any,
                   vol: Any, option_type: Any, *, steps: int = DEFAULT_AMERICAN_STEPS,
                   backend: str | Backend = "auto") -> tuple[F64, I32]:
    """American option on a Leisen-Reimer tree (steps rounded up to odd)."""
    (s, k, t, r, q, sig), flag, shape = _prepare(spot, strike, expiry_years, rate,
                                                  dividend_yield, vol, option_type=option_type)
    price, status = _backend(backend).american_price(s, k, t, r, q, sig, flag, steps)
    return price.reshape(shape), status.reshape(shape)


def american_implied_vol(price: Any, spot: Any, strike: Any, expiry_years: Any, rate: Any,
                         dividend_yield: Any, option_type: Any, *, steps: int = 201
                         ) -> tuple[F64, I32]:
    """American implied vol by a safeguarded secant search on the tree (CPU backend)."""
    (p, s, k, t, r, q), flag, shape = _prepare(price, spot, strike, expiry_years, rate,
                                                dividend_yield, option_type=option_type)
    vol = np.empty(len(s))
    status = np.empty(len(s), np.int32)
    cpu.american_iv(p, s, k, t, r, q, flag, steps, vol, status)
    return vol.reshape(shape), status.reshape(shape)


REALIZED_NAMES = ("close_to_close", "parkinson", "garman_klass", "ewma")


def realized_vol(close: Any, offsets: Any, *, open_: Any = None, high: Any = None,
                 low: Any = None, ewma_lambda: float = 0.94, periods_per_year: float = 252.0
                 ) -> dict[str, Any]:
    """Annualised realized vol per instrument; instrument i is rows offsets[i]:offsets[i+1]."""
    c = np.ascontiguousarray(close, dtype=np.float64)
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    if (off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != len(c)
            or np.any(np.diff(off) < 0)):
        raise ValueError("offsets must start at 0, end at len(close) and be non-decreasing")

    def opt(a: Any) -> F64 | None:
        if a is None:
            return None
        arr = np.ascontiguousarray(a, dtype=np.float64)
        if arr.shape != c.shape:
            raise ValueError("open/high/low must have the shape of close")
        return arr

    n = len(off) - 1
    out = {nm: np.empty(n) for nm in REALIZED_NAMES}
    status = np.empty(n, np.int32)
    cpu.realized_vol(off, opt(open_), opt(high), opt(low), c, ewma_lambda, periods_per_year,
                     out, status)
    res: dict[str, Any] = dict(out)
    res["status"] = status
    return res


def normalised_black(x: Any, s: Any) -> F64:
    """b(x, s) for x <= 0 (out-of-the-money call, undiscounted, divided by sqrt(F K))."""
    xb, sb = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(s, np.float64))
    xa = np.ascontiguousarray(xb).ravel()
    sa = np.ascontiguousarray(sb).ravel()
    out = np.empty(len(xa))
    cpu.normalised_black(xa, sa, out)
    return out.reshape(xb.shape)


def implied_s_otm_call(beta: Any, x: Any) -> tuple[F64, I32]:
    """Normalised inverse: s = sigma sqrt(T) with b(x, s) = beta, x <= 0."""
    bb, xb = np.broadcast_arrays(np.asarray(beta, np.float64), np.asarray(x, np.float64))
    ba = np.ascontiguousarray(bb).ravel()
    xa = np.ascontiguousarray(xb).ravel()
    s = np.empty(len(xa))
    st = np.empty(len(xa), np.int32)
    cpu.implied_s_otm_call(ba, xa, s, st)
    return s.reshape(bb.shape), st.reshape(bb.shape)
