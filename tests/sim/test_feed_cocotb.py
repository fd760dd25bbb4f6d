"""The feed parser's Verilog under Icarus, driven by cocotbext-axi, against the software model."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.hw.feed.top import FeedParserTop
from nanogate.sim.cocotb.runner import have_icarus, run_cocotb

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not on PATH"),
]

TB = "nanogate.sim.cocotb.tb_feed"
FILTER_DEPTH = 256  # a small table keeps the Verilog (and Icarus' start) small


def run(tmp_path: Path, testcase: str, **env: str) -> tuple[str, ...]:
    result = run_cocotb(FeedParserTop(filter_depth=FILTER_DEPTH), toplevel="feed_parser",
                        test_module=TB, build_dir=tmp_path, testcase=testcase,
                        extra_env={"FEED_TB_FILTER_DEPTH": str(FILTER_DEPTH), **env})
    return result.passed


@pytest.mark.slow
def test_random_faulty_packets_and_filter(tmp_path: Path) -> None:
    passed = run(tmp_path, "test_random_faulty_packets,test_filter_through_axi_lite")
    assert set(passed) == {"test_random_faulty_packets", "test_filter_through_axi_lite"}


@pytest.mark.slow
def test_every_type_every_lane_with_coverage(tmp_path: Path) -> None:
    report = tmp_path / "coverage.txt"
    assert run(tmp_path, "test_every_type_every_lane",
               FEED_TB_COVERAGE=str(report)) == ("test_every_type_every_lane",)
    assert "lane    184 / 184" in report.read_text()


@pytest.mark.slow
def test_sample_file(tmp_path: Path, sample_path: Path) -> None:
    assert run(tmp_path, "test_sample_file", FEED_TB_SAMPLE=str(sample_path),
               FEED_TB_PACKETS="12") == ("test_sample_file",)
