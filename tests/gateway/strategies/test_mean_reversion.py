from __future__ import annotations

import math

import pytest

from nanogate.gateway.strategies.mean_reversion import MeanReversion, RollingStats
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.trading import NewOrder, Side, TimeInForce

from .kit import LOCATES, accept, fill, make_spec, top


def reverter(**params: float) -> MeanReversion:
    return MeanReversion(make_spec("mean-reversion", {"window": 4, "min_std_bps": 0, **params}),
                         LOCATES)


def feed(strategy: MeanReversion, *bids: int) -> list[NewOrder]:
    out = []
    for i, bid in enumerate(bids):
        out += [o for o in strategy.on_book(1, top(bid, bid + 2), i) if isinstance(o, NewOrder)]
    return out


def test_rolling_stats_match_a_direct_computation() -> None:
    stats = RollingStats(3)
    for value in (1_000_000.0, 1_000_300.0, 999_900.0, 1_000_100.0):
        stats.push(value)
    mean, std = stats.mean_std()
    window = [1_000_300.0, 999_900.0, 1_000_100.0]
    expected = sum(window) / 3
    assert mean == pytest.approx(expected)
    assert std == pytest.approx(math.sqrt(sum((x - expected) ** 2 for x in window) / 3))


@pytest.mark.parametrize(("entry_z", "enters"), [(2.0, True), (2.01, False)])
def test_a_mid_entry_z_above_the_mean_sells_at_the_bid(entry_z: float, enters: bool) -> None:
    r = reverter(entry_z=entry_z)
    # window 1,000,100 / 1,000,300 alternating: mean 1,000,200, std 100
    assert feed(r, 10000, 10002, 10000, 10002) == []
    orders = feed(r, 10003)  # mid 1,000,400: z = 2
    assert [(o.side, o.price, o.quantity, o.time_in_force) for o in orders] == \
        ([(Side.SELL, 1_000_300, 100, TimeInForce.IOC)] if enters else [])


def test_a_mid_far_below_the_mean_buys_at_the_ask() -> None:
    r = reverter(entry_z=2.0)
    feed(r, 10000, 10002, 10000, 10002)
    orders = feed(r, 9997)  # mid 999,800: z = -4
    assert [(o.side, o.price) for o in orders] == [(Side.BUY, 999_900)]


def test_the_position_closes_when_z_comes_back() -> None:
    r = reverter(entry_z=2.0, exit_z=0.5)
    feed(r, 10000, 10002, 10000, 10002)
    (entry,) = feed(r, 10004)  # mid 1,000,500: z = 3
    r.on_outcome(accept(entry))
    r.on_outcome(fill(entry))
    assert r.positions[1] == -100
    # window now 1,000,300 1,000,100 1,000,300 1,000,500: mean 1,000,300, std 141.4
    assert feed(r, 10004) == []  # same mid: not a new observation
    (close,) = feed(r, 10002)  # mid 1,000,300: z = 0 <= 0.5 -> buy back
    assert (close.side, close.quantity) == (Side.BUY, 100)


def test_min_std_keeps_a_flat_window_quiet() -> None:
    r = MeanReversion(make_spec("mean-reversion", {"window": 4}), LOCATES)  # floor 0.5 bp
    assert feed(r, 10000, 10000, 10000, 10000, 10001) == []  # 50 = 1 floor-std: z = 1


def test_exit_z_must_be_below_entry_z() -> None:
    with pytest.raises(StrategyConfigError, match=r"params.exit_z: expected below entry_z"):
        reverter(entry_z=1.0, exit_z=1.0)
