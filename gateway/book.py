"""Order books per instrument, built from BookEvents with ITCH 5.0 semantics.

A :class:`BookSet` holds one :class:`OrderBook` per stock locate and one table of
live orders shared by all of them (ITCH order reference numbers are unique
across the whole feed, and E/C/X/D/U name only the reference).

The state lives in NumPy arrays that one compiled pass (numba, cached on disk)
updates for a whole BookEvent array, reading the packed rows in place:

* the live orders: an open-addressing hash table (linear probing, deletion by
  backward shift, so no tombstones) of ``ref -> level, shares left``;
* the price levels: a pool of ``shares, orders`` rows, found on adds by a
  second hash table keyed by ``(book side, price)``; an order points at its
  level, so executions, cancels and deletes touch the level without hashing;
* per book side (locate * 2 + ask): an unsorted linked list of its levels, the
  level and order counts, and a *changed* flag set when a level appears or goes.

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

import numba
import numpy as np
import numpy.typing as npt

from nanogate.proto.records import BOOK_EVENT_DTYPE, EventFlags

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


#: A live order: (stock_locate, side b"B"/b"S", price(4), shares left).
OrderRecord = tuple[int, bytes, int, int]

Array = np.ndarray

# -- the packed BookEvent row, read in place (BOOK_EVENT_DTYPE is packed, 61 bytes) ----------
_ROW = BOOK_EVENT_DTYPE.itemsize


def _offset(name: str) -> int:
    fields = BOOK_EVENT_DTYPE.fields
    assert fields is not None
    return int(fields[name][1])


_F_TYPE = _offset("msg_type")
_F_LOCATE = _offset("stock_locate")
_F_SIDE = _offset("side")
_F_REF = _offset("order_ref")
_F_NEW_REF = _offset("new_order_ref")
_F_SHARES = _offset("shares")
_F_PRICE = _offset("price")
_F_FLAGS = _offset("flags")
assert BOOK_EVENT_DTYPE.isnative and BOOK_EVENT_DTYPE["stock_locate"].byteorder in "<=|"

_DUPLICATE = int(EventFlags.DUPLICATE)
_BID, _ASK = ord("B"), ord("S")

# Issue counter slots: BookIssue in declaration order.
_ISSUES = tuple(BookIssue)
(_I_DUPLICATE_EVENT, _I_UNKNOWN_REF, _I_DUPLICATE_ADD, _I_OVERFILL, _I_REPLACE_REF_EXISTS,
 _I_BAD_SIDE, _I_ZERO_SHARES, _I_LOCATE_MISMATCH) = range(len(_ISSUES))

# Order table columns (int64 rows of 2, four rows a cache line): the ref's bits, then
# (level slot + 1) << 32 | shares left (0: an empty row).
_O_REF, _O_ENTRY = 0, 1
_LOW = 0xFFFFFFFF
# Level pool columns (int64 rows of 8, one cache line): key (side << 32 | price), shares,
# orders, previous and next level of the same side + 1 (0: none; next doubles as the
# free list's link).
_L_KEY, _L_SHARES, _L_ORDERS, _L_PREV, _L_NEXT = 0, 1, 2, 3, 4
# Book side columns (int64 rows of 8, index locate * 2 + (0 bid, 1 ask)): first level + 1,
# levels, orders, changed flag, and on the bid row the locate's flags.
_S_HEAD, _S_LEVELS, _S_ORDERS, _S_CHANGED, _S_FLAGS = 0, 1, 2, 3, 4
_HAS_BOOK, _NAMED = 1, 2  # locate flags: a book was made; a symbol was taken from an add
# Meta slots: live orders, free level + 1, levels ever allocated, notes this call, then
# the issue counts of this call.
_M_ORDERS, _M_FREE, _M_TOP, _M_NOTES, _M_ISSUE = 0, 1, 2, 3, 8
# Notes for the Python side (int64 rows of 3: kind, event index, locate).
_N_BOOK, _N_DIRECTORY, _N_ADD_NAME = 0, 1, 2
# What the book does per message type byte; 0: nothing (P, Q, S, H, ... and unknown bytes).
_ADD, _REDUCE, _DELETE, _REPLACE, _DIRECTORY = 1, 2, 3, 4, 5
_CODES = np.zeros(256, np.int64)
for _type, _code in ((b"A", _ADD), (b"F", _ADD), (b"E", _REDUCE), (b"C", _REDUCE),
                     (b"X", _REDUCE), (b"D", _DELETE), (b"U", _REPLACE), (b"R", _DIRECTORY)):
    _CODES[_type[0]] = _code

_MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64 (Fibonacci hashing)
_LOCATES = 1 << 16
_NOTES = 1024
_MIN_ORDERS = 1024  # order table rows (kept at most half full)
_MIN_LEVELS = 256  # level pool rows (the level hash table has twice as many)


# -- the compiled core -------------------------------------------------------------------


@numba.njit(inline="always")
def _hash(key: int, mask: int) -> int:
    # The low 16 bits pass through and the rest, Fibonacci-hashed, is added as an offset:
    # refs are handed out nearly in sequence, so recent orders (most of the traffic) share
    # cache lines instead of being scattered over the table, while keys that differ only
    # in high bits (other books' levels, refs 2**16 or more apart) still spread.
    h = (key >> 16) * _MIX
    return (key + (h ^ (h >> 32))) & mask


@numba.njit(inline="always")
def _u16(raw: Array, p: int) -> Any:
    return np.int64(raw[p]) | (np.int64(raw[p + 1]) << 8)


@numba.njit(inline="always")
def _u32(raw: Array, p: int) -> Any:
    return (np.int64(raw[p]) | (np.int64(raw[p + 1]) << 8) | (np.int64(raw[p + 2]) << 16)
            | (np.int64(raw[p + 3]) << 24))


@numba.njit(inline="always")
def _u64(raw: Array, p: int) -> Any:
    """Eight little-endian bytes as the int64 with the same bits."""
    return _u32(raw, p) | (_u32(raw, p + 4) << 32)


@numba.njit(inline="always")
def _find(table: Array, mask: int, key: int) -> int:
    """The row holding ``key``, else -1 - the empty row where it would go."""
    i = _hash(key, mask)
    while table[i, 1] != 0:
        if table[i, 0] == key:
            return i
        i = (i + 1) & mask
    return -1 - i


@numba.njit(inline="always")
def _remove(table: Array, mask: int, i: int, width: int) -> None:
    """Empty row ``i`` of a linear-probing table, shifting later rows of its run back."""
    j = i
    while True:
        j = (j + 1) & mask
        if table[j, 1] == 0:
            break
        home = _hash(table[j, 0], mask)
        if i <= j:
            if i < home <= j:
                continue
        elif i < home or home <= j:
            continue
        for c in range(width):
            table[i, c] = table[j, c]
        i = j
    table[i, 1] = 0


@numba.njit(inline="always")
def _take_order(lvl: Array, ltab: Array, sides: Array, meta: Array, level: int,
                shares: int) -> None:
    """An order of ``shares`` leaves ``level``; the level goes with its last order."""
    lvl[level, _L_SHARES] -= shares
    left = lvl[level, _L_ORDERS] - 1
    lvl[level, _L_ORDERS] = left
    key = lvl[level, _L_KEY]
    side = key >> 32
    sides[side, _S_ORDERS] -= 1
    if left != 0:
        return
    prev = lvl[level, _L_PREV]
    after = lvl[level, _L_NEXT]
    if prev != 0:
        lvl[prev - 1, _L_NEXT] = after
    else:
        sides[side, _S_HEAD] = after
    if after != 0:
        lvl[after - 1, _L_PREV] = prev
    sides[side, _S_LEVELS] -= 1
    sides[side, _S_CHANGED] = 1
    lmask = ltab.shape[0] - 1
    _remove(ltab, lmask, _find(ltab, lmask, key), 2)
    lvl[level, _L_NEXT] = meta[_M_FREE]
    meta[_M_FREE] = level + 1


@numba.njit(inline="always")
def _put_order(otab: Array, row: int, lvl: Array, ltab: Array, sides: Array, meta: Array,
               ref: int, side: int, price: int, shares: int) -> None:
    """A new order ``ref`` in the empty order row ``row``, joining (or making) its level."""
    key = (side << 32) | price
    lmask = ltab.shape[0] - 1
    at = _find(ltab, lmask, key)
    if at >= 0:
        level = ltab[at, 1] - 1
        lvl[level, _L_SHARES] += shares
        lvl[level, _L_ORDERS] += 1
    else:
        level = meta[_M_FREE] - 1
        if level >= 0:
            meta[_M_FREE] = lvl[level, _L_NEXT]
        else:
            level = meta[_M_TOP]
            meta[_M_TOP] = level + 1
        at = -1 - at
        ltab[at, 0] = key
        ltab[at, 1] = level + 1
        head = sides[side, _S_HEAD]
        lvl[level, _L_KEY] = key
        lvl[level, _L_SHARES] = shares
        lvl[level, _L_ORDERS] = 1
        lvl[level, _L_PREV] = 0
        lvl[level, _L_NEXT] = head
        if head != 0:
            lvl[head - 1, _L_PREV] = level + 1
        sides[side, _S_HEAD] = level + 1
        sides[side, _S_LEVELS] += 1
        sides[side, _S_CHANGED] = 1
    sides[side, _S_ORDERS] += 1
    otab[row, _O_REF] = ref
    otab[row, _O_ENTRY] = (level + 1) << 32 | shares
    meta[_M_ORDERS] += 1


@numba.njit(inline="always")
def _note(notes: Array, meta: Array, kind: int, index: int, locate: int) -> None:
    k = meta[_M_NOTES]
    notes[k, 0] = kind
    notes[k, 1] = index
    notes[k, 2] = locate
    meta[_M_NOTES] = k + 1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _apply(raw: Array, n: int, start: int, otab: Array, lvl: Array, ltab: Array,
           sides: Array, meta: Array, types: Array, notes: Array) -> tuple[int, int, int]:
    """Apply events ``start..n`` of the packed rows ``raw``; returns (events done, notes,
    issues) of this call. It stops early when the order table is half full, the level
    pool is full or ``notes`` might overflow: grow and call again from there."""
    omask = otab.shape[0] - 1
    order_limit = otab.shape[0] >> 1
    level_rows = lvl.shape[0]
    note_limit = notes.shape[0] - 2
    meta[_M_NOTES] = 0
    for k in range(_M_ISSUE, _M_ISSUE + 8):
        meta[k] = 0
    issues = 0
    i = start
    while i < n:
        if (meta[_M_ORDERS] >= order_limit or meta[_M_NOTES] > note_limit
                or (meta[_M_FREE] == 0 and meta[_M_TOP] >= level_rows)):
            break
        p = i * _ROW
        kind = np.int64(raw[p + _F_TYPE])
        types[kind] += 1
        if raw[p + _F_FLAGS] & _DUPLICATE:
            meta[_M_ISSUE + _I_DUPLICATE_EVENT] += 1
            issues += 1
            i += 1
            continue
        code = _CODES[kind]
        if code == 0:
            i += 1
            continue
        locate = _u16(raw, p + _F_LOCATE)
        if code == _ADD:
            flags = sides[2 * locate, _S_FLAGS]
            if not flags & _NAMED:
                flags |= _NAMED
                sides[2 * locate, _S_FLAGS] = flags
                _note(notes, meta, _N_ADD_NAME, i, locate)
            byte = raw[p + _F_SIDE]
            shares = _u32(raw, p + _F_SHARES)
            if byte == _BID:
                side = 2 * locate
            elif byte == _ASK:
                side = 2 * locate + 1
            else:
                meta[_M_ISSUE + _I_BAD_SIDE] += 1
                issues += 1
                i += 1
                continue
            if shares == 0:
                meta[_M_ISSUE + _I_ZERO_SHARES] += 1
                issues += 1
                i += 1
                continue
            if not flags & _HAS_BOOK:
                sides[2 * locate, _S_FLAGS] = flags | _HAS_BOOK
                _note(notes, meta, _N_BOOK, i, locate)
            ref = _u64(raw, p + _F_REF)
            row = _find(otab, omask, ref)
            if row >= 0:
                meta[_M_ISSUE + _I_DUPLICATE_ADD] += 1
                issues += 1
            else:
                _put_order(otab, -1 - row, lvl, ltab, sides, meta, ref, side,
                           _u32(raw, p + _F_PRICE), shares)
        elif code != _DIRECTORY:  # E C X D U
            ref = _u64(raw, p + _F_REF)
            row = _find(otab, omask, ref)
            if row < 0:
                meta[_M_ISSUE + _I_UNKNOWN_REF] += 1
                issues += 1
                i += 1
                continue
            entry = otab[row, _O_ENTRY]
            level = (entry >> 32) - 1
            side = lvl[level, _L_KEY] >> 32
            if side >> 1 != locate:
                meta[_M_ISSUE + _I_LOCATE_MISMATCH] += 1
                issues += 1
            left = entry & _LOW
            shares = _u32(raw, p + _F_SHARES)
            if code == _REDUCE:  # E C X: take shares
                if shares < left:
                    if shares == 0:
                        meta[_M_ISSUE + _I_ZERO_SHARES] += 1
                        issues += 1
                    else:
                        otab[row, _O_ENTRY] = entry - shares
                        lvl[level, _L_SHARES] -= shares
                    i += 1
                    continue
                if shares > left:
                    meta[_M_ISSUE + _I_OVERFILL] += 1  # clamp: the order cannot go negative
                    issues += 1
            # The whole order leaves.
            _remove(otab, omask, row, 2)
            meta[_M_ORDERS] -= 1
            _take_order(lvl, ltab, sides, meta, level, left)
            if code == _REPLACE:  # U: the new order keeps the original's instrument and side
                new_ref = _u64(raw, p + _F_NEW_REF)
                row = _find(otab, omask, new_ref)
                if row >= 0:
                    meta[_M_ISSUE + _I_REPLACE_REF_EXISTS] += 1
                    issues += 1
                elif shares == 0:
                    meta[_M_ISSUE + _I_ZERO_SHARES] += 1
                    issues += 1
                else:
                    _put_order(otab, -1 - row, lvl, ltab, sides, meta, new_ref, side,
                               _u32(raw, p + _F_PRICE), shares)
        else:
            _note(notes, meta, _N_DIRECTORY, i, locate)
        i += 1
    return i, meta[_M_NOTES], issues


@numba.njit(cache=True, nogil=True)
def _grow_orders(otab: Array, rows: int) -> Array:
    """The order table rehashed into ``rows`` rows (a power of two)."""
    out = np.zeros((rows, otab.shape[1]), np.int64)
    mask = rows - 1
    for i in range(otab.shape[0]):
        if otab[i, _O_ENTRY] != 0:
            j = -1 - _find(out, mask, otab[i, _O_REF])
            out[j, _O_REF] = otab[i, _O_REF]
            out[j, _O_ENTRY] = otab[i, _O_ENTRY]
    return out


@numba.njit(cache=True, nogil=True)
def _grow_levels(lvl: Array, ltab: Array, rows: int) -> tuple[Array, Array]:
    """The level pool grown to ``rows`` rows (slots kept), its hash table rehashed."""
    out = np.zeros((rows, lvl.shape[1]), np.int64)
    out[:lvl.shape[0]] = lvl
    table = np.zeros((2 * rows, 2), np.int64)
    mask = 2 * rows - 1
    for i in range(ltab.shape[0]):
        if ltab[i, 1] != 0:
            j = -1 - _find(table, mask, ltab[i, 0])
            table[j, 0] = ltab[i, 0]
            table[j, 1] = ltab[i, 1]
    return out, table


@numba.njit(cache=True, nogil=True)
def _side_levels(lvl: Array, sides: Array, side: int, sign: int) -> tuple[Array, Array]:
    """A side's level keys (sign * price) ascending and their slots; clears its flag."""
    count = sides[side, _S_LEVELS]
    keys = np.empty(count, np.int64)
    slots = np.empty(count, np.int64)
    at = sides[side, _S_HEAD]
    k = 0
    while at != 0 and k < count:
        keys[k] = sign * (lvl[at - 1, _L_KEY] & _LOW)
        slots[k] = at - 1
        at = lvl[at - 1, _L_NEXT]
        k += 1
    order = np.argsort(keys, kind="mergesort")
    sides[side, _S_CHANGED] = 0
    return keys[order], slots[order]


@numba.njit(cache=True, nogil=True)
def _best(lvl: Array, sides: Array, side: int, sign: int) -> tuple[bool, int, int, int]:
    """A side's best level, by a scan of its list (no sort, no allocation): (found, key,
    shares, orders)."""
    at = sides[side, _S_HEAD]
    best = -1
    best_key = 0
    while at != 0:
        key = sign * (lvl[at - 1, _L_KEY] & _LOW)
        if best < 0 or key > best_key:
            best = at - 1
            best_key = key
        at = lvl[at - 1, _L_NEXT]
    if best < 0:
        return False, 0, 0, 0
    return True, best_key, lvl[best, _L_SHARES], lvl[best, _L_ORDERS]


@numba.njit(cache=True, nogil=True)
def _lookup(otab: Array, ref: int) -> int:
    row = _find(otab, otab.shape[0] - 1, ref)
    return row if row >= 0 else -1


@numba.njit(cache=True, nogil=True)
def _dump(otab: Array, lvl: Array) -> tuple[Array, Array, Array, Array]:
    """Every live order: refs (int64 bits), book sides, prices, shares; by ref bits."""
    count = 0
    for i in range(otab.shape[0]):
        if otab[i, _O_ENTRY] != 0:
            count += 1
    refs = np.empty(count, np.int64)
    sides = np.empty(count, np.int64)
    prices = np.empty(count, np.int64)
    shares = np.empty(count, np.int64)
    k = 0
    for i in range(otab.shape[0]):
        entry = otab[i, _O_ENTRY]
        if entry != 0:
            key = lvl[(entry >> 32) - 1, _L_KEY]
            refs[k] = otab[i, _O_REF]
            sides[k] = key >> 32
            prices[k] = key & _LOW
            shares[k] = entry & _LOW
            k += 1
    return refs, sides, prices, shares


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


class _Core:
    """The arrays the compiled pass updates (one per BookSet; grown by replacing them)."""

    __slots__ = ("levels", "ltab", "meta", "notes", "otab", "sides", "types")

    def __init__(self) -> None:
        self.otab = np.zeros((_MIN_ORDERS, 2), np.int64)
        self.levels = np.zeros((_MIN_LEVELS, 8), np.int64)
        self.ltab = np.zeros((2 * _MIN_LEVELS, 2), np.int64)
        # 8 MiB of zeros from calloc: only the pages of locates in use are ever touched.
        self.sides = np.zeros((2 * _LOCATES, 8), np.int64)
        self.meta = np.zeros(16, np.int64)
        self.types = np.zeros(256, np.int64)
        self.notes = np.zeros((_NOTES, 3), np.int64)

    def grow(self) -> None:
        """Make room for the event the compiled pass stopped at."""
        meta = self.meta
        if meta[_M_ORDERS] >= self.otab.shape[0] >> 1:
            self.otab = _grow_orders(self.otab, 2 * self.otab.shape[0])
        if meta[_M_FREE] == 0 and meta[_M_TOP] >= self.levels.shape[0]:
            self.levels, self.ltab = _grow_levels(self.levels, self.ltab,
                                                  2 * self.levels.shape[0])


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
    """Load (or compile) the books' compiled passes now, not on a packet's latency: the
    update pass, the table growers (first called when a session outgrows the initial
    tables, mid-session) and the level sort behind top of book."""
    BookSet().apply(np.zeros(1, BOOK_EVENT_DTYPE))  # type byte 0: a no-op event
    core = _Core()
    _grow_orders(core.otab[:2], 4)
    _grow_levels(core.levels[:2], core.ltab[:4], 4)
    _best(core.levels, core.sides, 0, 1)


def _symbol_text(stock: bytes) -> str:
    return stock.rstrip(b" \x00").decode("ascii", "replace")
