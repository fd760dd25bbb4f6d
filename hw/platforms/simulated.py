"""A simulated AWS custom logic: :class:`PlatformCore` in the Amaranth simulator behind
BAR-like objects, so the host driver (``gateway/device/aws.py``) runs against the
gateware itself, access by access, the way it runs against the PCI BARs of an F2.

``SimulatedCL().ocl`` turns each 32-bit access into an AXI4-Lite transaction on the
core's ``ocl`` port; ``.pcis`` turns block writes and reads into AXI4 bursts on its
``pcis`` port, split at 4 KiB as PCIe splits them. ``store_bytes`` chooses how a block
write arrives: 64 sends whole beats in bursts (write-combined stores, or a DMA);
8 sends every 8 bytes as its own single-beat write with 8 strobe bits set, which is
what uncached CPU stores become. The async helpers :func:`axi4_write` and
:func:`axi4_read` drive one burst each, for testbenches.

One testbench runs for the life of the object and serves queued jobs, as in
``sim/rtl_risk.py``; the simulator advances only while a job runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from amaranth.sim import Simulator

from nanogate.hw.platforms.core import PlatformCore
from nanogate.hw.platforms.pcis import OKAY
from nanogate.hw.testing import axil_read, axil_write
from nanogate.proto.aws_map import BEAT_BYTES

__all__ = ["SimulatedCL", "axi4_read", "axi4_write"]

Job = Callable[[Any], Awaitable[None]]
BOUNDARY = 4096  # no AXI burst from PCIe crosses 4 KiB
ALL_LANES = (1 << BEAT_BYTES) - 1


async def axi4_write(ctx: Any, bus: Any, address: int, beats: Sequence[tuple[int, int]],
                     ident: int = 0) -> tuple[int, int]:
    """One write burst of ``(data, strobe)`` beats at ``address``; returns (BID, BRESP)."""
    ctx.set(bus.awaddr, address)
    ctx.set(bus.awlen, len(beats) - 1)
    ctx.set(bus.awid, ident)
    ctx.set(bus.awvalid, 1)
    await ctx.tick().until(bus.awready)
    ctx.set(bus.awvalid, 0)
    for index, (data, strobe) in enumerate(beats):
        ctx.set(bus.wdata, data)
        ctx.set(bus.wstrb, strobe)
        ctx.set(bus.wlast, index == len(beats) - 1)
        ctx.set(bus.wvalid, 1)
        await ctx.tick().until(bus.wready)
    ctx.set(bus.wvalid, 0)
    ctx.set(bus.bready, 1)
    bid, bresp = await ctx.tick().sample(bus.bid, bus.bresp).until(bus.bvalid)
    ctx.set(bus.bready, 0)
    return int(bid), int(bresp)


async def axi4_read(ctx: Any, bus: Any, address: int, beats: int = 1,
                    ident: int = 0) -> list[tuple[int, int, int, int]]:
    """One read burst; returns (RDATA, RRESP, RLAST, RID) per beat."""
    ctx.set(bus.araddr, address)
    ctx.set(bus.arlen, beats - 1)
    ctx.set(bus.arid, ident)
    ctx.set(bus.arvalid, 1)
    await ctx.tick().until(bus.arready)
    ctx.set(bus.arvalid, 0)
    ctx.set(bus.rready, 1)
    out = []
    for _ in range(beats):
        *_, data, resp, last, rid = await ctx.tick().sample(
            bus.rdata, bus.rresp, bus.rlast, bus.rid).until(bus.rvalid)
        out.append((int(data), int(resp), int(last), int(rid)))
    ctx.set(bus.rready, 0)
    return out


class SimulatedCL:
    """The custom logic's core, simulated; ``ocl`` and ``pcis`` stand in for the BARs."""

    def __init__(self, *, store_bytes: int = BEAT_BYTES, small: bool = True) -> None:
        if store_bytes not in (8, 16, 32, 64):
            raise ValueError(f"store_bytes {store_bytes}: one of 8, 16, 32, 64")
        self.store_bytes = store_bytes
        self.dut = PlatformCore(small=small)
        self.cycle = 0
        self._jobs: deque[Job] = deque()
        self._idle = True
        self._sim = Simulator(self.dut)
        self._sim.add_clock(4e-9)  # clk_main_a0, 250 MHz
        self._sim.add_testbench(self._serve, background=True)
        self.ocl = _OclBar(self)
        self.pcis = _PcisBar(self)

    async def _serve(self, ctx: Any) -> None:
        while True:
            if self._jobs:
                self._idle = False
                await self._jobs.popleft()(ctx)
            else:
                self._idle = True
                await ctx.tick()
                self.cycle += 1

    def run(self, job: Job) -> None:
        """Run ``job`` (an async function of the testbench context) to its end."""
        self._jobs.append(job)
        self._idle = False
        while self._jobs or not self._idle:
            self._sim.advance()


class _OclBar:
    def __init__(self, cl: SimulatedCL) -> None:
        self._cl = cl

    def read32(self, offset: int) -> int:
        result = [0]

        async def job(ctx: Any) -> None:
            data, resp = await axil_read(ctx, self._cl.dut.ocl, offset)
            if resp != OKAY:
                raise RuntimeError(f"OCL read at {offset:#x}: RRESP {resp}")
            result[0] = data

        self._cl.run(job)
        return result[0]

    def write32(self, offset: int, value: int) -> None:
        async def job(ctx: Any) -> None:
            resp = await axil_write(ctx, self._cl.dut.ocl, offset, value & 0xFFFF_FFFF)
            if resp != OKAY:
                raise RuntimeError(f"OCL write at {offset:#x}: BRESP {resp}")

        self._cl.run(job)

    def write_block(self, offset: int, data: bytes) -> None:
        raise NotImplementedError("OCL takes 32-bit accesses only")

    def read_block(self, offset: int, length: int) -> bytes:
        raise NotImplementedError("OCL takes 32-bit accesses only")

    def close(self) -> None:
        pass


class _PcisBar:
    def __init__(self, cl: SimulatedCL) -> None:
        self._cl = cl
        self.responses: list[int] = []  # BRESP / RRESP of every burst, in order

    def _bursts(self, offset: int, length: int) -> list[tuple[int, int]]:
        spans, end = [], offset + length
        while offset < end:
            stop = min(end, (offset // BOUNDARY + 1) * BOUNDARY)
            spans.append((offset, stop - offset))
            offset = stop
        return spans

    def write_block(self, offset: int, data: bytes) -> None:
        size = self._cl.store_bytes
        writes: list[tuple[int, list[tuple[int, int]]]] = []
        if size == BEAT_BYTES:
            for start, length in self._bursts(offset, len(data)):
                chunk = data[start - offset:start - offset + length]
                beats = [(int.from_bytes(chunk[i:i + BEAT_BYTES], "little"), ALL_LANES)
                         for i in range(0, length, BEAT_BYTES)]
                writes.append((start, beats))
        else:  # one single-beat write per store, its lanes where the address puts them
            for start in range(offset, offset + len(data), size):
                lane = start % BEAT_BYTES
                value = int.from_bytes(data[start - offset:start - offset + size], "little")
                writes.append((start, [(value << 8 * lane, ((1 << size) - 1) << lane)]))

        async def job(ctx: Any) -> None:
            for address, beats in writes:
                _, resp = await axi4_write(ctx, self._cl.dut.pcis, address, beats)
                self.responses.append(resp)

        self._cl.run(job)

    def read_block(self, offset: int, length: int) -> bytes:
        out = bytearray()

        async def job(ctx: Any) -> None:
            for start, span in self._bursts(offset, length):
                for data, resp, _, _ in await axi4_read(ctx, self._cl.dut.pcis, start,
                                                        span // BEAT_BYTES):
                    self.responses.append(resp)
                    out.extend(data.to_bytes(BEAT_BYTES, "little"))

        self._cl.run(job)
        return bytes(out)

    def read32(self, offset: int) -> int:
        raise NotImplementedError("the backend reads PCIS in whole beats")

    def write32(self, offset: int, value: int) -> None:
        raise NotImplementedError("the backend writes PCIS in whole beats")

    def close(self) -> None:
        pass
