"""Every kernel compiles to PTX through the raw NVRTC API: GPU compile errors fail CI
without a GPU."""

from __future__ import annotations

import re

import pytest

from nanogate.gpu import nvrtc

EXPECTED = {"ng_black_greeks_k", "ng_black_price_k", "ng_implied_vol_k",
            "ng_normalised_black_k", "ng_american_price_k", "ng_realized_vol_k"}


@pytest.fixture(scope="module")
def have_nvrtc() -> None:
    try:
        nvrtc.load()
    except nvrtc.NvrtcError as exc:  # dev extra not installed: say so loudly
        pytest.fail(f"NVRTC unavailable ({exc}); install nvidia-cuda-nvrtc-cu12")


@pytest.mark.parametrize("arch", ["compute_70", "compute_90"])
def test_all_kernels_compile_to_ptx(have_nvrtc: None, arch: str) -> None:
    ptx = nvrtc.compile_kernels(arch=arch)
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert entries == EXPECTED
    assert f".target sm_{arch.split('_')[1]}" in ptx


def test_compile_error_is_reported_with_the_log(have_nvrtc: None) -> None:
    bad = '#include "common.cuh"\nextern "C" __global__ void k(double* x) { x[0] = ng::nope(); }\n'
    with pytest.raises(nvrtc.NvrtcError, match="nope"):
        nvrtc.compile_to_ptx(bad, name="bad.cu")


def test_bench_kernels_compile_with_the_cupy_options(have_nvrtc: None) -> None:
    """The kernels `analytics bench` launches on a GPU exist in the PTX built with the very
    options cuda.py hands CuPy (no -default-device there)."""
    from nanogate.gpu import bench, cuda

    assert cuda.CUDA_OPTIONS == nvrtc.CUDA_OPTIONS
    ptx = nvrtc.compile_to_ptx((nvrtc.KERNEL_DIR / "kernels.cu").read_text(),
                               arch="compute_80", options=nvrtc.CUDA_OPTIONS)
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert set(bench.CUDA_KERNELS) <= entries
    # --fmad=false: no fused multiply-add except the explicit fma() calls in the source
    assert "fma.rn.f64" in ptx


def test_device_bandwidth_formula() -> None:
    from nanogate.gpu import bench

    # H100 SXM: 2619 MHz HBM3, 5120-bit bus -> 3352 GB/s
    assert bench.device_bandwidth_gb_s({"memoryClockRate": 2619000,
                                        "memoryBusWidth": 5120}) == pytest.approx(3352.3, rel=1e-3)
    assert bench.device_bandwidth_gb_s({}) is None
    assert bench.gb_per_s(1e9, 120) == pytest.approx(120.0)
