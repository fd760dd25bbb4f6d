"""Telemetry of the trading path: per-stage latency histograms, alerts, /metrics and /health.

Stages (nanoseconds, HdrHistogram, 1 ns to 100 s at 3 significant digits):

* ``wire_to_book``: kernel receive timestamp of a packet -> its events applied to the books;
* ``book_to_order``: books applied -> a strategy's order handed to the router;
* ``risk``: the order's pre-trade check on the device;
* ``order_to_ack``: the order written to the venue session -> the venue's Accepted;
* ``tick_to_trade``: kernel receive timestamp of the packet that moved the book -> the
  order written to the venue session.

The hot path records into plain histograms and bumps integers; Prometheus text and the
health verdict are built when scraped. Alerts are raised by the code that sees the
condition (:meth:`Telemetry.alert`) and rate-limited per kind, so a storm of slow
executions is one alert a second, with the count of the ones it stands for.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from nanogate.gateway.net.metrics import Latency

STAGES = ("wire_to_book", "book_to_order", "risk", "order_to_ack", "tick_to_trade")
ALERT_KINDS = ("execution_latency", "feed_gap", "stale_line", "risk_breach",
               "venue_disconnect")
#: An order acknowledged later than this raises an ``execution_latency`` alert.
EXECUTION_ALERT_NS = 1_000_000
_QUANTILES = (50.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True)
class Alert:
    kind: str
    message: str
    timestamp_ns: int
    suppressed: int = 0  # alerts of this kind folded into this one by the rate limit
    detail: dict[str, Any] = field(default_factory=dict)


AlertSink = Callable[[Alert], None]


class Telemetry:
    """Stage latencies, counters and gauges supplied by the parts, alerts, health."""

    def __init__(self, alert_interval_s: float = 1.0) -> None:
        self.stages = {name: Latency() for name in STAGES}
        self.counters: dict[str, Callable[[], dict[str, int]]] = {}
        self.gauges: dict[str, Callable[[], dict[tuple[tuple[str, str], ...], float]]] = {}
        self.health_checks: dict[str, Callable[[], str | None]] = {}
        self.alert_sinks: list[AlertSink] = []
        self.alerts: deque[Alert] = deque(maxlen=200)
        self.alert_counts = dict.fromkeys(ALERT_KINDS, 0)
        self._alert_interval_ns = int(alert_interval_s * 1e9)
        self._last_alert: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- hot path ----------------------------------------------------------------------

    def record(self, stage: str, nanoseconds: int, count: int = 1) -> None:
        self.stages[stage].record(nanoseconds, count)

    def alert(self, kind: str, message: str, detail: dict[str, Any] | None = None) -> None:
        if kind not in self.alert_counts:
            raise ValueError(f"unknown alert kind {kind!r} (known: {', '.join(ALERT_KINDS)})")
        now = time.time_ns()
        with self._lock:
            self.alert_counts[kind] += 1
            last = self._last_alert.get(kind)
            if last is not None and now - last < self._alert_interval_ns:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last_alert[kind] = now
            alert = Alert(kind, message, now, self._suppressed.pop(kind, 0), detail or {})
            self.alerts.append(alert)
            sinks = list(self.alert_sinks)
        for sink in sinks:
            sink(alert)

    # -- reading -------------------------------------------------------------------------

    def percentiles_us(self, stage: str) -> dict[str, float]:
        latency = self.stages[stage]
        return {"count": float(latency.count),
                **{f"p{q:g}": latency.percentile_us(q) for q in _QUANTILES},
                "max": latency.percentile_us(100)}

    def health(self) -> tuple[bool, dict[str, str]]:
        """(healthy, problem by check name); a check returns None when all is well."""
        problems = {}
        for name, check in self.health_checks.items():
            problem = check()
            if problem:
                problems[name] = problem
        return not problems, problems

    def registry(self, prefix: str = "nanogate") -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self, prefix))
        return registry


class _Collector(Collector):
    def __init__(self, telemetry: Telemetry, prefix: str) -> None:
        self._t = telemetry
        self._prefix = prefix

    def collect(self) -> Iterator[Any]:
        p = self._prefix
        stage = GaugeMetricFamily(f"{p}_stage_latency_us", "latency of each stage of the "
                                  "trading path, microseconds", labels=["stage", "quantile"])
        samples = CounterMetricFamily(f"{p}_stage_samples", "latencies recorded per stage",
                                      labels=["stage"])
        for name, latency in self._t.stages.items():
            for q in _QUANTILES:
                stage.add_metric([name, str(q / 100)], latency.percentile_us(q))
            samples.add_metric([name], latency.count)
        yield stage
        yield samples
        alerts = CounterMetricFamily(f"{p}_alerts", "alerts raised, by kind", labels=["kind"])
        for kind, count in self._t.alert_counts.items():
            alerts.add_metric([kind], count)
        yield alerts
        for part, snapshot in sorted(self._t.counters.items()):
            for name, count in sorted(snapshot().items()):
                counter = CounterMetricFamily(f"{p}_{part}_{name}", f"{part} counter {name}")
                counter.add_metric([], count)
                yield counter
        for name, gauge_snapshot in sorted(self._t.gauges.items()):
            rows = gauge_snapshot()
            labels = [key for key, _ in next(iter(rows))] if rows else []
            gauge = GaugeMetricFamily(f"{p}_{name}", name.replace("_", " "), labels=labels)
            for key, value in rows.items():
                gauge.add_metric([v for _, v in key], value)
            yield gauge


class TelemetryServer:
    """``GET /metrics`` (Prometheus text) and ``GET /health`` (JSON; 503 when unhealthy)."""

    def __init__(self, telemetry: Telemetry, port: int = 0, host: str = "127.0.0.1") -> None:
        registry = telemetry.registry()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, status, kind = generate_latest(registry), 200, CONTENT_TYPE_LATEST
                elif path == "/health":
                    healthy, problems = telemetry.health()
                    body = json.dumps({"status": "ok" if healthy else "unhealthy",
                                       "problems": problems}).encode()
                    status, kind = (200 if healthy else 503), "application/json"
                else:
                    body, status, kind = b"not found: try /metrics or /health\n", 404, \
                        "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes are not news

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="telemetry",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Watchdog:
    """Turns what the parts report into alerts: slow executions, stale lines, lost sessions.

    The caller feeds it on its own cadence (the demo: every 50 ms); each ``watch_*``
    compares with what it saw last time, so an alert is raised when a condition starts.
    """

    def __init__(self, telemetry: Telemetry, stale_after_s: float = 1.0,
                 execution_alert_ns: int = EXECUTION_ALERT_NS) -> None:
        self.telemetry = telemetry
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.execution_alert_ns = execution_alert_ns
        self._line_seen: dict[str, tuple[int, int]] = {}  # line -> (packets, when it moved)
        self._stale: set[str] = set()
        self._down: set[str] = set()

    def watch_acks(self, latencies_ns: list[int]) -> None:
        """Venue-ack latencies since the last call: over 1 ms is an alert."""
        slow = [ns for ns in latencies_ns if ns > self.execution_alert_ns]
        if slow:
            self.telemetry.alert("execution_latency",
                                 f"{len(slow)} order(s) acknowledged after more than "
                                 f"{self.execution_alert_ns / 1e6:g} ms (worst "
                                 f"{max(slow) / 1e6:.2f} ms)", {"count": len(slow),
                                                                "worst_ns": max(slow)})

    def watch_lines(self, packets: dict[str, int], now_ns: int) -> None:
        """Packets received so far per line: a line silent while another moves is stale."""
        for line, count in packets.items():
            last = self._line_seen.get(line)
            if last is None or count != last[0]:
                self._line_seen[line] = (count, now_ns)
                self._stale.discard(line)
        live = [line for line, (_, moved) in self._line_seen.items()
                if now_ns - moved < self.stale_after_ns]
        for line, (_, moved) in self._line_seen.items():
            quiet = now_ns - moved
            if live and line not in live and line not in self._stale:
                self._stale.add(line)
                self.telemetry.alert("stale_line", f"line {line} silent for "
                                     f"{quiet / 1e9:.1f} s while line(s) "
                                     f"{', '.join(live)} receive", {"line": line})

    def watch_sessions(self, states: dict[str, str], live: str = "live") -> None:
        """Order-entry session state by name: leaving ``live`` is a venue disconnect."""
        for name, state in states.items():
            if state != live and name not in self._down:
                self._down.add(name)
                self.telemetry.alert("venue_disconnect", f"venue session {name} is {state}",
                                     {"session": name, "state": state})
            elif state == live:
                self._down.discard(name)
