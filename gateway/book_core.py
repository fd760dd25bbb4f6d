"""The compiled core of :mod:`nanogate.gateway.book`: its tables and the numba passes on them.

Kept apart from ``book.py`` (the Python views and the public API) so that the
hot path -- the table layout, the one pass that applies a BookEvent array, the
growers and the scans behind top of book -- reads as one unit, and so that the
views can change without touching (or recompiling) the kernels. Everything
here is private to ``book.py``: import the books from there.

The state lives in NumPy arrays (held by :class:`_Core`, one per BookSet) that
one compiled pass (numba, cached on disk) updates for a whole BookEvent array,
reading the packed rows in place:

* the live orders: an open-addressing hash table (linear probing, deletion by
  backward shift, so no tombstones) of ``ref -> level, shares left``;
* the price levels: a pool of ``shares, orders`` rows, found on adds by a
  second hash table keyed by ``(book side, price)``; an order points at its
  level, so executions, cancels and deletes touch the level without hashing;
* per book side (locate * 2 + ask): an unsorted linked list of its levels, the
  level and order counts, and a *changed* flag set when a level appears or goes.

Table layout, all int64:

* ``otab`` (orders, power-of-two rows of 2, at most half full): ``_O_REF`` the
  ref's bits, ``_O_ENTRY`` ``(level slot + 1) << 32 | shares left`` (0: empty);
* ``levels`` (the level pool, rows of 8): ``_L_KEY`` ``side << 32 | price``,
  ``_L_SHARES``, ``_L_ORDERS``, ``_L_PREV`` / ``_L_NEXT`` the neighbours of the
  same side + 1 (0: none; next doubles as the free list's link);
* ``ltab`` (the level hash table, twice the pool's rows, 2 wide): key, level slot + 1;
* ``sides`` (rows of 8, one per locate * 2 + (0 bid, 1 ask)): ``_S_HEAD`` first
  level + 1, ``_S_LEVELS``, ``_S_ORDERS``, ``_S_CHANGED``, and on the bid row
  ``_S_FLAGS`` the locate's flags (``_HAS_BOOK``, ``_NAMED``);
* ``meta`` (16 slots): live orders, free level + 1, levels ever allocated,
  notes this call, then from ``_M_ISSUE`` the issue counts of this call (one
  slot per BookIssue, in its declaration order);
* ``types`` (256 slots): events seen per message type byte;
* ``notes`` (rows of 3: kind, event index, locate): what the pass leaves for
  the Python side (new books, symbols from R messages and adds).

The pass stops early only when a table must grow (the caller grows it with
:meth:`_Core.grow` and resumes) or its note buffer is full.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from nanogate.proto.records import BOOK_EVENT_DTYPE, EventFlags

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

# Issue counter slots, one per BookIssue in its declaration order (book.py checks the two
# agree at import).
_ISSUE_SLOTS = 8
(_I_DUPLICATE_EVENT, _I_UNKNOWN_REF, _I_DUPLICATE_ADD, _I_OVERFILL, _I_REPLACE_REF_EXISTS,
 _I_BAD_SIDE, _I_ZERO_SHARES, _I_LOCATE_MISMATCH) = range(_ISSUE_SLOTS)

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
