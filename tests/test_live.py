"""The live session `nanogate demo` runs, end to end on loopback: trade, halt, report."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from nanogate.control import ngctl
from nanogate.control.archive import read_day
from nanogate.control.report import compliance
from nanogate.dashboard import render
from nanogate.live import LiveConfig, LiveSession

pytestmark = pytest.mark.slow


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


def test_a_session_trades_halts_on_ngctl_and_reports(tmp_path: Path) -> None:
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
        at_halt["orders"] = session.engine.counters["orders"]
        at_halt["router_sent"] = session.router.counters["sent"]

    thread = threading.Thread(target=operator)
    try:
        thread.start()
        summary = session.run(lambda s: frames.append(render(s)), interval_s=0.5)
        thread.join(timeout=30)
        final_orders = session.engine.counters["orders"]
        final_sent = session.router.counters["sent"]
        events = session.control_store.events(types=["fill", "halt"])
    finally:
        session.close()

    feed = summary["feed"]
    assert feed["messages"] == feed["published"] > 50_000  # 5% loss a line, nothing lost
    assert feed["gaps_lost"] == 0
    assert summary["orders"]["sent"] > 0 and summary["orders"]["fills"] >= 5
    assert summary["latency_us"]["tick_to_trade"]["count"] > 0
    assert summary["latency_us"]["risk"]["count"] > 0

    # the halt from another client stopped new orders at once; the risk pipeline saw it too
    assert at_halt["code"] == 0 and at_halt["health"][0] == 200
    assert final_orders == at_halt["orders"] and final_sent == at_halt["router_sent"]
    assert summary["halts"] == [1]  # SCOPE_GLOBAL: the kill switch is on
    assert 'nanogate_stage_latency_us{quantile="0.5",stage="tick_to_trade"}' \
        in at_halt["metrics"]
    kinds = {e.type for e in events}
    assert kinds == {"fill", "halt"}

    # the day's records and the compliance report
    tables = read_day(config.workdir / "archive", date.today())  # type: ignore[operator]
    assert tables["orders"].num_rows >= summary["orders"]["sent"]
    assert tables["fills"].num_rows == summary["orders"]["fills"]
    assert tables["decisions"].num_rows > 0 and tables["positions"].num_rows > 0
    out = tmp_path / "report"
    result = compliance(date.today(), config.workdir / "archive",  # type: ignore[operator]
                        config.workdir / "control.db", out)  # type: ignore[operator]
    assert result.code == 0, result.message
    text = result.path.read_text() if result.path else ""
    assert "drill" in text and "PASSED" in text

    # the dashboard drew what the summary says
    assert frames and "tick_to_trade" in frames[-1] and "mm-aapl" in frames[-1]
    json.dumps(summary)  # the --json output is plain JSON
