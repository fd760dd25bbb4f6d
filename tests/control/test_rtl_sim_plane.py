"""The control plane over the simulated risk pipeline (`nanogate serve --device rtl-sim`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.control.plane import ControlPlane
from nanogate.control.store import Store
from nanogate.gateway.device import open_device
from nanogate.proto.controlapi import control_pb2 as pb

pytestmark = pytest.mark.sim


def _order(client_order_id: int, quantity: int = 100) -> pb.CheckOrderRequest:
    return pb.CheckOrderRequest(client_order_id=client_order_id, account=3, symbol="AAPL",
                                side=pb.SIDE_BUY, quantity=quantity, price=1_500_000)


def test_limits_halts_and_restart_reach_the_simulated_pipeline(tmp_path: Path) -> None:
    def plane() -> ControlPlane:
        engine = open_device("rtl-sim", instruments=16, accounts=8, dup_bits=4).risk_engine()
        return ControlPlane(Store(tmp_path / "control.db"), engine, "rtl-sim")

    first = plane()
    first.set_symbols("t", [pb.Symbol(symbol="AAPL", stock_locate=1)])
    first.set_instrument_limits("t", pb.SetInstrumentLimitsRequest(limits=pb.InstrumentLimits(
        symbol="AAPL", max_qty=500, max_notional=10**12, max_long=10**6, max_short=10**6,
        collar_bps=1000, reference_price=1_500_000)))
    first.set_account_limits("t", pb.SetAccountLimitsRequest(limits=pb.AccountLimits(
        account=3, credit_limit=10**12, rate_per_s=10**6, burst=60_000)))
    assert first.check_order("t", _order(1)).accepted
    assert list(first.check_order("t", _order(2, quantity=501)).reasons) == ["max_qty"]
    first.halt("t", pb.HaltRequest(target=pb.Target(scope=pb.SCOPE_ACCOUNT, account=3),
                                   reason="drill"), 0)
    assert list(first.check_order("t", _order(3)).reasons) == ["halted"]
    assert first.status().device == "rtl-sim"
    first.store.close()

    second = plane()  # restart: limits and the halt are written back into a fresh design
    assert list(second.check_order("t", _order(4)).reasons) == ["halted"]
    second.resume("t", pb.ResumeRequest(target=pb.Target(scope=pb.SCOPE_ACCOUNT, account=3)))
    assert second.check_order("t", _order(5)).accepted
    assert list(second.check_order("t", _order(6, quantity=501)).reasons) == ["max_qty"]
    second.store.close()
