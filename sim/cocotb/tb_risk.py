"""cocotb testbench of :class:`nanogate.hw.risk.top.RiskTop` as generated Verilog.

Run by ``tests/sim/test_risk_cocotb.py`` (toplevel ``risk_top``, the small table sizes of
:mod:`~nanogate.sim.cocotb.tb_risk_cases`). Limits go in through cocotbext-axi's
``AxiLiteMaster``, orders and updates through ``AxiStreamSource`` (one record per beat:
``byte_lanes=1``), decisions come out through ``AxiStreamSink``. Every decision is
compared with the golden model, and the hand cases with their written expectations.
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamSink,
    AxiStreamSource,
)

from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.gateway.risk.limits import limits_writes
from nanogate.gateway.risk.orders import Operation
from nanogate.hw.layouts import pack, unpack
from nanogate.proto.regmap import WORD_BITS, WORD_BYTES
from nanogate.proto.risk import (
    COUNTERS,
    DECISION,
    LATENCY_CYCLES,
    ORDER,
    RISK_REGMAP,
    UPDATE,
    Reason,
    reason_names,
)
from nanogate.sim.cocotb import tb_risk_cases as cases


class Harness:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.regs = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "bus_"), dut.clk, dut.rst)
        self.orders = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_order_"),
                                      dut.clk, dut.rst, byte_lanes=1)
        self.updates = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_update_"),
                                       dut.clk, dut.rst, byte_lanes=1)
        self.decisions = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_decision_"),
                                       dut.clk, dut.rst, byte_lanes=1)
        self.model = SoftwareRiskEngine(cases.INSTRUMENTS, cases.ACCOUNTS, cases.DUP_BITS,
                                        cases.DUP_WINDOW)

    async def write(self, name: str, value: int) -> None:
        """One register write, to the gateware and the model."""
        register = RISK_REGMAP.register(name)
        for word in range(register.words):
            chunk = value >> (word * WORD_BITS) & 0xFFFF_FFFF
            await self.regs.write_dword(RISK_REGMAP.offset(name) + word * WORD_BYTES, chunk)
        if name == "state_clear":
            while await self.regs.read_dword(RISK_REGMAP.offset("status")):
                pass
        self.model.write_register(name, value)

    async def read(self, name: str) -> int:
        return int(await self.regs.read_dword(RISK_REGMAP.offset(name)))

    async def load(self, kill_switch: bool = False) -> None:
        await self.write("state_clear", 1)
        for name, value in limits_writes(cases.base_limits(kill_switch), cases.INSTRUMENTS,
                                         cases.ACCOUNTS):
            await self.write(name, value)

    async def run(self, steps: list[cases.Step]) -> list[tuple[int, int]]:
        """Run steps in order (each stream drained before the other or a write starts);
        returns (gateware mask, model mask) per order."""
        expected: list[int] = []
        source = self.orders
        for step in steps:
            op = step.op
            if step.what == "write":
                await self.orders.wait()
                await self.updates.wait()
                for name, value in step.writes:
                    await self.write(name, value)
            elif step.what == "gap":
                for _ in range(step.cycles):
                    await RisingEdge(self.dut.clk)
            elif op is not None and step.what == "order":
                if source is not self.orders:
                    await source.wait()
                    source = self.orders
                values = {name: getattr(op, name) for name in ORDER.names if name != "flags"}
                await source.send([pack(ORDER, values)])
                expected.append(self.model.check(
                    op.client_order_id, op.account, op.stock_locate, op.side, op.quantity,
                    op.price, op.timestamp_ns)[1])
            elif op is not None:
                if source is not self.updates:
                    await source.wait()
                    source = self.updates
                values = {name: getattr(op, name) for name in UPDATE.names}
                await source.send([pack(UPDATE, values)])
                self.model.update(op.kind, op.account, op.stock_locate, op.side, op.quantity,
                                  op.price)
        got = []
        for _ in expected:
            frame = await self.decisions.recv()
            got.append(unpack(DECISION, frame.tdata[0]))
        await self.orders.wait()
        await self.updates.wait()
        for _ in range(LATENCY_CYCLES + 1):  # updates drain into the counters
            await RisingEdge(self.dut.clk)
        return [(int(d["reasons"]), mask) for d, mask in zip(got, expected, strict=True)]

    async def check_counters(self) -> None:
        for name in COUNTERS:
            assert await self.read(name) == self.model.read_register(name), name


async def start(dut: Any) -> Harness:
    Clock(dut.clk, 4, unit="ns").start()
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    harness = Harness(dut)
    await RisingEdge(dut.clk)
    return harness


def _steps(ops: tuple[Operation, ...]) -> list[cases.Step]:
    return [cases.Step("order" if op.kind == 0 else "update", op) for op in ops]


# sim-time limits turn a hang into a failure (each needs well under a tenth of it)
@cocotb.test(timeout_time=2, timeout_unit="ms")
async def test_hand_cases(dut: Any) -> None:
    """Every reason and boundary, against the expectations written by hand."""
    harness = await start(dut)
    for case in cases.CASES:
        await harness.load(case.kill_switch)
        results = await harness.run(_steps(case.ops))
        assert [tuple(reason_names(got)) for got, _ in results] == list(case.expect), case.name
        assert all(got == want for got, want in results), case.name
    await harness.check_counters()


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def test_random_programs_against_the_model(dut: Any) -> None:
    """Random orders, fills, cancels and limit changes with random back-pressure and
    gaps: decision for decision and counter for counter with the golden model."""
    harness = await start(dut)
    rng = random.Random(random.getrandbits(32))
    pauses = random.Random(rng.getrandbits(32))
    total = 0
    for program in range(6):
        await harness.load()
        # pauses from their own generator, so the program depends on the seed alone
        harness.decisions.set_pause_generator(
            iter(lambda: pauses.random() < 0.4, None) if program % 2 else None)
        harness.orders.set_pause_generator(
            iter(lambda: pauses.random() < 0.2, None) if program % 3 == 1 else None)
        # clearing a generator leaves the last pause in force: release it
        harness.decisions.pause = harness.orders.pause = False
        steps = cases.random_program(rng, 120)
        for index, (got, want) in enumerate(await harness.run(steps)):
            assert got == want, (f"program {program} order {index}: gateware "
                                 f"{reason_names(got)}, model {reason_names(want)}")
            total += 1
    await harness.check_counters()
    dut._log.info("%d decisions equal to the model", total)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def test_full_rate_hazards_and_halt_mid_stream(dut: Any) -> None:
    """Same account and instrument back to back at one order per cycle, latency fixed;
    then the kill switch written while orders stream: it halts exactly the orders that
    arrive after the write's response."""
    harness = await start(dut)
    await harness.load()
    taken: list[int] = []
    decided: list[int] = []
    marks: dict[str, int] = {}

    async def monitor() -> None:
        cycle = 0
        while True:
            await ReadOnly()
            if dut.s_axis_order__tvalid.value and dut.s_axis_order__tready.value:
                taken.append(cycle)
            if dut.m_axis_decision__tvalid.value and dut.m_axis_decision__tready.value:
                decided.append(cycle)
            if dut.bus__awvalid.value and dut.bus__awready.value:
                marks["aw"] = cycle
            if dut.bus__bvalid.value and dut.bus__bready.value:
                marks["b"] = cycle
            await RisingEdge(dut.clk)
            cycle += 1

    cocotb.start_soon(monitor())
    # account 3's credit is 1,000 shares: the third order must see the first two
    burst = [cases.order(3, 1, "buy", 600), cases.order(3, 1, "buy", 400),
             cases.order(3, 1, "buy", 1), cases.order(7, 2, "buy", 100),
             cases.order(7, 2, "buy", 1), cases.order(7, 1, "buy", 1, coid=9),
             cases.order(7, 1, "buy", 1, coid=9)]
    results = await harness.run(_steps(tuple(burst)))
    assert [got for got, _ in results] == [0, 0, Reason.CREDIT, 0, Reason.POSITION, 0,
                                            Reason.DUPLICATE_ID]
    assert taken == list(range(taken[0], taken[0] + len(burst))), "not one order per cycle"
    assert [d - t for d, t in zip(decided, taken, strict=True)] == \
        [LATENCY_CYCLES] * len(burst), "latency"

    taken.clear()
    decided.clear()
    stream = [cases.order(7, 1, "buy", 1) for _ in range(60)]
    for op in stream:
        values = {name: getattr(op, name) for name in ORDER.names if name != "flags"}
        await harness.orders.send([pack(ORDER, values)])
    for _ in range(15):
        await RisingEdge(dut.clk)
    await harness.regs.write_dword(RISK_REGMAP.offset("kill_switch"), 1)
    reasons = [int(unpack(DECISION, (await harness.decisions.recv()).tdata[0])["reasons"])
               for _ in stream]
    before = [r for t, r in zip(taken, reasons, strict=True) if t < marks["aw"]]
    after = [r for t, r in zip(taken, reasons, strict=True) if t >= marks["b"]]
    assert len(before) > 5 and len(after) > 5
    assert set(before) == {0} and set(after) == {Reason.HALTED}
    await harness.regs.write_dword(RISK_REGMAP.offset("kill_switch"), 0)
