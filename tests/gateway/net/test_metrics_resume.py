"""Metrics exposition, latency percentiles, the resume file, endpoint parsing, recording."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from nanogate.gateway.feed.capture import read_datagrams
from nanogate.gateway.net.addr import Endpoint, parse_endpoint
from nanogate.gateway.net.metrics import Latency, MetricsServer, registry_for
from nanogate.gateway.net.recorder import LineRecorder
from nanogate.gateway.net.resume import ResumeError, ResumeFile, ResumePoint


def test_latency_percentiles_and_clock_steps() -> None:
    latency = Latency()
    for us in range(1, 101):
        latency.record(us * 1000)
    latency.record(-5)  # the clock stepped back: counted, recorded as 1 ns
    assert latency.negative == 1 and latency.count == 101
    summary = latency.summary_us()
    assert 49 <= summary["p50_us"] <= 51 and 98 <= summary["p99_us"] <= 100.1


def test_prometheus_endpoint_serves_counters_and_quantiles() -> None:
    latency = Latency()
    latency.record(42_000, 10)
    server = MetricsServer(registry_for(lambda: {"packets_a": 7, "lost": 0}, latency), 0)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        server.close()
    assert "nanogate_gateway_packets_a_total 7.0" in text
    assert "nanogate_gateway_lost_total 0.0" in text
    assert 'nanogate_gateway_latency_us{quantile="0.5"} 42.' in text


def test_resume_file_round_trip_and_throttle(tmp_path: Path) -> None:
    store = ResumeFile(tmp_path / "state.json", every_ns=1000)
    assert store.load() is None
    store.save(ResumePoint("S1", 10), now_ns=0)
    store.save(ResumePoint("S1", 20), now_ns=500)  # too soon: skipped
    assert ResumeFile(tmp_path / "state.json").load() == ResumePoint("S1", 10)
    store.save(ResumePoint("S1", 20), now_ns=600, force=True)
    assert ResumeFile(tmp_path / "state.json").load() == ResumePoint("S1", 20)


@pytest.mark.parametrize("text", ["", "{}", '{"session": "S", "next_sequence": 0}', "[1]"])
def test_bad_resume_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(ResumeError, match="state"):
        ResumeFile(path).load()


@pytest.mark.parametrize(("text", "message"), [
    ("239.1.1.1", "HOST:PORT"), ("239.1.1.1:x", "not a number"),
    ("host:1", "not an IPv4"), ("1.2.3.4:70000", "outside"), ("1.2.3.4:0", "outside"),
])
def test_bad_endpoints(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_endpoint(text)


def test_endpoint_parse() -> None:
    assert parse_endpoint("239.1.1.1:5001") == Endpoint("239.1.1.1", 5001)
    assert parse_endpoint("127.0.0.1:0", port_zero=True).port == 0
    assert Endpoint("239.1.1.1", 1).is_multicast and not Endpoint("127.0.0.1", 1).is_multicast


def test_recorder_writes_one_pcap_per_line(tmp_path: Path) -> None:
    recorder = LineRecorder(tmp_path, [Endpoint("239.255.1.1", 5001),
                                       Endpoint("239.255.1.2", 5002)], "127.0.0.1")
    recorder.write(0, b"a" * 30, 1_700_000_000_000_000_000)
    recorder.write(1, b"b" * 30, 1_700_000_000_000_000_001)
    recorder.write(2, b"c" * 30, 1_700_000_000_000_000_002)
    recorder.close()
    a, b, r = (list(read_datagrams(p)) for p in recorder.paths())
    assert a[0].payload == b"a" * 30 and a[0].destination == ("239.255.1.1", 5001)
    assert b[0].payload == b"b" * 30 and r[0].payload == b"c" * 30
