"""The feed parser top level running in the Amaranth simulator, fed a burst at a time.

:class:`FeedSim` keeps one simulation alive: :meth:`FeedSim.push` offers
payloads on ``s_axis`` (with optional random idle cycles), takes records from
``m_axis`` (with optional random back-pressure) until the pipeline is empty,
and keeps the clock-cycle of every beat taken and every record given, for the
latency figures. Registers go through the AXI4-Lite bank, as a driver's would.
Between calls nothing runs, so the state (sequence tracking, counters, the
filter table) carries over as in a device that sits idle.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amaranth.sim import Simulator

from nanogate.hw.feed.stimulus import beats
from nanogate.hw.feed.top import FeedParserTop
from nanogate.hw.testing import axil_read, axil_write
from nanogate.proto.feed_regs import FEED_REGS, LOCATE_BITS
from nanogate.proto.regmap import WORD_BITS, WORD_BYTES

__all__ = ["FeedSim", "PushTrace"]

_DRAIN_CYCLES = 8  # idle cycles after the last beat with no record: the pipeline is empty


@dataclass
class PushTrace:
    """What one :meth:`FeedSim.push` saw, cycle numbers counted from the simulation start."""

    records: list[int] = field(default_factory=list)  # BookEvent bit patterns, in order
    record_cycles: list[int] = field(default_factory=list)
    beat_cycles: list[int] = field(default_factory=list)  # when each beat was taken
    first_cycle: int = 0
    last_cycle: int = 0


class FeedSim:
    def __init__(self, data_bytes: int = 8, filter_depth: int = 1 << LOCATE_BITS, *,
                 gap_probability: float = 0.0, ready_probability: float = 1.0,
                 seed: int = 0) -> None:
        self.data_bytes = data_bytes
        self.dut = FeedParserTop(data_bytes, filter_depth)
        self.gap_probability = gap_probability
        self.ready_probability = ready_probability
        self.rng = random.Random(seed)
        self.cycle = 0
        self._beats: deque[tuple[int, int, int]] = deque()
        self._ops: deque[tuple[str, int, int]] = deque()
        self._results: list[int] = []
        self._trace = PushTrace()
        self._idle = 0
        self._busy = False
        self.sim = Simulator(self.dut)
        self.sim.add_clock(1e-8)
        self.sim.add_testbench(self._bench, background=True)

    # --- host side ------------------------------------------------------------------
    def push(self, payloads: Sequence[bytes]) -> PushTrace:
        """Stream ``payloads`` through and return the records and cycle stamps."""
        self._trace = PushTrace(first_cycle=self.cycle)
        for payload in payloads:
            self._beats.extend(beats(payload, self.data_bytes))
        self._run()
        self._trace.last_cycle = self.cycle
        return self._trace

    def read_register(self, name: str) -> int:
        register = FEED_REGS.register(name)
        base = FEED_REGS.offset(name)
        # the low word first: it latches the high words of a wide read-only register
        for word in range(register.words):
            self._ops.append(("read", base + word * WORD_BYTES, 0))
        self._run()
        value = 0
        for word, part in enumerate(self._results):
            value |= part << (word * WORD_BITS)
        return value & ((1 << register.width) - 1)

    def write_register(self, name: str, value: int) -> None:
        register = FEED_REGS.register(name)
        base = FEED_REGS.offset(name)
        for word in range(register.words):
            self._ops.append(("write", base + word * WORD_BYTES,
                              (value >> (word * WORD_BITS)) & ((1 << WORD_BITS) - 1)))
        self._run()

    def _run(self) -> None:
        self._results = []
        self._busy = True
        # a design that never goes idle (valid stuck high, a lost beat) must not hang us
        limit = self.cycle + 8 * len(self._beats) + 2_000
        while self._busy:
            self.sim.advance()
            if self.cycle > limit:
                self._busy = False
                raise RuntimeError(f"the feed parser did not go idle by cycle {limit}")

    # --- simulation side -------------------------------------------------------------
    async def _bench(self, ctx: Any) -> None:
        s, m, bus = self.dut.s_axis, self.dut.m_axis, self.dut.bus
        rng = self.rng
        while True:
            if not self._busy:
                await ctx.tick()
                continue
            if self._ops:
                kind, address, value = self._ops.popleft()
                if kind == "read":
                    data, _ = await axil_read(ctx, bus, address)
                    self._results.append(data)
                else:
                    await axil_write(ctx, bus, address, value)
                self.cycle += 2  # close enough: register access is not timed
                self._busy = bool(self._ops)
                continue
            offer = bool(self._beats) and not (
                self.gap_probability and rng.random() < self.gap_probability)
            if offer:
                data, keep, last = self._beats[0]
                ctx.set(s.tdata, data)
                ctx.set(s.tkeep, keep)
                ctx.set(s.tlast, last)
            ctx.set(s.tvalid, offer)
            ready = self.ready_probability >= 1.0 or rng.random() < self.ready_probability
            ctx.set(m.tready, ready)
            _, _, taken, valid, record = await ctx.tick().sample(s.tready, m.tvalid, m.tdata)
            if offer and taken:
                self._beats.popleft()
                self._trace.beat_cycles.append(self.cycle)
            if valid and ready:
                self._trace.records.append(int(record))
                self._trace.record_cycles.append(self.cycle)
            self.cycle += 1
            self._idle = 0 if (self._beats or valid) else self._idle + 1
            if self._idle >= _DRAIN_CYCLES:
                ctx.set(s.tvalid, 0)
                ctx.set(m.tready, 0)
                self._busy = False
