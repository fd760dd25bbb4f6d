"""Price-time matching: the venue's books, with no I/O and no clock.

An incoming order matches against the best opposite price first and, within a
price, the oldest order first; it trades at the resting order's price. What does
not match rests (a day order) or is cancelled (IOC). Orders are owned by an
opaque ``owner`` (the venue's account name; ``""`` for the liquidity seeded from
the ITCH session) and carry the owner's ``tag`` (its OUCH UserRefNum).

Self-trade: two orders of the same owner may trade with each other. A real venue
offers self-match prevention; this one does not, so that a test or a demo with one
account still sees its crossing orders fill. Callers that care check
``fill.maker.owner == owner``.

Replace follows OUCH: an order keeps its time priority only when the price is
unchanged and the quantity does not grow; otherwise it goes to the back of its
(new) price level as a new order, which may then match at once.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class RestingOrder:
    ref: int  # the venue's order reference number
    symbol: str
    is_buy: bool
    price: int  # price(4)
    leaves: int  # shares still open
    owner: str = ""
    tag: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    match_number: int
    price: int
    quantity: int
    maker: RestingOrder  # the resting order hit (its ``leaves`` is live: see maker_leaves)
    maker_leaves: int  # the maker's open shares right after this fill
    taker_leaves: int  # the incoming order's unmatched shares right after this fill


@dataclass(frozen=True, slots=True)
class AddResult:
    ref: int
    fills: list[Fill]
    resting: RestingOrder | None  # None: fully filled, or IOC remainder cancelled
    canceled: int = 0  # IOC shares cancelled because they did not match


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    old: RestingOrder  # as it was before the replace
    order: RestingOrder  # the replacement (leaves 0 when it was filled at once)
    fills: list[Fill]
    kept_priority: bool


@dataclass
class _Side:
    """One side of a book: price -> FIFO queue; ``keys`` sorted so the best is last."""

    is_buy: bool
    levels: dict[int, deque[RestingOrder]] = field(default_factory=dict)
    keys: list[int] = field(default_factory=list)  # bids: price; asks: -price

    def key(self, price: int) -> int:
        return price if self.is_buy else -price

    def best(self) -> int | None:
        return (self.keys[-1] if self.is_buy else -self.keys[-1]) if self.keys else None

    def push(self, order: RestingOrder) -> None:
        queue = self.levels.get(order.price)
        if queue is None:
            queue = self.levels[order.price] = deque()
            insort(self.keys, self.key(order.price))
        queue.append(order)

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        keys = self.keys
        del keys[bisect_left(keys, self.key(price))]

    def remove(self, order: RestingOrder) -> None:
        queue = self.levels[order.price]
        queue.remove(order)
        if not queue:
            self.drop_level(order.price)

    def depth(self) -> list[tuple[int, int, int]]:
        """(price, shares, orders) per level, best first."""
        out = []
        for key in reversed(self.keys):
            price = key if self.is_buy else -key
            queue = self.levels[price]
            out.append((price, sum(o.leaves for o in queue), len(queue)))
        return out


@dataclass
class Book:
    symbol: str
    bids: _Side = field(default_factory=lambda: _Side(True))
    asks: _Side = field(default_factory=lambda: _Side(False))

    def side(self, is_buy: bool) -> _Side:
        return self.bids if is_buy else self.asks

    def best_bid(self) -> int | None:
        return self.bids.best()

    def best_ask(self) -> int | None:
        return self.asks.best()


class MatchingEngine:
    """Books by symbol, live orders by reference number, match numbers counting up."""

    def __init__(self, symbols: list[str] | tuple[str, ...] = ()) -> None:
        self.books: dict[str, Book] = {s: Book(s) for s in symbols}
        self.orders: dict[int, RestingOrder] = {}
        self._next_ref = 1
        self._next_match = 1

    def book(self, symbol: str) -> Book:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = Book(symbol)
        return book

    def _ref(self) -> int:
        ref = self._next_ref
        self._next_ref += 1
        return ref

    def add(self, symbol: str, is_buy: bool, price: int, quantity: int, owner: str = "",
            tag: int = 0, ioc: bool = False) -> AddResult:
        """Match a new limit order; rest what is left (day) or cancel it (IOC)."""
        if quantity <= 0 or price <= 0:
            raise ValueError(f"quantity {quantity} and price {price} must be positive")
        order = RestingOrder(self._ref(), symbol, is_buy, price, quantity, owner, tag)
        book = self.book(symbol)
        fills = self._match(book, order)
        if not order.leaves:
            return AddResult(order.ref, fills, None)
        if ioc:
            canceled, order.leaves = order.leaves, 0
            return AddResult(order.ref, fills, None, canceled)
        book.side(is_buy).push(order)
        self.orders[order.ref] = order
        return AddResult(order.ref, fills, order)

    def _match(self, book: Book, taker: RestingOrder) -> list[Fill]:
        fills: list[Fill] = []
        opposite = book.side(not taker.is_buy)
        while taker.leaves and opposite.keys:
            best = opposite.best()
            assert best is not None
            if (best > taker.price) if taker.is_buy else (best < taker.price):
                break
            queue = opposite.levels[best]
            while taker.leaves and queue:
                maker = queue[0]
                shares = min(taker.leaves, maker.leaves)
                maker.leaves -= shares
                taker.leaves -= shares
                fills.append(Fill(self._next_match, best, shares, maker, maker.leaves,
                                  taker.leaves))
                self._next_match += 1
                if not maker.leaves:
                    queue.popleft()
                    del self.orders[maker.ref]
            if not queue:
                opposite.drop_level(best)
        return fills

    def cancel(self, ref: int, remaining: int = 0) -> int:
        """Reduce a live order to ``remaining`` shares; returns the shares cancelled
        (0 for an unknown order or when ``remaining`` is not below its open shares)."""
        order = self.orders.get(ref)
        if order is None or remaining >= order.leaves:
            return 0
        canceled = order.leaves - max(remaining, 0)
        order.leaves -= canceled  # a reduction keeps time priority
        if not order.leaves:
            self.book(order.symbol).side(order.is_buy).remove(order)
            del self.orders[ref]
        return canceled

    def replace(self, ref: int, price: int, quantity: int, tag: int = 0) -> ReplaceResult:
        """Replace a live order's price and open quantity (KeyError when not live)."""
        if quantity <= 0 or price <= 0:
            raise ValueError(f"quantity {quantity} and price {price} must be positive")
        order = self.orders[ref]
        old = RestingOrder(order.ref, order.symbol, order.is_buy, order.price, order.leaves,
                           order.owner, order.tag)
        order.tag = tag
        if price == order.price and quantity <= order.leaves:
            order.leaves = quantity
            return ReplaceResult(old, order, [], True)
        side = self.book(order.symbol).side(order.is_buy)
        side.remove(order)
        del self.orders[ref]
        new = RestingOrder(self._ref(), order.symbol, order.is_buy, price, quantity,
                           order.owner, tag)
        fills = self._match(self.book(order.symbol), new)
        if new.leaves:
            side.push(new)
            self.orders[new.ref] = new
        return ReplaceResult(old, new, fills, False)
