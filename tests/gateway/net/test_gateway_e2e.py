"""The gateway end to end on loopback multicast: publisher, rewinder, receive process, worker."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from pathlib import Path

import pytest

from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.arbiter import ArbiterConfig, EndOfSession, GapLost, State
from nanogate.gateway.net.runner import AppliedBatch, Gateway, GatewayConfig
from nanogate.sim.publisher import packets, store_from_file
from nanogate.sim.rewinder import Rewinder
from nanogate.sim.synth import write_synthetic

from .helpers import PublisherThread, decode_lines

MS = 1_000_000


@pytest.fixture(scope="module")
def session_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("feed") / "session.itch"
    write_synthetic(path, 20_000, 8, 5)
    return path


def fast_recovery(**kw: int) -> ArbiterConfig:
    base = {"gap_wait_ns": 2 * MS, "request_timeout_ns": 30 * MS, "max_retries": 3}
    base.update(kw)
    return ArbiterConfig(**base)  # type: ignore[arg-type]


def test_loss_dup_reorder_on_both_lines_dump_equals_feed_decode(
        session_file: Path, lines: tuple[Endpoint, Endpoint], tmp_path: Path) -> None:
    store = store_from_file(session_file)
    dump = tmp_path / "out.jsonl"
    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address, dump=dump,
                               exit_on_end_of_session=True, max_seconds=30, metrics_port=0,
                               arbiter=fast_recovery())
        with Gateway(config) as gateway:
            publisher = PublisherThread(store, lines, loss=0.05, dup=0.05, reorder=0.05)
            publisher.start()
            gateway.run()
            publisher.join(timeout=10)
            counters = gateway.counters()
            url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
            metrics = urllib.request.urlopen(url, timeout=5).read().decode()
    assert gateway.arbiter.state is State.ENDED
    assert dump.read_text().splitlines() == decode_lines(session_file)
    assert counters["lost"] == 0 and counters["messages"] == 20_000
    assert counters["duplicates"] > 0
    assert counters["events"] == 20_000 and counters["device_gaps"] == 0
    assert "nanogate_gateway_messages_total 20000.0" in metrics
    assert 'nanogate_gateway_latency_us{quantile="0.99"}' in metrics
    assert isinstance(gateway.events_log[-1], EndOfSession)


def test_both_lines_lose_everything_in_a_range_rewinder_fills(
        session_file: Path, lines: tuple[Endpoint, Endpoint]) -> None:
    store = store_from_file(session_file)
    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address,
                               exit_on_end_of_session=True, max_seconds=30,
                               arbiter=fast_recovery())
        with Gateway(config) as gateway:
            # loss 0.5 on both lines with one seed: many packets lost on A and B alike
            publisher = PublisherThread(store, lines, loss=0.5, rate=300_000, seed=9)
            publisher.start()
            gateway.run()
            publisher.join(timeout=10)
    stats = gateway.arbiter.stats
    assert stats.lost == 0 and stats.messages == 20_000
    assert stats.recovered > 0 and stats.requests > 0


def test_rewinder_down_reports_gap_without_hanging(
        session_file: Path, lines: tuple[Endpoint, Endpoint]) -> None:
    store = store_from_file(session_file)
    with Rewinder(store, Endpoint("127.0.0.1", 0), enabled=False) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address,
                               exit_on_end_of_session=True, max_seconds=30, metrics_port=0,
                               arbiter=fast_recovery(max_retries=2))
        with Gateway(config) as gateway:
            publisher = PublisherThread(store, lines, loss=0.3, seed=4)
            publisher.start()
            gateway.run()
            publisher.join(timeout=10)
            counters = gateway.counters()
            url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
            metrics = urllib.request.urlopen(url, timeout=5).read().decode()
    assert gateway.arbiter.state is State.ENDED
    # the loss is on /metrics too, as an operator's alert would read it
    assert f"nanogate_gateway_gap_events_total {counters['gap_events']}.0" in metrics
    assert f"nanogate_gateway_lost_total {counters['lost']}.0" in metrics
    assert f"nanogate_gateway_requests_total {counters['requests']}.0" in metrics
    lost = [e for e in gateway.events_log if isinstance(e, GapLost)]
    assert lost and counters["gap_events"] == len(lost)
    assert counters["lost"] == sum(e.count for e in lost)
    assert counters["messages"] + counters["lost"] == 20_000
    assert rewinder.stats.ignored == counters["requests"] > 0
    assert counters["device_gaps"] > 0  # the device saw the jumps too


def test_restart_resumes_from_state_file(
        session_file: Path, lines: tuple[Endpoint, Endpoint], tmp_path: Path) -> None:
    store = store_from_file(session_file)
    dump, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        def config() -> GatewayConfig:
            return GatewayConfig(lines[0], lines[1], rewinder.address, dump=dump,
                                 state_file=state, exit_on_end_of_session=True,
                                 max_seconds=30, arbiter=fast_recovery())

        with Gateway(config()) as first:
            publisher = PublisherThread(store, lines, stop_at=8000, end_session=False)
            publisher.start()
            publisher.join(timeout=10)
            first.run(stop=lambda: first.arbiter.expected >= 6000)
        stopped_at = json.loads(state.read_text())["next_sequence"]
        assert stopped_at >= 6000
        # down while 8000..9999 went out: the restart asks the rewinder from where it stopped
        with Gateway(config()) as second:
            publisher = PublisherThread(store, lines, start_at=10_000)
            publisher.start()
            second.run()
            publisher.join(timeout=10)
        stats = second.arbiter.stats
        assert stats.lost == 0 and stats.recovered >= 10_000 - stopped_at
        assert stats.requests > 0
    assert dump.read_text().splitlines() == decode_lines(session_file)


def test_malformed_datagrams_on_one_line_are_counted_and_replaced(
        session_file: Path, lines: tuple[Endpoint, Endpoint]) -> None:
    from nanogate.gateway.net.sockets import open_sender

    store = store_from_file(session_file)
    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address,
                               exit_on_end_of_session=True, max_seconds=30,
                               arbiter=fast_recovery())
        with Gateway(config) as gateway:
            junk = open_sender()
            good = packets(store)[0][2]
            for payload in (b"", b"tiny", good[:-3], good + b"xx", good[:25]):
                junk.sendto(payload, tuple(lines[0]))
            junk.close()
            publisher = PublisherThread(store, lines)
            publisher.start()
            gateway.run()
            publisher.join(timeout=10)
            counters = gateway.counters()
    assert counters["malformed"] == 5 and counters["lost"] == 0
    assert counters["messages"] == 20_000


def test_ring_full_drops_are_counted_and_recovered(
        session_file: Path, lines: tuple[Endpoint, Endpoint]) -> None:
    store = store_from_file(session_file)
    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address, slots=16,
                               exit_on_end_of_session=True, max_seconds=30,
                               arbiter=fast_recovery(max_request=200))
        with Gateway(config) as gateway:
            publisher = PublisherThread(store, lines, rate=None, linger=20)
            publisher.start()
            time.sleep(0.3)  # the worker looks away while the ring fills
            gateway.run()
            publisher.done.set()
            publisher.join(timeout=10)
            counters = gateway.counters()
    assert counters["ring_drops"] > 0
    assert counters["lost"] == 0 and counters["messages"] == 20_000
    assert counters["recovered"] > 0


def test_session_change_on_the_wire(session_file: Path, lines: tuple[Endpoint, Endpoint],
                                    tmp_path: Path) -> None:
    first = store_from_file(session_file, session="DAY1")
    second = store_from_file(session_file, session="DAY2")
    seen: list[object] = []
    with Rewinder(first, Endpoint("127.0.0.1", 0)) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address, max_seconds=30,
                               arbiter=fast_recovery())
        with Gateway(config) as gateway:
            for store in (first, second):
                publisher = PublisherThread(store, lines, rate=400_000)
                publisher.start()
                publisher.join(timeout=10)
                gateway.run(stop=lambda: gateway.arbiter.state is State.ENDED)
                seen.append(gateway.arbiter.session)
                rewinder.store = second
    stats = gateway.arbiter.stats
    assert seen == ["DAY1", "DAY2"]
    assert stats.sessions == 2 and stats.messages == 40_000 and stats.lost == 0
    assert [type(e).__name__ for e in gateway.events_log] == [
        "EndOfSession", "SessionChange", "EndOfSession"]


def test_inline_receive_with_batch_hook_sees_books_already_applied(
        session_file: Path, lines: tuple[Endpoint, Endpoint], tmp_path: Path) -> None:
    """The worker receiving itself: same exact-once dump; each AppliedBatch comes after
    the books, numbers follow on from the last batch, instruments cover the events."""
    store = store_from_file(session_file)
    dump = tmp_path / "out.jsonl"
    seen: list[tuple[int, int, int, bool]] = []

    def on_batch(batch: AppliedBatch) -> None:
        locates = set(batch.events["stock_locate"].tolist())
        assert locates == set(batch.instruments.tolist())
        done = sum(n for _, _, n, _ in seen) + len(batch.events)
        applied = sum(gateway.books.types.values()) == done  # this batch included
        seen.append((batch.first_sequence, batch.next_sequence, len(batch.events), applied))

    with Rewinder(store, Endpoint("127.0.0.1", 0)) as rewinder:
        config = GatewayConfig(lines[0], lines[1], rewinder.address, dump=dump,
                               exit_on_end_of_session=True, max_seconds=30,
                               arbiter=fast_recovery(), inline_receive=True, spin_us=0)
        with Gateway(config, batch_subscribers=[on_batch]) as gateway:
            publisher = PublisherThread(store, lines, loss=0.1, dup=0.05, reorder=0.05)
            publisher.start()
            gateway.run()
            publisher.join(timeout=10)
            counters = gateway.counters()
    assert gateway.arbiter.state is State.ENDED and counters["lost"] == 0
    assert dump.read_text().splitlines() == decode_lines(session_file)
    assert counters["duplicates"] > 0 and counters["rx_bursts"] > 0
    assert seen[0][0] == 1 and seen[-1][1] == 20_001
    assert all(a[1] == b[0] for a, b in itertools.pairwise(seen))
    assert sum(n for _, _, n, _ in seen) == 20_000 and all(ok for *_, ok in seen)
