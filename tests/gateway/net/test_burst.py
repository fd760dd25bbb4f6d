"""The arbiter's burst path (what the worker uses) against its one-packet path."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nanogate.gateway.net.arbiter import Arbiter, ArbiterConfig, Delivery, Line, State
from nanogate.gateway.net.framing import check_burst, in_order, sequence_order
from nanogate.gateway.net.metrics import Latency
from nanogate.proto.moldudp64 import decode_packet, encode_packet, packetize

MS = 1_000_000


def messages_of(deliveries: list[Delivery]) -> list[tuple[int, bytes]]:
    """Every delivered message with its sequence number (cuts may differ, messages not)."""
    out: list[tuple[int, bytes]] = []
    for d in deliveries:
        packet = decode_packet(d.payload)
        assert packet.sequence_number == d.sequence and len(packet.messages) == d.count
        out.extend(enumerate(packet.messages, d.sequence))
    return out


def as_burst(datagrams: list[tuple[int, bytes]], first: int = 0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays the ring hands over: one buffer, starts, ends, lines, stamps, faults."""
    lengths = np.array([len(p) for _, p in datagrams], np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    data = np.frombuffer(b"".join(p for _, p in datagrams), np.uint8)
    lines = np.array([line for line, _ in datagrams], np.uint16)
    stamps = np.arange(first, first + len(datagrams), dtype=np.int64)  # arrival index
    return data, starts, ends, lines, stamps, check_burst(data, starts, ends)


def feed(datagrams: list[tuple[int, bytes]], burst: int | None) -> Arbiter:
    arbiter = Arbiter(ArbiterConfig(gap_wait_ns=2 * MS))
    if burst is None:
        for i, (line, payload) in enumerate(datagrams):
            fault = int(check_burst(np.frombuffer(payload, np.uint8), np.array([0]),
                                    np.array([len(payload)]))[0])
            arbiter.on_packet(line, payload, i, 0, fault)
    else:
        for first in range(0, len(datagrams), burst):
            arbiter.on_burst(*as_burst(datagrams[first:first + burst], first), 0)
    arbiter.finish(0)
    return arbiter


def lossy_lines(seed: int) -> list[tuple[int, bytes]]:
    """Two lines with loss, duplicates and reordering, bursts of each line in turn,
    a malformed datagram, heartbeats, a session change and the end of session."""
    rng = random.Random(seed)
    out: list[tuple[int, bytes]] = []
    for session, total in (("S1", 3000), ("S2", 1000)):
        messages = [f"{session}-{k}".encode() * rng.randrange(1, 4) for k in range(total)]
        packets = [p.encode() for p in packetize(session, messages, 1, max_messages=9)]
        for first in range(0, len(packets), 16):
            chunk = packets[first:first + 16]
            for line in (Line.A, Line.B):
                sent = [p for p in chunk if rng.random() > 0.1]
                sent += [p for p in sent if rng.random() < 0.05]
                if len(sent) > 2 and rng.random() < 0.3:
                    i = rng.randrange(len(sent) - 1)
                    sent[i], sent[i + 1] = sent[i + 1], sent[i]
                out.extend((line, p) for p in sent)
            if rng.random() < 0.1:
                out.append((Line.A, chunk[0][:25]))  # truncated
            if rng.random() < 0.1:
                out.append((Line.B, encode_packet(session, 1 + total // 2, [])))  # heartbeat
        out.append((Line.A, encode_packet(session, total + 1, [], end_of_session=True)))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("burst", [1, 7, 64, 512])
def test_burst_path_delivers_exactly_what_the_packet_path_delivers(seed: int,
                                                                   burst: int) -> None:
    datagrams = lossy_lines(seed)
    one, many = feed(datagrams, None), feed(datagrams, burst)
    assert messages_of(many.deliveries) == messages_of(one.deliveries)
    for name in ("messages", "lost", "malformed", "heartbeats", "sessions", "stale_session"):
        assert getattr(many.stats, name) == getattr(one.stats, name), name
    assert sum(many.stats.packets) == sum(one.stats.packets) == len(datagrams)
    assert many.expected == one.expected and many.state is one.state
    assert [type(e) for e in many.events] == [type(e) for e in one.events]


def test_clean_lines_count_exactly_as_one_packet_at_a_time() -> None:
    packets = [p.encode() for p in packetize("S1", [b"x" * 30] * 500, 1, max_messages=5)]
    datagrams = []
    for first in range(0, len(packets), 20):  # line A's burst, then line B's
        datagrams += [(Line.A, p) for p in packets[first:first + 20]]
        datagrams += [(Line.B, p) for p in packets[first:first + 20]]
    one, many = feed(datagrams, None), feed(datagrams, 64)
    assert many.stats == one.stats
    assert [(d.sequence, d.line, d.rx_ns) for d in many.deliveries] == [
        (d.sequence, d.line, d.rx_ns) for d in one.deliveries]
    assert many.stats.won[Line.A] == 100 and many.stats.duplicates[Line.B] == 100


def test_a_burst_is_handled_in_sequence_order_first_arrival_first() -> None:
    arbiter = Arbiter()
    a = [encode_packet("S1", s, [b"m"]) for s in range(1, 7)]
    arbiter.on_packet(Line.A, a[0], 0, 0)  # the session is known from here on
    datagrams = [(Line.A, p) for k, p in enumerate(a) if k not in (0, 2)] + [(Line.B, a[2])]
    arbiter.on_burst(*as_burst(datagrams), 0)
    assert [(d.sequence, d.line) for d in arbiter.deliveries] == [
        (1, Line.A), (2, Line.A), (3, Line.B), (4, Line.A), (5, Line.A), (6, Line.A)]
    assert arbiter.stats.held == 0 and arbiter.stats.gaps == 0
    assert arbiter.state is State.SYNCHRONIZED


def test_framing_kernels_classify_and_order() -> None:
    session = b"S1"
    datagrams = [(0, encode_packet("S1", s, [b"m"] * 2)) for s in (1, 3, 1, 5, 9)]
    data, starts, ends, _, _, faults = as_burst(datagrams)
    kinds = np.zeros(5, np.int8)
    assert in_order(data, starts, ends, faults, session, 1, 0, kinds) == (4, 7)  # 9: a gap
    assert kinds.tolist() == [2, 2, 1, 2, 0]
    order = sequence_order(data, starts, ends, faults, session)
    assert order is not None and order.tolist() == [0, 2, 1, 3, 4]
    assert sequence_order(data, starts, ends, faults, b"S2") is None  # another session
    assert sequence_order(data, starts[:2], ends[:2], faults[:2], session) is None  # in order


def test_batch_latency_recording_equals_one_value_at_a_time() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.integers(-5, 10**11 + 10, 3000),
                             rng.lognormal(11, 2, 3000).astype(np.int64)])
    counts = rng.integers(1, 50, len(values))
    one, many = Latency(), Latency()
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        one.record(value, count)
    many.record_many(values, counts)
    assert many.count == one.count and many.negative == one.negative
    for percent in (0, 1, 50, 90, 99, 99.9, 99.99, 100):
        assert many.percentile_us(percent) == one.percentile_us(percent)


def test_worker_cpu_bench_applies_every_message() -> None:
    from nanogate.gateway.net.bench import worker_cpu

    result = worker_cpu(20_000, books=True)
    assert result["messages"] == 20_000 and result["lost"] == 0 and result["cpu_s"] > 0
