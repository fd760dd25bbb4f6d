"""CUDA backend: CuPy RawModule over kernels/kernels.cu (the same headers as the CPU build).

Imported only when a device is present (see backend.get_backend)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .cpu import KERNEL_DIR
from .nvrtc import CUDA_OPTIONS

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
OutMap = Mapping[str, npt.NDArray[Any]]  # greek name or "status" -> array
_THREADS = 256


@functools.cache
def module() -> Any:
    import cupy  # type: ignore[import-untyped,import-not-found,unused-ignore]

    src = (KERNEL_DIR / "kernels.cu").read_text()
    return cupy.RawModule(code=src, options=(*CUDA_OPTIONS, f"-I{KERNEL_DIR}"))


def _grid(n: int) -> tuple[int]:
    return (max(1, min((n + _THREADS - 1) // _THREADS, 65535 * 8)),)


class CudaBackend:
    name = "cuda"

    def __init__(self) -> None:
        import cupy  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self.cp = cupy
        self.mod = module()

    def _dev(self, *arrays: npt.NDArray[Any]) -> list[Any]:
        return [self.cp.asarray(a) for a in arrays]

    def black_greeks(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                     model: int, wanted: tuple[str, ...] = ("price", "delta", "gamma", "vega",
                                                            "theta", "rho", "vanna", "volga"),
                     out: OutMap | None = None) -> tuple[dict[str, F64], I32]:
        """``out``: host arrays (1-D, contiguous, len(s)) the results are copied into."""
        cp = self.cp
        n = len(s)
        ins = self._dev(s, k, t, r, q, sigma, is_call)
        names = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")
        outs = {nm: cp.empty(n) for nm in wanted}
        status = cp.empty(n, dtype=cp.int32)
        args = [np.int64(n), *ins, np.int32(model),
                *(outs.get(nm, 0) for nm in names), status]
        self.mod.get_function("ng_black_greeks_k")(_grid(n), (_THREADS,), tuple(args))
        given = out or {}
        return ({nm: a.get(out=given.get(nm)) for nm, a in outs.items()},
                status.get(out=given.get("status")))

    def black_price(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                    model: int) -> tuple[F64, I32]:
        cp = self.cp
        n = len(s)
        price = cp.empty(n)
        status = cp.empty(n, dtype=cp.int32)
        self.mod.get_function("ng_black_price_k")(
            _grid(n), (_THREADS,),
            (np.int64(n), *self._dev(s, k, t, r, q, sigma, is_call), np.int32(model), price,
             status))
        return cp.asnumpy(price), cp.asnumpy(status)

    def implied_vol(self, price: F64, s: F64, k: F64, t: F64, r: F64, q: F64, is_call: I32,
                    model: int, out: tuple[F64, I32] | None = None) -> tuple[F64, I32]:
        cp = self.cp
        n = len(s)
        vol = cp.empty(n)
        status = cp.empty(n, dtype=cp.int32)
        self.mod.get_function("ng_implied_vol_k")(
            _grid(n), (_THREADS,),
            (np.int64(n), *self._dev(price, s, k, t, r, q, is_call), np.int32(model), vol,
             status))
        host_vol, host_st = out if out is not None else (None, None)
        return vol.get(out=host_vol), status.get(out=host_st)

    def american_price(self, s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                       steps: int) -> tuple[F64, I32]:
        cp = self.cp
        n = len(s)
        price = cp.empty(n)
        status = cp.empty(n, dtype=cp.int32)
        shared = 2 * ((steps | 1) + 2) * 8
        self.mod.get_function("ng_american_price_k")(
            (max(1, min(n, 65535)),), (128,),
            (np.int64(n), *self._dev(s, k, t, r, q, sigma, is_call), np.int32(steps), price,
             status), shared_mem=shared)
        return cp.asnumpy(price), cp.asnumpy(status)
