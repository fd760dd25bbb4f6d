"""The venue's liquidity: an ITCH session's resting orders, then (optionally) its flow.

The venue decodes the same file the feed publishes, applies a prefix of it to a
:class:`~nanogate.gateway.book.BookSet`, and copies every live order (symbol,
side, price, shares) into its matching engine, oldest reference number first so
time priority follows the feed's. Strategies that quote around the feed's mid
then meet the liquidity the feed shows.

A :class:`FeedFollower` can then play the rest of the session into the engine as
the market's own order flow: adds rest (or trade with our orders if they cross
them), cancels and deletes remove, and each execution becomes an IOC order from
the other side at the executed order's price, so a quote of ours that is better
priced is hit first, as it would be on the real venue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nanogate.sim.venue.matching import Fill, MatchingEngine


@dataclass(frozen=True, slots=True)
class SeedOrder:
    symbol: str
    is_buy: bool
    price: int
    shares: int
    ref: int = 0  # its ITCH order reference number (0: none), for a FeedFollower


@dataclass
class Session:
    """An ITCH session split at the seed point."""

    orders: list[SeedOrder]
    rest: np.ndarray  # BookEvents after the seed point
    symbols: dict[int, str] = field(default_factory=dict)  # stock locate -> symbol


def load_session(path: str | Path, messages: int | None = None) -> Session:
    """The live orders after the first ``messages`` messages (all of them for None), and
    the events after them. Raises ValueError for a file that cannot be read as a feed."""
    from nanogate.gateway.book import BookSet
    from nanogate.gateway.feed import fast
    from nanogate.gateway.feed.source import open_feed

    try:
        decoded = fast.decode(open_feed(path))
    except Exception as error:  # FeedFormatError and OSError alike: one clear message
        raise ValueError(f"cannot seed the venue from {path}: {error}") from None
    split = len(decoded.events) if messages is None else max(messages, 0)
    books = BookSet()
    books.apply(decoded.events[:split])
    orders = []
    for ref, (locate, side, price, shares) in sorted(books.orders.items()):
        symbol = books.symbol(locate)
        if symbol and shares > 0 and price > 0:
            orders.append(SeedOrder(symbol, side == b"B", price, shares, ref))
    rest = decoded.events[split:]
    symbols = {locate: name for name, locate in books.symbols().items()}
    for locate, stock in zip(rest["stock_locate"].tolist(), rest["stock"].tolist(),
                             strict=True):
        name = stock.decode("latin-1").strip()
        if name and locate not in symbols:
            symbols[locate] = name
    return Session(orders, rest, symbols)


def seed_orders(path: str | Path, messages: int | None = None) -> list[SeedOrder]:
    return load_session(path, messages).orders


def seed_engine(engine: MatchingEngine, orders: list[SeedOrder],
                refs: dict[int, int] | None = None) -> int:
    """Rest the seed orders in ``engine`` (owner ``""``); returns the shares that traded
    on the way in. A feed's book can be locked or crossed for a moment (the sample is,
    now and then); matching the seed uncrosses it, so the venue starts from a sane book.
    ``refs`` collects ITCH reference -> engine reference of the orders that rest."""
    crossed = 0
    for order in orders:
        result = engine.add(order.symbol, order.is_buy, order.price, order.shares)
        crossed += sum(f.quantity for f in result.fills)
        if refs is not None and order.ref and result.resting is not None:
            refs[order.ref] = result.ref
    return crossed


class FeedFollower:
    """Plays BookEvents into a matching engine as the market's flow (owner ``""``)."""

    def __init__(self, engine: MatchingEngine, events: np.ndarray, symbols: dict[int, str],
                 refs: dict[int, int] | None = None) -> None:
        self.engine = engine
        self.symbols = symbols
        self._rows = events[["msg_type", "stock_locate", "side", "order_ref", "new_order_ref",
                             "shares", "price"]].tolist()
        self._next = 0
        self._refs = refs if refs is not None else {}  # ITCH order reference -> the engine's
        self.applied = 0

    @property
    def remaining(self) -> int:
        return len(self._rows) - self._next

    def step(self, n: int) -> list[Fill]:
        """Apply the next ``n`` events; returns the fills of orders that have an owner."""
        fills: list[Fill] = []
        end = min(self._next + n, len(self._rows))
        for kind, locate, side, ref, new_ref, shares, price in self._rows[self._next:end]:
            symbol = self.symbols.get(locate)
            if symbol is not None:
                fills += self._apply(kind, symbol, side == b"B", ref, new_ref, shares, price)
        self.applied += end - self._next
        self._next = end
        return [f for f in fills if f.maker.owner]

    def _apply(self, kind: bytes, symbol: str, is_buy: bool, ref: int, new_ref: int,
               shares: int, price: int) -> list[Fill]:
        engine = self.engine
        if kind in (b"A", b"F"):
            return self._add(ref, symbol, is_buy, price, shares)
        own = engine.orders.get(self._refs.get(ref, 0))
        if own is None:
            return []  # already gone here (our orders took its place)
        if kind in (b"E", b"C"):
            # someone on the other side took `shares` at this order's price
            return engine.add(symbol, not own.is_buy, own.price, shares, ioc=True).fills
        if kind == b"X":
            engine.cancel(own.ref, own.leaves - shares)
        elif kind == b"D":
            engine.cancel(own.ref)
            del self._refs[ref]
        elif kind == b"U":
            engine.cancel(own.ref)
            del self._refs[ref]
            return self._add(new_ref, symbol, own.is_buy, price, shares)
        return []

    def _add(self, ref: int, symbol: str, is_buy: bool, price: int, shares: int) -> list[Fill]:
        if shares <= 0 or price <= 0:
            return []
        result = self.engine.add(symbol, is_buy, price, shares)
        if result.resting is not None:
            self._refs[ref] = result.ref
        return result.fills
