"""Burst receive into the pool: recvmmsg and the recv_into fallback, timestamps, truncation."""

from __future__ import annotations

import socket
import time

import pytest

from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.ring import FLAG_TRUNCATED, Ring, Word
from nanogate.gateway.net.rx import BurstReceiver
from nanogate.gateway.net.sockets import open_receiver, open_sender


def _receive(receiver: BurstReceiver, want: int, limit: float = 3.0) -> None:
    deadline = time.monotonic() + limit
    got = 0
    while got < want and time.monotonic() < deadline:
        got += receiver.poll()


@pytest.mark.parametrize("use_recvmmsg", [True, False])
def test_multicast_burst_with_kernel_timestamps(lines: tuple[Endpoint, Endpoint],
                                                use_recvmmsg: bool) -> None:
    group = lines[0]
    ring = Ring.create(slots=256, slot_size=128)
    sock = open_receiver(group)
    sender = open_sender()
    receiver = BurstReceiver(ring, [(1, sock)], burst=32, use_recvmmsg=use_recvmmsg)
    try:
        before = time.time_ns()
        payloads = [i.to_bytes(2, "big") * (1 + i % 50) for i in range(100)]
        for p in payloads:
            sender.sendto(p, tuple(group))
        sender.sendto(b"z" * 300, tuple(group))  # longer than a slot
        _receive(receiver, 101)
        got = ring.dequeue(200)
        assert [p for p, *_ in got[:100]] == payloads
        assert all(line == 1 and before <= rx_ns <= time.time_ns() for _, line, _, rx_ns in got)
        assert got[100][2] == FLAG_TRUNCATED and ring.counter(Word.TRUNCATED) == 1
        assert ring.counter(Word.PACKETS_B) == 101
    finally:
        receiver.close()
        sock.close()
        sender.close()
        ring.close()


@pytest.mark.parametrize("use_recvmmsg", [True, False])
def test_full_ring_drains_socket_and_counts(use_recvmmsg: bool) -> None:
    ring = Ring.create(slots=8, slot_size=64)
    sock = open_receiver(Endpoint("127.0.0.1", 0))
    target = sock.getsockname()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = BurstReceiver(ring, [(0, sock)], burst=4, use_recvmmsg=use_recvmmsg)
    try:
        for i in range(20):
            sender.sendto(bytes([i]), target)
        _receive(receiver, 20)
        assert ring.used() == 8 and ring.counter(Word.DROPS) == 12
        assert [p for p, *_ in ring.dequeue(8)] == [bytes([i]) for i in range(8)]
    finally:
        receiver.close()
        sock.close()
        sender.close()
        ring.close()
