"""A seeded, book-consistent synthetic TotalView-ITCH 5.0 session, fast enough for benchmarks.

A session over ``K`` instruments is, in order::

    S 'O' (start of messages), S 'S' (start of system hours),
    R x K (stock directory, locates 1..K), H x K (trading action 'T'),
    S 'Q' (start of market hours),
    body: A F E C X D U P Q I,
    S 'M' (end of market hours), S 'E' (end of system hours), S 'C' (end of messages)

so a session of ``N`` messages has ``N - (2K + 6)`` body messages.

The body is book-consistent: E, C, X, D and U only ever name a live order and
never take more shares than it has left; an order executed in full, deleted or
replaced is gone; order reference numbers strictly increase. Prices sit on a
one-cent grid around a per-instrument reference price (the "mid") that
random-walks: a buy is added below the mid at the time, a sell above it. Old
orders keep their price while the mid moves on, so a new order can be priced
through the other side: it then executes, as a marketable order does, against
the oldest order at the other side's best price (one E for the shares the two
have in common; the rest is not added, as for an immediate-or-cancel order),
and a replace priced through the other side is moved a tick inside it. So no
book is ever crossed or locked. Other executions (E, C) pick resting orders at
random, not from the top of the book. Trades (P) name order reference 0, as
NASDAQ's feed does for non-displayed orders. Timestamps are non-decreasing
nanoseconds since midnight: bursty arrivals, denser near the open and the close.

Speed: the book state is walked by one compiled loop (numba) over random
numbers drawn in bulk, a chunk at a time, and each message type is encoded
in one vectorised step through a big-endian NumPy dtype built from the
message table in :mod:`nanogate.proto.itch` (the one definition of every
offset). The same seed gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import operator
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numba
import numpy as np
import numpy.typing as npt

from nanogate.gateway.feed.capture import PcapWriter
from nanogate.proto import moldudp64
from nanogate.proto.itch import LENGTH_BY_TYPE_BYTE, MESSAGES, MessageSpec
from nanogate.proto.wire import Kind

SynthFormat = Literal["binaryfile", "pcap"]
Progress = Callable[[int, int], None]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]

MAX_INSTRUMENTS = 0xFFFF  # stock locate is a u16 and 0 is for system messages
DEFAULT_DESTINATION = ("239.1.1.1", 5001)
DEFAULT_SOURCE = ("127.0.0.1", 40000)
DEFAULT_MOLD_SESSION = "SYNTH00001"
MAX_PAYLOAD = 1400  # MoldUDP64 payload per datagram, below a 1500-byte Ethernet MTU
#: The trading day the pcap frame times fall on; ITCH times count from its
#: midnight in New York (EST in January, UTC-5).
TRADING_DATE = datetime.date(2024, 1, 2)
_MIDNIGHT_EPOCH = datetime.datetime(TRADING_DATE.year, TRADING_DATE.month, TRADING_DATE.day,
                                    5, tzinfo=datetime.UTC).timestamp()

_NS = 1_000_000_000
_HOUR = 3600 * _NS
START_OF_MESSAGES = 3 * _HOUR
START_OF_SYSTEM_HOURS = 4 * _HOUR
START_OF_MARKET_HOURS = 9 * _HOUR + 30 * 60 * _NS
END_OF_MARKET_HOURS = 16 * _HOUR
END_OF_SYSTEM_HOURS = 20 * _HOUR
END_OF_MESSAGES = 20 * _HOUR + 5 * 60 * _NS
_DIRECTORY_SPACING = 1_000  # ns between the start-of-day directory messages
_DENSITY_SWING = 0.6  # message density at the open/close vs midday: (1+s)/(1-s) = 4x

TICK = 100  # one cent in price(4) units
_MIN_MID_TICKS = 300  # keeps every buy price, mid - (1 + offset) ticks, above zero
_MAX_MID_TICKS = 1_000_000  # $10,000: far below the u32 price limit
_MAX_OFFSET_TICKS = 200
_MEAN_OFFSET_TICKS = 4.0
_LIVE_ORDERS_PER_INSTRUMENT = 256  # book size an active instrument settles at
_MAX_LIVE_ORDERS = 1 << 20
_FULL_EXECUTION_PROBABILITY = 0.55
_CHUNK = 1 << 18  # body messages per chunk: fixed, so the random draws (and bytes) are too

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

#: MPIDs used as the attribution of F messages.
MPIDS = ("GSCO", "MSCO", "JPMS", "UBSS", "CDRG", "VIRT", "NITE", "SUSQ")
_MPID_BYTES = np.array([m.encode().ljust(4) for m in MPIDS], dtype="S4")
_NOII_DIRECTIONS = np.frombuffer(b"BSNO", dtype=np.uint8)
_NOII_CROSS_TYPES = np.frombuffer(b"OCH", dtype=np.uint8)
_CROSS_TYPES = np.frombuffer(b"OCHI", dtype=np.uint8)
_PRICE_VARIATIONS = np.frombuffer(b"L123456789ABC ", dtype=np.uint8)

_LENGTHS = np.array(LENGTH_BY_TYPE_BYTE, dtype=np.int64)


def fixed_overhead(instruments: int) -> int:
    """Messages every session has besides its body: 6 system events, an R and an H each."""
    return 2 * instruments + 6


#: The first instruments of a session carry familiar tickers, so the example strategy
#: specs (examples/strategies) trade a synthetic session as they would a real one.
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "INTC", "NFLX",
           "ADBE", "CSCO", "PEP", "COST", "AVGO", "QCOM")


def symbol(locate: int) -> str:
    """The ticker of stock locate ``locate`` (1-based): AAPL, MSFT, ... (:data:`TICKERS`),
    then SYM0017 .. SYM65535."""
    if 1 <= locate <= len(TICKERS):
        return TICKERS[locate - 1]
    return f"SYM{locate:04d}"


# --- columns -----------------------------------------------------------------------------


@dataclass
class Columns:
    """The session as columns, one row per message, holding what each message carries.

    Names follow the BookEvent record where they mean the same thing; a column a
    message type has no field for stays 0 in that type's rows.
    """

    msg_type: U8  # ITCH type byte
    stock_locate: I64
    tracking_number: I64
    timestamp: I64  # ns since midnight
    order_ref: I64  # order_reference_number; the original one for U
    new_order_ref: I64  # U
    side: U8  # buy_sell_indicator (A F P), imbalance_direction (I)
    shares: I64  # shares, executed_shares, cancelled_shares; paired_shares (I)
    price: I64  # price, execution_price, cross_price; current_reference_price (I)
    match_number: I64
    code: U8  # event_code (S), printable (C), cross_type (Q, I)
    attribution: U8  # index into MPIDS (F)
    imbalance_shares: I64  # I
    far_price: I64  # I
    near_price: I64  # I
    price_variation: U8  # price_variation_indicator (I)

    @classmethod
    def zeros(cls, n: int) -> Columns:
        return cls(**{f.name: np.zeros(n, _column_dtype(f.type)) for f in dataclasses.fields(cls)})

    @classmethod
    def concatenate(cls, parts: list[Columns]) -> Columns:
        if not parts:
            return cls.zeros(0)
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in dataclasses.fields(cls)})

    def __len__(self) -> int:
        return len(self.msg_type)

    def column(self, name: str) -> npt.NDArray[np.integer]:
        value: npt.NDArray[np.integer] = getattr(self, name)
        return value


def _column_dtype(annotation: object) -> type[np.integer]:
    return np.uint8 if annotation in ("U8", U8) else np.int64


# --- the encoder: one NumPy dtype per message type, from the ITCH table -------------------

# ITCH field -> the column that holds it; "stock" and "attribution" are looked up.
_FIELD_COLUMNS: dict[str, str] = {
    "stock_locate": "stock_locate", "tracking_number": "tracking_number",
    "event_code": "code", "printable": "code", "cross_type": "code",
    "order_reference_number": "order_ref", "original_order_reference_number": "order_ref",
    "new_order_reference_number": "new_order_ref",
    "buy_sell_indicator": "side", "imbalance_direction": "side",
    "shares": "shares", "executed_shares": "shares", "cancelled_shares": "shares",
    "paired_shares": "shares", "imbalance_shares": "imbalance_shares",
    "price": "price", "execution_price": "price", "cross_price": "price",
    "current_reference_price": "price", "far_price": "far_price", "near_price": "near_price",
    "match_number": "match_number", "price_variation_indicator": "price_variation",
}
# Fields the same in every message of the session (stock directory, trading action).
_CONSTANT_FIELDS: dict[str, bytes | int] = {
    "market_category": b"Q",  # NASDAQ Global Select
    "financial_status_indicator": b"N",
    "round_lot_size": 100,
    "round_lots_only": b"N",
    "issue_classification": b"C",  # common stock
    "issue_sub_type": b"Z",  # not applicable
    "authenticity": b"P",
    "short_sale_threshold_indicator": b"N",
    "ipo_flag": b"N",
    "luld_reference_price_tier": b"1",
    "etp_flag": b"N",
    "etp_leverage_factor": 0,
    "inverse_indicator": b"N",
    "trading_state": b"T",
    "reserved": b" ",
    "reason": b"",
}
#: The ITCH types a session holds.
SESSION_TYPES = "SRH" + "".join(BODY_MIX)


def _timestamp_parts(name: str) -> tuple[str, str]:
    return f"{name}.high", f"{name}.low"


def message_dtype(spec: MessageSpec) -> np.dtype[np.void]:
    """The big-endian NumPy dtype of one message, offsets from the ITCH table.

    A timestamp(6) becomes a ``>u2`` high part and a ``>u4`` low part; an alpha
    field of one byte a ``u1`` (its character code), a longer one ``S<width>``.
    """
    names: list[str] = []
    formats: list[str] = []
    offsets: list[int] = []
    for f in spec.wire.fields:
        if f.kind is Kind.TIMESTAMP:
            names += _timestamp_parts(f.name)
            formats += [">u2", ">u4"]
            offsets += [f.offset, f.offset + 2]
            continue
        names.append(f.name)
        offsets.append(f.offset)
        if f.kind is Kind.ALPHA:
            formats.append("u1" if f.width == 1 else f"S{f.width}")
        else:
            formats.append(f">u{f.width}")
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                      "itemsize": spec.length})
    return dtype


def _check_sources() -> dict[str, np.dtype[np.void]]:
    """Every field of every type we write has a source: fail at import, not mid-file."""
    dtypes = {}
    for type_char in SESSION_TYPES:
        spec = MESSAGES[type_char]
        for f in spec.wire.fields:
            known = (f.name in ("message_type", "timestamp", "stock", "attribution")
                     or f.name in _FIELD_COLUMNS or f.name in _CONSTANT_FIELDS)
            if not known:
                raise AssertionError(f"synth: no source for ITCH {type_char}.{f.name}")
        dtypes[type_char] = message_dtype(spec)
    return dtypes


_DTYPES = _check_sources()


def _fill(spec: MessageSpec, columns: Columns, rows: I64, symbols: npt.NDArray[np.bytes_]
          ) -> np.ndarray:
    """The messages of one type at ``rows``, as records of its wire dtype."""
    records = np.empty(len(rows), _DTYPES[spec.type])
    for f in spec.wire.fields:
        if f.name == "message_type":
            records[f.name] = ord(spec.type)
        elif f.kind is Kind.TIMESTAMP:
            high, low = _timestamp_parts(f.name)
            stamps = columns.timestamp[rows]
            records[high] = stamps >> 32
            records[low] = stamps & 0xFFFF_FFFF
        elif f.name == "stock":
            records[f.name] = symbols[columns.stock_locate[rows]]
        elif f.name == "attribution":
            records[f.name] = _MPID_BYTES[columns.attribution[rows]]
        elif f.name in _FIELD_COLUMNS:
            records[f.name] = columns.column(_FIELD_COLUMNS[f.name])[rows]
        else:
            value = _CONSTANT_FIELDS[f.name]
            if isinstance(value, bytes):  # alpha: space padded, as the wire wants
                value = value.ljust(f.width)
                records[f.name] = value[0] if f.width == 1 else value
            else:
                records[f.name] = value
    return records


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _scatter(out, starts, rows):  # type: ignore[no-untyped-def]
    """Copy record ``i`` (one row of bytes) to ``out[starts[i]:]``."""
    width = rows.shape[1]
    for i in range(rows.shape[0]):
        o = starts[i]
        for j in range(width):
            out[o + j] = rows[i, j]


def encode_binaryfile(columns: Columns, symbols: npt.NDArray[np.bytes_]) -> tuple[U8, I64]:
    """BinaryFILE bytes of ``columns``, and where each message starts (after its prefix).

    ``symbols`` holds the space-padded ticker of each stock locate (index 0 unused).
    """
    lengths = _LENGTHS[columns.msg_type]
    if len(lengths) and not lengths.all():
        raise ValueError("synth: a row has an unknown message type")
    ends = np.cumsum(lengths + 2)
    starts = ends - lengths
    out = np.empty(int(ends[-1]) if len(ends) else 0, np.uint8)
    out[starts - 2] = lengths >> 8
    out[starts - 1] = lengths & 0xFF
    for type_byte in np.flatnonzero(np.bincount(columns.msg_type, minlength=256)):
        spec = MESSAGES[chr(type_byte)]
        rows = np.flatnonzero(columns.msg_type == type_byte)
        records = _fill(spec, columns, rows, symbols)
        _scatter(out, starts[rows], records.view(np.uint8).reshape(len(rows), spec.length))
    return out, starts


# --- the book: one compiled pass per chunk -----------------------------------------------

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


# --- the session ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """A stretch of the session: its columns and their BinaryFILE encoding."""

    first: int  # index of its first message in the session (0-based)
    columns: Columns
    data: U8  # [u16 length][message] blocks
    starts: I64  # offset in ``data`` of each message, after its prefix

    def __len__(self) -> int:
        return len(self.columns)

    def messages(self) -> Iterator[bytes]:
        data = self.data.tobytes()
        for start, length in zip(self.starts.tolist(),
                                 _LENGTHS[self.columns.msg_type].tolist(), strict=True):
            yield data[start:start + length]


@dataclass
class SynthSummary:
    """What :func:`write_synthetic` wrote."""

    path: Path
    format: SynthFormat
    messages: int
    instruments: int
    seed: int
    bytes_written: int
    packets: int  # MoldUDP64 datagrams, end of session included; 0 for a BinaryFILE
    counts: dict[str, int]  # messages by ITCH type
    seconds: float

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else math.inf


def _check_int(name: str, value: int) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class Session:
    """A synthetic session: ``size`` messages over ``instruments`` stocks, from ``seed``.

    Nothing is generated up front: every walk of :meth:`chunks` regenerates the
    same messages from the seed, a chunk at a time, so any size fits in memory
    while it streams to a file.
    """

    size: int
    instruments: int
    seed: int

    def __post_init__(self) -> None:
        size = _check_int("messages", self.size)
        instruments = _check_int("instruments", self.instruments)
        seed = _check_int("seed", self.seed)
        # plain ints from here on (a NumPy integer would do, but hashes and prints oddly)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "instruments", instruments)
        object.__setattr__(self, "seed", seed)
        if not 1 <= instruments <= MAX_INSTRUMENTS:
            raise ValueError(f"instruments must be 1..{MAX_INSTRUMENTS} (a stock locate is "
                             f"a u16 and 0 is for system messages), got {instruments}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        overhead = fixed_overhead(instruments)
        if size < overhead:
            raise ValueError(
                f"{size} messages cannot hold a session over {instruments} instrument(s): "
                f"it needs at least {overhead} (6 system events, a directory (R) and a "
                f"trading action (H) message per instrument)")

    def __len__(self) -> int:
        return self.size

    @property
    def body_size(self) -> int:
        return self.size - fixed_overhead(self.instruments)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The ticker of each instrument, stock locate 1 first."""
        return tuple(symbol(k) for k in range(1, self.instruments + 1))

    def chunks(self) -> Iterator[Chunk]:
        """The session in order: the start of day, the body a chunk at a time, the end."""
        symbols = np.array([b" " * 8] + [s.encode().ljust(8) for s in self.symbols],
                           dtype="S8")  # by stock locate; 0 (system messages) is blank
        generator = _BodyGenerator(self.instruments, self.body_size, self.seed)
        first = 0
        for columns in _chain_parts(_start_of_day(self.instruments, generator.rng), generator):
            data, starts = encode_binaryfile(columns, symbols)
            yield Chunk(first, columns, data, starts)
            first += len(columns)

    def messages(self) -> Iterator[bytes]:
        """Every message (no length prefix), in order."""
        for chunk in self.chunks():
            yield from chunk.messages()

    def columns(self) -> Columns:
        """The whole session as columns (for analysis and tests; holds it all in memory)."""
        return Columns.concatenate([chunk.columns for chunk in self.chunks()])

    def binaryfile_bytes(self) -> bytes:
        """The whole session as one BinaryFILE."""
        return b"".join(chunk.data.data for chunk in self.chunks())

    def write(self, path: str | os.PathLike[str], format: str | None = None,
              *, progress: Progress | None = None, mold_session: str = DEFAULT_MOLD_SESSION,
              source: tuple[str, int] = DEFAULT_SOURCE,
              destination: tuple[str, int] = DEFAULT_DESTINATION) -> SynthSummary:
        """Write the session to ``path``; the format from ``format`` or else the suffix.

        ``.pcap`` writes MoldUDP64 packets over UDP/IPv4/Ethernet from ``source``
        to ``destination``, ending with an end-of-session packet; any other name a
        BinaryFILE. The file appears complete or not at all (written beside it,
        then renamed). ``progress(done, total)`` is called after every chunk.
        """
        path = Path(path)
        kind = output_format(path, format)
        started = time.perf_counter()
        counts = np.zeros(256, np.int64)
        partial = path.with_name(path.name + ".partial")
        packets = 0
        try:
            with open(partial, "wb") as handle:
                sink: _Sink = (_MoldSink(handle, mold_session, source, destination)
                               if kind == "pcap" else _FileSink(handle))
                done = 0
                for chunk in self.chunks():
                    sink.add(chunk)
                    counts += np.bincount(chunk.columns.msg_type, minlength=256)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, self.size)
                packets = sink.close()
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return SynthSummary(path, kind, self.size, self.instruments, self.seed,
                            path.stat().st_size, packets,
                            {t: int(counts[ord(t)]) for t in SESSION_TYPES if counts[ord(t)]},
                            time.perf_counter() - started)


def _chain_parts(head: Columns, body: _BodyGenerator) -> Iterator[Columns]:
    yield head
    yield from body
    yield _end_of_day(body.rng)


def _system_events(codes: bytes, stamps: list[int], rng: np.random.Generator) -> Columns:
    columns = Columns.zeros(len(codes))
    columns.msg_type[:] = ord("S")
    columns.code[:] = np.frombuffer(codes, np.uint8)
    columns.timestamp[:] = stamps
    columns.tracking_number[:] = _tracking_numbers(rng, len(codes))
    return columns


def _tracking_numbers(rng: np.random.Generator, n: int) -> I64:
    return rng.integers(0, 8, n, dtype=np.int64)


def _start_of_day(instruments: int, rng: np.random.Generator) -> Columns:
    """S 'O', S 'S', R x K, H x K, S 'Q'."""
    opening = _system_events(b"OS", [START_OF_MESSAGES, START_OF_SYSTEM_HOURS], rng)
    directory = Columns.zeros(2 * instruments)
    locates = np.arange(1, instruments + 1, dtype=np.int64)
    directory.msg_type[:instruments] = ord("R")
    directory.msg_type[instruments:] = ord("H")
    directory.stock_locate[:] = np.concatenate([locates, locates])
    directory.timestamp[:] = (START_OF_SYSTEM_HOURS
                              + _DIRECTORY_SPACING * np.arange(1, 2 * instruments + 1))
    directory.tracking_number[:] = _tracking_numbers(rng, 2 * instruments)
    market = _system_events(b"Q", [START_OF_MARKET_HOURS], rng)
    return Columns.concatenate([opening, directory, market])


def _end_of_day(rng: np.random.Generator) -> Columns:
    return _system_events(b"MEC", [END_OF_MARKET_HOURS, END_OF_SYSTEM_HOURS,
                                   END_OF_MESSAGES], rng)


class _BodyGenerator:
    """The body, a chunk of columns at a time, carrying the book from chunk to chunk."""

    def __init__(self, instruments: int, size: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.size = size
        rng = self.rng
        # activity is skewed across instruments (Zipf-like), in a random order of locates
        weights = 1.0 / np.arange(1, instruments + 1) ** 0.9
        rng.shuffle(weights)
        self.instrument_cdf = np.cumsum(weights / weights.sum())
        # mids from $5 to $500, log-uniform, on the cent grid (kept in ticks)
        self.mids = np.round(np.exp(rng.uniform(np.log(500), np.log(50_000), instruments))
                             ).astype(np.int64)
        # each instrument's book holds at most `per` orders (the target it settles at)
        per = max(1, min(_LIVE_ORDERS_PER_INSTRUMENT * instruments, _MAX_LIVE_ORDERS)
                  // instruments)
        self.orders = np.zeros((_ORDER_FIELDS, per * instruments), np.int64)
        self.inst = np.zeros((_INST_FIELDS, instruments), np.int64)
        self.inst[_INST_BID] = _NO_BID
        self.inst[_INST_ASK] = _NO_ASK
        self.live_rows = np.zeros(per * instruments, np.int64)
        first_ref = int(rng.integers(1_000, 100_000))
        first_match = int(rng.integers(1_000, 100_000))
        self.state = np.array([0, first_ref, first_match], np.int64)
        self.last_stamp = START_OF_MARKET_HOURS

    def __iter__(self) -> Iterator[Columns]:
        for first in range(0, self.size, _CHUNK):
            yield self._chunk(first, min(_CHUNK, self.size - first))

    def _chunk(self, first: int, n: int) -> Columns:
        rng = self.rng
        draws = rng.random((_DRAWS, n))
        bits = rng.bit_generator.random_raw(n).view(np.int64)
        columns = Columns.zeros(n)
        _walk_book(draws, bits, _KIND_CDF, _KIND_TYPES, self.instrument_cdf,
                   self.mids, self.orders, self.inst, self.live_rows, self.state,
                   columns.msg_type, columns.stock_locate, columns.tracking_number,
                   columns.order_ref, columns.new_order_ref, columns.side, columns.shares,
                   columns.price, columns.match_number)
        columns.timestamp[:] = self._timestamps(rng, first, n)
        self._details(rng, columns)
        return columns

    def _timestamps(self, rng: np.random.Generator, first: int, n: int) -> I64:
        """Bursty arrivals across the market hours, denser at the open and the close.

        Squared exponential gaps make bursts; the chunk fills its share of the
        session's message positions, which a monotone warp then maps to time.
        """
        gaps = rng.exponential(1.0, n) ** 2
        position = first + np.cumsum(gaps) * (n / gaps.sum())
        u = np.minimum(position / self.size, 1.0)
        warped = u - _DENSITY_SWING * np.sin(2 * np.pi * u) / (2 * np.pi)
        span = END_OF_MARKET_HOURS - START_OF_MARKET_HOURS
        stamps = START_OF_MARKET_HOURS + (warped * span).astype(np.int64)
        # rounding must never step back, within or across chunks
        stamps = np.maximum.accumulate(np.maximum(stamps, self.last_stamp))
        self.last_stamp = int(stamps[-1])
        return stamps

    @staticmethod
    def _details(rng: np.random.Generator, columns: Columns) -> None:
        """Fields the book does not decide: printable, cross types, imbalances, MPIDs."""
        rows = np.flatnonzero(columns.msg_type == ord("C"))
        columns.code[rows] = np.where(rng.random(len(rows)) < 0.95, ord("Y"), ord("N"))
        rows = np.flatnonzero(columns.msg_type == ord("Q"))
        columns.code[rows] = rng.choice(_CROSS_TYPES, len(rows))
        rows = np.flatnonzero(columns.msg_type == ord("F"))
        columns.attribution[rows] = rng.integers(0, len(MPIDS), len(rows))
        rows = np.flatnonzero(columns.msg_type == ord("I"))
        n = len(rows)
        columns.code[rows] = rng.choice(_NOII_CROSS_TYPES, n)
        direction = rng.choice(_NOII_DIRECTIONS, n)
        columns.side[rows] = direction
        imbalance = columns.shares[rows] // 10 * rng.integers(1, 6, n)
        columns.imbalance_shares[rows] = np.where(direction == ord("N"), 0, imbalance)
        reference = columns.price[rows]
        columns.far_price[rows] = np.maximum(reference + rng.integers(-20, 21, n) * TICK, TICK)
        columns.near_price[rows] = np.maximum(reference + rng.integers(-5, 6, n) * TICK, TICK)
        columns.price_variation[rows] = rng.choice(_PRICE_VARIATIONS, n)


# --- writers ---------------------------------------------------------------------------


def output_format(path: str | os.PathLike[str], format: str | None = None
                  ) -> SynthFormat:
    """``format`` if given ('binaryfile', 'itch', 'bin' or 'pcap'), else from the suffix."""
    if format is not None:
        name = format.lower()
        if name in ("binaryfile", "itch", "bin"):
            return "binaryfile"
        if name == "pcap":
            return "pcap"
        raise ValueError(f"unknown output format {format!r}: use binaryfile or pcap")
    suffix = Path(path).suffix.lower()
    if suffix == ".pcapng":
        raise ValueError(f"{path}: pcapng is not written; name the file .pcap for a pcap")
    return "pcap" if suffix == ".pcap" else "binaryfile"


class _Sink:
    def add(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def close(self) -> int:
        """Finish the file; returns the number of packets written."""
        raise NotImplementedError


class _FileSink(_Sink):
    def __init__(self, handle: BinaryIO):
        self._handle = handle

    def add(self, chunk: Chunk) -> None:
        self._handle.write(chunk.data.data)

    def close(self) -> int:
        return 0


@numba.njit(cache=True, nogil=True)
def _packet_ends(blocks, max_payload, max_messages):  # type: ignore[no-untyped-def]
    """End (exclusive message index) of each packet, filled greedily as packetize does."""
    ends = np.empty(blocks.shape[0], np.int64)
    n = 0
    size = 20  # MoldUDP64 header
    count = 0
    for i in range(blocks.shape[0]):
        if count > 0 and (size + blocks[i] > max_payload or count >= max_messages):
            ends[n] = i
            n += 1
            size = 20
            count = 0
        size += blocks[i]
        count += 1
    if count > 0:
        ends[n] = blocks.shape[0]
        n += 1
    return ends[:n]


class _MoldSink(_Sink):
    """MoldUDP64 downstream packets, as :func:`moldudp64.packetize` would cut them.

    A packet's blocks are a slice of the chunk's BinaryFILE bytes, so the
    payload is the 20-byte header plus that slice. The last packet of a chunk
    may still grow: it waits for the next chunk. A frame is stamped with its
    last message's time, and at least a microsecond after the frame before.
    """

    _MIN_FRAME_GAP = 1_000  # ns

    def __init__(self, handle: BinaryIO, session: str, source: tuple[str, int],
                 destination: tuple[str, int]):
        if moldudp64.HEADER.field("session").width < len(session):
            raise ValueError(f"MoldUDP64 session {session!r} is longer than 10 characters")
        self._writer = PcapWriter(handle)
        self._session = session
        self._source = source
        self._destination = destination
        self._sequence = 1
        self._last_frame = -1
        self.packets = 0
        self._data = b""
        self._blocks = np.zeros(0, np.int64)
        self._stamps = np.zeros(0, np.int64)

    def add(self, chunk: Chunk) -> None:
        lengths = _LENGTHS[chunk.columns.msg_type]
        self._data = b"".join((self._data, chunk.data.data))
        self._blocks = np.concatenate([self._blocks, lengths + 2])
        self._stamps = np.concatenate([self._stamps, chunk.columns.timestamp])
        self._flush(keep_last=True)

    def close(self) -> int:
        self._flush(keep_last=False)
        end = moldudp64.Packet(self._session, self._sequence, end_of_session=True)
        self._send(end.encode(), self._last_frame)
        return self.packets

    def _flush(self, keep_last: bool) -> None:
        ends = _packet_ends(self._blocks, MAX_PAYLOAD, moldudp64.MAX_MESSAGES)
        if keep_last:
            ends = ends[:-1]
        if not len(ends):
            return
        offsets = np.concatenate([[0], np.cumsum(self._blocks)])
        first = 0
        header = moldudp64.HEADER
        for end in ends.tolist():
            payload = header.pack({"session": self._session, "sequence_number": self._sequence,
                                   "message_count": end - first})
            self._send(payload + self._data[offsets[first]:offsets[end]],
                       int(self._stamps[end - 1]))
            self._sequence += end - first
            first = end
        self._data = self._data[offsets[first]:]
        self._blocks = self._blocks[first:]
        self._stamps = self._stamps[first:]

    def _send(self, payload: bytes, stamp: int) -> None:
        stamp = max(stamp, self._last_frame + self._MIN_FRAME_GAP)
        self._last_frame = stamp
        self._writer.write(payload, self._source, self._destination,
                           _MIDNIGHT_EPOCH + stamp / _NS)
        self.packets += 1


# --- the entry points ---------------------------------------------------------------------


def generate_session(messages: int, instruments: int, seed: int) -> Session:
    """A synthetic session of exactly ``messages`` messages over ``instruments`` stocks.

    Raises ValueError when ``messages`` is below :func:`fixed_overhead`,
    ``instruments`` is outside 1..65535 or ``seed`` is negative.
    """
    return Session(messages, instruments, seed)


def write_synthetic(path: str | os.PathLike[str], messages: int, instruments: int, seed: int,
                    fmt: str | None = None, *, progress: Progress | None = None
                    ) -> SynthSummary:
    """Generate a session and write it: ``nanogate feed synth`` calls this.

    ``fmt`` is 'binaryfile' or 'pcap' ('itch' and 'bin' mean binaryfile); left
    out, ``.pcap`` means pcap (MoldUDP64 over UDP to 239.1.1.1:5001) and any
    other suffix a BinaryFILE. ``progress(done, total)`` is called as chunks
    are written. Raises ValueError for bad arguments, OSError when the file
    cannot be written.
    """
    kind = output_format(path, fmt)  # a bad name fails before any work
    return generate_session(messages, instruments, seed).write(path, kind, progress=progress)
