"""``nanogate analytics bench``: options/s for price+greeks and IV on a backend, with a
NumPy vectorised baseline measured side by side."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np

from . import reference
from .backend import get_backend

GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")


def chain(n: int, seed: int = 1) -> dict[str, Any]:
    """A random but realistic chain: strikes +-50 %, 1 week to 2 years, vol 5-100 %."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(50, 150, n)
    return {"s": s, "k": s * rng.uniform(0.5, 1.5, n), "t": rng.uniform(0.02, 2.0, n),
            "r": rng.uniform(-0.01, 0.05, n), "q": rng.uniform(0.0, 0.03, n),
            "sigma": rng.uniform(0.05, 1.0, n), "cp": rng.integers(0, 2, n).astype(np.int32)}


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(sizes: list[int], backend: str = "auto", baseline: bool = True, repeat: int = 3
        ) -> dict[str, Any]:
    be = get_backend(backend)
    results: dict[str, Any] = {"backend": be.name, "sizes": sizes, "price_greeks_per_s": {},
                               "iv_per_s": {}, "iv_max_rel_error": 0.0}
    if baseline:
        results["numpy_price_greeks_per_s"] = {}
        results["numpy_iv_per_s"] = {}
    for n in sizes:
        c = chain(n)
        args = [np.ascontiguousarray(c[x]) for x in ("s", "k", "t", "r", "q", "sigma")]
        s, k, t, r, q, sig = args
        cp = c["cp"]
        be.black_greeks(s, k, t, r, q, sig, cp, 0, GREEKS)  # warm-up (and CUDA compile)
        dt = _best(partial(be.black_greeks, s, k, t, r, q, sig, cp, 0, GREEKS), repeat)
        results["price_greeks_per_s"][str(n)] = n / dt
        price, _ = be.black_price(s, k, t, r, q, sig, cp, 0)
        be.implied_vol(price, s, k, t, r, q, cp, 0)
        dt = _best(partial(be.implied_vol, price, s, k, t, r, q, cp, 0), repeat)
        results["iv_per_s"][str(n)] = n / dt
        vol, st = be.implied_vol(price, s, k, t, r, q, cp, 0)
        back, _ = be.black_price(s, k, t, r, q, np.where(st == 0, vol, sig), cp, 0)
        ok = (st == 0) & (price > 1e-250)
        err = float(np.max(np.abs(back[ok] - price[ok]) / price[ok])) if ok.any() else 0.0
        results["iv_max_rel_error"] = max(results["iv_max_rel_error"], err)
        if baseline and n <= 1_000_000:
            dt = _best(partial(reference.black_greeks, s, k, t, r, q, sig, cp), 1)
            results["numpy_price_greeks_per_s"][str(n)] = n / dt
            dt = _best(partial(reference.implied_vol_newton, price, s, k, t, r, q, cp), 1)
            results["numpy_iv_per_s"][str(n)] = n / dt
    return results


def format_table(res: dict[str, Any]) -> str:
    lines = [f"backend: {res['backend']}",
             f"{'options':>10} {'price+greeks/s':>16} {'IV/s':>14}"
             + (f" {'numpy greeks/s':>16} {'numpy IV/s':>12}" if "numpy_iv_per_s" in res else "")]
    for n in res["sizes"]:
        key = str(n)
        row = (f"{n:>10,} {res['price_greeks_per_s'][key]:>16,.0f} "
               f"{res['iv_per_s'][key]:>14,.0f}")
        if "numpy_iv_per_s" in res and key in res["numpy_iv_per_s"]:
            row += (f" {res['numpy_price_greeks_per_s'][key]:>16,.0f} "
                    f"{res['numpy_iv_per_s'][key]:>12,.0f}")
        lines.append(row)
    lines.append(f"IV max relative price error (round trip): {res['iv_max_rel_error']:.2e}")
    return "\n".join(lines)
