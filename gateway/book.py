"""Order books per instrument, built from BookEvents with ITCH 5.0 semantics.

A :class:`BookSet` holds one :class:`OrderBook` per stock locate and one table of
live orders shared by all of them (ITCH order reference numbers are unique
across the whole feed, and E/C/X/D/U name only the reference).

The state lives in NumPy arrays that one compiled pass (numba, cached on disk)
updates for a whole BookEvent array, reading the packed rows in place; those
tables and passes are in :mod:`nanogate.gateway.book_core` (its docstring gives
the layout). This module holds the Python views on them and the public API.

Levels are sorted lazily: the first read of a side whose flag is set walks its
list and sorts its keys (the price on the bid side, minus the price on the ask
side, so on both sides the best level is the *last* key); later reads reuse
that order until a level comes or goes, reading the shares live. Top of book is
then O(1), depth N a slice.

A call costs a few microseconds plus a few tens of nanoseconds per event: no
NumPy pass over the batch, the kernel stops early only when a table must grow
(the caller grows it and resumes) or its note buffer (new books, symbols from R
messages and adds, for the Python side) is full.

Bad input is counted in :attr:`BookSet.counters` under a :class:`BookIssue`
reason, never raised and never dropped silently; see each reason for what the
book does with such an event.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nanogate.gateway.book_core import (
    _HAS_BOOK,
    _I_BAD_SIDE,
    _I_DUPLICATE_ADD,
    _I_DUPLICATE_EVENT,
    _I_LOCATE_MISMATCH,
    _I_OVERFILL,
    _I_REPLACE_REF_EXISTS,
    _I_UNKNOWN_REF,
    _I_ZERO_SHARES,
    _ISSUE_SLOTS,
    _L_KEY,
    _L_ORDERS,
    _L_SHARES,
    _LOW,
    _M_ISSUE,
    _M_ORDERS,
    _N_BOOK,
    _N_DIRECTORY,
    _O_ENTRY,
    _S_CHANGED,
    _S_FLAGS,
    _S_LEVELS,
    _S_ORDERS,
    _apply,
    _best,
    _Core,
    _dump,
    _grow_levels,
    _grow_orders,
    _lookup,
    _side_levels,
)
from nanogate.proto.records import BOOK_EVENT_DTYPE

__all__ = ["BookIssue", "BookSet", "Level", "OrderBook", "OrderRecord", "format_price",
           "warm_up"]


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


# The compiled pass counts each reason in its own slot: BookIssue in declaration order.
_ISSUES = tuple(BookIssue)
assert len(_ISSUES) == _ISSUE_SLOTS
assert {issue: slot for slot, issue in enumerate(_ISSUES)} == {
    BookIssue.DUPLICATE_EVENT: _I_DUPLICATE_EVENT, BookIssue.UNKNOWN_REF: _I_UNKNOWN_REF,
    BookIssue.DUPLICATE_ADD: _I_DUPLICATE_ADD, BookIssue.OVERFILL: _I_OVERFILL,
    BookIssue.REPLACE_REF_EXISTS: _I_REPLACE_REF_EXISTS, BookIssue.BAD_SIDE: _I_BAD_SIDE,
    BookIssue.ZERO_SHARES: _I_ZERO_SHARES, BookIssue.LOCATE_MISMATCH: _I_LOCATE_MISMATCH}

#: A live order: (stock_locate, side b"B"/b"S", price(4), shares left).
OrderRecord = tuple[int, bytes, int, int]


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


def _ref_bits(ref: object) -> int | None:
    """An order ref as the int64 with its u64 bits, None when it cannot be one."""
    if isinstance(ref, bool) or not isinstance(ref, int | np.integer):
        return None
    value = int(ref)
    if not 0 <= value < 1 << 64:
        return None
    return value - (1 << 64) if value >= 1 << 63 else value


def _record(core: _Core, row: int) -> OrderRecord:
    entry = int(core.otab[row, _O_ENTRY])
    key = int(core.levels[(entry >> 32) - 1, _L_KEY])
    side = key >> 32
    return (side >> 1, b"S" if side & 1 else b"B", key & _LOW, entry & _LOW)


class _Orders(Mapping[int, OrderRecord]):
    """The live orders of a BookSet, by ref: a read-only mapping over its order table."""

    __slots__ = ("_core",)

    def __init__(self, core: _Core) -> None:
        self._core = core

    def __getitem__(self, ref: int) -> OrderRecord:
        bits = _ref_bits(ref)
        row = -1 if bits is None else _lookup(self._core.otab, bits)
        if row < 0:
            raise KeyError(ref)
        return _record(self._core, row)

    def __contains__(self, ref: object) -> bool:
        bits = _ref_bits(ref)
        return bits is not None and _lookup(self._core.otab, bits) >= 0

    def __len__(self) -> int:
        return int(self._core.meta[_M_ORDERS])

    def __iter__(self) -> Iterator[int]:
        return iter(self.to_dict())

    def to_dict(self) -> dict[int, OrderRecord]:
        """A plain dict of every live order, ascending by ref."""
        refs, sides, prices, shares = _dump(self._core.otab, self._core.levels)
        unsigned = refs.view(np.uint64)
        order = np.argsort(unsigned, kind="stable")
        names = (b"B", b"S")
        return {ref: (side >> 1, names[side & 1], price, left) for ref, side, price, left in zip(
            unsigned[order].tolist(), sides[order].tolist(), prices[order].tolist(),
            shares[order].tolist(), strict=True)}

    def items(self) -> Any:
        return self.to_dict().items()

    def values(self) -> Any:
        return self.to_dict().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Orders):
            other = other.to_dict()
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.to_dict() == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.to_dict())


class _Levels(Mapping[int, int]):
    """One side's levels as ``price -> shares << 32 | orders`` (read-only)."""

    __slots__ = ("_side",)

    def __init__(self, side: _Side) -> None:
        self._side = side

    def __getitem__(self, price: int) -> int:
        side = self._side
        if not isinstance(price, int | np.integer) or not 0 <= price < 1 << 32:
            raise KeyError(price)
        core = side.core
        row = _lookup(core.ltab, side.index << 32 | int(price))
        if row < 0:
            raise KeyError(price)
        level = core.ltab[row, 1] - 1
        return int(core.levels[level, _L_SHARES]) << 32 | int(core.levels[level, _L_ORDERS])

    def __len__(self) -> int:
        return int(self._side.core.sides[self._side.index, _S_LEVELS])

    def __iter__(self) -> Iterator[int]:
        side = self._side
        sign = 1 if side.is_bid else -1
        return iter([sign * key for key in reversed(side.sorted_keys())])


class _Side:
    """One side of one book: its levels, and their keys in price priority once read."""

    __slots__ = ("_keys", "_slots", "core", "index", "is_bid")

    def __init__(self, core: _Core, index: int, is_bid: bool) -> None:
        self.core = core
        self.index = index  # locate * 2 + (0 bid, 1 ask): its row in core.sides
        self.is_bid = is_bid
        # Ascending; price (bids) or -price (asks), so the best level is last on both sides.
        self._keys: list[int] = []
        self._slots: list[int] = []  # each key's row in core.levels

    @property
    def levels(self) -> _Levels:
        """price -> shares << 32 | orders for every level of this side."""
        return _Levels(self)

    @property
    def changed(self) -> set[int]:
        """Prices whose level appeared or went since the keys were last sorted."""
        if not self.core.sides[self.index, _S_CHANGED]:
            return set()
        sign = 1 if self.is_bid else -1
        keys, _ = _side_levels(self.core.levels, self.core.sides, self.index, sign)
        self.core.sides[self.index, _S_CHANGED] = 1  # only looked
        return {sign * k for k in set(keys.tolist()) ^ set(self._keys)}

    def sorted_keys(self) -> list[int]:
        """Every level's key in ascending order (best last), brought up to date."""
        core = self.core
        if core.sides[self.index, _S_CHANGED]:
            keys, slots = _side_levels(core.levels, core.sides, self.index,
                                       1 if self.is_bid else -1)
            self._keys = keys.tolist()
            self._slots = slots.tolist()
        return self._keys

    def best(self) -> Level | None:
        core = self.core
        if core.sides[self.index, _S_CHANGED]:  # levels came or went: scan, leave sorting
            sign = 1 if self.is_bid else -1
            found, key, shares, orders = _best(core.levels, core.sides, self.index, sign)
            return Level(sign * key, shares, orders) if found else None
        keys = self._keys
        if not keys:
            return None
        row = self.core.levels[self._slots[-1]]
        return Level(keys[-1] if self.is_bid else -keys[-1], int(row[_L_SHARES]),
                     int(row[_L_ORDERS]))

    def top(self, n: int | None) -> list[Level]:
        keys = self.sorted_keys()
        first = 0 if n is None else max(0, len(keys) - n)
        if first >= len(keys):
            return []
        slots = self._slots[first:][::-1]
        sign = 1 if self.is_bid else -1
        rows = self.core.levels[slots][:, _L_SHARES:_L_ORDERS + 1].tolist()
        return [Level(sign * key, shares, orders)
                for key, (shares, orders) in zip(keys[first:][::-1], rows, strict=True)]


class OrderBook:
    """The book of one instrument. Read it; :class:`BookSet` writes it."""

    __slots__ = ("_names", "asks", "bids", "locate")

    def __init__(self, locate: int, names: tuple[dict[int, str], ...] = (),
                 core: _Core | None = None) -> None:
        self.locate = locate
        # The BookSet's symbol maps, not the BookSet: a back-reference would make a cycle,
        # leaving every freed BookSet to the cyclic collector.
        self._names = names
        core = core if core is not None else _Core()
        self.bids = _Side(core, 2 * locate, True)
        self.asks = _Side(core, 2 * locate + 1, False)

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
        """Live orders in this book."""
        sides = self.bids.core.sides
        return int(sides[self.bids.index, _S_ORDERS] + sides[self.asks.index, _S_ORDERS])

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
        self._core = _Core()
        self.orders: Mapping[int, OrderRecord] = _Orders(self._core)  # live orders, by ref
        self.books: dict[int, OrderBook] = {}  # by stock locate
        self.counters: Counter[str] = Counter()  # BookIssue -> events affected
        self._directory: dict[int, str] = {}  # locate -> symbol from R messages
        self._add_symbols: dict[int, str] = {}  # locate -> symbol from adds (fallback)
        self._by_symbol: dict[str, int] | None = None  # symbols(), cached until a name changes

    # -- reading -----------------------------------------------------------------------

    @property
    def types(self) -> Counter[str]:
        """Message type -> events seen (duplicates too); a fresh Counter per read."""
        counts = self._core.types
        return Counter({chr(byte): int(counts[byte]) for byte in np.flatnonzero(counts).tolist()})

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
        n = len(events)
        if n == 0:
            return
        if events.ndim != 1 or not events.flags.c_contiguous:
            events = np.ascontiguousarray(events).reshape(-1)
            n = len(events)
        raw = np.frombuffer(events, np.uint8)  # the packed rows, no copy
        core = self._core
        done = 0
        while True:
            done, notes, issues = _apply(raw, n, done, core.otab, core.levels, core.ltab,
                                         core.sides, core.meta, core.types, core.notes)
            if notes:
                self._take_notes(events, notes)
            if issues:
                counts = core.meta[_M_ISSUE:_M_ISSUE + len(_ISSUES)].tolist()
                counters = self.counters
                for issue, count in zip(_ISSUES, counts, strict=True):
                    if count:
                        counters[issue] += count
            if done == n:
                return
            core.grow()

    def _take_notes(self, events: npt.NDArray[np.void], count: int) -> None:
        """What the compiled pass left for Python: new books and symbols, in event order."""
        for kind, index, locate in self._core.notes[:count].tolist():
            if kind == _N_BOOK:
                if locate not in self.books:
                    self._new_book(locate)
            elif kind == _N_DIRECTORY:
                self._directory[locate] = _symbol_text(events[index]["stock"])
                self._by_symbol = None
            elif locate not in self._add_symbols:
                self._add_symbols[locate] = _symbol_text(events[index]["stock"])
                self._by_symbol = None

    def apply_one(self, event: np.void | tuple[object, ...]) -> None:
        """Apply one BookEvent (a row of a BookEvent array, or a tuple in its field order)."""
        self.apply(np.array([event], dtype=BOOK_EVENT_DTYPE))

    def _new_book(self, locate: int) -> OrderBook:
        book = OrderBook(locate, (self._directory, self._add_symbols), self._core)
        self.books[locate] = book
        self._core.sides[2 * locate, _S_FLAGS] |= _HAS_BOOK
        return book


def warm_up() -> None:
    """Load (or compile) every compiled pass of :mod:`~nanogate.gateway.book_core` now,
    not on a packet's latency: the update pass, the table growers (first called when a
    session outgrows the initial tables, mid-session), the best-level scan and level sort
    behind top of book and depth, and the order lookups behind :attr:`BookSet.orders`."""
    BookSet().apply(np.zeros(1, BOOK_EVENT_DTYPE))  # type byte 0: a no-op event
    core = _Core()
    _grow_orders(core.otab[:2], 4)
    _grow_levels(core.levels[:2], core.ltab[:4], 4)
    _best(core.levels, core.sides, 0, 1)
    _side_levels(core.levels, core.sides, 0, 1)
    _lookup(core.otab, 0)
    _dump(core.otab, core.levels)


def _symbol_text(stock: bytes) -> str:
    return stock.rstrip(b" \x00").decode("ascii", "replace")
