"""Hand cases of the risk checks: every reason, each limit exactly met and one tick over.

Shared by the golden-model tests, the Amaranth-simulator tests, the rtl-sim backend
tests and the cocotb testbench (:mod:`nanogate.sim.cocotb.tb_risk`), so the hardware
is held to the very expectations written here. Each case starts from cleared state
with :data:`BASE_LIMITS` (tables of :data:`INSTRUMENTS` x :data:`ACCOUNTS`) and lists
operations with, for each order, the reasons expected.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

from nanogate.gateway.risk.limits import Limits, parse_limits
from nanogate.gateway.risk.orders import KINDS, Operation
from nanogate.proto.risk import SIDE_NAMES

#: Table sizes the simulations use (small, so they build and clear fast).
INSTRUMENTS, ACCOUNTS, DUP_BITS, DUP_WINDOW = 16, 16, 6, 8

REF = 1_500_000  # $150.0000 in price(4)

BASE_LIMITS: dict[str, Any] = {
    "global": {"kill_switch": False},
    "instruments": [
        # 1: the everyday instrument: 5 % collar, roomy notional.
        {"stock_locate": 1, "reference_price": REF, "collar_bps": 500, "max_qty": 10_000,
         "max_notional": 20_000_000_000, "max_long": 50_000, "max_short": 50_000,
         "restricted": False, "halted": False},
        # 2: tight notional (1,000 shares at the reference) and positions (100 / 50).
        {"stock_locate": 2, "reference_price": REF, "collar_bps": 500, "max_qty": 10_000,
         "max_notional": 1_000 * REF, "max_long": 100, "max_short": 50,
         "restricted": False, "halted": False},
        # 3: a collar whose bound is not a whole number of ticks (1 bp of 100.0003).
        {"stock_locate": 3, "reference_price": 1_000_003, "collar_bps": 1, "max_qty": 10_000,
         "max_notional": 20_000_000_000, "max_long": 50_000, "max_short": 50_000,
         "restricted": False, "halted": False},
        {"stock_locate": 4, "reference_price": REF, "collar_bps": 500, "max_qty": 10_000,
         "max_notional": 20_000_000_000, "max_long": 50_000, "max_short": 50_000,
         "restricted": True, "halted": False},
        {"stock_locate": 5, "reference_price": REF, "collar_bps": 500, "max_qty": 10_000,
         "max_notional": 20_000_000_000, "max_long": 50_000, "max_short": 50_000,
         "restricted": False, "halted": True},
    ],
    "accounts": [
        {"account": 7, "credit_limit": 10**15, "rate_per_s": 1000, "burst": 50,
         "halted": False, "reduce_only": False},
        # 3: credit for exactly 1,000 shares at the reference.
        {"account": 3, "credit_limit": 1_000 * REF, "rate_per_s": 1000, "burst": 50,
         "halted": False, "reduce_only": False},
        # 4: two orders at once, then one per millisecond.
        {"account": 4, "credit_limit": 10**15, "rate_per_s": 1000, "burst": 2,
         "halted": False, "reduce_only": False},
        {"account": 5, "credit_limit": 10**15, "rate_per_s": 1000, "burst": 50,
         "halted": True, "reduce_only": False},
        {"account": 6, "credit_limit": 10**15, "rate_per_s": 1000, "burst": 50,
         "halted": False, "reduce_only": True},
    ],
}


def base_limits(kill_switch: bool = False) -> Limits:
    document = copy.deepcopy(BASE_LIMITS)
    document["global"]["kill_switch"] = kill_switch
    return parse_limits(document, "BASE_LIMITS")


@dataclass(frozen=True)
class Case:
    name: str
    ops: tuple[Operation, ...]
    #: per order (not per update), the reason names expected, in bit order
    expect: tuple[tuple[str, ...], ...]
    kill_switch: bool = False


_next_id = [1000]


def order(account: int, locate: int, side: str, qty: int, price: int = REF, t: int = 0,
          coid: int | None = None) -> Operation:
    if coid is None:
        _next_id[0] += 1
        coid = _next_id[0]
    return Operation(0, coid, account, locate, int(SIDE_NAMES[side]), qty, price, t)


def fill(account: int, locate: int, side: str, qty: int, price: int = REF) -> Operation:
    return Operation(KINDS["fill"], 0, account, locate, int(SIDE_NAMES[side]), qty, price)


def cancel(account: int, locate: int, side: str, qty: int, price: int = REF) -> Operation:
    return Operation(KINDS["cancel"], 0, account, locate, int(SIDE_NAMES[side]), qty, price)


def _case(name: str, *steps: tuple[Operation, tuple[str, ...]] | Operation,
          kill_switch: bool = False) -> Case:
    ops: list[Operation] = []
    expect: list[tuple[str, ...]] = []
    for step in steps:
        if isinstance(step, Operation):
            ops.append(step)
        else:
            ops.append(step[0])
            expect.append(step[1])
    return Case(name, tuple(ops), tuple(expect), kill_switch)


OK: tuple[str, ...] = ()

CASES: tuple[Case, ...] = (
    _case("max_qty",
          (order(7, 1, "buy", 10_000), OK),
          (order(7, 1, "buy", 10_001), ("max_qty",))),
    _case("max_notional",
          (order(7, 2, "buy", 100, REF), OK),
          cancel(7, 2, "buy", 100),
          (order(7, 2, "sell", 1_000, REF), ("position",)),  # 50 short at most
          (order(7, 2, "buy", 100, REF + 1), OK),
          cancel(7, 2, "buy", 100, REF + 1),
          (order(7, 1, "buy", 10_000, 2_000_000), ("price_collar",)),
          (order(3, 2, "buy", 1_001, REF), ("max_notional", "credit", "position"))),
    _case("max_notional_boundary",
          # 1,000 x REF is the limit: a tick of price over it fails
          (order(7, 2, "buy", 1_000, REF), ("position",)),
          (order(7, 2, "buy", 1_000, REF + 1), ("max_notional", "position"))),
    _case("price_collar",
          (order(7, 1, "buy", 1, REF + 75_000), OK),
          (order(7, 1, "buy", 1, REF + 75_001), ("price_collar",)),
          (order(7, 1, "sell", 1, REF - 75_000), OK),
          (order(7, 1, "sell", 1, REF - 75_001), ("price_collar",)),
          # 1 bp of 100.0003 is 0.0100003: 100 ticks pass, 101 fail (no rounding)
          (order(7, 3, "buy", 1, 1_000_003 + 100), OK),
          (order(7, 3, "buy", 1, 1_000_003 + 101), ("price_collar",)),
          (order(7, 3, "sell", 1, 1_000_003 - 101), ("price_collar",))),
    _case("credit",
          (order(3, 1, "buy", 600), OK),
          (order(3, 1, "buy", 400), OK),  # open = credit limit exactly
          (order(3, 1, "buy", 1), ("credit",)),
          cancel(3, 1, "buy", 100),
          (order(3, 1, "sell", 100), OK),
          fill(3, 1, "buy", 900),  # open -> filled: still counted
          (order(3, 1, "buy", 1), ("credit",)),
          fill(3, 1, "sell", 100),
          (order(3, 1, "buy", 1), ("credit",))),
    _case("position",
          (order(7, 2, "buy", 60), OK),
          (order(7, 2, "buy", 40), OK),  # open buys reach max_long
          (order(7, 2, "buy", 1), ("position",)),
          (order(7, 2, "sell", 50), OK),  # open sells reach max_short
          (order(7, 2, "sell_short", 1), ("position",)),
          fill(7, 2, "buy", 100),  # net 100, no open buys
          (order(7, 2, "buy", 1), ("position",)),
          (order(7, 2, "sell", 100), OK),  # 150 open sells - 100 net = max_short
          (order(7, 2, "sell", 1), ("position",)),
          cancel(7, 2, "sell", 150),
          fill(7, 2, "sell", 100),  # flat again
          (order(7, 2, "buy", 100), OK)),
    _case("rate",
          (order(4, 1, "buy", 1, t=5_000_000), OK),
          (order(4, 1, "buy", 1, t=5_000_000), OK),
          (order(4, 1, "buy", 1, t=5_000_000), ("rate",)),
          (order(4, 1, "buy", 1, t=5_999_999), ("rate",)),  # 0.999999 token back
          (order(4, 1, "buy", 1, t=6_000_000), OK),  # exactly one token
          (order(4, 1, "buy", 1, t=4_000_000), ("rate",)),  # time never runs back
          (order(4, 1, "buy", 1, t=10**12), OK),
          (order(4, 1, "buy", 1, t=10**12), OK),  # full again: burst, not more
          (order(4, 1, "buy", 1, t=10**12), ("rate",))),
    _case("rate_rejects_use_no_token",
          (order(4, 1, "buy", 10_001), ("max_qty",)),
          (order(4, 1, "buy", 1), OK),
          (order(4, 1, "buy", 1), OK),
          (order(4, 1, "buy", 1), ("rate",))),
    _case("restricted",
          (order(7, 4, "buy", 1), ("restricted",)),
          (order(7, 9, "buy", 1), ("restricted",)),  # not listed
          (order(7, 15, "buy", 1), ("restricted",)),
          (order(7, INSTRUMENTS + 1, "buy", 1), ("restricted",)),  # not an alias of 1
          (order(7, 200, "buy", 1), ("restricted",))),  # outside the table
    _case("duplicate_id",
          (order(7, 1, "buy", 1, coid=42), OK),
          (order(7, 1, "buy", 1, coid=42), ("duplicate_id",)),
          (order(3, 1, "buy", 1, coid=42), OK),  # another account's id space
          (order(7, 1, "buy", 10_001, coid=43), ("max_qty",)),
          (order(7, 1, "buy", 1, coid=43), OK),  # a rejected id may be used again
          *[(order(7, 1, "buy", 1), OK) for _ in range(DUP_WINDOW - 4)],
          (order(7, 1, "buy", 1, coid=42), ("duplicate_id",)),  # DUP_WINDOW orders ago
          (order(7, 1, "buy", 1, coid=42), OK),  # DUP_WINDOW + 1 ago: forgotten
          (order(7, 1, "buy", 1, coid=42), ("duplicate_id",))),
    _case("halted",
          (order(7, 5, "buy", 1), ("halted",)),
          (order(5, 1, "buy", 1), ("halted",)),
          (order(9, 1, "buy", 1), ("halted",)),  # account not listed
          (order(300, 1, "buy", 1), ("halted",)),  # outside the table
          (order(ACCOUNTS + 7, 1, "buy", 1), ("halted",)),  # not an alias of 7
          fill(ACCOUNTS + 7, 1, "buy", 5),  # dropped: no such account
          fill(7, INSTRUMENTS + 1, "buy", 5),  # dropped: no such instrument
          (order(5, 5, "buy", 10_001), ("max_qty", "halted")),
          (order(9, 9, "buy", 1), ("restricted", "halted"))),
    _case("kill_switch",
          (order(7, 1, "buy", 1), ("halted",)),
          (order(7, 4, "buy", 10_001, REF * 2), ("max_qty", "max_notional", "price_collar",
                                                  "restricted", "halted")),
          kill_switch=True),
    _case("reduce_only",
          (order(6, 1, "buy", 1), ("reduce_only",)),  # flat: any buy grows it
          (order(6, 1, "sell", 1), ("reduce_only",)),
          (order(7, 1, "buy", 100), OK),
          fill(7, 1, "buy", 100),  # net +100
          (order(6, 1, "sell", 60), OK),
          (order(6, 1, "sell", 40), OK),  # open sells bring it to 0 exactly
          (order(6, 1, "sell", 1), ("reduce_only",)),
          (order(6, 1, "sell_short", 1), ("reduce_only",)),
          (order(6, 1, "buy", 1), ("reduce_only",)),
          fill(6, 1, "sell", 100),
          (order(7, 1, "sell", 30), OK),
          fill(7, 1, "sell", 30),  # net -30
          (order(6, 1, "buy", 30), OK),
          (order(6, 1, "buy", 1), ("reduce_only",))),
    _case("every_check_at_once",
          (order(7, 1, "buy", 1, coid=77), OK),
          fill(7, 1, "buy", 1),
          # account 3 has no credit for it; locate 2's max_long is 100
          (order(3, 2, "buy", 10_001, REF + 75_001, coid=88),
           ("max_qty", "max_notional", "price_collar", "credit", "position"))),
)


#: Same account and instrument back to back (tests/hw/test_risk_pipeline.py runs it at
#: one operation per cycle).
HAZARDS = _case(
    "hazards",
    # credit: each order sees the exposure the one before booked, one cycle earlier
    (order(3, 1, "buy", 600), OK),
    (order(3, 1, "buy", 400), OK),
    (order(3, 1, "buy", 1), ("credit",)),
    cancel(3, 1, "buy", 1),  # a cancel right behind frees exactly one share
    (order(3, 1, "buy", 1), OK),
    # position: instrument 2 allows 100 long
    (order(7, 2, "buy", 100), OK),
    (order(7, 2, "buy", 1), ("position",)),
    fill(7, 2, "buy", 100),
    (order(7, 2, "buy", 1), ("position",)),
    (order(7, 2, "sell", 151), ("position",)),  # 151 - 100 net > 50 short
    (order(7, 2, "sell", 150), OK),
    # duplicate id back to back, and the token bucket of account 4 (burst 2)
    (order(7, 1, "buy", 1, coid=5), OK),
    (order(7, 1, "buy", 1, coid=5), ("duplicate_id",)),
    (order(4, 1, "buy", 1), OK),
    (order(4, 1, "buy", 1), OK),
    (order(4, 1, "buy", 1), ("rate",)),
    # alternating accounts on one instrument: forwarding by the right key
    (order(6, 1, "buy", 1), ("reduce_only",)),
    (order(7, 1, "buy", 5), OK),
    fill(7, 1, "buy", 6),
    (order(6, 1, "sell", 6), OK),
    (order(6, 1, "sell", 1), ("reduce_only",)),
)

# --- random programs: orders, updates, limit writes and idle gaps ---------------------

@dataclass(frozen=True)
class Step:
    """One step of a random program: ``order`` / ``update`` (an operation), ``write``
    (register writes, applied between the operations around them) or ``gap`` (idle
    cycles)."""

    what: str
    op: Operation | None = None
    writes: tuple[tuple[str, int], ...] = ()
    cycles: int = 0


def random_program(rng: random.Random, length: int) -> list[Step]:
    """Operations that crowd the limits of :data:`BASE_LIMITS`: quantities, prices and
    times near each boundary, ids that repeat, fills and cancels of what was sent,
    limits changed mid-stream, and runs on one account/instrument (hazards)."""
    steps: list[Step] = []
    sent: list[Operation] = []
    now = 0
    account, locate = 7, 1
    for _ in range(length):
        roll = rng.random()
        if roll < 0.5:  # same account and instrument as before most of the time
            account = account if rng.random() < 0.6 else rng.choice((3, 4, 6, 7, 7, 7, 7, 5, 9))
            locate = locate if rng.random() < 0.6 else rng.choice((1, 1, 1, 1, 2, 3, 4, 5, 9))
        if roll < 0.72:
            now += rng.choice((0, 0, 1, 999_999, 1_000_000, 3_000_000))
            qty = rng.choice((1, 1, 10, 10, 50, 60, 100, 400, 600, 1_000, 1_001, 10_000,
                              10_001, rng.randrange(1, 20_000)))
            reference = 1_000_003 if locate == 3 else REF
            price = reference + rng.choice((0, 0, 0, 1, -1, 75_000, 75_001, -75_000, -75_001,
                                            100, 101, rng.randrange(-100_000, 100_000)))
            coid = rng.randrange(1, 8) if rng.random() < 0.4 else rng.randrange(1, 1 << 64)
            op = Operation(0, coid, account, locate, rng.choice((0, 0, 1, 2)), qty, price, now)
            sent.append(op)
            steps.append(Step("order", op))
        elif roll < 0.87 and sent:
            base = rng.choice(sent[-8:])
            kind = KINDS["fill"] if rng.random() < 0.6 else KINDS["cancel"]
            qty = rng.choice((base.quantity, max(1, base.quantity // 2), rng.randrange(1, 2_000)))
            price = base.price + rng.choice((0, 0, -3, 5))
            steps.append(Step("update", Operation(kind, base.client_order_id, base.account,
                                                  base.stock_locate, base.side, qty, price)))
        elif roll < 0.95:
            steps.append(Step("write", writes=tuple(_random_writes(rng))))
        else:
            steps.append(Step("gap", cycles=rng.randrange(1, 4)))
    return steps


def _random_writes(rng: random.Random) -> list[tuple[str, int]]:
    choice = rng.randrange(4)
    if choice == 0:
        return [("kill_switch", int(rng.random() < 0.3))]
    if choice == 1:  # an instrument: new limits, maybe halted or restricted
        locate = rng.choice((1, 2, 3, 9))
        return [("inst_reference_price", REF), ("inst_collar_bps", rng.choice((1, 500, 1000))),
                ("inst_max_qty", rng.choice((100, 10_000))),
                ("inst_max_notional", rng.choice((1_000 * REF, 20_000_000_000))),
                ("inst_max_long", rng.choice((100, 50_000))),
                ("inst_max_short", rng.choice((50, 50_000))),
                ("inst_flags", rng.choice((1, 1, 1, 3, 5, 0))), ("inst_commit", locate)]
    if choice == 2:  # an account
        account = rng.choice((3, 4, 6, 7, 9))
        return [("acct_credit_limit", rng.choice((1_000 * REF, 10**12, 10**15))),
                ("acct_rate_per_s", rng.choice((0, 1000, 1_000_000))),
                ("acct_burst", rng.choice((0, 1, 2, 50))),
                ("acct_flags", rng.choice((1, 1, 1, 3, 5, 0))), ("acct_commit", account)]
    return [("state_clear", 1)] if rng.random() < 0.3 else [("kill_switch", 0)]


def run_program_on_model(engine: Any, steps: list[Step]) -> list[int]:
    """The reason masks of the program's orders, on the golden model (or any engine)."""
    masks: list[int] = []
    for step in steps:
        if step.what == "write":
            for name, value in step.writes:
                engine.write_register(name, value)
        elif step.op is not None and step.what == "order":
            op = step.op
            masks.append(engine.check(op.client_order_id, op.account, op.stock_locate,
                                      op.side, op.quantity, op.price, op.timestamp_ns)[1])
        elif step.op is not None:
            op = step.op
            engine.update(op.kind, op.account, op.stock_locate, op.side, op.quantity,
                          op.price)
    return masks
