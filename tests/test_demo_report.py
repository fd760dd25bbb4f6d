"""The report directory of `nanogate demo` (nanogate.demo_report), from a made-up run."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from nanogate.demo_report import depth_grid, write_report
from nanogate.live import DepthSample, RunRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _record() -> RunRecord:
    depth = [DepthSample(t / 5, [(1_000_000 - 100 * i + 100 * (t % 3), 100 * (i + 1))
                                 for i in range(5)],
                         [(1_000_100 + 100 * i + 100 * (t % 3), 50 * (i + 1)) for i in range(5)])
             for t in range(20)]
    timeline = [(float(t), 8_000 * t, 200 * t, 70 * t, t // 2) for t in range(5)]
    latency = {"risk": [(50_000, 10), (60_000, 30), (200_000, 1)],
               "tick_to_trade": [(700_000, 20), (2_000_000, 3)], "wire_to_book": []}
    return RunRecord(timeline, "AAPL", depth, latency)


def _summary() -> dict[str, Any]:
    return {"messages": 32_000, "orders": 800, "fills": 280,
            "latency_us": {"risk": {"p99": 60.0}, "tick_to_trade": {"p99": 2000.0}}}


def test_the_report_writes_the_summary_and_three_charts(tmp_path: Path) -> None:
    summary = _summary()
    written = write_report(tmp_path / "out", summary, _record())
    assert set(written) == {"summary", "latency_histogram", "throughput", "depth"}
    assert written["depth"].name == "depth-AAPL.png"
    stored = json.loads(written["summary"].read_text())
    assert stored["messages"] == 32_000
    assert stored["report"] == {"latency_histogram": "latency-histogram.png",
                                "throughput": "throughput.png", "depth": "depth-AAPL.png"}
    for kind in ("latency_histogram", "throughput", "depth"):
        width, height = _png_size(written[kind])
        assert width >= 600 and height >= 300
        assert written[kind].stat().st_size > 10_000


def test_charts_without_data_are_left_out(tmp_path: Path) -> None:
    written = write_report(tmp_path, {"messages": 0}, RunRecord(timeline=[(0.0, 0, 0, 0, 0)]))
    assert set(written) == {"summary"}
    assert json.loads((tmp_path / "summary.json").read_text())["report"] == {}


def test_the_depth_grid_puts_bids_above_zero_and_asks_below() -> None:
    samples = [DepthSample(0.0, [(1_000_000, 300), (999_900, 100)], [(1_000_100, 200)]),
               DepthSample(0.5, [(1_000_100, 50)], [(1_000_300, 70)])]
    t_edges, price_edges, grid = depth_grid(samples)
    assert t_edges.tolist() == [-0.25, 0.25, 0.75]
    assert grid.shape == (5, 2)  # 99.99 .. 100.03 in cents
    assert np.allclose(price_edges[:2], [99.985, 99.995])
    assert grid[:, 0].tolist() == [100, 300, -200, 0, 0]
    assert grid[:, 1].tolist() == [0, 0, 50, 0, -70]


def test_a_wide_book_is_binned(tmp_path: Path) -> None:
    samples = [DepthSample(0.0, [(1_000_000, 10)], [(2_000_000, 10)])]
    _, price_edges, grid = depth_grid(samples, max_rows=100)
    assert grid.shape[0] <= 100 and grid.sum() == 0 and np.abs(grid).sum() == 20
    assert price_edges[0] < 100 and price_edges[-1] > 200
