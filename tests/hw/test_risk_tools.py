"""``nanogate hw verilog risk`` and ``nanogate hw bench risk``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nanogate.hw import cli as hw_cli
from nanogate.hw.risk import tools


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="nanogate")
    hw_cli.register(top.add_subparsers(dest="command", required=True))
    return top


@pytest.fixture
def small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    # the default tables (8,192 x 1,024, 64 Ki ids) take a minute to write out
    monkeypatch.setattr(tools, "SIZES", (16, 16, 6))


@pytest.mark.usefixtures("small_tables")
def test_verilog_command_writes_top_and_register_map(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["hw", "verilog", "risk", "-o", str(tmp_path / "out")])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "out" / "risk_top.v"),
                       str(tmp_path / "out" / "risk_regmap.md")]
    text = (tmp_path / "out" / "risk_top.v").read_text()
    for port in ("module risk_top", "s_axis_order__tdata", "m_axis_decision__tready",
                 "s_axis_update__tvalid", "bus__awaddr"):
        assert port in text
    assert "input [239:0] s_axis_order__tdata" in text
    doc = (tmp_path / "out" / "risk_regmap.md").read_text()
    assert "| 0x0000 | `kill_switch` | rw | 1 |" in doc and "### Order" in doc


@pytest.mark.sim
@pytest.mark.usefixtures("small_tables")
def test_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["hw", "bench", "risk", "--json"])
    assert args.handler(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["latency_cycles"] == 3  # the goal is <= 4
    assert figures["orders_per_cycle"] == 1.0
    assert 0.3 < figures["orders_per_cycle_at_50pct_ready"] < 0.7
    assert tools.bench(as_json=False) == 0
    assert "orders/cycle" in capsys.readouterr().out


def test_design_doc_holds_the_generated_tables() -> None:
    from nanogate.proto.risk import DECISION, ORDER, REASON_NAMES, RISK_REGMAP, UPDATE

    doc = (Path(__file__).resolve().parents[2] / "docs" / "hw-risk.md").read_text()
    for table in (RISK_REGMAP.markdown(), ORDER.markdown(), UPDATE.markdown(),
                  DECISION.markdown()):
        assert table in doc, "docs/hw-risk.md is stale: paste the regenerated table"
    for bit, name in enumerate(REASON_NAMES):
        assert f"| {bit} | `{name}` |" in doc
