"""A configured software risk engine, a venue on 127.0.0.1 and a router between them."""

from __future__ import annotations

import time
from collections.abc import Callable

from nanogate.gateway.device import RiskEngine, open_device
from nanogate.gateway.orders.router import Credentials, OrderRouter
from nanogate.gateway.trading import Outcome
from nanogate.sim.venue.seed import SeedOrder
from nanogate.sim.venue.server import VenueServer

LOCATE, SYMBOL, ACCOUNT = 1, "ABC", 7
ASK, BID = 1_000_100, 999_900
SEED = [SeedOrder(SYMBOL, False, ASK, 500), SeedOrder(SYMBOL, True, BID, 500)]
USERS = {"U7": "pw7", "U8": "pw8"}


def configured_risk(max_qty: int = 10_000) -> RiskEngine:
    risk = open_device("software").risk_engine()
    for name, value in (
            ("inst_reference_price", 1_000_000), ("inst_collar_bps", 500),
            ("inst_max_qty", max_qty), ("inst_max_notional", 10 ** 13),
            ("inst_max_long", 100_000), ("inst_max_short", 100_000), ("inst_flags", 1),
            ("inst_commit", LOCATE), ("acct_credit_limit", 10 ** 15),
            ("acct_rate_per_s", 100_000), ("acct_burst", 10_000), ("acct_flags", 1),
            ("acct_commit", ACCOUNT), ("acct_commit", 8)):
        risk.write_register(name, value)
    return risk


def wait_for(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


class Harness:
    def __init__(self, venue: VenueServer) -> None:
        self.venue = venue
        self.risk = configured_risk()
        self.router = OrderRouter(self.risk, venue.address,
                                  {ACCOUNT: Credentials("U7", "pw7"),
                                   8: Credentials("U8", "pw8")},
                                  heartbeat_s=0.1, timeout_s=1.0)
        self.outcomes: list[Outcome] = []
        self.router.on_outcome(self.outcomes.append)

    def of(self, kind: type) -> list[Outcome]:
        return [o for o in self.outcomes if isinstance(o, kind)]
