"""Mean reversion: fade a mid that strays ``entry_z`` standard deviations from its mean.

Over the last ``window`` distinct mids before the current one, z = (mid -
mean) / std (population std, floored at ``min_std_bps`` of the mean so a flat
window does not make every tick a signal). z >= entry_z sells ``order_size``
(never past ``max_position``) with an IOC at the best bid; z <= -entry_z buys at
the best ask. A long position is closed when z rises back to -exit_z, a short
one when z falls back to exit_z. One order per instrument at a time.
"""

from __future__ import annotations

import math
from collections import deque

from nanogate.gateway.strategies.base import BookTop, Strategy
from nanogate.gateway.strategies.momentum import marketable_price
from nanogate.gateway.strategies.params import Param, resolve_params
from nanogate.gateway.trading import Intent, Side, TimeInForce

__all__ = ["MeanReversion", "RollingStats"]


class RollingStats:
    """Mean and std of the last ``size`` values in O(1) per value.

    Sums are of deviations from the first value seen, so the squares stay small
    (prices near 1e6 would lose the variance to cancellation otherwise).
    """

    __slots__ = ("_base", "_sum", "_sum2", "values")

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)
        self._base: float | None = None
        self._sum = 0.0
        self._sum2 = 0.0

    def push(self, value: float) -> None:
        if self._base is None:
            self._base = value
        if len(self.values) == self.values.maxlen:
            old = self.values[0] - self._base
            self._sum -= old
            self._sum2 -= old * old
        self.values.append(value)
        x = value - self._base
        self._sum += x
        self._sum2 += x * x

    @property
    def full(self) -> bool:
        return len(self.values) == self.values.maxlen

    def mean_std(self) -> tuple[float, float]:
        n = len(self.values)
        base = self._base or 0.0
        mean = self._sum / n
        return base + mean, math.sqrt(max(self._sum2 / n - mean * mean, 0.0))


class MeanReversion(Strategy):
    TYPE = "mean-reversion"
    PARAMS = (
        Param("window", int, 50, 2, 100_000, "mids", "distinct mids in the rolling mean"),
        Param("entry_z", float, 2.0, 0.1, 100.0, "standard deviations", "z that opens"),
        Param("exit_z", float, 0.5, 0.0, 100.0, "standard deviations",
              "z (towards the mean) that closes"),
        Param("order_size", int, 100, 1, 1_000_000, "shares", "size of each entry"),
        Param("max_position", int, 500, 1, 100_000_000, "shares", "absolute position cap"),
        Param("min_std_bps", float, 0.5, 0.0, 10_000.0, "basis points of the mean",
              "floor of the std"),
        Param("aggress_ticks", int, 0, 0, 100, "ticks", "how far through the touch to bid"),
    )

    @classmethod
    def check(cls, params: object) -> list[str]:
        errors = super().check(params)
        if not errors and isinstance(params, dict):
            values = resolve_params(cls.PARAMS, params)
            if values["exit_z"] >= values["entry_z"]:
                errors.append(f"params.exit_z: expected below entry_z "
                              f"({values['entry_z']:g}), found {values['exit_z']:g}")
        return errors

    def setup(self) -> None:
        self.stats = {k: RollingStats(int(self.params["window"])) for k in self.symbols}

    def decide(self, locate: int, top: BookTop, timestamp_ns: int) -> list[Intent]:
        mid = top.mid
        stats = self.stats[locate]
        if mid is None or (stats.values and stats.values[-1] == mid):
            return []
        intents: list[Intent] = []
        if stats.full and not any(o.locate == locate for o in self.orders.values()):
            mean, std = stats.mean_std()
            std = max(std, mean * self.params["min_std_bps"] / 1e4, 1e-9)
            intents = self._signal(locate, top, (mid - mean) / std, timestamp_ns)
        stats.push(mid)
        return intents

    def _signal(self, locate: int, top: BookTop, z: float, timestamp_ns: int) -> list[Intent]:
        p = self.params
        position = self.positions[locate]
        cap, size = int(p["max_position"]), int(p["order_size"])
        side, quantity = Side.BUY, 0
        if position > 0 and z >= -p["exit_z"]:
            side, quantity = Side.SELL, position
        elif position < 0 and z <= p["exit_z"]:
            side, quantity = Side.BUY, -position
        elif z >= p["entry_z"] and position > -cap:
            side, quantity = Side.SELL, min(size, cap + position)
        elif z <= -p["entry_z"] and position < cap:
            side, quantity = Side.BUY, min(size, cap - position)
        price = marketable_price(side, top, int(p["aggress_ticks"]))
        if quantity <= 0 or price is None:
            return []
        return [self.new_order(locate, side, quantity, price, timestamp_ns, TimeInForce.IOC)]
