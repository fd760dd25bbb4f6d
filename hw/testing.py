"""Helpers for Amaranth-simulator testbenches of ``lib.stream`` interfaces.

In the style of the Amaranth docs and the Glasgow project: small ``async`` functions a
testbench (``sim.add_testbench``) awaits, one transfer at a time or many with random
idle cycles and back-pressure. A transfer happens at a clock edge where ``valid`` and
``ready`` are both 1; the helpers sample at the edge, so what they see is what the
design saw. ::

    async def producer(ctx):
        await stream_put_all(ctx, dut.i, beats, gap_probability=0.3, rng=rng)

    async def consumer(ctx):
        got = await stream_get_n(ctx, dut.o, len(beats), ready_probability=0.5, rng=rng)

    sim.add_testbench(producer)
    sim.add_testbench(consumer)

A payload is anything ``ctx.set`` takes for the stream's payload shape (a ``dict`` or a
``data.Const`` for a struct layout) or a plain ``int`` bit pattern. Received payloads
come back as the shape's constant type (``data.Const`` for a layout, ``int`` otherwise).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from amaranth.hdl import Value

__all__ = ["axil_read", "axil_write", "stream_get", "stream_get_n", "stream_put", "stream_put_all"]


def _set_payload(ctx: Any, stream: Any, payload: Any) -> None:
    if isinstance(payload, int) and not isinstance(payload, bool):
        ctx.set(Value.cast(stream.payload), payload)
    else:
        ctx.set(stream.payload, payload)


async def stream_put(ctx: Any, stream: Any, payload: Any) -> None:
    """Offer ``payload`` on ``stream`` until it is taken; leave ``valid`` low after."""
    ctx.set(stream.valid, 1)
    _set_payload(ctx, stream, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx: Any, stream: Any) -> Any:
    """Take one payload from ``stream``, ``ready`` high until it comes; low after."""
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def stream_put_all(ctx: Any, stream: Any, payloads: Iterable[Any], *,
                         gap_probability: float = 0.0,
                         rng: random.Random | None = None) -> None:
    """Put ``payloads`` in order, idling a random number of cycles before each.

    Before each payload the stream idles for a cycle with ``gap_probability``,
    repeatedly (a geometric number of idle cycles).
    """
    rng = rng or random.Random(0)
    for payload in payloads:
        while gap_probability and rng.random() < gap_probability:
            await ctx.tick()
        await stream_put(ctx, stream, payload)


async def stream_get_n(ctx: Any, stream: Any, count: int, *,
                       ready_probability: float = 1.0,
                       rng: random.Random | None = None) -> list[Any]:
    """Take ``count`` payloads, holding ``ready`` high each cycle with ``ready_probability``.

    Also checks the stream rule that a payload offered and not taken stays offered,
    unchanged, until it is taken (``AssertionError`` otherwise).
    """
    rng = rng or random.Random(0)
    received: list[Any] = []
    stalled: Any = None
    while len(received) < count:
        ready = ready_probability >= 1.0 or rng.random() < ready_probability
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        if stalled is not None:
            assert valid, "stream withdrew a payload it had offered"
            assert payload == stalled, f"stream changed a stalled payload: {stalled} -> {payload}"
        stalled = None
        if valid and ready:
            received.append(payload)
        elif valid:
            stalled = payload
    ctx.set(stream.ready, 0)
    return received


async def axil_write(ctx: Any, bus: Any, address: int, value: int, strobe: int = 0xF) -> int:
    """One AXI4-Lite write (AW and W together); returns BRESP."""
    ctx.set(bus.awaddr, address)
    ctx.set(bus.wdata, value)
    ctx.set(bus.wstrb, strobe)
    ctx.set(bus.awvalid, 1)
    ctx.set(bus.wvalid, 1)
    await ctx.tick().until(bus.awready & bus.wready)
    ctx.set(bus.awvalid, 0)
    ctx.set(bus.wvalid, 0)
    ctx.set(bus.bready, 1)
    (response,) = await ctx.tick().sample(bus.bresp).until(bus.bvalid)
    ctx.set(bus.bready, 0)
    return int(response)


async def axil_read(ctx: Any, bus: Any, address: int) -> tuple[int, int]:
    """One AXI4-Lite read; returns (RDATA, RRESP)."""
    ctx.set(bus.araddr, address)
    ctx.set(bus.arvalid, 1)
    await ctx.tick().until(bus.arready)
    ctx.set(bus.arvalid, 0)
    ctx.set(bus.rready, 1)
    data, response = await ctx.tick().sample(bus.rdata, bus.rresp).until(bus.rvalid)
    ctx.set(bus.rready, 0)
    return int(data), int(response)
