"""Amaranth layouts derived from the record layouts in :mod:`nanogate.proto.records`.

``proto`` defines every record once (:class:`~nanogate.proto.records.RecordLayout`);
this module turns one into an :class:`amaranth.lib.data.StructLayout`, so a field
added there appears in the gateware with no second edit.

Bit placement (the contract drivers and testbenches rely on):

* Fields are packed in the order the :class:`RecordLayout` lists them, the first
  field at bit 0 (Amaranth's ``StructLayout`` order). For ``BOOK_EVENT``, ``seq``
  occupies bits ``[63:0]``, ``timestamp`` bits ``[111:64]``, and so on.
* Every field is ``unsigned(bits)``, ``ascii`` fields included.
* An ``ascii`` field holds its bytes **big-endian**: the first character in the most
  significant byte. That is the byte order of ITCH's integers, so the parser copies an
  ascii field's wire bytes into its register exactly as it copies a number's.
  ``b"AAPL    "`` in an 8-byte field is ``0x4141504C20202020``. A short value is
  padded with NUL bytes at the end (the low bytes), which is what NumPy's ``S<n>``
  dtype stores, so an empty field (``b""``) is 0.

:func:`beat_layout` is the byte-stream beat (data, keep, last) blocks move packets in.

:func:`pack` / :func:`unpack` convert between a record given as a mapping of field
values (ints; ``bytes`` or ``str`` for ascii fields) and the integer bit pattern a
:func:`struct_layout` view carries, with exactly the placement above.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import SupportsIndex

from amaranth.hdl import unsigned
from amaranth.lib import data

from nanogate.proto.records import BOOK_EVENT, RecordField, RecordLayout

__all__ = [
    "BOOK_EVENT_LAYOUT",
    "FieldValue",
    "ascii_from_int",
    "ascii_to_int",
    "beat_layout",
    "pack",
    "struct_layout",
    "unpack",
]


@functools.cache
def struct_layout(record: RecordLayout) -> data.StructLayout:
    """The Amaranth layout of ``record``: one ``unsigned(bits)`` member per field, in order."""
    return data.StructLayout({f.name: unsigned(f.bits) for f in record.fields})


@functools.cache
def beat_layout(data_bytes: int = 8) -> data.StructLayout:
    """One beat of a packet byte stream: ``data``, ``keep``, ``last`` (AXI-Stream's TDATA,
    TKEEP, TLAST).

    Byte lanes are little-endian, as in AXI-Stream and cocotbext-axi: the ``n``-th byte
    of the beat (in wire order) is ``data[8n:8n+8]`` and is present when ``keep[n]`` is
    set. ``last`` marks the final beat of a packet.
    """
    if data_bytes < 1:
        raise ValueError(f"a beat carries at least one byte, not {data_bytes}")
    return data.StructLayout({
        "data": unsigned(8 * data_bytes),
        "keep": unsigned(data_bytes),
        "last": unsigned(1),
    })


#: The feed parser's output record, as an Amaranth layout.
BOOK_EVENT_LAYOUT: data.StructLayout = struct_layout(BOOK_EVENT)


def ascii_to_int(text: bytes | str, nbytes: int) -> int:
    """``text`` as the big-endian integer an ``nbytes`` ascii field holds (NUL padded)."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if len(raw) > nbytes:
        raise ValueError(f"{raw!r} does not fit {nbytes} bytes")
    return int.from_bytes(raw.ljust(nbytes, b"\0"), "big")


def ascii_from_int(value: int, nbytes: int) -> bytes:
    """The bytes of an ``nbytes`` ascii field holding ``value``, trailing NULs stripped.

    Stripping matches what NumPy's ``S<n>`` dtype gives back, so the result compares
    equal to the software model's column.
    """
    if not 0 <= value < 1 << (8 * nbytes):
        raise ValueError(f"{value:#x} does not fit {nbytes} bytes")
    return value.to_bytes(nbytes, "big").rstrip(b"\0")


#: One field's value for :func:`pack`: an integer (NumPy's too), or text for ascii fields.
FieldValue = SupportsIndex | bytes | str


def _field_int(f: RecordField, value: FieldValue) -> int:
    if isinstance(value, bytes | str):
        if f.kind != "ascii":
            raise TypeError(f"{f.name}: integer field given text {value!r}")
        return ascii_to_int(value, f.bits // 8)
    if f.kind == "ascii":
        raise TypeError(f"{f.name}: ascii field takes bytes or str, not {value!r}")
    number = operator.index(value)
    if not 0 <= number < 1 << f.bits:
        raise ValueError(f"{f.name}: {number} does not fit {f.bits} bits")
    return number


def pack(record: RecordLayout, values: Mapping[str, FieldValue]) -> int:
    """The bit pattern of one record; fields missing from ``values`` are 0."""
    unknown = set(values) - set(record.names)
    if unknown:
        raise KeyError(f"{record.name} has no fields {sorted(unknown)}")
    bits = 0
    offset = 0
    for f in record.fields:
        if f.name in values:
            bits |= _field_int(f, values[f.name]) << offset
        offset += f.bits
    return bits


def unpack(record: RecordLayout, bits: int) -> dict[str, int | bytes]:
    """The fields of one record from its bit pattern (ascii fields as stripped ``bytes``)."""
    if not 0 <= bits < 1 << record.bits:
        raise ValueError(f"{bits:#x} does not fit {record.name} ({record.bits} bits)")
    out: dict[str, int | bytes] = {}
    offset = 0
    for f in record.fields:
        raw = (bits >> offset) & ((1 << f.bits) - 1)
        out[f.name] = ascii_from_int(raw, f.bits // 8) if f.kind == "ascii" else raw
        offset += f.bits
    return out
