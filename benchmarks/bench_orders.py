"""Order entry figures: router (software risk) + venue on loopback TCP.

    .venv/bin/python benchmarks/bench_orders.py [--orders N] [--json]

Rows: one order at a time, submit -> OrderAccepted callback (round trip through the
risk model, OUCH/SoupBinTCP over 127.0.0.1 and the venue's matching), p50/p99 in
microseconds; the risk check alone; then a burst of N orders submitted back to back,
orders per second until the last accept. Non-crossing limit orders, so the venue
only books them. The machine is shared: the load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

import numpy as np

from nanogate.gateway.device import open_device
from nanogate.gateway.orders.router import Credentials, OrderRouter
from nanogate.gateway.trading import NewOrder, OrderAccepted, Outcome, Side
from nanogate.sim.venue.seed import SeedOrder
from nanogate.sim.venue.server import VenueServer


def configured_risk() -> Any:
    risk = open_device("software").risk_engine()
    for name, value in (
            ("inst_reference_price", 1_000_000), ("inst_collar_bps", 500),
            ("inst_max_qty", 10_000), ("inst_max_notional", 10 ** 15),
            ("inst_max_long", 10 ** 9), ("inst_max_short", 10 ** 9), ("inst_flags", 1),
            ("inst_commit", 1), ("acct_credit_limit", 10 ** 18), ("acct_rate_per_s", 10 ** 7),
            ("acct_burst", 60_000), ("acct_flags", 1), ("acct_commit", 1)):
        risk.write_register(name, value)
    return risk


def run(orders: int) -> dict[str, float]:
    seed = [SeedOrder("ABC", False, 1_000_100, 10 ** 6), SeedOrder("ABC", True, 999_900, 10 ** 6)]
    accepted = threading.Semaphore(0)
    done = threading.Event()
    count = [0]
    target = [0]

    def on_outcome(outcome: Outcome) -> None:
        if isinstance(outcome, OrderAccepted):
            accepted.release()
            count[0] += 1
            if count[0] == target[0]:
                done.set()

    with VenueServer(seed) as venue:
        router = OrderRouter(configured_risk(), venue.address, {1: Credentials("B1", "pw")})
        router.on_outcome(on_outcome)
        router.start()
        coid = 0
        round_trips = []
        for _ in range(min(orders, 2000)):
            coid += 1
            target[0] = -1
            started = time.perf_counter_ns()
            router.submit(NewOrder(coid, 1, 1, "ABC", Side.BUY, 10, 999_000 - coid % 100))
            accepted.acquire(timeout=5)
            round_trips.append(time.perf_counter_ns() - started)
        count[0], target[0] = 0, orders
        started = time.perf_counter_ns()
        for _ in range(orders):
            coid += 1
            router.submit(NewOrder(coid, 1, 1, "ABC", Side.SELL, 10, 1_001_000 + coid % 100))
        done.wait(timeout=60)
        burst_s = (time.perf_counter_ns() - started) / 1e9
        risk = np.array(router.latency["risk_ns"], np.int64)
        router.close()
    rt = np.array(round_trips, np.int64) / 1e3
    return {"round_trip_p50_us": float(np.percentile(rt, 50)),
            "round_trip_p99_us": float(np.percentile(rt, 99)),
            "risk_p50_us": float(np.percentile(risk, 50) / 1e3),
            "risk_p99_us": float(np.percentile(risk, 99) / 1e3),
            "burst_orders": float(count[0]), "burst_orders_per_s": count[0] / burst_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.orders)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"  submit -> accepted, one at a time: p50 {figures['round_trip_p50_us']:.0f} us, "
          f"p99 {figures['round_trip_p99_us']:.0f} us")
    print(f"  risk check (software model):       p50 {figures['risk_p50_us']:.1f} us, "
          f"p99 {figures['risk_p99_us']:.1f} us")
    print(f"  burst of {figures['burst_orders']:,.0f} orders: "
          f"{figures['burst_orders_per_s']:,.0f} orders/s to the last accept")


if __name__ == "__main__":
    main()
