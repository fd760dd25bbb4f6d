"""Stage latencies, alerts with a rate limit, /metrics and /health over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from nanogate.gateway.telemetry import Alert, Telemetry, TelemetryServer, Watchdog


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_percentiles_per_stage() -> None:
    t = Telemetry()
    for ns in range(1_000, 101_000, 1_000):  # 1 us .. 100 us
        t.record("risk", ns)
    p = t.percentiles_us("risk")
    assert p["count"] == 100
    assert p["p50"] == pytest.approx(50, rel=0.01)
    assert p["p99"] == pytest.approx(99, rel=0.01)
    assert t.percentiles_us("tick_to_trade")["count"] == 0
    with pytest.raises(KeyError):
        t.record("nonsense", 1)


def test_alerts_are_rate_limited_and_counted() -> None:
    t = Telemetry(alert_interval_s=3600)
    seen: list[Alert] = []
    t.alert_sinks.append(seen.append)
    for index in range(5):
        t.alert("execution_latency", f"ack after {index} ms")
    t.alert("feed_gap", "line A lost 3 messages")
    assert [a.kind for a in seen] == ["execution_latency", "feed_gap"]
    assert t.alert_counts["execution_latency"] == 5
    with pytest.raises(ValueError, match="unknown alert kind"):
        t.alert("gremlins", "?")
    t2 = Telemetry(alert_interval_s=0)
    t2.alert_sinks.append(seen.append)
    t2.alert("stale_line", "line B silent for 2 s")
    t2.alert("stale_line", "line B silent for 3 s")
    assert [a.message for a in seen[-2:]] == ["line B silent for 2 s", "line B silent for 3 s"]


def test_metrics_and_health_over_http() -> None:
    t = Telemetry()
    t.record("tick_to_trade", 25_000)
    t.counters["router"] = lambda: {"orders_sent": 7, "rejects_risk": 2}
    t.gauges["position_shares"] = lambda: {(("account", "7"), ("symbol", "AAPL")): -300.0}
    problem: list[str] = []
    t.health_checks["venue"] = lambda: problem[0] if problem else None
    server = TelemetryServer(t)
    try:
        status, text = _get(server.port, "/metrics")
        assert status == 200
        assert 'nanogate_stage_latency_us{quantile="0.5",stage="tick_to_trade"} 25' in text
        assert "nanogate_router_orders_sent_total 7.0" in text
        assert 'nanogate_position_shares{account="7",symbol="AAPL"} -300.0' in text
        assert _get(server.port, "/health") == (200, json.dumps({"status": "ok",
                                                                  "problems": {}}))
        problem.append("session down since 12:00:01")
        status, body = _get(server.port, "/health")
        assert status == 503
        assert json.loads(body)["problems"] == {"venue": "session down since 12:00:01"}
        assert _get(server.port, "/nothing")[0] == 404
    finally:
        server.close()


def test_watchdog_raises_each_alert_when_its_condition_starts() -> None:
    t = Telemetry(alert_interval_s=0)
    seen: list[Alert] = []
    t.alert_sinks.append(seen.append)
    dog = Watchdog(t, stale_after_s=1.0)
    dog.watch_acks([200_000, 900_000, 1_000_000])  # none over 1 ms
    dog.watch_acks([300_000, 2_500_000, 1_200_000])
    s = 1_000_000_000
    dog.watch_lines({"A": 10, "B": 10}, 0)
    dog.watch_lines({"A": 20, "B": 10}, s // 2)
    dog.watch_lines({"A": 30, "B": 10}, s)  # B silent 1 s while A moves: stale
    dog.watch_lines({"A": 40, "B": 10}, 2 * s)  # still stale: no second alert
    dog.watch_lines({"A": 50, "B": 40}, 3 * s)  # both move again
    dog.watch_lines({"A": 50, "B": 40}, 9 * s)  # both silent (end of session): no alert
    dog.watch_sessions({"NG0007": "live", "NG0008": "live"})
    dog.watch_sessions({"NG0007": "disconnected", "NG0008": "live"})
    dog.watch_sessions({"NG0007": "recovering", "NG0008": "live"})  # still down: no repeat
    dog.watch_sessions({"NG0007": "live", "NG0008": "live"})
    dog.watch_sessions({"NG0007": "disconnected", "NG0008": "live"})  # down again
    assert [(a.kind, a.message) for a in seen] == [
        ("execution_latency", "2 order(s) acknowledged after more than 1 ms (worst 2.50 ms)"),
        ("stale_line", "line B silent for 1.0 s while line(s) A receive"),
        ("venue_disconnect", "venue session NG0007 is disconnected"),
        ("venue_disconnect", "venue session NG0007 is disconnected"),
    ]
