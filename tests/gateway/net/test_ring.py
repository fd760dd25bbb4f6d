"""The shared-memory ring: order, wrap-around, full ring as a counted drop, across processes."""

from __future__ import annotations

import multiprocessing

import pytest

from nanogate.gateway.net.ring import FLAG_TRUNCATED, Ring, RingError, Word


def test_fifo_order_and_wrap_around() -> None:
    ring = Ring.create(slots=8, slot_size=64)
    try:
        sent: list[bytes] = []
        got: list[bytes] = []
        for round_ in range(10):
            batch = [bytes([round_, i]) * (i + 1) for i in range(5)]
            assert ring.enqueue(batch, line=1, rx_ns=round_) == 5
            sent += batch
            got += [p for p, line, _, _ in ring.dequeue(64) if line == 1]
        assert got == sent and ring.used() == 0
    finally:
        ring.close()


def test_full_ring_is_a_counted_drop_and_never_blocks() -> None:
    ring = Ring.create(slots=4, slot_size=64)
    try:
        assert ring.enqueue([b"x"] * 6, 0, 0) == 4
        assert ring.counter(Word.DROPS) == 2
        assert [p for p, *_ in ring.dequeue(10)] == [b"x"] * 4
    finally:
        ring.close()


def test_oversize_payload_is_flagged_truncated() -> None:
    ring = Ring.create(slots=4, slot_size=64)
    try:
        ring.enqueue([b"y" * 100], 0, 0)
        ((payload, _, flags, _),) = ring.dequeue(1)
        assert len(payload) == 64 and flags == FLAG_TRUNCATED
    finally:
        ring.close()


@pytest.mark.parametrize(("slots", "size"), [(3, 64), (8, 100), (1, 64)])
def test_bad_sizes_are_rejected(slots: int, size: int) -> None:
    with pytest.raises(RingError):
        Ring.create(slots, size)


def _produce(name: str, count: int) -> None:
    ring = Ring.attach(name, 64, 64)
    sent = 0
    while sent < count:
        sent += ring.enqueue([sent.to_bytes(4, "little")], 0, sent)
        ring.control[Word.DROPS] = 0  # a full ring here just means: try again
    ring.close()


def test_across_processes_in_order() -> None:
    ring = Ring.create(slots=64, slot_size=64)
    try:
        # fork: a spawned child would have to import this test module by name, which
        # only works when the repository root happens to be on sys.path
        producer = multiprocessing.get_context("fork").Process(
            target=_produce, args=(ring.name, 20_000))
        producer.start()
        expected = 0
        while expected < 20_000 and (producer.is_alive() or ring.used()):
            for payload, _, _, rx_ns in ring.dequeue(32):
                assert int.from_bytes(payload, "little") == expected == rx_ns
                expected += 1
        producer.join(timeout=30)
        assert expected == 20_000
    finally:
        ring.close()
