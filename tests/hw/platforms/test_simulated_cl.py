"""End to end: the aws backend's host side (framing, windows, rings, registers) against
the simulated custom-logic core (PlatformCore: PCIS adapter, feed parser, risk pipeline,
OCL demultiplexer), compared record for record with the software models."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gateway.device import aws
from nanogate.gateway.device.pynq import scenario_payloads
from nanogate.gateway.device.software_feed import SoftwareFeedParser
from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.gateway.risk.limits import apply_limits
from nanogate.gateway.risk.orders import run_operations
from nanogate.hw.platforms.core import SMALL_RISK
from nanogate.hw.platforms.pcis import OKAY
from nanogate.hw.platforms.simulated import SimulatedCL
from nanogate.proto.aws_map import OCL_PLATFORM_BASE, PLATFORM_REGS, RING_RECORDS
from nanogate.sim.cocotb import tb_risk_cases as cases

pytestmark = pytest.mark.sim


def platform(cl: SimulatedCL, name: str) -> int:
    return cl.ocl.read32(OCL_PLATFORM_BASE + PLATFORM_REGS.offset(name))


@pytest.fixture(scope="module")
def cl() -> SimulatedCL:
    return SimulatedCL()  # one simulated core for the module: building it takes a second


def test_packets_written_by_the_host_come_back_as_the_models_book_events(
        cl: SimulatedCL) -> None:
    payloads = scenario_payloads()
    parser = aws.AwsFeedParser.from_bars(cl.ocl, cl.pcis, timeout_s=60)
    model = SoftwareFeedParser()
    want = model.push(payloads)
    got = parser.push(payloads)  # whole beats, in bursts (write-combined stores, DMA)
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got, want)
    assert parser.counters() == model.counters()
    for name in ("pcis_write_errors", "pcis_read_errors", "pcis_framing_errors",
                 "records_ready"):
        assert platform(cl, name) == 0, name
    assert platform(cl, "records_tail") == len(want) % RING_RECORDS
    # uncached stores: 8 bytes per write, its strobes; state carries on from above
    cl.store_bytes = 8
    try:
        np.testing.assert_array_equal(parser.push(payloads[:2]), model.push(payloads[:2]))
    finally:
        cl.store_bytes = 64
    assert parser.counters() == model.counters()
    assert set(cl.pcis.responses) == {OKAY}


def test_orders_and_updates_come_back_as_the_models_decisions(cl: SimulatedCL) -> None:
    assert SMALL_RISK == (cases.INSTRUMENTS, cases.ACCOUNTS, cases.DUP_BITS, cases.DUP_WINDOW)
    engine = aws.AwsRiskEngine.from_bars(cl.ocl, cl.pcis, timeout_s=60)
    model = SoftwareRiskEngine(*SMALL_RISK)
    fields = ["client_order_id", "accepted", "reasons"]
    decided = 0
    for case in cases.CASES[:3]:
        for risk in (engine, model):
            risk.write_register("state_clear", 1)
            apply_limits(risk, cases.base_limits(case.kill_switch))
        got = run_operations(engine, case.ops)
        want = run_operations(model, case.ops)
        assert got[fields].tolist() == want[fields].tolist(), case.name
        # cycle is the hardware's clock at the decision: it only has to move forward
        assert np.all(np.diff(got["cycle"].astype(np.int64)) > 0), case.name
        decided += len(got)
    assert decided > 0
    assert engine.counters() == model.counters()
    assert platform(cl, "decisions_ready") == 0
    assert set(cl.pcis.responses) == {OKAY}
