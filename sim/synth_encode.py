"""Columns to BinaryFILE bytes: the encoder of a synthetic session.

:class:`Columns` holds a stretch of the session, one row per message;
:func:`encode_binaryfile` turns it into BinaryFILE ``[u16 length][message]``
blocks, each message type in one vectorised step through a big-endian NumPy
dtype built from the message table in :mod:`nanogate.proto.itch` (the one
definition of every offset). It is separate from the session
(:mod:`nanogate.sim.synth`) and the book (:mod:`nanogate.sim.synth_book`)
because it decides nothing: it only lays out what they drew, and is checked
against the ITCH table at import, so a field without a source fails there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from nanogate.proto.itch import LENGTH_BY_TYPE_BYTE, MESSAGES, MessageSpec
from nanogate.proto.wire import Kind
from nanogate.sim.synth_book import BODY_MIX

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]

#: MPIDs used as the attribution of F messages.
MPIDS = ("GSCO", "MSCO", "JPMS", "UBSS", "CDRG", "VIRT", "NITE", "SUSQ")
_MPID_BYTES = np.array([m.encode().ljust(4) for m in MPIDS], dtype="S4")

_LENGTHS = np.array(LENGTH_BY_TYPE_BYTE, dtype=np.int64)


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

