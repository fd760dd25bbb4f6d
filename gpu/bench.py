"""``nanogate analytics bench``: options/s for price+greeks and IV on a backend, with
baselines measured side by side (our NumPy reference, and fast-vollib's NumPy backend when
it is installed).

Three figures per kernel:

* ``*_per_s``: through the public API as a user calls it (``analytics.price_greeks`` /
  ``implied_vol``: input checks, the outputs allocated, or on the CPU taken from the
  recycling pool; for CUDA including the host<->device copies);
* ``*_out_per_s``: the same with ``out=`` buffers the caller allocated once;
* ``kernel_*_per_s``: the kernel alone (CPU: preallocated outputs; CUDA: device-resident
  arrays, timed with CUDA events), and from it the achieved memory traffic in GB/s (the
  bytes each option must move at least: its inputs and outputs). On a GPU the device's
  peak bandwidth (memory clock x bus width) is reported next to it, and the fraction.
"""

from __future__ import annotations

import os
import time
import warnings
from functools import partial
from typing import Any

import numpy as np

from . import analytics, reference
from .backend import get_backend

GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")
# Minimum bytes per option: 6 float64 inputs + int32 flag; 8 float64 outputs + int32 status.
BYTES_PRICE_GREEKS = 6 * 8 + 4 + 8 * 8 + 4
# price, s, k, t, r, q + flag in; vol + status out.
BYTES_IV = 6 * 8 + 4 + 8 + 4
# Kernels the CUDA path of the bench launches (tests/gpu/test_nvrtc.py compiles them).
CUDA_KERNELS = ("ng_black_greeks_k", "ng_black_price_k", "ng_implied_vol_k")


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


def gb_per_s(options_per_s: float, bytes_per_option: int) -> float:
    return options_per_s * bytes_per_option / 1e9


def device_bandwidth_gb_s(props: dict[str, Any]) -> float | None:
    """Peak DRAM bandwidth from CUDA device properties: memoryClockRate is in kHz and DDR
    (two transfers per clock), memoryBusWidth in bits."""
    clock_khz = props.get("memoryClockRate")
    bus_bits = props.get("memoryBusWidth")
    if not clock_khz or not bus_bits:
        return None
    return 2.0 * float(clock_khz) * 1e3 * float(bus_bits) / 8.0 / 1e9


def _fast_vollib() -> Any:
    try:
        import fast_vollib  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except Exception:  # not installed, or it fails to import
        return None
    return fast_vollib


def _cpu_kernel_rates(c: dict[str, Any], price: Any, repeat: int) -> tuple[float, float]:
    from . import cpu

    n = len(c["s"])
    s, k, t, r, q, sig = (np.ascontiguousarray(c[x]) for x in ("s", "k", "t", "r", "q", "sigma"))
    flag = c["cp"]
    out: dict[str, Any] = {nm: np.empty(n) for nm in GREEKS}
    st = np.empty(n, np.int32)
    cpu.black_greeks(s, k, t, r, q, sig, flag, 0, out, st)  # touch the pages once
    dt_g = _best(partial(cpu.black_greeks, s, k, t, r, q, sig, flag, 0, out, st), repeat)
    vol = np.empty(n)
    cpu.implied_vol(price, s, k, t, r, q, flag, 0, vol, st)
    dt_iv = _best(partial(cpu.implied_vol, price, s, k, t, r, q, flag, 0, vol, st), repeat)
    return n / dt_g, n / dt_iv


def _cuda_kernel_rates(be: Any, c: dict[str, Any], price: Any, repeat: int
                       ) -> tuple[float, float]:
    """Device-resident inputs and outputs, each launch timed with CUDA events."""
    from .cuda import _THREADS, _grid

    cp = be.cp
    n = len(c["s"])
    s, k, t, r, q, sig, flag, p = (cp.asarray(np.ascontiguousarray(a)) for a in
                                   (c["s"], c["k"], c["t"], c["r"], c["q"], c["sigma"],
                                    c["cp"], price))
    outs = [cp.empty(n) for _ in GREEKS]
    status = cp.empty(n, dtype=cp.int32)
    vol = cp.empty(n)
    greeks_k = be.mod.get_function(CUDA_KERNELS[0])
    iv_k = be.mod.get_function(CUDA_KERNELS[2])

    def timed(launch: Any) -> float:
        launch()  # warm-up
        best = float("inf")
        for _ in range(repeat):
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            launch()
            stop.record()
            stop.synchronize()
            best = min(best, cp.cuda.get_elapsed_time(start, stop) / 1e3)
        return best

    dt_g = timed(lambda: greeks_k(_grid(n), (_THREADS,),
                                  (np.int64(n), s, k, t, r, q, sig, flag, np.int32(0), *outs,
                                   status)))
    dt_iv = timed(lambda: iv_k(_grid(n), (_THREADS,),
                               (np.int64(n), p, s, k, t, r, q, flag, np.int32(0), vol, status)))
    return n / dt_g, n / dt_iv


def run(sizes: list[int], backend: str = "auto", baseline: bool = True, repeat: int = 3
        ) -> dict[str, Any]:
    be = get_backend(backend)
    results: dict[str, Any] = {
        "backend": be.name, "sizes": sizes, "price_greeks_per_s": {}, "iv_per_s": {},
        "price_greeks_out_per_s": {}, "iv_out_per_s": {},
        "kernel_price_greeks_per_s": {}, "kernel_iv_per_s": {},
        "kernel_price_greeks_gb_s": {}, "kernel_iv_gb_s": {},
        "bytes_per_option": {"price_greeks": BYTES_PRICE_GREEKS, "iv": BYTES_IV},
        "iv_max_rel_error": 0.0,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    if be.name == "cpu":
        from . import cpu

        results["threads"] = cpu.max_threads()
    else:
        cupy: Any = getattr(be, "cp")  # noqa: B009  (CudaBackend only)
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props.get("name", b"")
        results["device"] = name.decode() if isinstance(name, bytes) else str(name)
        results["device_bandwidth_gb_s"] = device_bandwidth_gb_s(props)
    fv = _fast_vollib() if baseline else None
    if baseline:
        results["numpy_price_greeks_per_s"] = {}
        results["numpy_iv_per_s"] = {}
        if fv is not None:
            results["fast_vollib_greeks_per_s"] = {}
            results["fast_vollib_iv_per_s"] = {}
    for n in sizes:
        c = chain(n)
        args = [np.ascontiguousarray(c[x]) for x in ("s", "k", "t", "r", "q", "sigma")]
        s, k, t, r, q, sig = args
        cp = c["cp"]
        api_g = partial(analytics.price_greeks, s, k, t, r, q, sig, cp, greeks=GREEKS,
                        backend=be)
        api_g()  # warm-up (and CUDA compile)
        results["price_greeks_per_s"][str(n)] = n / _best(api_g, repeat)
        og: dict[str, Any] = {nm: np.empty(n) for nm in GREEKS}
        og["status"] = np.empty(n, np.int32)
        api_g(out=og)  # touch the pages once
        results["price_greeks_out_per_s"][str(n)] = n / _best(partial(api_g, out=og), repeat)
        price, _ = be.black_price(s, k, t, r, q, sig, cp, 0)
        api_iv = partial(analytics.implied_vol, price, s, k, t, r, q, cp, backend=be)
        api_iv()
        results["iv_per_s"][str(n)] = n / _best(api_iv, repeat)
        oiv = (np.empty(n), np.empty(n, np.int32))
        api_iv(out=oiv)
        results["iv_out_per_s"][str(n)] = n / _best(partial(api_iv, out=oiv), repeat)
        del og, oiv
        vol, st = be.implied_vol(price, s, k, t, r, q, cp, 0)
        back, _ = be.black_price(s, k, t, r, q, np.where(st == 0, vol, sig), cp, 0)
        ok = (st == 0) & (price > 1e-250)
        err = float(np.max(np.abs(back[ok] - price[ok]) / price[ok])) if ok.any() else 0.0
        results["iv_max_rel_error"] = max(results["iv_max_rel_error"], err)
        kg, kiv = (_cpu_kernel_rates(c, price, repeat) if be.name == "cpu"
                   else _cuda_kernel_rates(be, c, price, repeat))
        results["kernel_price_greeks_per_s"][str(n)] = kg
        results["kernel_iv_per_s"][str(n)] = kiv
        results["kernel_price_greeks_gb_s"][str(n)] = gb_per_s(kg, BYTES_PRICE_GREEKS)
        results["kernel_iv_gb_s"][str(n)] = gb_per_s(kiv, BYTES_IV)
        if baseline and n <= 1_000_000:
            dt = _best(partial(reference.black_greeks, s, k, t, r, q, sig, cp), 1)
            results["numpy_price_greeks_per_s"][str(n)] = n / dt
            dt = _best(partial(reference.implied_vol_newton, price, s, k, t, r, q, cp), 1)
            results["numpy_iv_per_s"][str(n)] = n / dt
            if fv is not None:
                flag = np.where(cp == 1, "c", "p")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dt = _best(partial(fv.get_all_greeks, flag, s, k, t, r, sig, q,
                                       model="black_scholes_merton", return_as="dict",
                                       backend="numpy"), 1)
                    results["fast_vollib_greeks_per_s"][str(n)] = n / dt
                    dt = _best(partial(fv.fast_implied_volatility, price, s, k, t, r, flag, q,
                                       model="black_scholes_merton", return_as="numpy",
                                       backend="numpy", on_error="ignore"), 1)
                    results["fast_vollib_iv_per_s"][str(n)] = n / dt
    return results


def _m(x: float) -> str:
    return f"{x / 1e6:,.2f} M"


def format_table(res: dict[str, Any]) -> str:
    where = (f"threads: {res['threads']}" if "threads" in res
             else f"device: {res.get('device')}")
    load = res.get("load_average")
    lines = [f"backend: {res['backend']} ({where}"
             + (f"; load average {load[0]:.2f}" if load else "") + ")"]
    head = (f"{'options':>10} {'greeks/s':>10} {'out=':>10} {'kernel':>10} {'GB/s':>6} "
            f"{'IV/s':>10} {'out=':>10} {'kernel':>10} {'GB/s':>6}")
    lines.append(head)
    for n in res["sizes"]:
        key = str(n)
        og = res.get("price_greeks_out_per_s", {}).get(key)
        oi = res.get("iv_out_per_s", {}).get(key)
        lines.append(f"{n:>10,} {_m(res['price_greeks_per_s'][key]):>10} "
                     f"{_m(og) if og else '-':>10} "
                     f"{_m(res['kernel_price_greeks_per_s'][key]):>10} "
                     f"{res['kernel_price_greeks_gb_s'][key]:>6.1f} "
                     f"{_m(res['iv_per_s'][key]):>10} {_m(oi) if oi else '-':>10} "
                     f"{_m(res['kernel_iv_per_s'][key]):>10} "
                     f"{res['kernel_iv_gb_s'][key]:>6.1f}")
    bw = res.get("device_bandwidth_gb_s")
    if bw:
        best = max(res["kernel_price_greeks_gb_s"].values())
        lines.append(f"device bandwidth {bw:,.0f} GB/s: price+greeks kernel reaches "
                     f"{best:,.0f} GB/s ({100 * best / bw:.0f} %)")
    if res.get("numpy_iv_per_s"):
        lines.append("baselines (greeks/s, IV/s) and our kernel's speed-up:")
        for key, ng in res["numpy_iv_per_s"].items():
            row = (f"{int(key):>10,} NumPy reference {_m(res['numpy_price_greeks_per_s'][key])}"
                   f", {_m(ng)}")
            if key in res.get("fast_vollib_iv_per_s", {}):
                fg = res["fast_vollib_greeks_per_s"][key]
                fi = res["fast_vollib_iv_per_s"][key]
                row += (f"; fast-vollib (numpy) {_m(fg)}, {_m(fi)}: IV x"
                        f"{res['kernel_iv_per_s'][key] / fi:.0f}, greeks x"
                        f"{res['kernel_price_greeks_per_s'][key] / fg:.0f}")
            lines.append(row)
    lines.append(f"bytes per option: price+greeks {res['bytes_per_option']['price_greeks']}, "
                 f"IV {res['bytes_per_option']['iv']}")
    lines.append(f"IV max relative price error (round trip): {res['iv_max_rel_error']:.2e}")
    return "\n".join(lines)
