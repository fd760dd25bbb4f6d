"""A risk engine shared by the control plane and the router: locked calls, decision listeners."""

from __future__ import annotations

import threading

import numpy as np
import yaml

from nanogate.gateway.device import open_device
from nanogate.gateway.device.shared import SharedRiskEngine
from nanogate.gateway.risk.limits import apply_limits, parse_limits
from nanogate.gateway.risk.orders import Operation, order_records

LIMITS = """
instruments:
  - {stock_locate: 1, reference_price: 1500000, collar_bps: 1000, max_qty: 1000,
     max_notional: 100000000000, max_long: 100000, max_short: 100000, restricted: false,
     halted: false}
accounts:
  - {account: 3, credit_limit: 100000000000000, rate_per_s: 1000000, burst: 60000,
     halted: false, reduce_only: false}
"""


def _orders(start: int, n: int) -> np.ndarray:
    return order_records([Operation(0, start + i, 3, 1, 0, 10, 1_500_000) for i in range(n)])


def test_orders_and_register_writes_from_two_threads_stay_whole() -> None:
    shared = SharedRiskEngine(open_device("software", instruments=16, accounts=8).risk_engine())
    apply_limits(shared, parse_limits(yaml.safe_load(LIMITS)))
    seen: list[tuple[int, int]] = []
    shared.decision_listeners.append(
        lambda orders, decisions: seen.extend(zip(orders["client_order_id"].tolist(),
                                                  decisions["client_order_id"].tolist(),
                                                  strict=True)))
    accepted: list[int] = []

    def trade() -> None:
        for batch in range(50):
            decisions = shared.submit(_orders(1 + batch * 20, 20))
            accepted.append(int(decisions["accepted"].sum()))

    def toggle() -> None:
        for _ in range(200):
            shared.write_register("kill_switch", 1)
            shared.write_register("kill_switch", 0)

    threads = [threading.Thread(target=trade), threading.Thread(target=toggle)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(seen) == 1000 and all(a == b for a, b in seen)
    counters = shared.counters()
    assert counters["orders"] == 1000
    assert sum(accepted) + counters["reject_halted"] == 1000
    assert shared.read_register("kill_switch") == 0
    state = shared.instrument_state(1)  # the backend's inspection, through the lock
    assert state.open_buy == 10 * sum(accepted)  # side 0: buy
