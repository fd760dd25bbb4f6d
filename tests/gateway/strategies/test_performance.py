from __future__ import annotations

import math
import statistics

import pytest

from nanogate.gateway.strategies.performance import (
    SECONDS_PER_YEAR,
    RunRecorder,
    max_drawdown,
    sharpe,
)
from nanogate.gateway.trading import (
    CancelOrder,
    NewOrder,
    OrderRejected,
    RejectSource,
    ReplaceOrder,
    Side,
)

from .kit import raw_fill

S = 1_000_000_000


def test_sharpe_of_per_second_returns() -> None:
    # end-of-second equity: 0, 10, 30, 20 -> returns on $1,000: 1%, 2%, -1%
    equity = [(S // 2, 0.0), (3 * S // 2, 10.0), (5 * S // 2, 30.0), (7 * S // 2, 20.0)]
    returns = [0.01, 0.02, -0.01]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252 * 23_400)
    assert sharpe(equity, 1_000.0) == pytest.approx(expected)
    assert SECONDS_PER_YEAR == 5_896_800


def test_sharpe_carries_equity_through_quiet_seconds() -> None:
    equity = [(S // 2, 0.0), (5 * S // 2, 10.0), (7 * S // 2, 5.0)]  # nothing in second 1
    returns = [0.0, 0.01, -0.005]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(SECONDS_PER_YEAR)
    assert sharpe(equity, 1_000.0) == pytest.approx(expected)


@pytest.mark.parametrize("equity", [[], [(0, 1.0)], [(0, 0.0), (S, 1.0)],
                                    [(0, 5.0), (S, 5.0), (2 * S, 5.0)]])
def test_no_sharpe_without_two_varying_returns(equity: list[tuple[int, float]]) -> None:
    assert sharpe(equity, 1_000.0) is None


def test_max_drawdown_from_the_running_peak() -> None:
    assert max_drawdown([10, 30, 5, 20, 40, 35]) == 25
    assert max_drawdown([-5, -2]) == 5  # from 0, the equity before the first sample
    assert max_drawdown([]) == 0


def order(coid: int, side: Side, qty: int = 100) -> NewOrder:
    return NewOrder(coid, 7, 1, "AAPL", side, qty, 1_000_000, "s1")


def test_fill_rate_slippage_and_counts() -> None:
    run = RunRecorder(capital=1_000_000.0)
    run.on_intent(order(1, Side.BUY), 1_000_000.0)
    run.on_intent(order(2, Side.SELL), 1_000_000.0)
    run.on_intent(ReplaceOrder(2, 3, 7, 50, 1_000_100, "s1"), None)
    run.on_intent(CancelOrder(1, 7, "s1"), None)
    run.on_outcome(raw_fill(Side.BUY, 60, 1_000_500, 1, client_order_id=1))  # +5 bps
    run.on_outcome(raw_fill(Side.SELL, 40, 999_000, 2, client_order_id=2))  # +10 bps
    run.on_outcome(raw_fill(Side.SELL, 10, 999_000, 3, client_order_id=3))  # no mid
    run.on_outcome(OrderRejected(4, 7, RejectSource.VENUE, "X", 1))
    run.on_equity(S, 25.0)
    run.on_equity(2 * S, 12.0)
    stats = run.stats()
    assert stats.slippage_bps == pytest.approx((60 * 5 + 40 * 10) / 100)
    assert stats.fill_rate == pytest.approx(110 / 250)
    assert (stats.orders, stats.replaces, stats.cancels, stats.rejects, stats.fills) == \
        (2, 1, 1, 1, 3)
    assert (stats.pnl, stats.max_drawdown, run.unmatched_fills) == (12.0, 13.0, 1)


def test_an_empty_run() -> None:
    stats = RunRecorder(capital=1.0).stats()
    assert (stats.pnl, stats.sharpe, stats.fill_rate, stats.slippage_bps) == (0.0, None, None, None)


def test_no_sharpe_without_capital() -> None:
    assert sharpe([(0, 0.0), (S, 1.0), (2 * S, 3.0), (3 * S, 2.0)], 0.0) is None
