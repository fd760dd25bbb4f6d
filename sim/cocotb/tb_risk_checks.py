"""The risk pipeline's checks in the Amaranth simulator, for any build of the design.

Each function takes a ``factory`` (``factory(instruments, accounts, dup_bits,
dup_window)`` -> a ``RiskPipeline``; the class itself will do) and raises ``AssertionError``
when the design parts from the hand expectations or the golden model. The pytest
suite (``tests/hw/test_risk_pipeline.py``) and the mutation check
(``scripts/mutate_risk.py``) run the very same functions.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from amaranth.hdl import Value
from amaranth.sim import Simulator

from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.gateway.risk.limits import apply_limits, limits_writes
from nanogate.gateway.risk.orders import Operation
from nanogate.hw.layouts import pack
from nanogate.hw.testing import axil_write, stream_get_n
from nanogate.proto.risk import LATENCY_CYCLES, ORDER, RISK_REGMAP, Reason, reason_names
from nanogate.sim.cocotb import tb_risk_cases as cases
from nanogate.sim.rtl_risk import ProgramRun, run_program

Factory = Callable[..., Any]
SIZES = (cases.INSTRUMENTS, cases.ACCOUNTS, cases.DUP_BITS, cases.DUP_WINDOW)


#: A duplicate-id table of 4 slots, where accounts 4 and 7 share slots: only the stored
#: account tells their ids apart.
TINY_DUP_SIZES = (cases.INSTRUMENTS, cases.ACCOUNTS, 2, cases.DUP_WINDOW)


def model(kill_switch: bool = False, sizes: tuple[int, int, int, int] = SIZES) \
        -> SoftwareRiskEngine:
    engine = SoftwareRiskEngine(*sizes)
    apply_limits(engine, cases.base_limits(kill_switch))
    return engine


def base_writes(kill_switch: bool = False) -> list[tuple[str, int]]:
    return limits_writes(cases.base_limits(kill_switch), cases.INSTRUMENTS, cases.ACCOUNTS)


def steps_of(ops: tuple[Operation, ...]) -> list[cases.Step]:
    return [cases.Step("order" if op.kind == 0 else "update", op) for op in ops]


def _masks(run: ProgramRun) -> list[tuple[str, ...]]:
    return [tuple(reason_names(d[2])) for d in run.decisions]


def check_hand_cases(factory: Factory) -> None:
    """Every hand case in one simulation, a state clear and the limits between them;
    the decisions as written by hand, the counters as the model's."""
    steps: list[cases.Step] = []
    expect: list[tuple[str, ...]] = []
    soft = SoftwareRiskEngine(*SIZES)
    for case in cases.CASES:
        writes = (("state_clear", 1), *base_writes(case.kill_switch))
        steps.append(cases.Step("write", writes=writes))
        steps += steps_of(case.ops)
        expect += case.expect
    cases.run_program_on_model(soft, steps)
    run = run_program(factory(*SIZES), steps, max_cycles=20_000)
    got = _masks(run)
    for index, (mine, theirs) in enumerate(zip(got, expect, strict=True)):
        assert mine == theirs, f"hand order {index}: gateware {mine}, expected {theirs}"
    assert [d[1] for d in run.decisions] == [int(not e) for e in expect]
    assert run.counters == soft.counters(), "counters"


def check_hazards(factory: Factory) -> None:
    """:data:`~nanogate.sim.cocotb.tb_risk_cases.HAZARDS` back to back at full rate:
    right decisions, one operation per cycle, fixed latency."""
    steps = steps_of(cases.HAZARDS.ops)
    run = run_program(factory(*SIZES), steps, limits_writes=base_writes(), max_cycles=2_000)
    assert _masks(run) == list(cases.HAZARDS.expect)
    assert run.taken[-1] - run.taken[0] == len(cases.HAZARDS.ops) - 1, "not one per cycle"
    assert [d[3] - t for d, t in zip(run.decisions, run.taken, strict=True)] == \
        [LATENCY_CYCLES - 1] * len(run.taken), "latency"


def check_random_program(factory: Factory, seed: int, length: int, gap: float = 0.0,
                         ready: float = 1.0,
                         sizes: tuple[int, int, int, int] = SIZES) -> int:
    """A random program (:func:`~nanogate.sim.cocotb.tb_risk_cases.random_program`)
    decision for decision and counter for counter with the model; returns the orders."""
    steps = cases.random_program(random.Random(seed), length)
    soft = model(sizes=sizes)
    expected = cases.run_program_on_model(soft, steps)
    run = run_program(factory(*sizes), steps, gap_probability=gap, ready_probability=ready,
                      seed=seed, limits_writes=base_writes(), max_cycles=100 * length + 2_000)
    coids = [step.op.client_order_id for step in steps if step.what == "order" and step.op]
    assert [d[0] for d in run.decisions] == coids, "client order ids"
    for index, (decision, mask) in enumerate(zip(run.decisions, expected, strict=True)):
        assert (decision[1], decision[2]) == (int(mask == 0), mask), (
            f"seed {seed} order {index}: gateware {reason_names(decision[2])}, "
            f"model {reason_names(mask)}")
    assert run.counters == soft.counters(), f"seed {seed}: counters"
    return len(expected)


def check_tiny_id_table(factory: Factory) -> None:
    """Accounts 4 and 7 share every slot of a 4-slot id table: the same id from both is
    no duplicate, and an id evicted by the other account is forgotten (a false negative,
    never a false positive)."""
    steps = steps_of((cases.order(7, 1, "buy", 1, coid=42), cases.order(4, 1, "buy", 1, coid=42),
                      cases.order(7, 1, "buy", 1, coid=42), cases.order(7, 1, "buy", 1, coid=42)))
    expected = cases.run_program_on_model(model(sizes=TINY_DUP_SIZES), steps)
    assert expected == [0, 0, 0, Reason.DUPLICATE_ID]
    run = run_program(factory(*TINY_DUP_SIZES), steps, limits_writes=base_writes())
    assert [d[2] for d in run.decisions] == expected


HALT_WRITES: dict[str, list[tuple[str, int]]] = {
    # the staging write changes nothing until the commit, which comes mid-stream
    "kill_switch": [("kill_switch", 1)],
    "instrument": [("inst_flags", 5), ("inst_commit", 1)],
    "account": [("acct_flags", 3), ("acct_commit", 7)],
}


def check_halt_mid_stream(factory: Factory, which: str, start_after: int = 12) -> None:
    """Orders stream back to back while a halting write goes over AXI-Lite: orders taken
    before the write was taken pass, every order taken at or after the edge its response
    completed is ``halted``, and the decisions change once."""
    dut = factory(*SIZES)
    writes = HALT_WRITES[which]
    taken: list[int] = []
    marks: dict[str, int] = {}
    cycle = [0]
    payloads = [pack(ORDER, {"client_order_id": n, "account": 7, "stock_locate": 1,
                             "quantity": 1, "price": cases.REF}) for n in range(40)]
    streaming = [False]
    got: list[int] = []

    async def clock(ctx: Any) -> None:
        async for _ in ctx.tick():
            cycle[0] += 1

    async def writer(ctx: Any) -> None:
        for name, value in base_writes():
            await axil_write(ctx, dut.bus, RISK_REGMAP.offset(name), value)
        streaming[0] = True
        await ctx.tick().repeat(start_after)
        bus = dut.bus
        for name, value in writes:
            ctx.set(bus.awaddr, RISK_REGMAP.offset(name))
            ctx.set(bus.wdata, value)
            ctx.set(bus.wstrb, 0xF)
            ctx.set(bus.awvalid, 1)
            ctx.set(bus.wvalid, 1)
            await ctx.tick().until(bus.awready)
            marks["taken"] = cycle[0] - 1
            ctx.set(bus.awvalid, 0)
            ctx.set(bus.wvalid, 0)
            ctx.set(bus.bready, 1)
            await ctx.tick().until(bus.bvalid)
            marks["response"] = cycle[0] - 1
            ctx.set(bus.bready, 0)

    async def producer(ctx: Any) -> None:
        while not streaming[0]:
            await ctx.tick()
        for payload in payloads:
            ctx.set(dut.orders.valid, 1)
            ctx.set(Value.cast(dut.orders.payload), payload)
            await ctx.tick().until(dut.orders.ready)
            taken.append(cycle[0] - 1)
        ctx.set(dut.orders.valid, 0)

    async def consumer(ctx: Any) -> None:
        got.extend(d.reasons for d in await stream_get_n(ctx, dut.decisions, len(payloads)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(clock)
    for bench in (writer, producer, consumer):
        sim.add_testbench(bench)
    while sim.advance():
        if cycle[0] > 5_000:
            raise TimeoutError("halt mid-stream: the pipeline hung")
    before = [r for t, r in zip(taken, got, strict=True) if t < marks["taken"]]
    after = [r for t, r in zip(taken, got, strict=True) if t >= marks["response"]]
    assert len(before) >= 5 and len(after) >= 5, (taken, marks)
    assert all(r == 0 for r in before), f"{which}: halted before the write"
    assert all(r == Reason.HALTED for r in after), f"{which}: not halted after the write"
    assert sum(a != b for a, b in itertools.pairwise(got)) == 1


#: The mutation check's suite: (name, check) pairs, cheapest first.
def suite(factory: Factory) -> list[tuple[str, Callable[[], object]]]:
    return [
        ("hazards", lambda: check_hazards(factory)),
        ("hand cases", lambda: check_hand_cases(factory)),
        ("halt kill_switch", lambda: check_halt_mid_stream(factory, "kill_switch")),
        ("halt instrument", lambda: check_halt_mid_stream(factory, "instrument")),
        ("random 1", lambda: check_random_program(factory, 1, 150)),
        ("random 2 gaps", lambda: check_random_program(factory, 2, 150, gap=0.3)),
        ("random 3 back-pressure", lambda: check_random_program(factory, 3, 150, ready=0.5)),
        ("random 4", lambda: check_random_program(factory, 4, 150, gap=0.1, ready=0.7)),
        ("tiny id table", lambda: check_tiny_id_table(factory)),
    ]
