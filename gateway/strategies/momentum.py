"""Momentum: buy a breakout above the recent range, sell one below it; IOC orders.

The window is the last ``lookback`` distinct mids before the current one. When
the mid rises above the window's high by ``breakout_bps`` the strategy buys
``order_size`` shares (never past ``max_position``) with an immediate-or-cancel
order at the best ask plus ``aggress_ticks``; a break below the low sells the
same way. A position is closed by one IOC order when the mid reaches
``take_profit_bps`` above (long) or below (short) the average entry price, or
``stop_loss_bps`` against it, or on a breakout the other way. One order per
instrument at a time: while one waits for its answer the strategy only watches.
"""

from __future__ import annotations

from collections import deque

from nanogate.gateway.strategies.base import TICK, BookTop, Strategy
from nanogate.gateway.strategies.params import Param
from nanogate.gateway.trading import Intent, OrderFilled, Side, TimeInForce

__all__ = ["Momentum", "marketable_price"]


def marketable_price(side: Side, top: BookTop, ticks: int) -> int | None:
    """An IOC limit that reaches the other side's best price, ``ticks`` beyond it."""
    touch = top.ask if side == Side.BUY else top.bid
    if touch is None:
        return None
    price = touch + ticks * TICK if side == Side.BUY else touch - ticks * TICK
    return price if price > 0 else None


class Momentum(Strategy):
    TYPE = "momentum"
    PARAMS = (
        Param("lookback", int, 20, 2, 1_000, "mids", "distinct mids in the breakout window"),
        Param("breakout_bps", float, 0.0, 0.0, 10_000.0, "basis points",
              "how far past the window's high (low) the mid must go"),
        Param("order_size", int, 100, 1, 1_000_000, "shares", "size of each entry"),
        Param("max_position", int, 500, 1, 100_000_000, "shares", "absolute position cap"),
        Param("take_profit_bps", float, 50.0, 0.0, 10_000.0, "basis points of entry",
              "gain that closes the position (0: never)"),
        Param("stop_loss_bps", float, 25.0, 0.0, 10_000.0, "basis points of entry",
              "loss that closes the position (0: never)"),
        Param("aggress_ticks", int, 0, 0, 100, "ticks", "how far through the touch to bid"),
    )

    def setup(self) -> None:
        lookback = int(self.params["lookback"])
        self.mids: dict[int, deque[float]] = {k: deque(maxlen=lookback) for k in self.symbols}
        self.entry: dict[int, float] = dict.fromkeys(self.symbols, 0.0)  # average, price(4)

    def decide(self, locate: int, top: BookTop, timestamp_ns: int) -> list[Intent]:
        mid = top.mid
        window = self.mids[locate]
        if mid is None or (window and window[-1] == mid):
            return []
        intents: list[Intent] = []
        if len(window) == window.maxlen and not self.working_on(locate):
            intents = self._signal(locate, top, mid, max(window), min(window), timestamp_ns)
        window.append(mid)
        return intents

    def _signal(self, locate: int, top: BookTop, mid: float, high: float, low: float,
                timestamp_ns: int) -> list[Intent]:
        p = self.params
        position = self.positions[locate]
        edge = p["breakout_bps"] / 1e4
        up, down = mid > high * (1 + edge), mid < low * (1 - edge)
        if position:
            gain = (mid / self.entry[locate] - 1) * 1e4 * (1 if position > 0 else -1)
            take, stop = p["take_profit_bps"], p["stop_loss_bps"]
            against = down if position > 0 else up
            if (take and gain >= take) or (stop and gain <= -stop) or against:
                side = Side.SELL if position > 0 else Side.BUY
                return self._ioc(locate, side, abs(position), top, timestamp_ns)
        cap, size = int(p["max_position"]), int(p["order_size"])
        if up and position < cap:
            return self._ioc(locate, Side.BUY, min(size, cap - position), top, timestamp_ns)
        if down and position > -cap:
            return self._ioc(locate, Side.SELL, min(size, cap + position), top, timestamp_ns)
        return []

    def _ioc(self, locate: int, side: Side, quantity: int, top: BookTop, timestamp_ns: int
             ) -> list[Intent]:
        price = marketable_price(side, top, int(self.params["aggress_ticks"]))
        if price is None:
            return []
        return [self.new_order(locate, side, quantity, price, timestamp_ns, TimeInForce.IOC)]

    def working_on(self, locate: int) -> bool:
        return any(o.locate == locate for o in self.orders.values())

    def filled(self, fill: OrderFilled) -> None:
        self.entry[fill.locate] = average_entry(self.entry.get(fill.locate, 0.0),
                                                self.positions[fill.locate], fill)


def average_entry(entry: float, position_after: int, fill: OrderFilled) -> float:
    """The average entry price after ``fill`` (which brought the position to ``position_after``)."""
    signed = fill.quantity if fill.side == Side.BUY else -fill.quantity
    before = position_after - signed
    if position_after == 0:
        return 0.0
    if before == 0 or (before > 0) != (position_after > 0):  # opened, or flipped
        return float(fill.price)
    if abs(position_after) > abs(before):  # added to it: weighted
        return (entry * abs(before) + fill.price * fill.quantity) / abs(position_after)
    return entry  # reduced: the rest keeps its entry
