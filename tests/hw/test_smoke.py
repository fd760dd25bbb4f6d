"""PacketCounter in the Amaranth simulator, the record layouts, and Verilog generation."""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator, SimulatorContext
from hypothesis import given
from hypothesis import strategies as st

from nanogate.hw.layouts import (
    BOOK_EVENT_LAYOUT,
    ascii_from_int,
    ascii_to_int,
    beat_layout,
    pack,
    struct_layout,
    unpack,
)
from nanogate.hw.smoke import PacketCounter
from nanogate.hw.testing import stream_get, stream_get_n, stream_put, stream_put_all
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_DTYPE, RecordField, RecordLayout

BEAT = beat_layout(8)


def packet_beats(packet: bytes) -> list[dict[str, int]]:
    """The beats carrying ``packet``: 8 bytes each, byte 0 in lane 0, ``last`` on the final one."""
    beats = []
    for start in range(0, len(packet), 8):
        chunk = packet[start:start + 8]
        beats.append({"data": int.from_bytes(chunk, "little"), "keep": (1 << len(chunk)) - 1,
                      "last": int(start + 8 >= len(packet))})
    return beats


def run(dut: PacketCounter, *testbenches: Callable[[SimulatorContext], Awaitable[None]]) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


# --- PacketCounter in the Amaranth simulator --------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_packet_counter_random_traffic(seed: int) -> None:
    rng = random.Random(seed)
    packets = [rng.randbytes(rng.randint(1, 40)) for _ in range(30)]
    sent = [beat for packet in packets for beat in packet_beats(packet)]
    dut = PacketCounter()
    received: list[data.Const] = []

    async def producer(ctx: SimulatorContext) -> None:
        await stream_put_all(ctx, dut.i, sent, gap_probability=0.3, rng=rng)

    async def consumer(ctx: SimulatorContext) -> None:
        received.extend(await stream_get_n(ctx, dut.o, len(sent) // 2,
                                           ready_probability=0.3, rng=rng))
        received.extend(await stream_get_n(ctx, dut.o, len(sent) - len(received),
                                           ready_probability=0.9, rng=rng))
        await ctx.tick()
        assert (ctx.get(dut.beats), ctx.get(dut.packets)) == (len(sent), len(packets))

    run(dut, producer, consumer)
    assert received == [BEAT.const(beat) for beat in sent]


def test_packet_counter_full_rate_and_latency() -> None:
    """Valid and ready always high: a beat every cycle, each out one cycle after it went in."""
    sent = packet_beats(bytes(range(64)))
    dut = PacketCounter()

    async def tb(ctx: SimulatorContext) -> None:
        ctx.set(dut.o.ready, 1)
        out: list[tuple[int, data.Const]] = []
        for cycle in range(len(sent) + 1):
            offered = cycle < len(sent)
            ctx.set(dut.i.valid, offered)
            if offered:
                ctx.set(dut.i.payload, sent[cycle])
            _, _, in_ready, o_valid, o_payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload)
            assert in_ready, f"input stalled at cycle {cycle} with the output ready"
            if o_valid:
                out.append((cycle, o_payload))
        assert out == [(cycle + 1, BEAT.const(beat)) for cycle, beat in enumerate(sent)]
        assert (ctx.get(dut.beats), ctx.get(dut.packets)) == (len(sent), 1)

    run(dut, tb)


def test_packet_counter_holds_under_back_pressure() -> None:
    """With the output stalled, one beat is stored, input stalls, and nothing is lost."""
    dut = PacketCounter()

    async def tb(ctx: SimulatorContext) -> None:
        await stream_put(ctx, dut.i, {"data": 0x1122, "keep": 0x3, "last": 0})
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, {"data": 0x3344, "keep": 0x3, "last": 1})
        for _ in range(5):  # output not ready: the second beat must wait
            _, _, in_ready = await ctx.tick().sample(dut.i.ready)
            assert not in_ready
            assert ctx.get(dut.o.valid)
        assert (ctx.get(dut.beats), ctx.get(dut.packets)) == (0, 0)
        first = await stream_get(ctx, dut.o)  # takes beat 1; beat 2 enters the same cycle
        assert first == {"data": 0x1122, "keep": 0x3, "last": 0}
        ctx.set(dut.i.valid, 0)
        second = await stream_get(ctx, dut.o)
        assert second == {"data": 0x3344, "keep": 0x3, "last": 1}
        await ctx.tick()
        assert not ctx.get(dut.o.valid)
        assert (ctx.get(dut.beats), ctx.get(dut.packets)) == (2, 1)

    run(dut, tb)


def test_stream_put_takes_int_bit_patterns() -> None:
    dut = PacketCounter()
    beat = {"data": 0xDEADBEEF, "keep": 0x0F, "last": 1}

    async def producer(ctx: SimulatorContext) -> None:
        await stream_put(ctx, dut.i, BEAT.const(beat).as_bits())

    async def consumer(ctx: SimulatorContext) -> None:
        assert await stream_get(ctx, dut.o) == beat

    run(dut, producer, consumer)


# --- Verilog generation ("synthesis" smoke test) -----------------------------------------

def test_packet_counter_converts_to_verilog() -> None:
    text = verilog.convert(PacketCounter(), name="packet_counter")
    header = re.search(r"^module packet_counter\((.*?)\);", text, re.MULTILINE)
    assert header is not None
    ports = {p.strip() for p in header.group(1).split(",")}
    assert ports == {"clk", "rst", "i__valid", "i__ready", "i__payload",
                     "o__valid", "o__ready", "o__payload", "beats", "packets"}
    assert re.search(r"input \[72:0\] i__payload;", text)
    assert re.search(r"output \[72:0\] o__payload;", text)
    assert re.search(r"output \[31:0\] beats;", text)


# --- layouts derived from proto.records --------------------------------------------------

def test_book_event_layout_matches_record() -> None:
    assert BOOK_EVENT_LAYOUT is struct_layout(BOOK_EVENT)  # cached
    members = [(name, field.shape, field.offset) for name, field in BOOK_EVENT_LAYOUT]
    offset = 0
    expected = []
    for f in BOOK_EVENT.fields:
        expected.append((f.name, unsigned(f.bits), offset))
        offset += f.bits
    assert members == expected
    assert BOOK_EVENT_LAYOUT.size == BOOK_EVENT.bits


def test_beat_layout() -> None:
    assert [(name, f.shape, f.offset) for name, f in beat_layout(8)] == [
        ("data", unsigned(64), 0), ("keep", unsigned(8), 64), ("last", unsigned(1), 72)]
    assert beat_layout(8) is BEAT
    with pytest.raises(ValueError, match="at least one byte"):
        beat_layout(0)


def test_ascii_fields_are_big_endian() -> None:
    assert ascii_to_int(b"AAPL    ", 8) == 0x4141504C20202020
    assert ascii_to_int("B", 1) == 0x42
    assert ascii_to_int(b"", 8) == 0
    assert ascii_to_int(b"AB", 4) == 0x41420000  # NUL padded at the end, like NumPy's S4
    assert ascii_from_int(0x41420000, 4) == b"AB"
    with pytest.raises(ValueError):
        ascii_to_int(b"TOOLONG!!", 8)


record_values = st.fixed_dictionaries({
    f.name: (st.binary(max_size=f.bits // 8).map(lambda b: b.rstrip(b"\0"))
             if f.kind == "ascii" else st.integers(0, (1 << f.bits) - 1))
    for f in BOOK_EVENT.fields
})


@given(record_values)
def test_pack_agrees_with_amaranth_and_round_trips(values: dict[str, int | bytes]) -> None:
    bits = pack(BOOK_EVENT, values)
    as_ints = {f.name: ascii_to_int(v, f.bits // 8) if isinstance(v, bytes) else v
               for f in BOOK_EVENT.fields for v in [values[f.name]]}
    const = BOOK_EVENT_LAYOUT.const(as_ints)
    assert const.as_bits() == bits
    assert unpack(BOOK_EVENT, bits) == values
    back = BOOK_EVENT_LAYOUT.from_bits(bits)
    for name, value in as_ints.items():
        assert back[name] == value


def test_numpy_row_round_trips() -> None:
    row = np.zeros(1, dtype=BOOK_EVENT_DTYPE)[0]
    for name, value in {"seq": 2**64 - 1, "timestamp": 34_200_000_000_000, "msg_type": b"A",
                        "stock": b"AAPL    ", "side": b"B", "price": 1_234_500, "flags": 1}.items():
        row[name] = value
    values = {name: row[name] for name in BOOK_EVENT.names}
    bits = pack(BOOK_EVENT, values)
    view = BOOK_EVENT_LAYOUT.from_bits(bits)
    assert view.stock == int.from_bytes(b"AAPL    ", "big")
    assert view.msg_type == ord("A")
    assert unpack(BOOK_EVENT, bits) == values


def test_packed_value_through_a_signal() -> None:
    """Packed bits driven into a flat signal read back field by field through the layout."""
    flat = Signal(BOOK_EVENT.bits)
    view = Signal(BOOK_EVENT_LAYOUT)
    m = Module()
    m.d.comb += view.eq(flat)
    values = {"seq": 7, "msg_type": b"E", "order_ref": 2**63 + 5, "shares": 100, "stock": b"MSFT"}
    bits = pack(BOOK_EVENT, values)
    sim = Simulator(m)

    async def tb(ctx: SimulatorContext) -> None:
        ctx.set(flat, bits)
        assert ctx.get(view.seq) == 7
        assert ctx.get(view.msg_type) == ord("E")
        assert ctx.get(view.order_ref) == 2**63 + 5
        assert ctx.get(view.shares) == 100
        assert ctx.get(view.stock) == ascii_to_int(b"MSFT", 8)
        assert ctx.get(view.price) == 0
        assert ctx.get(view) == BOOK_EVENT_LAYOUT.from_bits(bits)

    sim.add_testbench(tb)
    sim.run()


def test_layout_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        pack(BOOK_EVENT, {"flags": 256})
    with pytest.raises(KeyError):
        pack(BOOK_EVENT, {"nope": 1})
    with pytest.raises(TypeError):
        pack(BOOK_EVENT, {"stock": 5})
    with pytest.raises(TypeError):
        pack(BOOK_EVENT, {"seq": b"x"})


def test_struct_layout_of_any_record() -> None:
    record = RecordLayout("Tiny", (RecordField("a", 3, ""), RecordField("s", 16, "", "ascii")))
    layout = struct_layout(record)
    assert [(n, f.shape, f.offset) for n, f in layout] == [
        ("a", unsigned(3), 0), ("s", unsigned(16), 3)]
    assert pack(record, {"a": 5, "s": b"hi"}) == 5 | (0x6869 << 3)
