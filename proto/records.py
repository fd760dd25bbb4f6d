"""Record layouts shared by software, hardware and drivers, each defined once.

A :class:`RecordLayout` lists named fields with a bit width. From it come the
NumPy structured dtype (here), the Amaranth ``data.StructLayout`` (in
``nanogate.hw``, which may import Amaranth; this package may not) and the
Markdown docs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nanogate.proto.itch import MESSAGES
from nanogate.proto.wire import Value

FieldKind = Literal["uint", "ascii"]


@dataclass(frozen=True)
class RecordField:
    name: str
    bits: int
    doc: str
    kind: FieldKind = "uint"

    def __post_init__(self) -> None:
        if self.kind == "ascii" and self.bits % 8:
            raise ValueError(f"{self.name}: ascii fields are whole bytes")

    @property
    def numpy_type(self) -> str:
        if self.kind == "ascii":
            return f"S{self.bits // 8}"
        for size in (8, 16, 32, 64):
            if self.bits <= size:
                return f"<u{size // 8}"
        raise ValueError(f"{self.name}: {self.bits} bits do not fit a NumPy integer")


@dataclass(frozen=True)
class RecordLayout:
    name: str
    fields: tuple[RecordField, ...]
    doc: str = ""

    def field(self, name: str) -> RecordField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def bits(self) -> int:
        return sum(f.bits for f in self.fields)

    def numpy_dtype(self) -> np.dtype:
        return np.dtype([(f.name, f.numpy_type) for f in self.fields])

    def markdown(self) -> str:
        lines = [f"### {self.name}", "", self.doc, "",
                 "| field | bits | kind | meaning |", "| --- | ---: | --- | --- |"]
        lines += [f"| `{f.name}` | {f.bits} | {f.kind} | {f.doc} |" for f in self.fields]
        return "\n".join(lines) + "\n"


class EventFlags(enum.IntFlag):
    """Bits of ``BookEvent.flags``, set by sequence tracking."""

    GAP = 1  # sequence number above the one expected: messages were missed before it
    DUPLICATE = 2  # sequence number below the one expected: seen already


BOOK_EVENT = RecordLayout("BookEvent", (
    RecordField("seq", 64, "MoldUDP64 sequence number (1-based message index in a BinaryFILE)"),
    RecordField("timestamp", 48, "nanoseconds since midnight"),
    RecordField("msg_type", 8, "ITCH message type character", "ascii"),
    RecordField("stock_locate", 16, "stock locate code"),
    RecordField("side", 8, "'B' or 'S'; 0 when the message has none", "ascii"),
    RecordField("order_ref", 64, "order reference number (original one for U)"),
    RecordField("new_order_ref", 64, "new order reference number (U)"),
    RecordField("shares", 32, "shares, executed shares or cancelled shares"),
    RecordField("price", 32, "price(4) (1/10,000 dollar)"),
    RecordField("match_number", 64, "match number (E, C, P, Q, B)"),
    RecordField("stock", 64, "symbol, space padded", "ascii"),
    RecordField("flags", 8, "EventFlags: 1 gap before this message, 2 duplicate"),
), doc="One normalized market-data event: what the feed parser emits per ITCH message.")

BOOK_EVENT_DTYPE = BOOK_EVENT.numpy_dtype()

# BookEvent column <- ITCH field names, first present one that fits wins.
_COLUMN_SOURCES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp",),
    "stock_locate": ("stock_locate",),
    "side": ("buy_sell_indicator",),
    "order_ref": ("order_reference_number", "original_order_reference_number"),
    "new_order_ref": ("new_order_reference_number",),
    "shares": ("shares", "executed_shares", "cancelled_shares", "round_lot_size",
               "ipo_quotation_release_time"),
    "price": ("price", "execution_price", "cross_price", "ipo_price",
              "auction_collar_reference_price", "current_reference_price",
              "near_execution_price"),
    "match_number": ("match_number", "paired_shares"),
    "stock": ("stock",),
}


def _build_sources() -> dict[str, dict[str, str]]:
    """For each ITCH type: BookEvent column -> the ITCH field that fills it."""
    table: dict[str, dict[str, str]] = {}
    for type_char, spec in MESSAGES.items():
        names = {f.name: f for f in spec.wire.fields}
        row: dict[str, str] = {}
        for column, candidates in _COLUMN_SOURCES.items():
            target = BOOK_EVENT.field(column)
            for candidate in candidates:
                source = names.get(candidate)
                if source is not None and 8 * source.width <= target.bits:
                    row[column] = candidate
                    break
        table[type_char] = row
    return table


#: ITCH type -> {BookEvent column: ITCH field}. Both decoders and the FPGA parser use it.
BOOK_EVENT_SOURCES: dict[str, dict[str, str]] = _build_sources()


def book_event_tuple(message: Mapping[str, Value], seq: int, flags: int = 0) -> tuple[object, ...]:
    """The reference conversion of one decoded message into a BookEvent row."""
    type_char = str(message["type"])
    sources = BOOK_EVENT_SOURCES[type_char]
    row: list[object] = []
    for f in BOOK_EVENT.fields:
        if f.name == "seq":
            row.append(seq)
        elif f.name == "msg_type":
            row.append(type_char.encode())
        elif f.name == "flags":
            row.append(flags)
        elif f.name in sources:
            value = message[sources[f.name]]
            # ascii columns keep the wire's space padding, as the hardware copies bytes
            row.append(value.encode("latin-1").ljust(f.bits // 8) if isinstance(value, str)
                       else value)
        else:
            row.append(b"" if f.kind == "ascii" else 0)
    return tuple(row)
