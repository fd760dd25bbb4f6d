"""The arbiter's burst path (what the worker uses) against its one-packet path."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from nanogate.gateway.net.arbiter import Arbiter, ArbiterConfig, Delivery, Line, State
from nanogate.gateway.net.framing import check_burst, in_order, sequence_order
from nanogate.gateway.net.metrics import Latency
from nanogate.gateway.net.ring import DESCRIPTOR, FLAG_TRUNCATED
from nanogate.proto.faults import Fault
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


def lossy_lines(seed: int, loss: float = 0.1) -> list[tuple[int, bytes]]:
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
                sent = [p for p in chunk if rng.random() > loss]
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


# -- the ring fast path (Arbiter.on_slots) against the general burst path ------------------

SLOT = 2048


def as_slots(datagrams: list[tuple[int, bytes]], first: int = 0, offset: int = 3,
             truncated: frozenset[int] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """A pool of SLOT-byte slots and its descriptors, the burst from slot ``offset`` on
    (stamps: arrival index from ``first``; ``truncated``: datagrams flagged MSG_TRUNC)."""
    slots = offset + len(datagrams) + 2
    pool = np.full(slots * SLOT, 0xEE, np.uint8)  # stray bytes around every datagram
    descriptors = np.zeros(slots, DESCRIPTOR)
    for i, (line, payload) in enumerate(datagrams):
        slot = offset + i
        pool[slot * SLOT:slot * SLOT + len(payload)] = np.frombuffer(payload, np.uint8)
        descriptors[slot] = (len(payload), line, FLAG_TRUNCATED if i in truncated else 0,
                             first + i)
    return pool, descriptors


def slots_burst(arbiter: Arbiter, datagrams: list[tuple[int, bytes]], first: int = 0,
                truncated: frozenset[int] = frozenset()) -> bool:
    """What the worker does with a ring burst: the fast path, else the general one.
    Returns whether the fast path took it."""
    offset = 3
    pool, d = as_slots(datagrams, first, offset, truncated)
    n = len(datagrams)
    if arbiter.on_slots(pool, SLOT, offset, n, d["length"], d["flags"], d["line"], d["rx_ns"]):
        return True
    starts = np.arange(offset, offset + n, dtype=np.int64) * SLOT
    ends = starts + d["length"][offset:offset + n]
    faults = check_burst(pool, starts, ends)
    faults[(d["flags"][offset:offset + n] & FLAG_TRUNCATED) != 0] = Fault.TRUNCATED
    arbiter.on_burst(pool, starts, ends, d["line"][offset:offset + n],
                     d["rx_ns"][offset:offset + n], faults, 0)
    return False


def general_burst(arbiter: Arbiter, datagrams: list[tuple[int, bytes]], first: int = 0,
                  truncated: frozenset[int] = frozenset()) -> None:
    data, starts, ends, lines, stamps, faults = as_burst(datagrams, first)
    faults[sorted(truncated)] = Fault.TRUNCATED
    arbiter.on_burst(data, starts, ends, lines, stamps, faults, 0)


def assert_same(fast: Arbiter, general: Arbiter) -> None:
    """Record for record: deliveries (payload, number, count, line, time), every counter,
    the state, the events and the requests."""
    assert fast.deliveries == general.deliveries
    assert fast.stats == general.stats
    assert (fast.expected, fast.high, fast.state, fast.session) == (
        general.expected, general.high, general.state, general.session)
    assert fast.events == general.events and fast.requests == general.requests


@pytest.mark.parametrize("seed, loss", [(1, 0.1), (2, 0.1), (3, 0.02), (4, 0.02), (5, 0.0)])
@pytest.mark.parametrize("burst", [1, 2, 5, 16, 64, 512])
def test_slots_fast_path_equals_the_general_burst_path(seed: int, loss: float,
                                                       burst: int) -> None:
    datagrams = lossy_lines(seed, loss)
    rng = random.Random(seed)
    fast, general = Arbiter(ArbiterConfig(gap_wait_ns=2 * MS)), Arbiter(
        ArbiterConfig(gap_wait_ns=2 * MS))
    taken = declined = 0
    for first in range(0, len(datagrams), burst):
        chunk = datagrams[first:first + burst]
        truncated = frozenset(i for i in range(len(chunk)) if rng.random() < 0.01)
        if slots_burst(fast, chunk, first, truncated):
            taken += 1
        else:
            declined += 1
        general_burst(general, chunk, first, truncated)
        assert_same(fast, general)
    fast.finish(0)
    general.finish(0)
    assert_same(fast, general)
    assert declined and (taken or loss == 0.1 or burst == 512)  # both ways were exercised


def test_slots_fast_path_on_clean_lines_takes_every_burst_after_the_first() -> None:
    packets = [p.encode() for p in packetize("S1", [b"x" * 30] * 500, 1, max_messages=5)]
    fast, general = Arbiter(), Arbiter()
    taken = []
    for first in range(0, len(packets), 20):  # line A's burst, then line B's, as recvmmsg
        chunk = [(Line.A, p) for p in packets[first:first + 20]]
        chunk += [(Line.B, p) for p in packets[first:first + 20]]
        taken.append(slots_burst(fast, chunk, first))
        general_burst(general, chunk, first)
        assert_same(fast, general)
    assert taken[0] is False and all(taken[1:])  # the first burst adopts the session
    assert fast.stats.won[Line.A] == 100 and fast.stats.duplicates[Line.B] == 100


def _synchronized(expected: int = 3) -> Arbiter:
    arbiter = Arbiter()
    for sequence in range(1, expected):
        arbiter.on_packet(Line.A, encode_packet("S1", sequence, [b"m"]), 0, 0)
    assert arbiter.state is State.SYNCHRONIZED and arbiter.expected == expected
    arbiter.take()
    return arbiter


@pytest.mark.parametrize("name, datagrams, truncated", [
    ("gap", [(Line.A, encode_packet("S1", 3, [b"m"])), (Line.A, encode_packet("S1", 5, [b"m"]))],
     ()),
    ("overlap", [(Line.A, encode_packet("S1", 2, [b"m", b"n"]))], ()),
    ("heartbeat", [(Line.A, encode_packet("S1", 3, [b"m"])), (Line.B, encode_packet("S1", 4, []))],
     ()),
    ("end of session", [(Line.A, encode_packet("S1", 3, [], end_of_session=True))], ()),
    ("another session", [(Line.A, encode_packet("S2", 1, [b"m"]))], ()),
    ("trailing bytes", [(Line.A, encode_packet("S1", 3, [b"m"]) + b"x")], ()),
    ("short", [(Line.A, encode_packet("S1", 3, [b"m"])), (Line.B, b"S1")], ()),
    ("truncated", [(Line.A, encode_packet("S1", 3, [b"m"])), (Line.B, encode_packet("S1", 3,
                                                                               [b"m"]))], (1,)),
])
def test_slots_fast_path_declines_what_needs_the_arbiter(
        name: str, datagrams: list[tuple[int, bytes]], truncated: tuple[int, ...]) -> None:
    fast, general = _synchronized(), _synchronized()
    before = copy.deepcopy(fast.stats)
    pool, d = as_slots(datagrams, truncated=frozenset(truncated))
    assert not fast.on_slots(pool, SLOT, 3, len(datagrams), d["length"], d["flags"], d["line"],
                             d["rx_ns"]), name
    assert fast.stats == before and fast.expected == 3 and not fast.deliveries  # untouched
    slots_burst(fast, datagrams, truncated=frozenset(truncated))
    general_burst(general, datagrams, truncated=frozenset(truncated))
    assert_same(fast, general)


def test_slots_fast_path_declines_unless_in_order() -> None:
    arbiter = Arbiter()  # IDLE: no session yet
    datagrams = [(Line.A, encode_packet("S1", 1, [b"m"]))]
    pool, d = as_slots(datagrams)
    args = (pool, SLOT, 3, 1, d["length"], d["flags"], d["line"], d["rx_ns"])
    assert not arbiter.on_slots(*args)
    arbiter.on_packet(Line.A, encode_packet("S1", 3, [b"m"]), 0, 0)  # a gap: 1 and 2 held back
    assert arbiter.state is not State.SYNCHRONIZED and not arbiter.on_slots(*args)


def test_slots_fast_path_orders_by_sequence_first_arrival_first() -> None:
    a = [encode_packet("S1", s, [b"m"] * 2) for s in range(3, 15, 2)]  # 3, 5, ... 13
    datagrams = [(Line.A, p) for k, p in enumerate(a) if k != 2] + [(Line.B, a[2]),
                                                                    (Line.B, a[0])]
    fast, general = _synchronized(), _synchronized()
    assert slots_burst(fast, datagrams, 100)
    general_burst(general, datagrams, 100)
    assert_same(fast, general)
    assert [(d.sequence, d.line, d.rx_ns) for d in fast.deliveries] == [
        (3, Line.A, 100), (5, Line.A, 101), (7, Line.B, 105), (9, Line.A, 102),
        (11, Line.A, 103), (13, Line.A, 104)]
    assert fast.stats.duplicates[Line.B] == 1 and fast.expected == 15
