"""What the gateway attaches to the control plane: listeners, mass cancel, status, events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nanogate.control.store import NewEvent
from nanogate.proto.controlapi import control_pb2 as pb
from nanogate.proto.risk import Side

Ctl = Any
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


class Router:
    """An order entry that knows two live orders of account 7."""

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, int | None, Side | None, str]] = []

    def cancel_orders(self, account: int | None, locate: int | None, side: Side | None,
                      reason: str) -> list[int]:
        self.calls.append((account, locate, side, reason))
        return [101, 102] if account in (None, 7) else []


def test_listeners_hear_every_trading_state_change(harness: Any, ctl: Ctl) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []
    harness.plane.listeners.append(lambda action, detail: heard.append((action, detail)))
    assert ctl("symbols", "AAPL=1", "MSFT=2")[0] == 0
    assert ctl("apply", "-f", str(EXAMPLES / "mm-aapl.yaml"))[0] == 0
    assert ctl("halt", "--account", "7", "--reason", "drill", "--yes")[0] == 0
    assert ctl("halt", "--account", "7", "--reason", "again", "--yes")[0] == 0  # no change
    assert ctl("resume", "--account", "7")[0] == 0
    assert ctl("reduce-only", "--account", "7", "--reason", "eod")[0] == 0
    assert ctl("delete", "strategy", "mm-aapl", "--yes")[0] == 0
    actions = [action for action, _ in heard]
    assert actions == ["apply_strategy", "halt", "resume", "reduce_only", "delete_strategy"]
    assert heard[0][1]["name"] == "mm-aapl"
    assert heard[0][1]["document"]["spec"]["account"] == 7
    assert heard[1][1] == {"target": "account/7", "account": 7, "stock_locate": None,
                           "reason": "drill"}
    assert heard[3][1] == {"account": 7, "enabled": True}


def test_mass_cancel_reaches_the_order_entry(harness: Any, ctl: Ctl) -> None:
    router = Router()
    harness.plane.order_entry = router
    ctl("symbols", "AAPL=1")
    code, out, _ = ctl("cancel-all", "--account", "7", "--instrument", "AAPL", "--side", "buy",
                       "--reason", "desk", "--yes")
    assert (code, out) == (0, "2 order(s) cancelled\n")
    assert router.calls == [(7, 1, Side.BUY, "desk")]
    assert ctl("cancel-all", "--account", "3", "--yes")[1] == "0 order(s) cancelled\n"
    assert router.calls[-1] == (3, None, None, "mass cancel")
    audit = harness.plane.store.audit(target="orders")
    assert json.loads(audit[0].after) == {"cancelled": [101, 102]}


def test_status_sources_fill_feed_lines_and_latencies(harness: Any, ctl: Ctl) -> None:
    def feed(status: pb.Status) -> None:
        status.feed_lines.add(name="A", packets=1200, gaps=3, messages_per_s=52_000.0)
        status.latencies.add(name="tick_to_trade", count=10, p50_us=12.5, p99_us=40.0,
                             max_us=55.0)

    harness.plane.status_sources.append(feed)
    code, out, _ = ctl("status")
    assert code == 0
    assert "tick_to_trade" in out and "1200" in out.replace(",", "")
    status = harness.plane.status()
    assert [(line.name, line.gaps) for line in status.feed_lines] == [("A", 3)]


def test_published_events_stream_with_filters(harness: Any, ctl: Ctl) -> None:
    harness.plane.publish([NewEvent("gap", "line A: 5 messages recovered", {"first": 10}),
                           NewEvent("fill", "account 7 bought 100 AAPL", {"quantity": 100}),
                           NewEvent("alert", "execution latency 2.1 ms > 1 ms", {})])
    harness.plane.publish([])  # nothing to write is no write
    code, out, _ = ctl("events", "--type", "gap", "--type", "alert", "-o", "json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["type"] for row in rows] == ["gap", "alert"]
    assert all(row["actor"] == "gateway" for row in rows)
