"""Gateway metrics: counters, an HdrHistogram of kernel-receive -> book latency, Prometheus.

The hot path only bumps plain integers and records into the histogram; the
Prometheus exposition is built at scrape time by a custom collector over a
snapshot function, so no client-library lock sits on the data path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

_QUANTILES = (0.5, 0.9, 0.99, 0.999)


class Latency:
    """Nanosecond latencies, 1 ns to 100 s at 3 significant digits."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(1, 100_000_000_000, 3)
        self.negative = 0  # clock steps between the kernel stamp and now

    def record(self, nanoseconds: int, count: int = 1) -> None:
        if nanoseconds < 1:
            self.negative += count
            nanoseconds = 1
        self.histogram.record_value(min(nanoseconds, 100_000_000_000), count)

    def record_many(self, nanoseconds: np.ndarray, counts: np.ndarray) -> None:
        """Record a batch (one call per applied batch, not per packet).

        Values are first rounded down to the histogram's own resolution
        (3 significant digits: 2048 sub-buckets, so the low
        ``bit_length - 11`` bits do not count) and equal ones merged, so
        a batch costs one HdrHistogram call per distinct bucket; the
        percentiles are exactly those of recording every value.
        """
        values = nanoseconds.astype(np.int64, copy=False)
        weights = counts.astype(np.int64, copy=False)
        low = values < 1
        if low.any():
            self.negative += int(weights[low].sum())
            values = np.where(low, 1, values)
        values = np.minimum(values, 100_000_000_000)
        if len(values) > 8:
            shift = np.maximum(_bit_length(values) - 11, 0)
            values = (values >> shift) << shift
            values, where = np.unique(values, return_inverse=True)
            weights = np.bincount(where, weights, len(values)).astype(np.int64)
        record = self.histogram.record_value
        for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
            record(value, weight)

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count())

    def percentile_us(self, percent: float) -> float:
        if not self.count:
            return 0.0
        return float(self.histogram.get_value_at_percentile(percent)) / 1000.0

    def summary_us(self) -> dict[str, float]:
        return {"p50_us": self.percentile_us(50), "p99_us": self.percentile_us(99),
                "p999_us": self.percentile_us(99.9), "max_us": self.percentile_us(100)}

    def reset(self) -> None:
        self.histogram.reset()


def _bit_length(values: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of each positive int64 (exact: float64 log2 is off near 2**k)."""
    lengths = np.zeros(values.shape, np.int64)
    rest = values.copy()
    for step in (32, 16, 8, 4, 2, 1):
        big = rest >= (1 << step)
        lengths += np.where(big, step, 0)
        rest = np.where(big, rest >> step, rest)
    return lengths + (rest > 0)


Snapshot = Callable[[], dict[str, int]]


class _Collector(Collector):
    def __init__(self, counters: Snapshot, latency: Latency, prefix: str) -> None:
        self._counters = counters
        self._latency = latency
        self._prefix = prefix

    def collect(self) -> Iterator[Any]:
        for name, value in sorted(self._counters().items()):
            family = CounterMetricFamily(f"{self._prefix}_{name}", f"gateway counter {name}")
            family.add_metric([], value)
            yield family
        gauge = GaugeMetricFamily(f"{self._prefix}_latency_us",
                                  "kernel receive timestamp to book applied, microseconds",
                                  labels=["quantile"])
        for q in _QUANTILES:
            gauge.add_metric([str(q)], self._latency.percentile_us(q * 100))
        yield gauge
        count = CounterMetricFamily(f"{self._prefix}_latency_samples",
                                    "messages measured for latency")
        count.add_metric([], self._latency.count)
        yield count


def registry_for(counters: Snapshot, latency: Latency,
                 prefix: str = "nanogate_gateway") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(counters, latency, prefix))
    return registry


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (port 0: any free one) from a daemon thread."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
        from prometheus_client.exposition import start_http_server

        self._server, self._thread = start_http_server(port, host, registry)
        self.port = int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if isinstance(self._thread, threading.Thread):
            self._thread.join(timeout=5)
