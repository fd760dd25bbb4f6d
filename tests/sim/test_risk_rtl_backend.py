"""The ``rtl-sim`` risk backend: the gateware behind the RiskEngine interface."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from nanogate.gateway.device import DeviceError, open_device
from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.gateway.risk import cli
from nanogate.gateway.risk.limits import apply_limits
from nanogate.gateway.risk.orders import run_operations
from nanogate.proto.risk import COUNTERS, DECISION_DTYPE, reason_names
from nanogate.sim.cocotb import tb_risk_cases as cases
from nanogate.sim.rtl_risk import RtlRiskEngine

SIZES = {"instruments": cases.INSTRUMENTS, "accounts": cases.ACCOUNTS,
         "dup_bits": cases.DUP_BITS, "dup_window": cases.DUP_WINDOW}


@pytest.mark.sim
def test_hand_cases_and_counters_match_the_model() -> None:
    """All hand cases on one engine, a state clear between them; counters bit for bit."""
    rtl = open_device("rtl-sim", **SIZES).risk_engine()
    assert isinstance(rtl, RtlRiskEngine)
    soft = SoftwareRiskEngine(**SIZES)
    for case in cases.CASES:
        for engine in (rtl, soft):
            engine.write_register("state_clear", 1)
            apply_limits(engine, cases.base_limits(case.kill_switch))
        got = run_operations(rtl, case.ops)
        want = run_operations(soft, case.ops)
        assert [tuple(reason_names(int(d["reasons"]))) for d in got] == list(case.expect), \
            case.name
        assert got.dtype == DECISION_DTYPE
        assert got[["client_order_id", "accepted", "reasons"]].tolist() == \
            want[["client_order_id", "accepted", "reasons"]].tolist()
        assert rtl.counters() == soft.counters(), case.name
    assert set(rtl.counters()) == set(COUNTERS)
    assert rtl.read_register("table_sizes") == soft.read_register("table_sizes")
    assert rtl.read_register("status") == 0
    with pytest.raises(DeviceError, match="read-only"):
        rtl.write_register("orders", 0)


@pytest.mark.sim
def test_decision_cycles_follow_the_pipeline() -> None:
    engine = RtlRiskEngine(**SIZES)
    apply_limits(engine, cases.base_limits())
    orders = np.concatenate([
        run_operations(engine, [cases.order(7, 1, "buy", 1) for _ in range(5)])])
    cycles = orders["cycle"].tolist()
    assert cycles == list(range(cycles[0], cycles[0] + 5))  # one decision per cycle
    assert len(engine.submit(np.zeros(0, dtype=orders.dtype))) == 0
    with pytest.raises(DeviceError, match="powers of two"):
        RtlRiskEngine(instruments=12)


@pytest.mark.sim
def test_cli_on_rtl_sim_matches_software(tmp_path: Path) -> None:
    import argparse

    (tmp_path / "limits.yaml").write_text(
        "instruments:\n"
        "  - {stock_locate: 1, reference_price: 1500000, collar_bps: 500, max_qty: 10000,\n"
        "     max_notional: 10000000000, max_long: 50000, max_short: 50000,\n"
        "     restricted: false, halted: false}\n"
        "accounts:\n"
        "  - {account: 7, credit_limit: 50000000000, rate_per_s: 1000, burst: 2,\n"
        "     halted: false, reduce_only: false}\n")
    (tmp_path / "orders.csv").write_text(
        "client_order_id,account,stock_locate,side,quantity,price,timestamp_ns,kind\n"
        "1,7,1,buy,100,1500000,0,order\n1,7,1,buy,100,1500000,0,fill\n"
        "2,7,1,sell,10001,1600000,0,order\n3,7,1,buy,1,1500000,0,order\n"
        "4,7,1,buy,1,1500000,0,order\n5,7,1,buy,1,1500000,2000000,order\n")
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    outputs = []
    for device in ("software", "rtl-sim"):
        args = parser.parse_args(["risk", "check", "--orders", str(tmp_path / "orders.csv"),
                                  "--limits", str(tmp_path / "limits.yaml"),
                                  "--device", device])
        out = io.StringIO()
        assert args.handler(args, out) == 0
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    assert '"reasons": ["rate"]' in outputs[0]
    assert '"reasons": ["max_qty", "max_notional", "price_collar"]' in outputs[0]
