"""Shared fixtures and the marker policy (sim, slow, gpu)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "data" / "ex20101224.TEST_ITCH_50"


def _cuda_device_present() -> bool:
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # no cupy, no driver, no device: all mean "no GPU"
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items and not _cuda_device_present():
        skip = pytest.mark.skip(reason="needs a CUDA device (none reachable)")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The public ITCH 5.0 sample from ../shared/data (CI always has it)."""
    if not SAMPLE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SAMPLE} missing: CI must run beside shared/")
        pytest.skip(f"{SAMPLE} not present beside this checkout")
    return SAMPLE
