"""Order books per instrument, built from BookEvents with ITCH 5.0 semantics.

A :class:`BookSet` holds one :class:`OrderBook` per stock locate code and one
dict of live orders shared by all of them (ITCH order reference numbers are
unique across the whole feed, and E/C/X/D/U name only the reference).

Each side of a book keeps its price levels twice: a dict ``price -> shares <<
32 | orders`` for O(1) updates, and a sorted list of level keys for price
priority. The keys are the price on the bid side and minus the price on the
ask side, so on both sides the best level is the *last* key: most traffic is
near the top of the book, and inserting or deleting near the end of a Python
list moves few pointers. Applying events only notes which levels appeared or
went; the first read after that sorts them in (a bisect each, or one sort
when many changed). Top of book is then O(1) plus O(log n) per level changed
since the last read, and depth N is a slice.

Bad input is counted in :attr:`BookSet.counters` under a :class:`BookIssue`
reason, never raised and never dropped silently; see each reason for what the
book does with such an event.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nanogate.proto.records import BOOK_EVENT_DTYPE, EventFlags

__all__ = ["BookIssue", "BookSet", "Level", "OrderBook", "OrderRecord", "format_price"]


class BookIssue(enum.StrEnum):
    """Why an event was skipped or only partly applied (keys of ``BookSet.counters``)."""

    DUPLICATE_EVENT = "duplicate_event"  # flagged EventFlags.DUPLICATE: seen already, skipped
    UNKNOWN_REF = "unknown_ref"  # E/C/X/D/U naming no live order: skipped
    DUPLICATE_ADD = "duplicate_add"  # A/F reusing a live ref: skipped, the live order stays
    OVERFILL = "overfill"  # E/C/X for more shares than remain: the order is removed
    REPLACE_REF_EXISTS = "replace_ref_exists"  # U onto a live ref: original removed, new skipped
    BAD_SIDE = "bad_side"  # A/F whose side is not B or S: skipped
    ZERO_SHARES = "zero_shares"  # A/F/U adding or E/C/X taking 0 shares (a U's original goes)
    LOCATE_MISMATCH = "locate_mismatch"  # E/C/X/D/U locate != the order's: applied by ref


#: A live order: (stock_locate, side b"B"/b"S", price(4), shares left).
OrderRecord = tuple[int, bytes, int, int]

# What the book does per message type; 0: nothing (P, Q, S, R, H, ... and unknown bytes).
# Adds are split by side before the loop, so the loop never looks at the side byte.
_ADD, _ADD_BID, _ADD_ASK, _REDUCE, _DELETE, _REPLACE = 1, 2, 3, 4, 5, 6
_CODES = np.zeros(256, np.int8)
for _type, _code in ((b"A", _ADD), (b"F", _ADD), (b"E", _REDUCE), (b"C", _REDUCE),
                     (b"X", _REDUCE), (b"D", _DELETE), (b"U", _REPLACE)):
    _CODES[_type[0]] = _code
_BID, _ASK = ord("B"), ord("S")
_ORDERS_MASK = (1 << 32) - 1  # the order count in a packed level
_DIRECTORY = ord("R")
_DUPLICATE = int(EventFlags.DUPLICATE)
_CHUNK = 1 << 14  # events per batch of column lists

# Hoisted so the hot loop hashes plain str keys, not enum members.
_UNKNOWN_REF = str(BookIssue.UNKNOWN_REF)
_DUPLICATE_ADD = str(BookIssue.DUPLICATE_ADD)
_OVERFILL = str(BookIssue.OVERFILL)
_REPLACE_REF_EXISTS = str(BookIssue.REPLACE_REF_EXISTS)
_BAD_SIDE = str(BookIssue.BAD_SIDE)
_ZERO_SHARES = str(BookIssue.ZERO_SHARES)
_LOCATE_MISMATCH = str(BookIssue.LOCATE_MISMATCH)


def format_price(price: int) -> str:
    """A price(4) integer as dollars with 4 decimals: 1234500 -> '123.4500'."""
    sign = "-" if price < 0 else ""
    whole, frac = divmod(abs(price), 10_000)
    return f"{sign}{whole}.{frac:04d}"


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: price(4), total shares resting there, number of orders."""

    price: int
    shares: int
    orders: int

    @property
    def dollars(self) -> str:
        return format_price(self.price)


class _Side:
    """One side of one book: levels by price plus their keys in price priority."""

    __slots__ = ("_keys", "changed", "is_bid", "levels")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        # price -> shares << 32 | orders: one int, so a level is no GC-tracked container
        # (millions of those made the cyclic collector's full passes dominate the run).
        self.levels: dict[int, int] = {}
        # Ascending; price (bids) or -price (asks), so the best level is last on both sides.
        self._keys: list[int] = []
        # Prices whose level appeared or went since _keys was last brought up to date: the
        # hot loop only notes them, and readers sort them in (a bisect per level there cost
        # a fifth of the run on deep books, and levels that come and go between two reads
        # never need one).
        self.changed: set[int] = set()

    def sorted_keys(self) -> list[int]:
        """Every level's key in ascending order (best last), brought up to date."""
        if self.changed:
            self._sync()
        return self._keys

    def _sync(self) -> None:
        levels, keys, changed = self.levels, self._keys, self.changed
        sign = 1 if self.is_bid else -1
        if len(changed) > len(levels) // 8 + 8:  # past this, one sort beats many inserts
            self._keys = sorted([sign * price for price in levels])
        else:
            for price in changed:
                key = sign * price
                i = bisect_left(keys, key)
                listed = i < len(keys) and keys[i] == key
                if price in levels:
                    if not listed:
                        keys.insert(i, key)
                elif listed:
                    del keys[i]
        changed.clear()

    def best(self) -> Level | None:
        keys = self.sorted_keys()
        if not keys:
            return None
        price = keys[-1] if self.is_bid else -keys[-1]
        packed = self.levels[price]
        return Level(price, packed >> 32, packed & _ORDERS_MASK)

    def top(self, n: int | None) -> list[Level]:
        keys = self.sorted_keys()
        chosen = keys if n is None else keys[max(0, len(keys) - n):]
        sign = 1 if self.is_bid else -1
        levels = self.levels
        out = []
        for key in reversed(chosen):
            price = sign * key
            packed = levels[price]
            out.append(Level(price, packed >> 32, packed & _ORDERS_MASK))
        return out


class OrderBook:
    """The book of one instrument. Read it; :class:`BookSet` writes it."""

    __slots__ = ("_names", "asks", "bids", "locate")

    def __init__(self, locate: int, names: tuple[dict[int, str], ...] = ()) -> None:
        self.locate = locate
        # The BookSet's symbol maps, not the BookSet: a back-reference would make a cycle,
        # leaving every freed BookSet (millions of objects) to the cyclic collector.
        self._names = names
        self.bids = _Side(True)
        self.asks = _Side(False)

    @property
    def symbol(self) -> str | None:
        for names in self._names:
            if self.locate in names:
                return names[self.locate]
        return None

    def best_bid(self) -> Level | None:
        return self.bids.best()

    def best_ask(self) -> Level | None:
        return self.asks.best()

    def depth(self, n: int | None = 5) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels per side (all of them for None), best first."""
        return self.bids.top(n), self.asks.top(n)

    @property
    def orders(self) -> int:
        """Live orders in this book (summed over levels: O(levels), not kept per event)."""
        return (sum(v & _ORDERS_MASK for v in self.bids.levels.values())
                + sum(v & _ORDERS_MASK for v in self.asks.levels.values()))

    def format_depth(self, n: int = 5) -> str:
        """A table of the best ``n`` levels per side, prices in dollars."""
        bids, asks = self.depth(n)
        name = self.symbol or "?"
        head = (f"{name} (locate {self.locate}): {self.orders} orders, "
                f"{len(self.bids.levels)} bid / {len(self.asks.levels)} ask levels")
        columns = (f"{'orders':>7} {'shares':>9} {'bid':>12} | "
                   f"{'ask':<12} {'shares':>9} {'orders':>7}")
        lines = [head, columns]
        if not bids and not asks:
            lines.append(f"{'(empty)':^61}")
        for i in range(max(len(bids), len(asks))):
            left = (f"{bids[i].orders:>7} {bids[i].shares:>9} {bids[i].dollars:>12}"
                    if i < len(bids) else " " * 30)
            right = (f"{asks[i].dollars:<12} {asks[i].shares:>9} {asks[i].orders:>7}"
                     if i < len(asks) else "")
            lines.append(f"{left} | {right}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"OrderBook(locate={self.locate}, symbol={self.symbol!r}, orders={self.orders})"


class BookSet:
    """Order books for every instrument of a feed, and the live orders behind them."""

    def __init__(self) -> None:
        self.orders: dict[int, OrderRecord] = {}  # live orders of every book, by ref
        self.books: dict[int, OrderBook] = {}  # by stock locate
        self.counters: Counter[str] = Counter()  # BookIssue -> events affected
        self.types: Counter[str] = Counter()  # message type -> events seen (duplicates too)
        self._bids: dict[int, _Side] = {}  # locate -> side, so the hot loop skips the book
        self._asks: dict[int, _Side] = {}
        self._directory: dict[int, str] = {}  # locate -> symbol from R messages
        self._add_symbols: dict[int, str] = {}  # locate -> symbol from adds (fallback)
        self._by_symbol: dict[str, int] | None = None  # symbols(), cached until a name changes

    # -- reading -----------------------------------------------------------------------

    def book(self, locate: int) -> OrderBook:
        try:
            return self.books[locate]
        except KeyError:
            raise KeyError(f"no book for stock locate {locate}") from None

    def symbol(self, locate: int) -> str | None:
        """The symbol of a locate: from its R message, else from its first add."""
        for names in (self._directory, self._add_symbols):
            if locate in names:
                return names[locate]
        return None

    def symbols(self) -> dict[str, int]:
        """Every known symbol -> its stock locate, in locate order."""
        return dict(self._symbol_index())

    def _symbol_index(self) -> dict[str, int]:
        if self._by_symbol is None:
            index: dict[str, int] = {}
            for locate in sorted(self._directory.keys() | self._add_symbols.keys()):
                name = self.symbol(locate)
                if name is not None:
                    index.setdefault(name, locate)  # a name reused: the lowest locate
            self._by_symbol = index
        return self._by_symbol

    def book_by_symbol(self, symbol: str) -> OrderBook:
        locate = self._symbol_index().get(symbol.strip())
        if locate is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        if locate not in self.books:  # a listed instrument with no order yet
            self._new_book(locate)
        return self.books[locate]

    @property
    def issues(self) -> int:
        """Events counted as bad input (duplicates skipped by design excluded)."""
        return sum(v for k, v in self.counters.items() if k != BookIssue.DUPLICATE_EVENT)

    # -- writing -----------------------------------------------------------------------

    def apply(self, events: npt.NDArray[np.void]) -> None:
        """Apply an array of BookEvents (BOOK_EVENT_DTYPE), in order."""
        if events.dtype != BOOK_EVENT_DTYPE:
            raise TypeError(f"expected BOOK_EVENT_DTYPE events, got dtype {events.dtype}")
        if len(events) == 0:
            return
        types = events["msg_type"].view(np.uint8)
        counts = np.bincount(types, minlength=256)
        for byte in np.flatnonzero(counts).tolist():
            self.types[chr(byte)] += int(counts[byte])
        codes = _CODES[types]
        live = (events["flags"] & _DUPLICATE) == 0
        duplicates = len(events) - int(np.count_nonzero(live))
        if duplicates:
            self.counters[BookIssue.DUPLICATE_EVENT] += duplicates
            codes = np.where(live, codes, 0)
        if counts[_DIRECTORY]:
            directory = events[(types == _DIRECTORY) & live]
            for locate, stock in zip(directory["stock_locate"].tolist(),
                                     directory["stock"].tolist(), strict=True):
                self._directory[locate] = _symbol_text(stock)
            self._by_symbol = None
        adding = codes == _ADD
        if adding.any():
            self._name_from_adds(events[adding])
            # Bad side and zero shares do not depend on the book: count them here.
            sides = events["side"].view(np.uint8)
            bid, ask = sides == _BID, sides == _ASK
            bad_side = int(np.count_nonzero(adding & ~bid & ~ask))
            empty = adding & (bid | ask) & (events["shares"] == 0)
            zero_shares = int(np.count_nonzero(empty))
            if bad_side:
                self.counters[BookIssue.BAD_SIDE] += bad_side
            if zero_shares:
                self.counters[BookIssue.ZERO_SHARES] += zero_shares
            codes = np.where(adding, np.where(bid, _ADD_BID, np.where(ask, _ADD_ASK, 0)), codes)
            if zero_shares:
                codes[empty] = 0
        chosen = np.flatnonzero(codes)
        # Column lists: iterating Python ints is far faster than indexing NumPy rows. They
        # are made a chunk at a time, so their int objects are still in cache when the loop
        # reads them and a big array does not need gigabytes of them at once.
        # The collector stays on: its passes untrack the all-int order tuples, and a tracked
        # tuple costs two random memory writes when freed (measured slower with gc off).
        for start in range(0, len(chosen), _CHUNK):
            part = chosen[start:start + _CHUNK]
            rows = events[part]
            self._run(codes=codes[part].tolist(), locs=rows["stock_locate"].tolist(),
                      refs=rows["order_ref"].tolist(), qtys=rows["shares"].tolist(),
                      prices=rows["price"].tolist(), new_refs=rows["new_order_ref"].tolist())

    def _name_from_adds(self, adds: npt.NDArray[np.void]) -> None:
        """Remember each new locate's symbol from its first add (R messages take precedence)."""
        locates, first = np.unique(adds["stock_locate"], return_index=True)
        for locate, index in zip(locates.tolist(), first.tolist(), strict=True):
            if locate not in self._add_symbols:
                self._add_symbols[locate] = _symbol_text(adds["stock"][index])
                self._by_symbol = None

    def apply_one(self, event: np.void | tuple[object, ...]) -> None:
        """Apply one BookEvent (a row of a BookEvent array, or a tuple in its field order)."""
        self.apply(np.array([event], dtype=BOOK_EVENT_DTYPE))

    def _new_book(self, locate: int) -> OrderBook:
        book = OrderBook(locate, (self._directory, self._add_symbols))
        self.books[locate] = book
        self._bids[locate] = book.bids
        self._asks[locate] = book.asks
        return book

    def _run(self, *, codes: list[int], locs: list[int], refs: list[int], qtys: list[int],
             prices: list[int], new_refs: list[int]) -> None:
        """The hot loop: one pass, everything in locals, one branch per event kind."""
        orders = self.orders
        bids = self._bids
        asks = self._asks
        issues = self.counters
        new_book = self._new_book
        for code, loc, ref, qty, px, new_ref in zip(
                codes, locs, refs, qtys, prices, new_refs, strict=True):
            if code < _REDUCE:  # an add with a valid side and shares (checked in apply)
                if code == _ADD_BID:
                    side = bids.get(loc) or new_book(loc).bids
                    sd = b"B"
                else:
                    side = asks.get(loc) or new_book(loc).asks
                    sd = b"S"
                if ref in orders:
                    issues[_DUPLICATE_ADD] += 1
                    continue
            else:
                if code == _REDUCE:
                    record = orders.get(ref)
                    if record is None:
                        issues[_UNKNOWN_REF] += 1
                        continue
                    oloc, osd, opx, oqty = record
                    if oloc != loc:
                        issues[_LOCATE_MISMATCH] += 1
                    if qty < oqty:
                        if qty == 0:
                            issues[_ZERO_SHARES] += 1
                            continue
                        orders[ref] = (oloc, osd, opx, oqty - qty)
                        (bids[oloc] if osd == b"B" else asks[oloc]).levels[opx] -= qty << 32
                        continue
                    if qty > oqty:
                        issues[_OVERFILL] += 1  # clamp: the order cannot go negative
                    del orders[ref]
                else:  # D and U remove the whole order: one dict operation, not two
                    record = orders.pop(ref, None)
                    if record is None:
                        issues[_UNKNOWN_REF] += 1
                        continue
                    oloc, osd, opx, oqty = record
                    if oloc != loc:
                        issues[_LOCATE_MISMATCH] += 1
                # The whole order has left: take it off its level.
                side = bids[oloc] if osd == b"B" else asks[oloc]
                levels = side.levels
                packed = levels[opx] - (oqty << 32 | 1)
                if packed:
                    levels[opx] = packed
                else:  # its last order: the level goes
                    del levels[opx]
                    side.changed.add(opx)
                if code != _REPLACE:
                    continue
                # U: the new order keeps the original's instrument and side.
                if new_ref in orders:
                    issues[_REPLACE_REF_EXISTS] += 1
                    continue
                if qty == 0:
                    issues[_ZERO_SHARES] += 1
                    continue
                ref, loc, sd = new_ref, oloc, osd
            orders[ref] = (loc, sd, px, qty)
            levels = side.levels
            packed = levels.get(px, 0)
            levels[px] = packed + (qty << 32 | 1)
            if not packed:  # a new level
                side.changed.add(px)


def _symbol_text(stock: bytes) -> str:
    return stock.rstrip(b" \x00").decode("ascii", "replace")
