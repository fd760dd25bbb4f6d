"""The ``rtl-sim`` risk backend: :class:`nanogate.hw.risk.pipeline.RiskPipeline` in
Amaranth's own simulator, in this process.

Why the Amaranth simulator and not Icarus: the backend is a library object whose
methods (``submit``, ``apply_updates``, registers) are called one after another by the
gateway and the CLI, so the simulation must pause between calls and keep its state.
The Amaranth simulator runs inside Python and steps on demand (no build, no
subprocess, no Icarus needed at run time); Icarus under cocotb owns the process and
runs a script to its end, which is how the cocotb testbenches use it instead. Both
simulate the same design: Icarus the Verilog Amaranth writes, this one the netlist
it is written from.

One testbench runs for the whole life of the engine and executes queued jobs; each
method queues a job and steps the simulator until it is done. Register writes are
queued without waiting (they keep their order with everything else) and run before
the next job that returns a result, so loading 8,192 table entries is one run.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from amaranth.hdl import Value
from amaranth.sim import Simulator

from nanogate.gateway.device import DeviceError
from nanogate.hw.layouts import pack
from nanogate.hw.risk.pipeline import RiskPipeline, validate_sizes
from nanogate.hw.testing import axil_read, axil_write, stream_get_n
from nanogate.proto.regmap import WORD_BITS, WORD_BYTES, Access, RegisterMap
from nanogate.proto.risk import (
    COUNTERS,
    DECISION_DTYPE,
    DUP_WINDOW,
    LATENCY_CYCLES,
    ORDER,
    RISK_REGMAP,
    UPDATE,
)

Job = Callable[[Any], Awaitable[None]]


class RtlRiskEngine:
    """The risk pipeline as gateware, cycle by cycle (same options as the model)."""

    def __init__(self, instruments: int = 8192, accounts: int = 1024, dup_bits: int = 16,
                 dup_window: int = DUP_WINDOW) -> None:
        # checked before the design exists, so a bad size leaves no unused elaboratable
        try:
            validate_sizes(instruments, accounts, dup_bits)
        except ValueError as error:
            raise DeviceError(str(error)) from None
        self.dut = RiskPipeline(instruments, accounts, dup_bits, dup_window)
        self.regmap: RegisterMap = RISK_REGMAP
        self._jobs: deque[Job] = deque()
        self._idle = True
        self.cycle = 0
        self._sim = Simulator(self.dut)
        self._sim.add_clock(1e-8)
        self._sim.add_testbench(self._serve, background=True)

    # --- the job loop ----------------------------------------------------------------

    async def _serve(self, ctx: Any) -> None:
        while True:
            if self._jobs:
                self._idle = False
                await self._jobs.popleft()(ctx)
            else:
                self._idle = True
                await ctx.tick()
                self.cycle += 1

    def _run(self, job: Job | None = None) -> None:
        if job is not None:
            self._jobs.append(job)
        self._idle = False
        while self._jobs or not self._idle:
            self._sim.advance()

    # --- registers ---------------------------------------------------------------------

    def write_register(self, name: str, value: int) -> None:
        register = self.regmap.register(name)
        if register.access is Access.RO:
            raise DeviceError(f"register {name!r} is read-only")
        base = self.regmap.offset(name)
        value &= (1 << register.width) - 1
        bus = self.dut.bus

        async def job(ctx: Any) -> None:
            for word in range(register.words):
                await axil_write(ctx, bus, base + word * WORD_BYTES,
                                 value >> (word * WORD_BITS) & 0xFFFF_FFFF)
            if name == "state_clear":
                while (await axil_read(ctx, bus, self.regmap.offset("status")))[0]:
                    pass

        self._jobs.append(job)  # runs, in order, before the next result is asked for

    def read_register(self, name: str) -> int:
        register = self.regmap.register(name)
        base = self.regmap.offset(name)
        result = [0]

        async def job(ctx: Any) -> None:
            for word in range(register.words):
                data, _ = await axil_read(ctx, self.dut.bus, base + word * WORD_BYTES)
                result[0] |= data << (word * WORD_BITS)

        self._run(job)
        return result[0]

    def counters(self) -> dict[str, int]:
        return {name: self.read_register(name) for name in COUNTERS}

    # --- streams -----------------------------------------------------------------------

    def submit(self, orders: np.ndarray) -> np.ndarray:
        payloads = [pack(ORDER, {name: int(row[name]) for name in ORDER.names})
                    for row in orders]
        out = np.zeros(len(payloads), dtype=DECISION_DTYPE)
        dut = self.dut

        async def job(ctx: Any) -> None:
            taken = received = 0
            ctx.set(dut.decisions.ready, 1)
            while received < len(payloads):
                offer = taken < len(payloads)
                ctx.set(dut.orders.valid, offer)
                if offer:
                    ctx.set(Value.cast(dut.orders.payload), payloads[taken])
                _, _, ready, valid, decision = await ctx.tick().sample(
                    dut.orders.ready, dut.decisions.valid, dut.decisions.payload)
                self.cycle += 1
                if offer and ready:
                    taken += 1
                if valid:
                    out[received] = (decision.client_order_id, decision.accepted,
                                     decision.reasons, decision.cycle)
                    received += 1
            ctx.set(dut.orders.valid, 0)
            ctx.set(dut.decisions.ready, 0)

        if payloads:
            self._run(job)
        return out

    def apply_updates(self, updates: np.ndarray) -> None:
        payloads = [pack(UPDATE, {name: int(row[name]) for name in UPDATE.names})
                    for row in updates]
        dut = self.dut

        async def job(ctx: Any) -> None:
            for payload in payloads:
                ctx.set(dut.updates.valid, 1)
                ctx.set(Value.cast(dut.updates.payload), payload)
                await ctx.tick().until(dut.updates.ready)
                self.cycle += 1
            ctx.set(dut.updates.valid, 0)
            # drain, so counters read next include them
            await ctx.tick().repeat(LATENCY_CYCLES)
            self.cycle += LATENCY_CYCLES

        if payloads:
            self._run(job)


# --- a whole program in one simulation (tests, benchmarks, mutation check) ------------

@dataclass
class ProgramRun:
    """What one program did on the gateware, cycle by cycle."""

    #: per order: (client_order_id, accepted, reasons, cycle) as the decision said
    decisions: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: per order: the cycle (edge index) it was taken
    taken: list[int] = field(default_factory=list)
    #: per write step: the cycle its last response was received
    written: list[int] = field(default_factory=list)
    #: the counter registers at the end, read over AXI-Lite
    counters: dict[str, int] = field(default_factory=dict)
    cycles: int = 0


def run_program(dut: Any, steps: Sequence[Any], *, gap_probability: float = 0.0,
                ready_probability: float = 1.0, seed: int = 0,
                limits_writes: Sequence[tuple[str, int]] = (),
                max_cycles: int = 200_000) -> ProgramRun:
    """Run ``steps`` (:class:`~nanogate.sim.cocotb.tb_risk_cases.Step`) on a fresh
    simulation of ``dut`` (a :class:`RiskPipeline`): operations back to back unless a gap
    is drawn, decisions taken with ``ready_probability``. ``limits_writes`` go first.
    A design that has not delivered every decision after ``max_cycles`` raises
    ``TimeoutError``."""
    rng = random.Random(seed)
    run = ProgramRun()
    orders = sum(step.what == "order" for step in steps)
    cycle = [0]
    consumed = [False]

    async def tick(ctx: Any) -> Any:
        result = await ctx.tick().sample(dut.orders.ready, dut.updates.ready)
        cycle[0] += 1
        return result

    async def until(ctx: Any, signal: Any) -> None:
        while True:
            sampled = await ctx.tick().sample(signal)
            cycle[0] += 1
            if sampled[2]:
                return

    async def write(ctx: Any, name: str, value: int) -> None:
        register = RISK_REGMAP.register(name)
        base = RISK_REGMAP.offset(name)
        bus = dut.bus
        for word in range(register.words):
            ctx.set(bus.awaddr, base + word * WORD_BYTES)
            ctx.set(bus.wdata, value >> (word * WORD_BITS) & 0xFFFF_FFFF)
            ctx.set(bus.wstrb, 0xF)
            ctx.set(bus.awvalid, 1)
            ctx.set(bus.wvalid, 1)
            await until(ctx, bus.awready)
            ctx.set(bus.awvalid, 0)
            ctx.set(bus.wvalid, 0)
            ctx.set(bus.bready, 1)
            await until(ctx, bus.bvalid)
            ctx.set(bus.bready, 0)
        while name == "state_clear":  # poll status until the sweep is over
            ctx.set(bus.araddr, RISK_REGMAP.offset("status"))
            ctx.set(bus.arvalid, 1)
            await until(ctx, bus.arready)
            ctx.set(bus.arvalid, 0)
            ctx.set(bus.rready, 1)
            while True:
                _, _, valid, status = await ctx.tick().sample(bus.rvalid, bus.rdata)
                cycle[0] += 1
                if valid:
                    break
            ctx.set(bus.rready, 0)
            if not status:
                break

    async def producer(ctx: Any) -> None:
        for name, value in limits_writes:
            await write(ctx, name, value)
        for step in steps:
            while gap_probability and rng.random() < gap_probability:
                await tick(ctx)
            if step.what == "write":
                for name, value in step.writes:
                    await write(ctx, name, value)
                run.written.append(cycle[0])
            elif step.what == "gap":
                for _ in range(step.cycles):
                    await tick(ctx)
            else:
                port = dut.orders if step.what == "order" else dut.updates
                record = ORDER if step.what == "order" else UPDATE
                op = step.op
                values = {name: getattr(op, name) for name in record.names
                          if name not in ("flags", "kind")}
                values["kind" if record is UPDATE else "flags"] = op.kind
                ctx.set(port.valid, 1)
                ctx.set(Value.cast(port.payload), pack(record, values))
                while True:
                    _, _, order_ready, update_ready = await tick(ctx)
                    if order_ready if step.what == "order" else update_ready:
                        break
                ctx.set(port.valid, 0)
                if step.what == "order":
                    run.taken.append(cycle[0] - 1)
        while not consumed[0]:
            await tick(ctx)
        await ctx.tick().repeat(LATENCY_CYCLES + 1)  # trailing updates reach the counters
        for name in COUNTERS:
            run.counters[name], _ = await axil_read(ctx, dut.bus, RISK_REGMAP.offset(name))

    async def consumer(ctx: Any) -> None:
        got = await stream_get_n(ctx, dut.decisions, orders,
                                 ready_probability=ready_probability, rng=random.Random(seed + 1))
        run.decisions = [(d.client_order_id, d.accepted, d.reasons, d.cycle) for d in got]
        run.cycles = cycle[0]
        consumed[0] = True

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    while sim.advance():
        if cycle[0] > max_cycles:
            break
    if not run.counters:
        raise TimeoutError(f"{len(run.decisions)} of {orders} decisions after {max_cycles} "
                           "cycles: the pipeline hung")
    return run
