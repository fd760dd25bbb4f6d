"""The PCIS adapter in the Amaranth simulator: write bursts and partial strobes into the
windows, the streams that come out compared with the host framing of proto/aws_map.py,
back-pressure, error responses, and the record rings read back over AXI4."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from amaranth.sim import Simulator

from nanogate.gateway.device.aws import records_to_beats
from nanogate.hw.platforms.pcis import OKAY, SLVERR, PcisAdapter
from nanogate.hw.platforms.simulated import axi4_read, axi4_write
from nanogate.hw.testing import stream_get_n, stream_put_all
from nanogate.proto import aws_map
from nanogate.proto.aws_map import BEAT_BYTES, packet_frame
from nanogate.proto.risk import ORDER, ORDER_DTYPE, UPDATE, UPDATE_DTYPE

ALL = (1 << BEAT_BYTES) - 1
Bench = Callable[[Any], Awaitable[None]]


def simulate(dut: PcisAdapter, *benches: Bench, background: tuple[Bench, ...] = ()) -> None:
    sim = Simulator(dut)
    sim.add_clock(4e-9)
    for bench in benches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)
    sim.run()


def beats_of(data: bytes) -> list[tuple[int, int]]:
    return [(int.from_bytes(data[i:i + BEAT_BYTES], "little"), ALL)
            for i in range(0, len(data), BEAT_BYTES)]


def feed_words(payload: bytes) -> list[tuple[int, int, int]]:
    """What the feed parser must see for one payload: 8-byte words, data/keep/last."""
    words = []
    for i in range(0, len(payload), 8):
        chunk = payload[i:i + 8]
        words.append((int.from_bytes(chunk, "little"), (1 << len(chunk)) - 1,
                      int(i + 8 >= len(payload))))
    return words


def as_words(got: list[Any]) -> list[tuple[int, int, int]]:
    return [(int(w.data), int(w.keep), int(w.last)) for w in got]


def orders(count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(count, dtype=ORDER_DTYPE)
    for f in ORDER.fields:
        out[f.name] = rng.integers(0, min(1 << f.bits, 1 << 62), count, dtype=np.uint64)
    return out


def test_packets_in_bursts_reach_the_feed_stream_byte_for_byte() -> None:
    rng = random.Random(7)
    payloads = [rng.randbytes(n) for n in (1, 8, 9, 63, 64, 65, 200, 373)]
    stream = b"".join(packet_frame(p) for p in payloads)
    want = [w for p in payloads for w in feed_words(p)]
    dut = PcisAdapter(id_bits=4)
    got: list[Any] = []

    async def host(ctx: Any) -> None:
        # back-to-back packets: two bursts, split mid-packet, with wrapping addresses
        half = len(stream) // BEAT_BYTES // 2 * BEAT_BYTES
        assert await axi4_write(ctx, dut.pcis, aws_map.PACKET_WINDOW, beats_of(stream[:half]),
                                ident=5) == (5, OKAY)
        assert await axi4_write(ctx, dut.pcis, aws_map.PACKET_WINDOW + 0xF000,
                                beats_of(stream[half:]), ident=6) == (6, OKAY)

    async def parser(ctx: Any) -> None:
        got.extend(await stream_get_n(ctx, dut.feed, len(want), ready_probability=0.6,
                                      rng=random.Random(1)))

    simulate(dut, host, parser)
    assert as_words(got) == want
    assert sum(w[2] for w in as_words(got)) == len(payloads)


def test_partial_strobes_assemble_a_beat_in_any_order() -> None:
    """Uncached stores: 8 (or 16, 32) bytes per write; a beat counts once all 64 are in."""
    records = orders(3)
    data = records_to_beats(ORDER, records)
    dut = PcisAdapter(id_bits=4)
    got: list[int] = []

    async def host(ctx: Any) -> None:
        for index, size in enumerate((8, 16, 32)):
            beat = int.from_bytes(data[index * 64:(index + 1) * 64], "little")
            lanes = list(range(0, BEAT_BYTES, size))
            random.Random(index).shuffle(lanes)
            for lane in lanes:
                strobe = ((1 << size) - 1) << lane
                mask = sum(0xFF << 8 * b for b in range(lane, lane + size))
                # bytes outside the strobe carry garbage: they must not land
                value = beat & mask | (~mask & ((1 << 512) - 1))
                address = aws_map.ORDER_WINDOW + index * 64 + lane
                assert (await axi4_write(ctx, dut.pcis, address, [(value, strobe)]))[1] == OKAY
                if lane != lanes[-1]:
                    assert not ctx.get(dut.orders.valid), "a partial beat went out"

    async def risk(ctx: Any) -> None:
        got.extend(await stream_get_n(ctx, dut.orders, 3))

    simulate(dut, host, risk)
    assert got == [int.from_bytes(data[i:i + 64], "little") & ((1 << ORDER.bits) - 1)
                   for i in range(0, 192, 64)]


def test_orders_and_updates_under_back_pressure_stall_and_count_never_drop() -> None:
    order_records = orders(40, seed=2)
    updates = np.zeros(12, dtype=UPDATE_DTYPE)
    updates["quantity"] = np.arange(12) + 1
    updates["account"] = 3
    dut = PcisAdapter(id_bits=4)
    got_orders: list[int] = []
    got_updates: list[int] = []

    async def host(ctx: Any) -> None:
        data = records_to_beats(ORDER, order_records)
        assert (await axi4_write(ctx, dut.pcis, aws_map.ORDER_WINDOW, beats_of(data)))[1] == OKAY
        data = records_to_beats(UPDATE, updates)
        assert (await axi4_write(ctx, dut.pcis, aws_map.UPDATE_WINDOW + 64,
                                 beats_of(data)))[1] == OKAY

    async def risk(ctx: Any) -> None:
        got_orders.extend(await stream_get_n(ctx, dut.orders, 40, ready_probability=0.3,
                                             rng=random.Random(3)))

    async def risk_updates(ctx: Any) -> None:
        got_updates.extend(await stream_get_n(ctx, dut.updates, 12))

    simulate(dut, host, risk, risk_updates)
    mask = (1 << ORDER.bits) - 1
    data = records_to_beats(ORDER, order_records)
    assert got_orders == [int.from_bytes(data[i:i + 64], "little") & mask
                          for i in range(0, len(data), 64)]
    data = records_to_beats(UPDATE, updates)
    assert got_updates == [int.from_bytes(data[i:i + 64], "little") & ((1 << UPDATE.bits) - 1)
                           for i in range(0, len(data), 64)]


def test_stall_cycles_counts_the_cycles_wready_was_held_low() -> None:
    dut = PcisAdapter(id_bits=4)
    seen: dict[str, int] = {}

    async def host(ctx: Any) -> None:
        data = records_to_beats(ORDER, orders(4))
        await axi4_write(ctx, dut.pcis, aws_map.ORDER_WINDOW, beats_of(data))
        seen["stalls"] = ctx.get(dut.stall_cycles)

    async def slow_risk(ctx: Any) -> None:
        await ctx.tick().repeat(20)  # nothing taken for 20 cycles
        await stream_get_n(ctx, dut.orders, 4)

    simulate(dut, host, slow_risk)
    assert seen["stalls"] >= 15


def test_writes_outside_the_inbound_windows_get_slverr_and_are_counted() -> None:
    dut = PcisAdapter(id_bits=4)
    seen: list[tuple[int, int]] = []

    async def host(ctx: Any) -> None:
        beat = beats_of(records_to_beats(ORDER, orders(1)))
        for ident, address in enumerate((0x30000, aws_map.RECORD_WINDOW, 1 << 40,
                                         aws_map.ORDER_WINDOW + (1 << 33))):
            seen.append(await axi4_write(ctx, dut.pcis, address, beat * 3, ident=ident))
        seen.append(await axi4_write(ctx, dut.pcis, aws_map.ORDER_WINDOW, beat, ident=9))
        await ctx.tick()
        seen.append((ctx.get(dut.write_errors), ctx.get(dut.orders.valid)))

    simulate(dut, host)
    assert seen == [(0, SLVERR), (1, SLVERR), (2, SLVERR), (3, SLVERR), (9, OKAY), (4, 1)]


def test_bad_packet_headers_are_counted_and_the_stream_resynchronises() -> None:
    good = b"MoldUDP64 payload, 38 bytes long......"
    bad_magic = bytearray(packet_frame(b"x" * 10)[:64])
    bad_magic[4] ^= 1
    zero = bytes(64)
    oversized = (aws_map.MAX_PACKET_BYTES + 1).to_bytes(4, "little") + \
        aws_map.PACKET_MAGIC.to_bytes(4, "little") + bytes(56)
    stream = bytes(bad_magic) + zero + oversized + packet_frame(good)
    dut = PcisAdapter(id_bits=4)
    got: list[Any] = []
    errors: list[int] = []

    async def host(ctx: Any) -> None:
        await axi4_write(ctx, dut.pcis, aws_map.PACKET_WINDOW, beats_of(stream))
        await ctx.tick().repeat(4)
        errors.append(ctx.get(dut.framing_errors))

    async def parser(ctx: Any) -> None:
        got.extend(await stream_get_n(ctx, dut.feed, len(feed_words(good))))

    simulate(dut, host, parser)
    assert as_words(got) == feed_words(good)
    assert errors == [3]
    with pytest.raises(ValueError):
        packet_frame(b"")


def test_rings_read_back_over_axi4_with_bursts_pops_and_wrap() -> None:
    depth = 8
    dut = PcisAdapter(id_bits=4, ring_records=depth)
    rng = random.Random(5)
    records = [rng.getrandbits(472) for _ in range(12)]
    decisions = [rng.getrandbits(128) for _ in range(3)]
    log: dict[str, Any] = {}

    async def cores(ctx: Any) -> None:
        await stream_put_all(ctx, dut.records, records)  # blocks while the ring is full

    async def decide(ctx: Any) -> None:
        await stream_put_all(ctx, dut.decisions, decisions)

    async def host(ctx: Any) -> None:
        await ctx.tick().repeat(30)
        log["full"] = (ctx.get(dut.records_ready), ctx.get(dut.records.ready))
        beats = await axi4_read(ctx, dut.pcis, aws_map.RECORD_WINDOW, beats=depth, ident=3)
        log["first"] = beats
        ctx.set(dut.records_pop, 5)
        ctx.set(dut.records_pop_stb, 1)
        await ctx.tick()
        ctx.set(dut.records_pop_stb, 0)
        await ctx.tick().repeat(10)  # the 4 still waiting go in, wrapping the ring
        log["after"] = (ctx.get(dut.records_ready), ctx.get(dut.records_tail))
        tail = ctx.get(dut.records_tail)
        got = []
        for i in range(7):  # slot by slot, wrapping, as the host reads them
            (beat,) = await axi4_read(ctx, dut.pcis,
                                      aws_map.RECORD_WINDOW + (tail + i) % depth * 64)
            got.append(beat[0])
        log["rest"] = got
        ctx.set(dut.records_pop, 15)  # more than is there: only what is there goes
        ctx.set(dut.records_pop_stb, 1)
        await ctx.tick()
        ctx.set(dut.records_pop_stb, 0)
        await ctx.tick()
        log["empty"] = ctx.get(dut.records_ready)
        log["decisions"] = await axi4_read(ctx, dut.pcis, aws_map.DECISION_WINDOW + 64, 2)
        log["bad"] = await axi4_read(ctx, dut.pcis, aws_map.PACKET_WINDOW, 2, ident=2)
        log["read_errors"] = ctx.get(dut.read_errors)

    simulate(dut, host, background=(cores, decide))
    assert log["full"] == (depth, 0)
    assert [b[0] for b in log["first"]] == records[:depth]
    assert [(b[1], b[2], b[3]) for b in log["first"]] == [(OKAY, 0, 3)] * 7 + [(OKAY, 1, 3)]
    assert log["after"] == (7, 5)
    assert log["rest"] == records[5:]
    assert log["empty"] == 0
    assert [b[0] for b in log["decisions"]] == decisions[1:3]
    assert log["bad"] == [(0, SLVERR, 0, 2), (0, SLVERR, 1, 2)]
    assert log["read_errors"] == 1
