from __future__ import annotations

import pytest

from nanogate.gateway.strategies.momentum import Momentum, average_entry
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.trading import NewOrder, Side, TimeInForce

from .kit import LOCATES, accept, canceled, fill, make_spec, raw_fill, top


def momentum(**params: float) -> Momentum:
    return Momentum(make_spec("momentum", {"lookback": 3, **params}), LOCATES)


def feed(strategy: Momentum, *bids: int) -> list[NewOrder]:
    """Books one cent wide at each bid (cents); the orders they made."""
    out = []
    for i, bid in enumerate(bids):
        out += [o for o in strategy.on_book(1, top(bid, bid + 1), i) if isinstance(o, NewOrder)]
    return out


def test_a_breakout_above_the_window_buys_at_the_ask_ioc() -> None:
    m = momentum()
    assert feed(m, 10000, 10002, 10001) == []  # the window fills: high 10002.5 cents
    assert feed(m, 10002) == []  # inside the range
    (order,) = feed(m, 10003)
    assert (order.side, order.quantity, order.price, order.time_in_force) == \
        (Side.BUY, 100, 1_000_400, TimeInForce.IOC)


def test_a_breakdown_sells_at_the_bid() -> None:
    m = momentum(aggress_ticks=1)
    (order,) = feed(m, 10000, 10002, 10001, 9999)
    assert (order.side, order.price) == (Side.SELL, 999_800)  # bid 999,900 less a tick


def test_breakout_bps_must_be_cleared() -> None:
    m = momentum(breakout_bps=5)  # 5 bps of 1,000,250 is 500: needs a mid above 1,000,750
    assert feed(m, 10000, 10002, 10001, 10007) == []
    m2 = momentum(breakout_bps=5)
    assert len(feed(m2, 10000, 10002, 10001, 10008)) == 1


def test_one_order_at_a_time_and_the_position_cap() -> None:
    m = momentum(max_position=150, order_size=100)
    (first,) = feed(m, 10000, 10001, 10002, 10003)
    assert feed(m, 10004) == []  # the IOC has no answer yet
    m.on_outcome(accept(first))
    m.on_outcome(fill(first))
    (second,) = feed(m, 10005)
    assert second.quantity == 50  # up to the cap of 150
    m.on_outcome(fill(second))
    assert m.positions[1] == 150 and feed(m, 10006) == []  # at the cap: no more buying


def test_take_profit_closes_the_whole_position() -> None:
    m = momentum(take_profit_bps=10, stop_loss_bps=0, max_position=100)
    (entry,) = feed(m, 10000, 10001, 10002, 10003)
    m.on_outcome(fill(entry, price=1_000_400))
    assert feed(m, 10004, 10005) == []  # +0.5, +1.5 bps; at the cap, so no adding
    (close,) = feed(m, 10014)  # mid 1,001,450: +10.5 bps on 1,000,400
    assert (close.side, close.quantity, close.time_in_force) == (Side.SELL, 100, TimeInForce.IOC)


def test_stop_loss_closes_a_losing_position() -> None:
    m = momentum(stop_loss_bps=20, take_profit_bps=0)
    (entry,) = feed(m, 10000, 10001, 10002, 10003)
    m.on_outcome(fill(entry, price=1_000_400))
    m.mids[1].clear()
    m.mids[1].extend([1_000_000.0, 999_000.0, 1_000_000.0])  # low 999,000: no breakdown
    (close,) = feed(m, 9982)  # mid 998,250: -21.5 bps
    assert (close.side, close.quantity) == (Side.SELL, 100)


def test_a_cancelled_ioc_frees_the_instrument() -> None:
    m = momentum()
    (order,) = feed(m, 10000, 10001, 10002, 10003)
    m.on_outcome(canceled(order))
    assert not m.orders and len(feed(m, 10004)) == 1


def test_average_entry_across_adds_reductions_and_flips() -> None:
    assert average_entry(0.0, 100, raw_fill(Side.BUY, 100, 1_000, 1)) == 1_000
    assert average_entry(1_000.0, 300, raw_fill(Side.BUY, 200, 1_300, 2)) == 1_200
    assert average_entry(1_200.0, 100, raw_fill(Side.SELL, 200, 1_500, 3)) == 1_200
    assert average_entry(1_200.0, -50, raw_fill(Side.SELL, 150, 1_400, 4)) == 1_400
    assert average_entry(1_400.0, 0, raw_fill(Side.BUY, 50, 1_000, 5)) == 0


def test_the_example_spec_builds_and_a_bad_lookback_is_named() -> None:
    assert Momentum(make_spec("momentum", {"lookback": 20}), LOCATES).params["lookback"] == 20
    with pytest.raises(StrategyConfigError, match=r"strategy s1 \(momentum\): params.lookback"):
        Momentum(make_spec("momentum", {"lookback": 1}), LOCATES)
