"""The live session `nanogate demo` runs, end to end on loopback: trade, halt, report.

One session per module (a few seconds, 5% loss on both lines, an operator's
``ngctl halt --all`` once it has filled a few orders); the tests read its summary,
its archive, its report directory and the dashboard's frames.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from nanogate.control import ngctl
from nanogate.control.archive_read import read_day
from nanogate.control.report import compliance
from nanogate.dashboard import render
from nanogate.demo_report import write_report
from nanogate.live import LiveConfig, LiveSession

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _wait(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.status, reply.read().decode()


@dataclass
class Run:
    config: LiveConfig
    summary: dict[str, Any]
    at_halt: dict[str, Any]
    final: dict[str, int]
    frames: list[str]
    events: list[Any]
    tables: dict[str, Any]
    report: Path
    written: dict[str, Path]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("live")
    config = LiveConfig(duration_s=6.0, rate=10_000, instruments=4, loss=0.05, seed=3,
                        workdir=tmp_path / "run", control_listen="127.0.0.1:0")
    session = LiveSession(config, say=lambda _: None).start()
    at_halt: dict[str, Any] = {}
    frames: list[str] = []

    def operator() -> None:
        if not _wait(lambda: session.engine.counters["fills"] >= 5, 20):
            return
        at_halt["health"] = _get(f"http://127.0.0.1:{session.metrics.port}/health")
        at_halt["metrics"] = _get(f"http://127.0.0.1:{session.metrics.port}/metrics")[1]
        at_halt["code"] = ngctl.main(["--server", session.control_address, "--token",
                                      session.token, "--timeout", "5", "halt", "--all",
                                      "--reason", "drill", "--yes"])
        at_halt["time_ns"] = time.time_ns()
        at_halt["orders"] = session.engine.counters["orders"]
        at_halt["router_sent"] = session.router.counters["sent"]
        at_halt["risk_accepted"] = session.risk.counters()["accepted"]

    thread = threading.Thread(target=operator)
    try:
        thread.start()
        summary = session.run(lambda s: frames.append(render(s)), interval_s=0.5)
        thread.join(timeout=30)
        final = {"orders": session.engine.counters["orders"],
                 "router_sent": session.router.counters["sent"],
                 "risk_accepted": session.risk.counters()["accepted"]}
        events = session.control_store.events(types=["fill", "halt"])
        record = session.record()
    finally:
        session.close()
    report = tmp_path / "report"
    written = write_report(report, summary, record)
    tables = read_day(tmp_path / "run" / "archive", date.today())
    yield Run(config, summary, at_halt, final, frames, events, tables, report, written)


def test_no_message_is_lost_with_loss_on_both_lines(run: Run) -> None:
    s = run.summary
    assert s["messages"] == s["messages_published"] > 50_000
    assert s["messages_lost"] == 0 and s["feed"]["gaps_lost"] == 0
    assert s["feed"]["messages"] == s["feed"]["published"] == s["messages"]
    assert s["gaps_recovered"] == s["gaps"]  # every gap closed, by line B or the rewinder
    assert s["feed"]["duplicates"] > 0  # both lines carried the session


def test_every_order_is_decided(run: Run) -> None:
    s = run.summary
    assert s["orders"] > 0 and s["orders"] == s["order_flow"]["sent"]
    assert s["orders_undecided"] == 0
    assert s["orders"] == (s["orders_accepted"] + s["orders_rejected_risk"]
                           + s["orders_rejected_before_risk"])
    # and in the archive: every new order and replace has a risk decision or a reject
    orders = run.tables["orders"].to_pylist()
    wanted = {(o["account"], o["new_client_order_id"] if o["kind"] == "replace"
               else o["client_order_id"]) for o in orders if o["kind"] in ("new", "replace")}
    decided = {(d["account"], d["client_order_id"]) for d in run.tables["decisions"].to_pylist()}
    rejected = {(o["account"], o["client_order_id"])
                for o in run.tables["outcomes"].to_pylist() if o["kind"] == "rejected"}
    assert len(wanted) == s["orders"]
    assert wanted <= decided | rejected
    assert len(decided) == s["orders_accepted"] + s["orders_rejected_risk"]


def test_every_fill_is_reflected_in_positions(run: Run) -> None:
    s = run.summary
    fills = run.tables["fills"].to_pylist()
    assert len(fills) == s["fills"] == s["order_flow"]["fills"] >= 5
    assert sum(f["quantity"] for f in fills) == s["filled_shares"]
    held: Counter[tuple[int, str]] = Counter()
    for f in fills:
        held[f["account"], f["symbol"]] += f["quantity"] if f["side"] == "buy" else -f["quantity"]
    positions = {(p["account"], p["symbol"]): p["shares"] for p in s["positions"]}
    assert {k: v for k, v in held.items() if v} == {k: v for k, v in positions.items() if v}
    # the end-of-day snapshot in the archive says the same
    snapshot = {(p["account"], p["symbol"]): p["position"]
                for p in run.tables["positions"].to_pylist()}
    assert {k: v for k, v in snapshot.items() if v} == {k: v for k, v in held.items() if v}


def test_a_halt_mid_run_leaves_no_accepted_order_after_it(run: Run) -> None:
    at_halt, final = run.at_halt, run.final
    assert at_halt["code"] == 0 and at_halt["health"][0] == 200
    # the halt from another client stopped new orders at once; the risk pipeline saw it too
    assert final == {k: at_halt[k] for k in final}
    decisions = run.tables["decisions"]
    stamps = decisions.column("timestamp_ns").cast("int64").to_pylist()
    accepted = decisions.column("accepted").to_pylist()
    assert len(stamps) > 0
    assert [t for t, ok in zip(stamps, accepted, strict=True)
            if ok and t > at_halt["time_ns"]] == []
    assert run.summary["halts"] == [1]  # SCOPE_GLOBAL: the kill switch is on
    assert 'nanogate_stage_latency_us{quantile="0.5",stage="tick_to_trade"}' \
        in at_halt["metrics"]
    assert {e.type for e in run.events} == {"fill", "halt"}


def test_the_report_directory(run: Run) -> None:
    summary = json.loads((run.report / "summary.json").read_text())
    for key in ("messages", "messages_lost", "gaps_recovered", "orders", "orders_rejected",
                "fills", "tick_to_trade_p99_us"):
        assert isinstance(summary[key], int | float), key
    assert summary["tick_to_trade_p99_us"] > 0
    assert summary["messages"] == run.summary["messages"]
    assert set(summary["pnl"]) == {"mean-reversion-aapl", "mm-aapl", "momentum-msft"}
    assert set(run.written) == {"summary", "latency_histogram", "throughput", "depth"}
    assert summary["report"] == {k: p.name for k, p in run.written.items() if k != "summary"}
    assert run.written["depth"].name == f"depth-{summary['depth_symbol']}.png"
    for kind in ("latency_histogram", "throughput", "depth"):
        data = run.written[kind].read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, kind
    assert len(run.summary["latency_us"]) == 5  # every stage drawn from its histogram


def test_the_day_is_archived_and_the_compliance_report_passes(run: Run) -> None:
    summary, workdir = run.summary, run.config.workdir
    assert workdir is not None
    tables = run.tables
    assert tables["orders"].num_rows >= summary["orders"]
    assert tables["decisions"].num_rows > 0 and tables["positions"].num_rows > 0
    result = compliance(date.today(), workdir / "archive", workdir / "control.db",
                        run.report)
    assert result.code == 0, result.message
    text = result.path.read_text() if result.path else ""
    assert "drill" in text and "PASSED" in text


def test_the_dashboard_last_frame_shows_the_end(run: Run) -> None:
    assert len(run.frames) >= 2
    last = run.frames[-1]
    assert "ENDED" in last and "ENDED" not in run.frames[0]
    assert f"{run.summary['orders']:,} sent" in last
    assert f"{run.summary['fills']:,} fills" in last
    assert "tick_to_trade" in last and "mm-aapl" in last and "[HALTED]" in last
    json.dumps(run.summary)  # the --json output is plain JSON


def test_an_unknown_depth_symbol_is_refused_before_anything_starts(tmp_path: Path) -> None:
    config = LiveConfig(duration_s=1.0, rate=1_000, instruments=2, seed=3,
                        workdir=tmp_path / "run", depth_symbol="NOPE")
    session = LiveSession(config, say=lambda _: None)
    try:
        with pytest.raises(ValueError, match=r"depth_symbol 'NOPE' is not in the session "
                                             r"\(its symbols: AAPL, MSFT\)"):
            session.start()
    finally:
        session.close()
