"""The arbiter as pure logic: packets and time in, deliveries, events and requests out."""

from __future__ import annotations

import random

import pytest

from nanogate.gateway.net.arbiter import (
    Arbiter,
    ArbiterConfig,
    EndOfSession,
    GapLost,
    Line,
    SessionChange,
    State,
)
from nanogate.gateway.net.framing import check_payload, trim
from nanogate.proto.faults import Fault
from nanogate.proto.moldudp64 import (
    RetransmitRequest,
    decode_packet,
    encode_packet,
    packetize,
)

MS = 1_000_000


def msgs(first: int, n: int) -> list[bytes]:
    return [f"m{seq}".encode() for seq in range(first, first + n)]


def pkt(seq: int, n: int, session: str = "S1") -> bytes:
    return encode_packet(session, seq, msgs(seq, n))


def delivered(arbiter: Arbiter) -> list[bytes]:
    out: list[bytes] = []
    for d in arbiter.take()[0]:
        packet = decode_packet(d.payload)
        assert packet.sequence_number == d.sequence and len(packet.messages) == d.count
        out += packet.messages
    return out


def state(arbiter: Arbiter) -> State:
    """The state, read through a call (mypy narrows attribute reads across calls)."""
    return arbiter.state


def config(**kw: int) -> ArbiterConfig:
    return ArbiterConfig(**kw)  # type: ignore[arg-type]


def test_in_order_single_line() -> None:
    arb = Arbiter()
    for seq in (1, 4, 7):
        arb.on_packet(Line.A, pkt(seq, 3), 0, 0)
    assert delivered(arb) == msgs(1, 9)
    assert arb.state is State.SYNCHRONIZED and arb.expected == 10


def test_first_copy_wins_and_later_copies_are_counted() -> None:
    arb = Arbiter()
    arb.on_packet(Line.A, pkt(1, 3), 0, 0)
    arb.on_packet(Line.B, pkt(1, 3), 0, 0)
    arb.on_packet(Line.B, pkt(4, 3), 0, 0)
    arb.on_packet(Line.A, pkt(4, 3), 0, 0)
    assert delivered(arb) == msgs(1, 6)
    assert arb.stats.duplicates == [1, 1, 0]
    assert arb.stats.won == [1, 1, 0]


def test_gap_filled_by_other_line_sends_no_request() -> None:
    arb = Arbiter(config(gap_wait_ns=2 * MS))
    arb.on_packet(Line.A, pkt(1, 2), 0, 0)
    arb.on_packet(Line.A, pkt(5, 2), 0, 1 * MS)  # 3..4 lost on A: held
    arb.poll(2 * MS)
    assert arb.state is State.GAP_FILL and arb.gap == (3, 5)
    arb.on_packet(Line.B, pkt(3, 2), 0, 2 * MS)
    assert delivered(arb) == msgs(1, 6)
    assert arb.take()[2] == [] and arb.stats.requests == 0
    assert state(arb) is State.SYNCHRONIZED and arb.stats.held == 1


def test_both_lines_lose_then_rewinder_fills() -> None:
    arb = Arbiter(config(gap_wait_ns=2 * MS, max_request=10))
    arb.on_packet(Line.A, pkt(1, 2), 0, 0)
    for line in (Line.A, Line.B):
        arb.on_packet(line, pkt(20, 2), 0, MS)
    arb.poll(2 * MS)
    assert arb.take()[2] == []  # still waiting for the other line
    arb.poll(3 * MS)
    _, _, requests = arb.take()
    assert requests == [RetransmitRequest("S1", 3, 10)]  # capped at max_request
    for p in packetize("S1", msgs(3, 10), 3, max_payload=60):
        arb.on_packet(Line.RECOVERY, p.encode(), 0, 4 * MS)
    arb.poll(4 * MS)  # the rest of the gap is asked for at once
    assert arb.take()[2] == [RetransmitRequest("S1", 13, 7)]
    arb.on_packet(Line.RECOVERY, pkt(13, 7), 0, 5 * MS)
    assert arb.expected == 22 and arb.state is State.SYNCHRONIZED
    assert arb.stats.recovered == 17 and arb.stats.lost == 0


def test_rewinder_down_bounded_retries_then_gap_lost() -> None:
    arb = Arbiter(config(gap_wait_ns=MS, request_timeout_ns=10 * MS, max_retries=2))
    arb.on_packet(Line.A, pkt(1, 2), 0, 0)
    arb.on_packet(Line.A, pkt(10, 2), 0, 0)
    now = 0
    while arb.state is not State.SYNCHRONIZED and now < 1000 * MS:
        now += MS
        arb.poll(now)
    deliveries, events, requests = arb.take()
    assert len(requests) == 3 and arb.stats.retries == 2
    assert events == [GapLost("S1", 3, 7)]
    assert arb.stats.lost == 7 and arb.expected == 12
    assert [d.sequence for d in deliveries] == [1, 10]
    assert now < 100 * MS


def test_finish_gives_up_every_gap_and_delivers_what_is_held_behind_them() -> None:
    arb = Arbiter()
    for seq in (1, 5, 7, 12, 14):  # 3..4 and 9..11 missing on the only line
        arb.on_packet(Line.A, pkt(seq, 2), 0, 0)
    assert [d.sequence for d in arb.take()[0]] == [1]
    arb.finish(0)
    deliveries, events, _ = arb.take()
    assert [d.sequence for d in deliveries] == [5, 7, 12, 14]
    assert events == [GapLost("S1", 3, 2), GapLost("S1", 9, 3)]
    assert arb.stats.lost == 5 and arb.expected == 16 and not arb.gap
    assert arb.stats.messages + arb.stats.lost == 15


def test_reordered_packets_are_held_and_released_in_order() -> None:
    rng = random.Random(3)
    packets = [pkt(seq, 1) for seq in range(1, 201)]
    shuffled = packets[:]
    rng.shuffle(shuffled)
    arb = Arbiter(config(gap_wait_ns=10**12))
    for p in shuffled:
        arb.on_packet(Line.A, p, 0, 0)
    assert delivered(arb) == msgs(1, 200)


def test_random_loss_dup_reorder_on_both_lines_delivers_each_message_once() -> None:
    rng = random.Random(11)
    packets = [p.encode() for p in packetize("S1", msgs(1, 3000), 1, max_payload=80)]
    arrivals: list[tuple[int, bytes]] = []
    for line in (Line.A, Line.B):
        for index, p in enumerate(packets):
            if rng.random() < 0.1:
                continue
            copies = 2 if rng.random() < 0.05 else 1
            arrivals += [(line, p)] * copies
            if rng.random() < 0.05 and index:
                arrivals[-1], arrivals[-2] = arrivals[-2], arrivals[-1]
    arb = Arbiter(config(gap_wait_ns=MS))
    out: list[bytes] = []
    now = 0
    for arrival_line, p in arrivals:
        now += 10_000
        arb.on_packet(arrival_line, p, now, now)
        arb.poll(now)
        out += delivered(arb)
    # the rewinder answers whatever is asked
    for _ in range(100):
        now += 5 * MS
        arb.poll(now)
        _, _, requests = arb.take()
        for r in requests:
            arb.on_packet(Line.RECOVERY, pkt(r.sequence_number, r.count), now, now)
        out += delivered(arb)
    assert out == msgs(1, 3000)
    assert arb.stats.lost == 0


def test_partial_overlap_is_trimmed() -> None:
    arb = Arbiter()
    arb.on_packet(Line.A, pkt(1, 5), 0, 0)
    arb.on_packet(Line.RECOVERY, pkt(3, 6), 0, 0)
    assert delivered(arb) == msgs(1, 8)
    assert trim(pkt(3, 6), 2) == pkt(5, 4)


def test_session_change_and_stale_packets() -> None:
    arb = Arbiter()
    arb.on_packet(Line.A, pkt(1, 3, "OLD"), 0, 0)
    arb.on_packet(Line.A, pkt(1, 2, "NEW"), 0, 0)
    arb.on_packet(Line.B, pkt(4, 3, "OLD"), 0, 0)  # the slow line still on the old one
    assert arb.events == [SessionChange("OLD", "NEW")]
    assert delivered(arb) == msgs(1, 3) + msgs(1, 2)
    assert arb.stats.stale_session == 1 and arb.session == "NEW"


def test_end_of_session_after_last_message() -> None:
    arb = Arbiter()
    arb.on_packet(Line.A, pkt(1, 3), 0, 0)
    arb.on_packet(Line.A, encode_packet("S1", 6, end_of_session=True), 0, 0)
    assert arb.state is State.GAP_FILL  # 4..5 still missing
    arb.on_packet(Line.B, pkt(4, 2), 0, 0)
    _, events, _ = arb.take()
    assert events == [EndOfSession("S1", 6)] and state(arb) is State.ENDED


def test_heartbeat_reveals_tail_gap() -> None:
    arb = Arbiter(config(gap_wait_ns=0))
    arb.on_packet(Line.A, pkt(1, 3), 0, 0)
    arb.on_packet(Line.A, encode_packet("S1", 8), 0, 0)
    arb.poll(1)
    assert arb.take()[2] == [RetransmitRequest("S1", 4, 4)]
    assert arb.stats.heartbeats == 1


def test_backfill_requests_at_once() -> None:
    arb = Arbiter(config(gap_wait_ns=10 * MS))
    arb.on_packet(Line.A, pkt(50, 2), 0, 0)
    assert arb.state is State.BACKFILL
    assert arb.take()[2] == [RetransmitRequest("S1", 1, 49)]


def test_resume_from_stored_sequence() -> None:
    arb = Arbiter(ArbiterConfig(start_sequence=10, session="S1", gap_wait_ns=10 * MS))
    arb.on_packet(Line.A, pkt(1, 5), 0, 0)  # before the resume point: duplicate
    arb.on_packet(Line.A, pkt(12, 2), 0, 0)
    assert arb.stats.duplicates[Line.A] == 1
    assert arb.take()[2] == [RetransmitRequest("S1", 10, 2)]
    arb.on_packet(Line.RECOVERY, pkt(10, 2), 0, 0)
    assert delivered(arb) == msgs(10, 4)


def test_malformed_and_truncated_are_dropped_and_counted() -> None:
    arb = Arbiter()
    good = pkt(1, 3)
    cut = good[:-2]
    assert check_payload(cut) is Fault.TRUNCATED
    assert check_payload(good + b"x") is Fault.TRAILING_BYTES
    assert check_payload(b"short") is Fault.SHORT_PACKET
    assert check_payload(good) is None
    arb.on_packet(Line.A, cut, 0, 0, check_payload(cut))
    arb.on_packet(Line.A, b"short", 0, 0)
    arb.on_packet(Line.B, good, 0, 0, check_payload(good))
    assert delivered(arb) == msgs(1, 3) and arb.stats.malformed == 2


def test_unbelievable_jump_is_malformed() -> None:
    arb = Arbiter(config(max_jump=1000))
    arb.on_packet(Line.A, pkt(1, 1), 0, 0)
    arb.on_packet(Line.A, pkt(10**12, 1), 0, 0)
    assert arb.stats.malformed == 1 and arb.gap is None


def test_window_overflow_is_counted() -> None:
    arb = Arbiter(config(window=2, gap_wait_ns=10**12))
    for seq in (5, 6, 7):
        arb.on_packet(Line.A, pkt(seq, 1), 0, 0)
    assert arb.stats.overflow == 1


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_request"):
        ArbiterConfig(max_request=0)
    with pytest.raises(ValueError, match="gap_wait_ns"):
        ArbiterConfig(gap_wait_ns=-1)
