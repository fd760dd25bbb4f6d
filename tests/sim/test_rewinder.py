"""The rewinder: answers unicast, clips to retention, counts every request it cannot serve."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from nanogate.gateway.net.addr import Endpoint
from nanogate.proto import binaryfile
from nanogate.proto.moldudp64 import RetransmitRequest, decode_packet
from nanogate.sim.publisher import store_from_blocks
from nanogate.sim.rewinder import Rewinder


def messages(n: int) -> list[bytes]:
    return [f"message {i:05d}".encode() * (1 + i % 3) for i in range(1, n + 1)]


def store(n: int = 500, retention: int = 1000):  # type: ignore[no-untyped-def]
    s = store_from_blocks(binaryfile.encode(messages(n)), "REWIND", retention)
    s.published = n + 1
    return s


def test_packets_cover_the_range_within_payload_limit() -> None:
    s = store()
    out = [decode_packet(p) for p in s.packets(10, 300, max_payload=200)]
    assert all(len(p.encode()) <= 200 for p in out)
    got = [m for p in out for m in p.messages]
    assert got == messages(500)[9:309]
    assert out[0].sequence_number == 10 and out[0].session == "REWIND"


def test_retention_and_unpublished_are_clipped() -> None:
    s = store(500, retention=100)
    assert s.available() == (401, 501)
    assert s.packets(1, 10) == []
    s.published = 450
    assert decode_packet(s.packets(440, 100)[-1]).next_sequence_number == 450


def _ask(address: Endpoint, payload: bytes, expect: int, timeout: float = 2.0) -> list[bytes]:
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(0.2)
    client.sendto(payload, tuple(address))
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            got.append(client.recv(2048))
    client.close()
    return got


def test_serves_requests_over_loopback() -> None:
    with Rewinder(store(), Endpoint("127.0.0.1", 0)) as rewinder:
        got = _ask(rewinder.address, RetransmitRequest("REWIND", 5, 3).encode(), 1)
        assert [decode_packet(g).messages for g in got] == [tuple(messages(500)[4:7])]
    assert rewinder.stats.answered == 3  # read once the serving thread has stopped


@pytest.mark.parametrize(("payload", "counter"), [
    (b"garbage", "malformed"),
    (RetransmitRequest("OTHER", 1, 3).encode(), "wrong_session"),
    (RetransmitRequest("REWIND", 10_000, 3).encode(), "unavailable"),
])
def test_bad_requests_are_counted(payload: bytes, counter: str) -> None:
    rewinder = Rewinder(store(), Endpoint("127.0.0.1", 0))
    rewinder.handle(payload, ("127.0.0.1", 9))
    assert getattr(rewinder.stats, counter) == 1 and rewinder.stats.answered == 0
    rewinder.close()


def test_switched_off_answers_nothing() -> None:
    with Rewinder(store(), Endpoint("127.0.0.1", 0), enabled=False) as rewinder:
        assert _ask(rewinder.address, RetransmitRequest("REWIND", 1, 3).encode(), 1, 0.3) == []
        assert rewinder.stats.ignored == 1
