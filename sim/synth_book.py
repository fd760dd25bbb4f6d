"""The book behind a synthetic session: one compiled (numba) walk per chunk.

:func:`_walk_book` turns a chunk of uniform draws into book-consistent
messages: it keeps every instrument's live orders, picks what each message
acts on, and prices adds and replaces around a random-walking mid so that no
book is ever crossed or locked (see :mod:`nanogate.sim.synth`). It is separate
from the session (:mod:`nanogate.sim.synth`, which draws the random numbers,
stamps times and fills in the details the book does not decide) and from the
encoder (:mod:`nanogate.sim.synth_encode`) because it is the one compiled hot
loop: its constants are frozen into the compiled code, and it knows nothing
of columns, files or wire formats, only of plain int64 arrays.
"""

from __future__ import annotations

import numba
import numpy as np

TICK = 100  # one cent in price(4) units
_MIN_MID_TICKS = 300  # keeps every buy price, mid - (1 + offset) ticks, above zero
_MAX_MID_TICKS = 1_000_000  # $10,000: far below the u32 price limit
_MAX_OFFSET_TICKS = 200
_MEAN_OFFSET_TICKS = 4.0
_FULL_EXECUTION_PROBABILITY = 0.55

#: The body's message mix: mostly adds and deletes, as on NASDAQ. E, C, X, D and U need
#: a live order and become an add when the book is empty; adds become deletes
#: once the book holds its target size, so it settles instead of growing.
BODY_MIX: dict[str, float] = {
    "A": 0.400, "F": 0.020, "E": 0.040, "C": 0.005, "X": 0.020,
    "D": 0.370, "U": 0.100, "P": 0.030, "Q": 0.0005, "I": 0.0145,
}
_KIND_TYPES = np.frombuffer("".join(BODY_MIX).encode(), dtype=np.uint8).copy()
_KIND_CDF = np.cumsum(np.array(list(BODY_MIX.values())) / sum(BODY_MIX.values()))
# the compiled loop's names for the kinds: indices into BODY_MIX, whose order it relies on
_A, _F, _E, _C, _X, _D, _U, _P, _Q, _I = range(10)
if "".join(BODY_MIX) != "AFECXDUPQI":
    raise AssertionError("synth: the book walk needs BODY_MIX in the order A F E C X D U P Q I")

# rows of the uniform draws the book walk reads, one column per message
_DRAW_KIND, _DRAW_INSTRUMENT, _DRAW_PICK, _DRAW_FRACTION, _DRAW_LOT_CLASS, _DRAW_LOT, \
    _DRAW_OFFSET = range(7)
_DRAWS = 7
# bit fields of the one raw 64-bit draw per message: 0 side, 1..2 reference gap,
# 3..10 mid step, 11..13 tracking number, 14 which way a C's price differs
_BIT_BUY = 1
_STEP_DOWN = 15  # bits 3..10 (0..255): below this the mid steps down a tick, ...
_STEP_UP = 256 - 15  # ... at or above this up (15/256, about 6% each way)
_BUY, _SELL = 66, 83  # 'B', 'S'
_NO_ASK = 1 << 62  # best ask of an instrument with no sell order: above every price
_NO_BID = 0  # best bid of an instrument with no buy order: below every price

# the live orders: instrument s owns rows [s * per, s * per + count[s]) of the ORDER_* rows
# of ``orders``, so its best bid and ask are found by scanning at most ``per`` rows
_ORDER_REF, _ORDER_SIDE, _ORDER_SHARES, _ORDER_PRICE, _ORDER_POSITION = range(5)
_ORDER_FIELDS = 5
# per instrument: live orders, best bid, best ask (price(4))
_INST_COUNT, _INST_BID, _INST_ASK = range(3)
_INST_FIELDS = 3


@numba.njit(cache=True, nogil=True)
def _walk_book(  # type: ignore[no-untyped-def]
        draws, bits, kind_cdf, kind_types, instrument_cdf,
        mids, orders, inst, live_rows, state,
        out_type, out_locate, out_tracking, out_ref, out_new_ref, out_side, out_shares,
        out_price, out_match):
    """Turn one chunk of random draws into book-consistent messages, written to ``out_*``.

    ``orders`` holds the live orders, instrument by instrument (see _ORDER_*);
    ``live_rows[:state[0]]`` lists their rows, so that a cancel or an execution
    picks any live order in O(1). ``state``: [live orders, last order
    reference, last match number], carried from chunk to chunk.

    The books never cross or lock: an add priced through the other side's best
    price executes against its oldest order there instead (an E for what the
    two have in common; the rest of the incoming order is not added, as for an
    IOC), and a replace priced through it is re-priced a tick inside it.
    """
    live = state[0]
    last_ref = state[1]
    last_match = state[2]
    per = orders.shape[1] // inst.shape[1]
    last_kind = kind_cdf.shape[0] - 1
    for i in range(bits.shape[0]):
        u = draws[_DRAW_KIND, i]
        k = 0
        while k < last_kind and u >= kind_cdf[k]:
            k += 1
        if live == 0 and _E <= k <= _U:
            k = _A  # nothing to execute, cancel or replace yet
        b = bits[i]
        out_tracking[i] = (b >> 11) & 7
        step_bits = (b >> 3) & 255
        step = -1 if step_bits < _STEP_DOWN else (1 if step_bits >= _STEP_UP else 0)
        if k <= _F or k >= _P:  # A F P Q I: on an instrument, not on a resting order
            s = np.searchsorted(instrument_cdf, draws[_DRAW_INSTRUMENT, i], side="right")
            if s >= instrument_cdf.shape[0]:
                s = instrument_cdf.shape[0] - 1  # a draw on the CDF's rounding edge
            mid = _step_mid(mids, s, step)
            lot = _lot(draws[_DRAW_LOT_CLASS, i], draws[_DRAW_LOT, i])
            side = _BUY if b & _BIT_BUY else _SELL
            out_locate[i] = s + 1
            if k <= _F and inst[_INST_COUNT, s] >= per:
                k = _D  # the instrument's book at its target size: take an order off instead
            elif k <= _F:
                price = _quote(mid, side, _offset(draws[_DRAW_OFFSET, i]))
                if (price >= inst[_INST_ASK, s]) if side == _BUY else \
                        (price <= inst[_INST_BID, s]):
                    # marketable: it executes against the oldest order at the best price
                    row = _oldest_at_best(orders, inst, s, per, _SELL if side == _BUY else _BUY)
                    done = min(lot, orders[_ORDER_SHARES, row])
                    last_match += 1
                    out_type[i] = 69  # 'E'
                    out_ref[i] = orders[_ORDER_REF, row]
                    out_shares[i] = done
                    out_match[i] = last_match
                    if done < orders[_ORDER_SHARES, row]:
                        orders[_ORDER_SHARES, row] -= done
                    else:
                        live = _remove(orders, inst, live_rows, live, s, per, row)
                    continue
                last_ref += 1 + ((b >> 1) & 3)  # strictly increasing, with small gaps
                row = s * per + inst[_INST_COUNT, s]
                inst[_INST_COUNT, s] += 1
                orders[_ORDER_REF, row] = last_ref
                orders[_ORDER_SIDE, row] = side
                orders[_ORDER_SHARES, row] = lot
                orders[_ORDER_PRICE, row] = price
                orders[_ORDER_POSITION, row] = live
                live_rows[live] = row
                live += 1
                if side == _BUY and price > inst[_INST_BID, s]:
                    inst[_INST_BID, s] = price
                elif side == _SELL and price < inst[_INST_ASK, s]:
                    inst[_INST_ASK, s] = price
                out_ref[i] = last_ref
                out_side[i] = side
                out_shares[i] = lot
                out_price[i] = price
                out_type[i] = kind_types[k]
                continue
            elif k == _P:  # a hidden order executed: close to the mid
                last_match += 1
                out_side[i] = side
                out_shares[i] = lot
                out_price[i] = _quote(mid, side, _offset(draws[_DRAW_OFFSET, i]) // 4)
                out_match[i] = last_match
                out_type[i] = kind_types[k]
                continue
            elif k == _Q:
                last_match += 1
                out_shares[i] = lot * 20
                out_price[i] = mid * TICK
                out_match[i] = last_match
                out_type[i] = kind_types[k]
                continue
            else:  # I: imbalance details are drawn afterwards, around this reference
                out_shares[i] = lot * 10
                out_price[i] = mid * TICK
                out_type[i] = kind_types[k]
                continue
        j = np.int64(draws[_DRAW_PICK, i] * live)
        if j >= live:
            j = live - 1
        row = live_rows[j]
        s = row // per
        left = orders[_ORDER_SHARES, row]
        out_locate[i] = s + 1
        out_ref[i] = orders[_ORDER_REF, row]
        if k == _X and left < 2:
            k = _D  # a one-share order cannot be cancelled in part
        f = draws[_DRAW_FRACTION, i]
        if _E <= k <= _C:
            if f < _FULL_EXECUTION_PROBABILITY or left < 2:
                done = left
            else:
                f = (f - _FULL_EXECUTION_PROBABILITY) / (1.0 - _FULL_EXECUTION_PROBABILITY)
                done = 1 + np.int64(f * (left - 1))  # 1 .. left - 1
            last_match += 1
            out_shares[i] = done
            out_match[i] = last_match
            if k == _C:  # executed at a price other than the order's: a tick either way
                price = orders[_ORDER_PRICE, row] + (TICK if (b >> 14) & 1 else -TICK)
                out_price[i] = price if price >= TICK else TICK
            left -= done
        elif k == _X:
            done = 1 + np.int64(f * (left - 1))  # leaves at least one share
            out_shares[i] = done
            left -= done
        elif k == _U:  # new reference, shares and price; same side and instrument
            mid = _step_mid(mids, s, step)
            last_ref += 1 + ((b >> 1) & 3)
            side = orders[_ORDER_SIDE, row]
            price = _quote(mid, side, _offset(draws[_DRAW_OFFSET, i]))
            if side == _BUY and price >= inst[_INST_ASK, s]:
                price = inst[_INST_ASK, s] - TICK  # a tick inside the other side
            elif side == _SELL and price <= inst[_INST_BID, s]:
                price = inst[_INST_BID, s] + TICK
            left = _lot(draws[_DRAW_LOT_CLASS, i], draws[_DRAW_LOT, i])
            old = orders[_ORDER_PRICE, row]
            orders[_ORDER_REF, row] = last_ref
            orders[_ORDER_PRICE, row] = price
            best = _INST_BID if side == _BUY else _INST_ASK
            if old == inst[best, s]:
                inst[best, s] = _best(orders, inst, s, per, side)
            elif (price > inst[best, s]) if side == _BUY else (price < inst[best, s]):
                inst[best, s] = price
            out_new_ref[i] = last_ref
            out_shares[i] = left
            out_price[i] = price
        else:  # D
            left = 0
        out_type[i] = kind_types[k]
        if left > 0:
            orders[_ORDER_SHARES, row] = left
        else:
            live = _remove(orders, inst, live_rows, live, s, per, row)
    state[0] = live
    state[1] = last_ref
    state[2] = last_match


@numba.njit(cache=True, nogil=True, inline="always")
def _remove(orders, inst, live_rows, live, s, per, row):  # type: ignore[no-untyped-def]
    """Take the order in ``row`` off instrument ``s``'s book; returns the new live count."""
    # off the list of live rows: its last entry takes the freed place
    live -= 1
    position = orders[_ORDER_POSITION, row]
    moved = live_rows[live]
    live_rows[position] = moved
    orders[_ORDER_POSITION, moved] = position
    # off the instrument's rows: its last row moves into the hole
    side = orders[_ORDER_SIDE, row]
    price = orders[_ORDER_PRICE, row]
    last = s * per + inst[_INST_COUNT, s] - 1
    inst[_INST_COUNT, s] -= 1
    if last != row:
        for field in range(_ORDER_FIELDS):
            orders[field, row] = orders[field, last]
        live_rows[orders[_ORDER_POSITION, row]] = row
    best = _INST_BID if side == _BUY else _INST_ASK
    if price == inst[best, s]:  # it may have been the last order at the best price
        inst[best, s] = _best(orders, inst, s, per, side)
    return live


@numba.njit(cache=True, nogil=True, inline="always")
def _best(orders, inst, s, per, side):  # type: ignore[no-untyped-def]
    """The best price on one side of instrument ``s``, by a scan of its rows."""
    best = _NO_BID if side == _BUY else _NO_ASK
    for row in range(s * per, s * per + inst[_INST_COUNT, s]):
        if orders[_ORDER_SIDE, row] == side:
            price = orders[_ORDER_PRICE, row]
            if (price > best) if side == _BUY else (price < best):
                best = price
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def _oldest_at_best(orders, inst, s, per, side):  # type: ignore[no-untyped-def]
    """The row of the first order in time priority (lowest reference) at a side's best."""
    best = inst[_INST_BID if side == _BUY else _INST_ASK, s]
    found = -1
    for row in range(s * per, s * per + inst[_INST_COUNT, s]):
        if orders[_ORDER_SIDE, row] == side and orders[_ORDER_PRICE, row] == best and (
                found < 0 or orders[_ORDER_REF, row] < orders[_ORDER_REF, found]):
            found = row
    return found


@numba.njit(cache=True, nogil=True, inline="always")
def _step_mid(mids, s, step):  # type: ignore[no-untyped-def]
    mid = mids[s] + step
    if _MIN_MID_TICKS <= mid <= _MAX_MID_TICKS:
        mids[s] = mid
    return mids[s]


@numba.njit(cache=True, nogil=True, inline="always")
def _quote(mid, side, offset):  # type: ignore[no-untyped-def]
    """A price(4) ``1 + offset`` ticks below (buy) or above (sell) the mid."""
    ticks = mid - 1 - offset if side == _BUY else mid + 1 + offset
    return ticks * TICK


@numba.njit(cache=True, nogil=True, inline="always")
def _offset(u):  # type: ignore[no-untyped-def]
    """Ticks between a quote and the mid, beyond the first: geometric-like, capped."""
    ticks = np.int64(-_MEAN_OFFSET_TICKS * np.log1p(-u))
    return ticks if ticks < _MAX_OFFSET_TICKS else _MAX_OFFSET_TICKS


@numba.njit(cache=True, nogil=True, inline="always")
def _lot(size_class, u):  # type: ignore[no-untyped-def]
    """Order sizes: mostly round lots (about 300 on average), some odd lots, a few blocks."""
    if size_class < 0.15:
        return 1 + np.int64(u * 99)
    if size_class > 0.97:
        return 100 * (10 + np.int64(u * 90))
    return 100 * (1 + np.int64(-2.0 * np.log1p(-u)))
