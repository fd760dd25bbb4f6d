"""Market making: one bid and one ask around the mid, skewed against inventory.

fair  = mid * (1 - skew_bps_per_share * inventory / 1e4)
bid   = fair * (1 - spread_bps / 2e4), rounded down to the cent grid
ask   = fair * (1 + spread_bps / 2e4), rounded up to the cent grid

A quote never crosses or locks the book (the bid stays a tick under the best
ask and the ask a tick over the best bid), so it always rests. Sizes shrink so
that a full fill never takes the inventory past ``max_inventory`` shares either
way; at the cap that side is not quoted. A live quote is moved (ReplaceOrder)
only when its price is off by at least ``requote_bps`` or its size changed;
while an order waits for the venue nothing more is asked of it. A one-sided,
crossed or locked book cancels both quotes of the instrument.
"""

from __future__ import annotations

import math

from nanogate.gateway.strategies.base import TICK, BookTop, LiveOrder, Strategy
from nanogate.gateway.strategies.params import Param
from nanogate.gateway.trading import Intent, Outcome, Side

__all__ = ["MarketMaking"]

_NO_QUOTES = (0, 0, 0, 0)


class MarketMaking(Strategy):
    TYPE = "market-making"
    PARAMS = (
        Param("spread_bps", float, 10.0, 0.01, 10_000.0, "basis points of the mid",
              "distance from the bid to the ask before skew"),
        Param("quote_size", int, 100, 1, 1_000_000, "shares", "size of each quote"),
        Param("max_inventory", int, 1_000, 1, 100_000_000, "shares",
              "absolute position the quotes never let a fill exceed"),
        Param("skew_bps_per_share", float, 0.01, 0.0, 100.0, "basis points per share",
              "how far the fair price moves against the inventory, per share held"),
        Param("requote_bps", float, 2.0, 0.0, 10_000.0, "basis points of the mid",
              "price change that makes a live quote move"),
    )

    def setup(self) -> None:
        # the quotes last decided per instrument: the same again, with no outcome since,
        # needs no work (most book updates move the mid less than a cent of quote)
        self.decided: dict[int, tuple[int, int, int, int]] = {}

    def on_outcome(self, outcome: Outcome) -> None:
        super().on_outcome(outcome)
        self.decided.clear()

    def resume(self) -> None:
        super().resume()
        self.decided.clear()

    def decide(self, locate: int, top: BookTop, timestamp_ns: int) -> list[Intent]:
        intents: list[Intent] = []
        mid = top.mid
        if mid is None:  # one-sided, crossed or locked: no fair price to quote around
            if self.decided.get(locate) == _NO_QUOTES:
                return []
            self.decided[locate] = _NO_QUOTES
            for side in (Side.BUY, Side.SELL):
                intents += [self.cancel(o) for o in self.working(locate, side) if not o.busy]
            return intents
        assert top.bid is not None and top.ask is not None  # two-sided, from mid
        p = self.params
        inventory = self.positions[locate]
        fair = mid * (1.0 - p["skew_bps_per_share"] * inventory / 1e4)
        half = p["spread_bps"] / 2e4
        bid = min(math.floor(fair * (1.0 - half) / TICK) * TICK, top.ask - TICK)
        ask = max(math.ceil(fair * (1.0 + half) / TICK) * TICK, top.bid + TICK)
        cap, size = int(p["max_inventory"]), int(p["quote_size"])
        bid_size, ask_size = min(size, cap - inventory), min(size, cap + inventory)
        wanted = (bid, ask, bid_size, ask_size)
        if self.decided.get(locate) == wanted:
            return []
        self.decided[locate] = wanted
        threshold = mid * p["requote_bps"] / 1e4
        # The venue has no self-match prevention: a quote moving through our own other
        # quote must wait until that one has moved out of its way (sent first, in the
        # same session, so the venue reads it first), and must not go while that one is
        # still waiting for the venue.
        asks, bids = self.working(locate, Side.SELL), self.working(locate, Side.BUY)
        up = bool(asks) and bid >= min(o.price for o in asks)
        down = bool(bids) and ask <= max(o.price for o in bids)
        blocked = (up or down) and any(o.busy for o in (asks if up else bids))
        quotes = [(Side.BUY, bid, bid_size), (Side.SELL, ask, ask_size)]
        if up:
            quotes.reverse()
        for index, (side, price, quantity) in enumerate(quotes):
            if index == 1 and blocked:
                break
            intents += self._quote(locate, side, price if price > 0 else 0, quantity,
                                   threshold, timestamp_ns)
        return intents

    def _quote(self, locate: int, side: Side, price: int, quantity: int, threshold: float,
               timestamp_ns: int) -> list[Intent]:
        live = self.working(locate, side)
        if any(o.busy for o in live):
            return []  # an answer is on its way: decide again when it has come
        if quantity <= 0 or price <= 0:
            return [self.cancel(o) for o in live]
        if not live:
            return [self.new_order(locate, side, quantity, price, timestamp_ns)]
        first: LiveOrder = live[0]
        extra: list[Intent] = [self.cancel(o) for o in live[1:]]  # one quote a side
        if abs(first.price - price) >= max(threshold, 1) or first.open != quantity:
            extra.append(self.replace(first, quantity, price, timestamp_ns))
        return extra
