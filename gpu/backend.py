"""Backend selection: ``cpu`` (the headers compiled by g++), ``cuda`` (CuPy RawModule over
the same headers) or ``auto`` (CUDA only when CuPy can really reach a device)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from . import cpu

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
OutMap = Mapping[str, npt.NDArray[Any]]  # greek name or "status" -> array
BackendName = Literal["auto", "cpu", "cuda"]
GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")


class Backend(Protocol):
    name: str

    def black_greeks(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                     model: int, wanted: tuple[str, ...], out: OutMap | None = None
                     ) -> tuple[dict[str, F64], I32]: ...

    def black_price(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                    model: int) -> tuple[F64, I32]: ...

    def implied_vol(self, price: F64, s: F64, k: F64, t: F64, r: F64, q: F64, is_call: I32,
                    model: int, out: tuple[F64, I32] | None = None) -> tuple[F64, I32]: ...

    def american_price(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                       steps: int) -> tuple[F64, I32]: ...


class CpuBackend:
    """Outputs come from ``cpu.output_pool`` (recycled once the caller drops them) unless
    the caller passes ``out`` (1-D contiguous arrays of len(s), checked by the caller:
    ``analytics`` validates them)."""

    name = "cpu"

    def black_greeks(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                     model: int, wanted: tuple[str, ...] = GREEK_NAMES,
                     out: OutMap | None = None) -> tuple[dict[str, F64], I32]:
        given = out or {}
        names = tuple(dict.fromkeys(nm for nm in wanted if nm not in given))
        res, status = cpu.output_pool.arrays(len(s), names, status="status" not in given)
        res.update({nm: a for nm, a in given.items() if nm != "status"})
        st: I32 | None = given.get("status", status)
        assert st is not None
        cpu.black_greeks(s, k, t, r, q, sigma, is_call, model, res, st)
        return {nm: res[nm] for nm in wanted}, st

    def black_price(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                    model: int) -> tuple[F64, I32]:
        res, status = cpu.output_pool.arrays(len(s), ("price",))
        assert status is not None
        cpu.black_price(s, k, t, r, q, sigma, is_call, model, res["price"], status)
        return res["price"], status

    def implied_vol(self, price: F64, s: F64, k: F64, t: F64, r: F64, q: F64, is_call: I32,
                    model: int, out: tuple[F64, I32] | None = None) -> tuple[F64, I32]:
        if out is None:
            res, status = cpu.output_pool.arrays(len(s), ("vol",))
            assert status is not None
            vol = res["vol"]
        else:
            vol, status = out
        cpu.implied_vol(price, s, k, t, r, q, is_call, model, vol, status)
        return vol, status

    def american_price(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                       steps: int) -> tuple[F64, I32]:
        price = np.empty(len(s))
        status = np.empty(len(s), np.int32)
        cpu.american_price(s, k, t, r, q, sigma, is_call, steps, price, status)
        return price, status


@functools.cache
def cuda_available() -> bool:
    """True only if CuPy imports *and* a device answers.

    cupy 13+ raises (rather than returning False) from is_available() when no
    driver is installed, and import itself fails without the wheel; both mean
    no.
    """
    try:
        import cupy  # type: ignore[import-untyped,import-not-found,unused-ignore]

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        cupy.zeros(1).sum()  # a real allocation and launch
        return True
    except Exception:
        return False


def get_backend(name: str = "auto") -> Backend:
    if name == "cpu":
        return CpuBackend()
    if name in ("cuda", "auto"):
        if cuda_available():
            from .cuda import CudaBackend

            return CudaBackend()
        if name == "cuda":
            raise RuntimeError("--backend cuda: no CUDA device reachable through CuPy "
                               "(install cupy-cuda12x and a driver, or use --backend cpu)")
        return CpuBackend()
    raise ValueError(f"unknown backend {name!r} (expected auto, cpu or cuda)")
