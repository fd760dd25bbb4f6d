"""CPU backend: the kernel headers compiled by the host C++ compiler.

The library is built at install time (setup.py, ``nanogate.gpu._cpu_kernels``)
and exposes a plain C ABI that this module calls through ctypes. Why ctypes
and not pybind11 or the CPython API: the build then needs no Python or NumPy
headers (nothing but a C++17 compiler), the ABI does not change with the
Python version, and ctypes releases the GIL for the duration of each call.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
_ABI_VERSION = 2

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


class CpuBackendUnavailable(RuntimeError):
    """The compiled CPU kernels could not be found or built."""


def _installed_library() -> Path | None:
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        cand = here / f"_cpu_kernels{suffix}"
        if cand.exists():
            return cand
    return None


def _sources_digest() -> str:
    h = hashlib.sha256()
    for p in [*sorted(KERNEL_DIR.glob("*.cuh")), KERNEL_DIR / "cpu_backend.cpp"]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _jit_build() -> Path:
    """Developer fallback when the package was not installed with its extension."""
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        raise CpuBackendUnavailable(
            "nanogate.gpu CPU kernels are not built and no C++ compiler was found: "
            "reinstall with `pip install -e .` on a machine with g++"
        )
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nanogate"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"cpu_kernels_{_sources_digest()}.so"
    if not out.exists():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        # same flags as setup.py (see there for why each)
        cmd = [cxx, "-O3", "-std=c++17", "-fPIC", "-shared", "-fopenmp", "-fno-math-errno",
               "-fno-trapping-math", "-ffp-contract=off", "-fvisibility=hidden",
               str(KERNEL_DIR / "cpu_backend.cpp"), "-o", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise CpuBackendUnavailable(f"building the CPU kernels failed:\n{res.stderr}")
        tmp.replace(out)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    d = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    i = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
    i64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
    dn = ctypes.c_void_p  # nullable double* outputs
    n = ctypes.c_longlong
    c_int = ctypes.c_int
    lib.ng_abi_version.restype = c_int
    lib.ng_max_threads.restype = c_int
    lib.ng_set_threads.argtypes = [c_int]
    lib.ng_black_greeks.argtypes = [n, d, d, d, d, d, d, i, c_int, *([dn] * 8), dn]
    lib.ng_black_price.argtypes = [n, d, d, d, d, d, d, i, c_int, d, dn]
    lib.ng_implied_vol.argtypes = [n, d, d, d, d, d, d, i, c_int, d, i]
    lib.ng_normalised_black.argtypes = [n, d, d, d]
    lib.ng_implied_s_otm_call.argtypes = [n, d, d, d, i]
    lib.ng_american_price.argtypes = [n, d, d, d, d, d, d, i, c_int, d, i]
    lib.ng_american_iv.argtypes = [n, d, d, d, d, d, d, i, c_int, d, i]
    lib.ng_realized_vol.argtypes = [n, i64, dn, dn, dn, d, ctypes.c_double, ctypes.c_double,
                                    d, d, d, d, i]
    lib.ng_math.argtypes = [n, c_int, d, d, d]
    lib.ng_implied_vol_scalar.argtypes = [n, d, d, d, d, d, d, i, c_int, d, i]
    lib.ng_black_greeks_scalar.argtypes = [n, d, d, d, d, d, d, i, c_int, d, i]


def library() -> ctypes.CDLL:
    """The loaded CPU kernel library (built on first use if it was not installed)."""
    global _lib  # noqa: PLW0603  (one library per process, loaded on first use)
    with _lock:
        if _lib is None:
            override = os.environ.get("NANOGATE_CPU_KERNELS")
            path = Path(override) if override else (_installed_library() or _jit_build())
            lib = ctypes.CDLL(str(path))
            _declare(lib)
            if lib.ng_abi_version() != _ABI_VERSION:
                raise CpuBackendUnavailable(
                    f"{path} has ABI {lib.ng_abi_version()}, expected {_ABI_VERSION}: "
                    "rebuild with pip install -e .")
            _lib = lib
        return _lib


class OutputPool:
    """Recycled output arrays for the batch calls (CPU backend).

    Fresh memory costs as much as the pricing itself: every page is faulted
    in and zeroed by the kernel before the first write, and glibc returns
    large freed blocks to the system (blocks over its mmap threshold, and the
    top of the heap past the trim threshold), so a loop that prices the same
    chain again and again paid 1,500 page faults per call at 1e5 options and
    4,000-6,000 at 1e6. The pool keeps a reference to every output array it
    hands out and hands an array out again (same dtype and length) once the
    caller has dropped it, which its reference count shows: the pool's list
    and getrefcount's argument are then the only references. An array the
    caller still holds, or any view of it, is never reused.

    Bounded: at most ``max_arrays`` arrays and ``max_bytes`` in all (arrays
    still in use count; over either limit the oldest are let go, idle ones
    first: an array let go while in use is freed when its last view dies);
    arrays under ``min_bytes`` are left to malloc. ``NANOGATE_OUTPUT_POOL_MB``
    sets ``max_bytes`` (default 256; 0 turns pooling off); ``clear()`` lets
    every array go.
    """

    def __init__(self, max_bytes: int, min_bytes: int = 1 << 16, max_arrays: int = 64) -> None:
        self.max_bytes = max_bytes
        self.min_bytes = min_bytes
        self.max_arrays = max_arrays
        self._arrays: list[npt.NDArray[Any]] = []
        self._lock = threading.Lock()

    def _idle(self, i: int) -> bool:
        # no local variable may hold the array while this counts its references
        return sys.getrefcount(self._arrays[i]) <= 2

    def _take(self, n: int, dtype: type[np.generic]) -> npt.NDArray[Any]:
        nbytes = n * np.dtype(dtype).itemsize
        if nbytes < self.min_bytes or nbytes > self.max_bytes:
            return np.empty(n, dtype)
        for i in range(len(self._arrays)):
            if (self._arrays[i].shape[0] == n and self._arrays[i].dtype == dtype
                    and self._idle(i)):
                self._arrays.append(self._arrays.pop(i))  # most recently used last
                return self._arrays[-1]
        self._arrays.append(np.empty(n, dtype))
        total = sum(x.nbytes for x in self._arrays)
        while len(self._arrays) > self.max_arrays or total > self.max_bytes:
            idle = [i for i in range(len(self._arrays) - 1) if self._idle(i)]
            total -= self._arrays.pop(idle[0] if idle else 0).nbytes
        return self._arrays[-1]

    def arrays(self, n: int, names: tuple[str, ...], status: bool = True
               ) -> tuple[dict[str, F64], I32 | None]:
        """``n`` float64 per name (and ``n`` int32 statuses), uninitialised."""
        with self._lock:
            out = {nm: self._take(n, np.float64) for nm in names}
            st = self._take(n, np.int32) if status else None
        return out, st

    def clear(self) -> None:
        with self._lock:
            self._arrays.clear()

    @property
    def nbytes(self) -> int:
        """Bytes the pool holds (arrays still in use included)."""
        with self._lock:
            return sum(a.nbytes for a in self._arrays)


def _pool_limit(raw: str | None = None) -> int:
    """``NANOGATE_OUTPUT_POOL_MB`` in bytes; a bad value is named on stderr, 256 MB used."""
    raw = os.environ.get("NANOGATE_OUTPUT_POOL_MB", "256") if raw is None else raw
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not 0 <= megabytes < float("inf"):
        print(f"nanogate: NANOGATE_OUTPUT_POOL_MB={raw!r} is not a size in MB >= 0; "
              "using 256", file=sys.stderr)
        megabytes = 256.0
    return int(megabytes * (1 << 20))


output_pool = OutputPool(_pool_limit())


def _ptr(a: Any) -> int | None:
    return None if a is None else int(a.ctypes.data)


def max_threads() -> int:
    return int(library().ng_max_threads())


def set_threads(n: int) -> None:
    library().ng_set_threads(n)


def black_greeks(s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32, model: int,
                 out: Mapping[str, F64 | None], status: I32) -> None:
    names = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")
    library().ng_black_greeks(len(s), s, k, t, r, q, sigma, is_call, model,
                              *(_ptr(out.get(nm)) for nm in names), _ptr(status))


def black_price(s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32, model: int,
                price: F64, status: I32 | None) -> None:
    library().ng_black_price(len(s), s, k, t, r, q, sigma, is_call, model, price, _ptr(status))


def implied_vol(price: F64, s: F64, k: F64, t: F64, r: F64, q: F64, is_call: I32, model: int,
                vol: F64, status: I32) -> None:
    library().ng_implied_vol(len(s), price, s, k, t, r, q, is_call, model, vol, status)


def normalised_black(x: F64, s: F64, out: F64) -> None:
    library().ng_normalised_black(len(x), x, s, out)


def implied_s_otm_call(beta: F64, x: F64, s: F64, status: I32) -> None:
    library().ng_implied_s_otm_call(len(x), beta, x, s, status)


def american_price(s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                   steps: int, price: F64, status: I32) -> None:
    library().ng_american_price(len(s), s, k, t, r, q, sigma, is_call, steps, price, status)


def american_iv(price: F64, s: F64, k: F64, t: F64, r: F64, q: F64, is_call: I32, steps: int,
                vol: F64, status: I32) -> None:
    library().ng_american_iv(len(s), price, s, k, t, r, q, is_call, steps, vol, status)


def realized_vol(offsets: npt.NDArray[np.int64], open_: F64 | None, high: F64 | None,
                 low: F64 | None, close: F64, lam: float, periods_per_year: float,
                 out: dict[str, F64], status: I32) -> None:
    library().ng_realized_vol(len(offsets) - 1, offsets, _ptr(open_), _ptr(high), _ptr(low),
                              close, lam, periods_per_year, out["close_to_close"],
                              out["parkinson"], out["garman_klass"], out["ewma"], status)


MATH_FUNCS = {"exp": 0, "log": 1, "erfcx": 2, "norm_cdf": 3, "log_ratio": 4, "expm1": 5}


def math_eval(name: str, x: F64, y: F64 | None = None) -> F64:
    """The kernels' inline host math (tests): exp, log, erfcx, norm_cdf, log_ratio (x/y), expm1."""
    xa = np.ascontiguousarray(x, dtype=np.float64)
    ya = np.ascontiguousarray(xa if y is None else y, dtype=np.float64)
    out = np.empty_like(xa)
    library().ng_math(len(xa), MATH_FUNCS[name], xa, ya, out)
    return out


def implied_vol_scalar(price: F64, s: F64, k: F64, t: F64, r: F64, q: F64, is_call: I32,
                       model: int, vol: F64, status: I32) -> None:
    """One option at a time through implied_vol, as each GPU thread runs it (tests)."""
    library().ng_implied_vol_scalar(len(s), price, s, k, t, r, q, is_call, model, vol, status)


def black_greeks_scalar(s: F64, k: F64, t: F64, r: F64, q: F64, sigma: F64, is_call: I32,
                        model: int, out8: F64, status: I32) -> None:
    """One option at a time through black_greeks (the GPU's path; tests). out8: (n, 8)."""
    library().ng_black_greeks_scalar(len(s), s, k, t, r, q, sigma, is_call, model, out8, status)
