"""`nanogate demo`: the live session through the CLI, and the feed-only walk-through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanogate.cli import main


def test_demo_runs_the_pipeline_end_to_end(capsys: pytest.CaptureFixture[str],
                                           sample_path: Path) -> None:
    code = main(["demo", "--feed-only", "--sample", str(sample_path),
                 "--synthetic-messages", "20000"])
    out = capsys.readouterr().out
    assert code == 0
    assert "12,012 messages" in out
    assert "records identical: yes" in out and "events identical: yes" in out
    for symbol in ("ALC", "BOB", "CHAR"):
        assert symbol in out
    assert "decoded 20,000 messages" in out


def test_demo_without_the_sample_still_runs(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    code = main(["demo", "--feed-only", "--sample", str(tmp_path / "absent"),
                 "--synthetic-messages", "5000"])
    captured = capsys.readouterr()
    assert code == 0
    assert "synthetic session only" in captured.err and "decoded 5,000 messages" in captured.out


@pytest.mark.slow
def test_live_demo_writes_its_summary_and_report(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No --report, no --workdir: the report directory is ./nanogate-demo-report."""
    monkeypatch.chdir(tmp_path)
    code = main(["demo", "--duration", "3", "--rate", "8000", "--instruments", "3",
                 "--loss", "0.05", "--listen", "127.0.0.1:0", "--json", "run.json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "development token" in captured.err and "NANOGATE_TOKEN=" in captured.err
    summary = json.loads((tmp_path / "run.json").read_text())
    report = tmp_path / "nanogate-demo-report"
    assert json.loads((report / "summary.json").read_text()) == summary
    assert summary["messages"] == summary["messages_published"] > 0
    assert summary["messages_lost"] == 0 and summary["orders_undecided"] == 0
    assert summary["orders"] == summary["order_flow"]["sent"] > 0
    assert summary["feed"]["messages"] == summary["feed"]["published"]  # nested: kept
    assert set(summary["pnl"]) == {"mean-reversion-aapl", "mm-aapl", "momentum-msft"}
    for name in summary["report"].values():
        data = (report / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name
    assert set(summary["report"]) == {"latency_histogram", "throughput", "depth"}
    assert list(report.glob("compliance-*.md"))
    assert "tick_to_trade" in captured.out and "PnL $" in captured.out
    assert f"report: {report}" in captured.out and str(report / "summary.json") in captured.out


@pytest.mark.parametrize(("argv", "message"), [
    (["--duration", "0"], "--duration must be > 0"),
    (["--loss", "1.5"], "--loss must be a probability"),
    (["--instruments", "0"], "--instruments must be 1..1000"),
    (["--rate", "-3"], "--rate must be > 0"),
])
def test_live_demo_refuses_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str],
                                       message: str) -> None:
    assert main(["demo", *argv]) == 2
    assert message in capsys.readouterr().err


def test_live_demo_with_no_strategies_fails_clearly(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    code = main(["demo", "--duration", "1", "--strategies", str(tmp_path), "--listen",
                 "127.0.0.1:0"])
    assert code == 1
    assert f"no strategy specs (*.yaml) in {tmp_path}" in capsys.readouterr().err
