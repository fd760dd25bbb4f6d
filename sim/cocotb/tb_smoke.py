"""cocotb testbench of :class:`nanogate.hw.smoke.PacketCounter` as generated Verilog.

Run by ``tests/sim/test_cocotb_smoke.py`` through :mod:`nanogate.sim.cocotb.runner`
(toplevel ``packet_counter``). Ports: ``clk``, ``rst``, ``i__valid``, ``i__ready``,
``i__payload``, ``o__valid``, ``o__ready``, ``o__payload``, ``beats``, ``packets``;
payloads are packed with :func:`nanogate.hw.layouts.beat_layout`, the layout the
gateware itself uses.

Timing discipline: inputs are written right after a rising edge, and everything is
sampled in the ``ReadOnly`` phase before the next one, so what is read is exactly
what the flops see at that edge (a transfer happens at an edge where the sampled
``valid`` and ``ready`` are both 1).

Randomness comes from :mod:`random`, which cocotb seeds per test from
``COCOTB_RANDOM_SEED`` (logged, and named in the runner's failure message).
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from nanogate.hw.layouts import beat_layout

DATA_BYTES = 8
BEAT = beat_layout(DATA_BYTES)


def packet_beats(packet: bytes) -> list[int]:
    """The beats (packed payload integers) that carry ``packet``, byte 0 in lane 0."""
    beats = []
    for start in range(0, len(packet), DATA_BYTES):
        chunk = packet[start:start + DATA_BYTES]
        beats.append(BEAT.const({
            "data": int.from_bytes(chunk, "little"),
            "keep": (1 << len(chunk)) - 1,
            "last": int(start + DATA_BYTES >= len(packet)),
        }).as_bits())
    return beats


def random_packets(count: int, max_len: int = 40) -> list[bytes]:
    return [random.randbytes(random.randint(1, max_len)) for _ in range(count)]


def beat_str(bits: int) -> str:
    beat = BEAT.from_bits(bits)
    return f"(data={beat.data:#018x} keep={beat.keep:#04x} last={beat.last})"


def describe_difference(received: list[int], sent: list[int]) -> str:
    """Where two beat lists part, with the beats decoded, for an assertion message."""
    for index, (got, want) in enumerate(zip(received, sent, strict=False)):
        if got != want:
            return (f"beat {index} of {len(sent)}: got {beat_str(got)},"
                    f" expected {beat_str(want)}")
    return f"got {len(received)} beats, expected {len(sent)}"


def check_beats(received: list[int], sent: list[int]) -> None:
    if received != sent:
        raise AssertionError(describe_difference(received, sent))


async def reset(dut: Any) -> None:
    """Start the clock, hold ``rst`` for two cycles with both streams idle."""
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.i__payload.value = 0
    dut.o__ready.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def drive(dut: Any, beats: list[int], gap_probability: float) -> None:
    """Offer ``beats`` on ``i`` in order, idling a random number of cycles before each."""
    for beat in beats:
        while random.random() < gap_probability:
            dut.i__valid.value = 0
            dut.i__payload.value = random.getrandbits(BEAT.size)  # garbage while idle
            await RisingEdge(dut.clk)
        dut.i__valid.value = 1
        dut.i__payload.value = beat
        while True:
            await ReadOnly()
            accepted = bool(dut.i__ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                break
    dut.i__valid.value = 0


class Sink:
    """Takes beats from ``o`` with random back-pressure, forever, into ``received``.

    ``ready_probability`` may be changed while it runs. It also checks the stream rule
    that a beat offered and not taken stays offered, unchanged, until it is taken.
    """

    def __init__(self, dut: Any, ready_probability: float) -> None:
        self.dut = dut
        self.ready_probability = ready_probability
        self.received: list[int] = []

    async def run(self) -> None:
        dut = self.dut
        stalled: int | None = None
        while True:
            dut.o__ready.value = int(random.random() < self.ready_probability)
            await ReadOnly()
            valid = bool(dut.o__valid.value)
            ready = bool(dut.o__ready.value)
            payload = dut.o__payload.value.to_unsigned() if valid else None
            if stalled is not None:
                assert valid, "o withdrew a beat it had offered"
                assert payload == stalled, f"o changed a stalled beat: {stalled:#x} -> {payload}"
            stalled = None
            if valid and ready:
                assert payload is not None
                self.received.append(payload)
            elif valid:
                stalled = payload
            await RisingEdge(dut.clk)


async def read_counters(dut: Any) -> tuple[int, int]:
    """``(beats, packets)`` as the flops hold them now."""
    await ReadOnly()
    return dut.beats.value.to_unsigned(), dut.packets.value.to_unsigned()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def test_random_traffic(dut: Any) -> None:
    """Random packets, random valid gaps, random back-pressure: every beat out, in order."""
    await reset(dut)
    packets = random_packets(60)
    sent = [beat for packet in packets for beat in packet_beats(packet)]
    sink = Sink(dut, ready_probability=0.3)
    cocotb.start_soon(drive(dut, sent, gap_probability=0.3))
    cocotb.start_soon(sink.run())

    # Three phases of back-pressure in one stream: heavy, light, none.
    for until, next_probability in ((len(sent) // 3, 0.8), (2 * len(sent) // 3, 1.0),
                                    (len(sent), 1.0)):
        while len(sink.received) < until:
            await RisingEdge(dut.clk)
        sink.ready_probability = next_probability

    for _ in range(3):  # nothing extra may come out
        await RisingEdge(dut.clk)
    check_beats(sink.received, sent)
    assert await read_counters(dut) == (len(sent), len(packets)), "(beats, packets) counters"
    dut._log.info("%d packets, %d beats through", len(packets), len(sent))


@cocotb.test(timeout_time=100, timeout_unit="us")
async def test_full_rate(dut: Any) -> None:
    """With ``valid`` and ``ready`` always high: one beat per cycle, latency one cycle."""
    await reset(dut)
    packets = random_packets(8)
    sent = [beat for packet in packets for beat in packet_beats(packet)]
    in_cycles: list[int] = []
    out_cycles: list[int] = []
    received: list[int] = []
    dut.o__ready.value = 1
    cycle = 0
    while len(received) < len(sent):
        offered = len(in_cycles) < len(sent)
        dut.i__valid.value = int(offered)
        if offered:
            dut.i__payload.value = sent[len(in_cycles)]
        await ReadOnly()
        if offered and dut.i__ready.value:
            in_cycles.append(cycle)
        if dut.o__valid.value:
            out_cycles.append(cycle)
            received.append(dut.o__payload.value.to_unsigned())
        await RisingEdge(dut.clk)
        cycle += 1
        assert cycle < 4 * len(sent), "stream stalled with ready high"

    check_beats(received, sent)
    assert in_cycles == list(range(len(sent))), "input was stalled with output ready"
    assert out_cycles == [c + 1 for c in in_cycles], "latency is not one cycle"
    assert await read_counters(dut) == (len(sent), len(packets)), "(beats, packets) counters"
