"""Array API over the kernels: prices, greeks, implied vol, American options, realized vol.

Inputs broadcast against each other (NumPy rules) and are converted to
contiguous float64 (no copy when they already are); option types are
booleans/ints (1 call, 0 put) or the strings ``call``/``put`` (``c``/``p``).
Invalid elements never raise: they come back as NaN with status
``invalid_input``.

Outputs: ``price_greeks`` and ``implied_vol`` take ``out=`` (arrays of the
broadcast shape to write into; nothing allocated). Without it the CPU backend
takes its output arrays from ``cpu.output_pool`` (see there): arrays a
previous call returned and the caller has since dropped are reused, so a
loop over chains does not fault in and zero fresh pages on every call.
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
    if a.dtype == np.int32:
        return a  # the kernels flag anything but 0 and 1 as invalid_input themselves
    if a.dtype.kind == "b":
        return a.astype(np.int32)
    if a.dtype.kind in "iu":
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


def _check_out(name: str, a: Any, shape: tuple[int, ...], dtype: type[np.generic],
               inputs: list[Any]) -> Any:
    """The flat view the kernels write through, or a ValueError/TypeError that says why not."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"out[{name!r}] must be a numpy.ndarray, not {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"out[{name!r}] has dtype {a.dtype}, expected {np.dtype(dtype)}")
    if a.shape != shape:
        raise ValueError(f"out[{name!r}] has shape {a.shape}, expected {shape} "
                         "(the broadcast shape of the inputs)")
    if not a.flags.c_contiguous:
        raise ValueError(f"out[{name!r}] must be C-contiguous")
    if not a.flags.writeable:
        raise ValueError(f"out[{name!r}] is read-only")
    if any(np.may_share_memory(a, x) for x in inputs):
        raise ValueError(f"out[{name!r}] overlaps an input or another output")
    return a.reshape(-1)


def price_greeks(spot: Any, strike: Any, expiry_years: Any, rate: Any, dividend_yield: Any,
                 vol: Any, option_type: Any, *, model: str = "bsm",
                 greeks: tuple[str, ...] = GREEK_NAMES, backend: str | Backend = "auto",
                 out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Black-Scholes-Merton (or Black-76: spot is the forward) price and greeks.

    Returns a dict with the requested arrays plus ``status``. Units: vega per 1.00 of
    vol, theta per year (``theta / 365`` per calendar day), rho per 1.00 of rate.

    ``out``: arrays to write into, keyed by greek name and/or ``"status"`` (float64 and
    int32, C-contiguous, of the broadcast shape); the result holds those very arrays.
    Requested greeks missing from ``out`` are allocated.
    """
    unknown = [nm for nm in (*greeks, *(out or {})) if nm not in (*GREEK_NAMES, "status")]
    if unknown or "status" in greeks:
        raise ValueError(f"unknown greek {(unknown or ['status'])[0]!r}: expected some of "
                         f"{', '.join(GREEK_NAMES)}" + (" (or 'status' in out)" if out else ""))
    (s, k, t, r, q, sig), flag, shape = _prepare(spot, strike, expiry_years, rate,
                                                  dividend_yield, vol, option_type=option_type)
    flat: dict[str, Any] | None = None
    if out:
        missing = [nm for nm in out if nm != "status" and nm not in greeks]
        if missing:
            raise ValueError(f"out[{missing[0]!r}] was not requested in greeks={greeks}")
        seen: list[Any] = [s, k, t, r, q, sig, flag]
        flat = {}
        for nm, a in out.items():
            flat[nm] = _check_out(nm, a, shape, np.int32 if nm == "status" else np.float64,
                                  seen)
            seen.append(a)
    res_flat, status = _backend(backend).black_greeks(s, k, t, r, q, sig, flag, _model(model),
                                                      greeks, flat)
    given = out or {}
    res: dict[str, Any] = {nm: given[nm] if nm in given else a.reshape(shape)
                           for nm, a in res_flat.items()}
    res["status"] = given["status"] if "status" in given else status.reshape(shape)
    return res


def implied_vol(price: Any, spot: Any, strike: Any, expiry_years: Any, rate: Any,
                dividend_yield: Any, option_type: Any, *, model: str = "bsm",
                backend: str | Backend = "auto", out: tuple[Any, Any] | None = None
                ) -> tuple[F64, I32]:
    """European implied volatility; returns (vol, status). vol is NaN unless status is ok
    (inf for above_max_price). ``out``: a (vol float64, status int32) pair of C-contiguous
    arrays of the broadcast shape to write into (and return)."""
    (p, s, k, t, r, q), flag, shape = _prepare(price, spot, strike, expiry_years, rate,
                                                dividend_yield, option_type=option_type)
    flat: tuple[F64, I32] | None = None
    if out is not None:
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise TypeError("out must be a (vol, status) pair of arrays")
        inputs: list[Any] = [p, s, k, t, r, q, flag]
        fv = _check_out("vol", out[0], shape, np.float64, inputs)
        fs = _check_out("status", out[1], shape, np.int32, [*inputs, out[0]])
        flat = (fv, fs)
    vol, status = _backend(backend).implied_vol(p, s, k, t, r, q, flag, _model(model), flat)
    if out is not None:
        return out[0], out[1]
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
