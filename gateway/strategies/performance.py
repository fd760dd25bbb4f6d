"""A run's statistics: PnL, Sharpe, max drawdown, fill rate, slippage, orders and rejects.

- PnL: the last equity sample (realized + unrealized - fees, dollars).
- Sharpe: of per-second returns, annualised. The equity series is sampled at
  the end of each whole second from the first sample's second to the last's
  (the latest sample at or before it); a return is that second's equity change
  divided by capital; Sharpe = mean / std (ddof 1) x sqrt(252 x 23,400), a
  year of 252 trading days of 6.5 hours. None with fewer than two returns or
  no variation.
- Max drawdown: the largest fall of equity from its running peak, dollars
  (the peak starts at 0, the equity before the first sample).
- Fill rate: shares filled / shares sent; every NewOrder and every
  ReplaceOrder sends its quantity (a replace is a new order at the venue).
- Slippage: per filled share, the fill price against the mid when the order
  was decided, in basis points of that mid, positive when it cost (a buy above
  the mid, a sell below); averaged by shares. Fills of an order sent with no
  mid are left out and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nanogate.gateway.trading import (
    CancelOrder,
    Intent,
    NewOrder,
    OrderFilled,
    OrderRejected,
    Outcome,
    ReplaceOrder,
    Side,
)

__all__ = ["SECONDS_PER_YEAR", "RunRecorder", "RunStats", "max_drawdown", "sharpe"]

SECONDS_PER_YEAR = 252 * 23_400  # trading seconds: 252 days of 6.5 hours
_NS = 1_000_000_000


def sharpe(equity: Sequence[tuple[int, float]], capital: float) -> float | None:
    """Annualised Sharpe of per-second returns on ``capital`` (see the module's notes)."""
    if len(equity) < 2 or capital <= 0:
        return None
    stamps = np.array([t for t, _ in equity], np.int64)
    values = np.array([v for _, v in equity], np.float64)
    seconds = np.arange(stamps[0] // _NS, stamps[-1] // _NS + 1)
    at = np.searchsorted(stamps, (seconds + 1) * _NS - 1, side="right") - 1
    returns = np.diff(values[at]) / capital
    if len(returns) < 2:
        return None
    std = float(returns.std(ddof=1))
    if std == 0.0:
        return None
    return float(returns.mean()) / std * math.sqrt(SECONDS_PER_YEAR)


def max_drawdown(values: Sequence[float]) -> float:
    peak, worst = 0.0, 0.0
    for value in values:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


@dataclass(frozen=True, slots=True)
class RunStats:
    pnl: float  # dollars
    sharpe: float | None
    max_drawdown: float  # dollars
    fill_rate: float | None  # filled / sent shares; None when nothing was sent
    slippage_bps: float | None  # None when no fill had a decision mid
    orders: int  # NewOrders sent
    replaces: int
    cancels: int
    rejects: int
    fills: int
    sent_quantity: int
    filled_quantity: int


@dataclass
class RunRecorder:
    """Collects what a run sends and gets back; :meth:`stats` sums it up."""

    capital: float  # dollars, for the Sharpe's returns (the spec's maxPositionSize)
    equity: list[tuple[int, float]] = field(default_factory=list)
    orders: int = 0
    replaces: int = 0
    cancels: int = 0
    rejects: int = 0
    fills: int = 0
    sent_quantity: int = 0
    filled_quantity: int = 0
    unmatched_fills: int = 0  # fills of orders with no decision mid
    _mids: dict[int, float] = field(default_factory=dict)  # client order id -> mid, price(4)
    _slippage: float = 0.0  # bps x shares
    _slipped: int = 0  # shares in _slippage

    def on_intent(self, intent: Intent, mid: float | None) -> None:
        """An intent sent, with the instrument's mid when it was decided (price(4))."""
        if isinstance(intent, NewOrder | ReplaceOrder):
            self.sent_quantity += intent.quantity
            order_id = intent.client_order_id if isinstance(intent, NewOrder) \
                else intent.new_client_order_id
            if mid is not None and mid > 0:
                self._mids[order_id] = mid
            if isinstance(intent, NewOrder):
                self.orders += 1
            else:
                self.replaces += 1
        elif isinstance(intent, CancelOrder):
            self.cancels += 1

    def on_outcome(self, outcome: Outcome) -> None:
        if isinstance(outcome, OrderRejected):
            self.rejects += 1
        elif isinstance(outcome, OrderFilled):
            self.fills += 1
            self.filled_quantity += outcome.quantity
            mid = self._mids.get(outcome.client_order_id)
            if mid is None:
                self.unmatched_fills += 1
                return
            cost = outcome.price - mid if outcome.side == Side.BUY else mid - outcome.price
            self._slippage += cost / mid * 1e4 * outcome.quantity
            self._slipped += outcome.quantity

    def on_equity(self, timestamp_ns: int, equity: float) -> None:
        self.equity.append((timestamp_ns, equity))

    def stats(self) -> RunStats:
        return RunStats(
            pnl=self.equity[-1][1] if self.equity else 0.0,
            sharpe=sharpe(self.equity, self.capital),
            max_drawdown=max_drawdown([v for _, v in self.equity]),
            fill_rate=self.filled_quantity / self.sent_quantity if self.sent_quantity else None,
            slippage_bps=self._slippage / self._slipped if self._slipped else None,
            orders=self.orders, replaces=self.replaces, cancels=self.cancels,
            rejects=self.rejects, fills=self.fills, sent_quantity=self.sent_quantity,
            filled_quantity=self.filled_quantity)
