"""NASDAQ OUCH 5.0: the order-entry messages this project speaks, as wire tables.

Each message is a :class:`~nanogate.proto.wire.WireStruct` built from the rows
below, checked against the spec's length (without appendages) when this module
loads. Field names are the spec's in snake_case. Inbound messages travel as
SoupBinTCP Unsequenced Data, outbound ones as Sequenced Data.

Prices are 8-byte unsigned integers with 4 implied decimals (OUCH 5.0 widened
them from OUCH 4's 4 bytes), so they are ``integer`` fields here: the project's
price(4) *values*, in a wider field. Timestamps are 8-byte nanoseconds since
midnight. Messages that carry an ``appendage_length`` may be followed by optional
appendages (TLV); this implementation sends none and rejects a message that has
some, with a clear error, rather than misreading it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from nanogate.proto.wire import Kind, Value, WireError, WireStruct, build_struct

A, INT = Kind.ALPHA, Kind.INTEGER


class Direction(enum.StrEnum):
    INBOUND = "inbound"  # client -> venue
    OUTBOUND = "outbound"  # venue -> client


# direction, type, spec name, spec length (without appendages), fields after the type
_TABLE: tuple[tuple[Direction, str, str, int, tuple[tuple[str, int, Kind], ...]], ...] = (
    (Direction.INBOUND, "O", "Enter Order", 47, (
        ("user_ref_num", 4, INT), ("side", 1, A), ("quantity", 4, INT), ("symbol", 8, A),
        ("price", 8, INT), ("time_in_force", 1, A), ("display", 1, A), ("capacity", 1, A),
        ("intermarket_sweep_eligibility", 1, A), ("cross_type", 1, A), ("cl_ord_id", 14, A),
        ("appendage_length", 2, INT),
    )),
    (Direction.INBOUND, "U", "Replace Order", 40, (
        ("orig_user_ref_num", 4, INT), ("user_ref_num", 4, INT), ("quantity", 4, INT),
        ("price", 8, INT), ("time_in_force", 1, A), ("display", 1, A),
        ("intermarket_sweep_eligibility", 1, A), ("cl_ord_id", 14, A),
        ("appendage_length", 2, INT),
    )),
    (Direction.INBOUND, "X", "Cancel Order", 9, (
        ("user_ref_num", 4, INT), ("quantity", 4, INT),
    )),
    (Direction.OUTBOUND, "S", "System Event", 10, (
        ("timestamp", 8, INT), ("event_code", 1, A),
    )),
    (Direction.OUTBOUND, "A", "Order Accepted", 64, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("side", 1, A), ("quantity", 4, INT),
        ("symbol", 8, A), ("price", 8, INT), ("time_in_force", 1, A), ("display", 1, A),
        ("order_reference_number", 8, INT), ("capacity", 1, A),
        ("intermarket_sweep_eligibility", 1, A), ("cross_type", 1, A), ("order_state", 1, A),
        ("cl_ord_id", 14, A), ("appendage_length", 2, INT),
    )),
    (Direction.OUTBOUND, "U", "Order Replaced", 68, (
        ("timestamp", 8, INT), ("orig_user_ref_num", 4, INT), ("user_ref_num", 4, INT),
        ("side", 1, A), ("quantity", 4, INT), ("symbol", 8, A), ("price", 8, INT),
        ("time_in_force", 1, A), ("display", 1, A), ("order_reference_number", 8, INT),
        ("capacity", 1, A), ("intermarket_sweep_eligibility", 1, A), ("cross_type", 1, A),
        ("order_state", 1, A), ("cl_ord_id", 14, A), ("appendage_length", 2, INT),
    )),
    (Direction.OUTBOUND, "C", "Order Canceled", 18, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("quantity", 4, INT), ("reason", 1, A),
    )),
    (Direction.OUTBOUND, "E", "Order Executed", 36, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("quantity", 4, INT),
        ("price", 8, INT), ("liquidity_flag", 1, A), ("match_number", 8, INT),
        ("appendage_length", 2, INT),
    )),
    (Direction.OUTBOUND, "J", "Order Rejected", 29, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("reason", 2, INT),
        ("cl_ord_id", 14, A),
    )),
)


# --- code sets (the values this implementation uses) ------------------------------------

SIDE_CODES = {"B": "buy", "S": "sell", "T": "sell short", "E": "sell short exempt"}
TIME_IN_FORCE_DAY = "0"
TIME_IN_FORCE_IOC = "3"
ORDER_STATE_LIVE = "L"
ORDER_STATE_DEAD = "D"
LIQUIDITY_ADDED = "A"
LIQUIDITY_REMOVED = "R"
EVENT_START_OF_DAY = "S"
EVENT_END_OF_DAY = "E"


class CancelReason(enum.StrEnum):
    """Order Canceled reasons (OUCH letters)."""

    USER = "U"  # the client asked
    IOC = "I"  # immediate or cancel: the part that did not match at once
    SUPERVISORY = "S"  # the venue's operator
    HALTED = "H"  # trading halted in the symbol
    SYSTEM = "Z"  # the venue shut down


class RejectCode(enum.IntEnum):
    """This venue's Order Rejected reasons (OUCH 5.0 sends a numeric code)."""

    UNKNOWN_SYMBOL = 1
    INVALID_QUANTITY = 2  # zero, or above MAX_QUANTITY
    INVALID_PRICE = 3  # zero
    DUPLICATE_USER_REF_NUM = 4  # not above every UserRefNum the account used today
    UNKNOWN_ORDER = 5  # replace of an order that is not live
    INVALID_SIDE = 6
    INVALID_TIME_IN_FORCE = 7
    UNSUPPORTED_APPENDAGE = 8
    HALTED = 9


#: OUCH 5.0 caps an order at fewer than 1,000,000 shares.
MAX_QUANTITY = 999_999


@dataclass(frozen=True)
class MessageSpec:
    direction: Direction
    type: str
    name: str
    wire: WireStruct

    @property
    def length(self) -> int:
        return self.wire.length

    @property
    def has_appendage(self) -> bool:
        return self.wire.fields[-1].name == "appendage_length"


class OuchError(ValueError):
    """A message that cannot be read or written; ``fault`` names why (``unknown_type``,
    ``bad_length``, ``appendage``, ``bad_field``), as counted by the sessions."""

    def __init__(self, fault: str, detail: str) -> None:
        super().__init__(detail)
        self.fault = fault


def _build() -> dict[tuple[Direction, str], MessageSpec]:
    specs: dict[tuple[Direction, str], MessageSpec] = {}
    for direction, type_char, name, length, body in _TABLE:
        wire = build_struct(f"OUCH {direction} {type_char} ({name})",
                            (("message_type", 1, A), *body))
        if wire.length != length:
            raise AssertionError(
                f"OUCH {type_char} ({name}): fields sum to {wire.length}, spec says {length}")
        specs[direction, type_char] = MessageSpec(direction, type_char, name, wire)
    return specs


#: Every message, keyed by (direction, type character): 'U' is both Replace Order
#: (inbound) and Order Replaced (outbound).
MESSAGES: dict[tuple[Direction, str], MessageSpec] = _build()


def decode(direction: Direction, buf: bytes | bytearray | memoryview) -> dict[str, Value]:
    """One whole message into ``{"type": .., field: value}`` (without ``message_type``)."""
    if not buf:
        raise OuchError("bad_length", "empty OUCH message")
    spec = MESSAGES.get((direction, chr(buf[0])))
    if spec is None:
        raise OuchError("unknown_type", f"unknown {direction} OUCH message type 0x{buf[0]:02x}")
    if len(buf) < spec.length:
        raise OuchError("bad_length", f"{spec.name} is {spec.length} bytes, got {len(buf)}")
    values = spec.wire.unpack(buf)
    extra = len(buf) - spec.length
    if spec.has_appendage:
        appendage = int(values["appendage_length"])
        if appendage != extra:
            raise OuchError("bad_length", f"{spec.name}: appendage length {appendage}, "
                                          f"but {extra} bytes follow")
        if appendage:
            raise OuchError("appendage", f"{spec.name}: optional appendages "
                                         f"({appendage} bytes) are not supported")
    elif extra:
        raise OuchError("bad_length", f"{spec.name} is {spec.length} bytes, got {len(buf)}")
    del values["message_type"]
    return {"type": spec.type, **values}


def encode(direction: Direction, message: Mapping[str, Value]) -> bytes:
    """Inverse of :func:`decode`; ``appendage_length`` defaults to 0 (none sent)."""
    type_char = message.get("type")
    spec = MESSAGES.get((direction, str(type_char)))
    if spec is None:
        raise OuchError("unknown_type", f"unknown {direction} OUCH message type {type_char!r}")
    values = {k: v for k, v in message.items() if k != "type"}
    values["message_type"] = spec.type
    if spec.has_appendage:
        values.setdefault("appendage_length", 0)
        if values["appendage_length"] != 0:
            raise OuchError("appendage", "sending optional appendages is not supported")
    try:
        return spec.wire.pack(values)
    except WireError as error:
        raise OuchError("bad_field", str(error)) from None


def encode_inbound(**fields: Value) -> bytes:
    return encode(Direction.INBOUND, fields)


def encode_outbound(**fields: Value) -> bytes:
    return encode(Direction.OUTBOUND, fields)


def markdown_table() -> str:
    """The message table as Markdown (docs/orders.md)."""
    lines = ["| direction | type | message | length | field | offset | width | kind |",
             "| --- | --- | --- | ---: | --- | ---: | ---: | --- |"]
    for spec in MESSAGES.values():
        for i, f in enumerate(spec.wire.fields):
            head = (f"| {spec.direction} | {spec.type} | {spec.name} | {spec.length} "
                    if i == 0 else "| | | | ")
            lines.append(f"{head}| {f.name} | {f.offset} | {f.width} | {f.kind.value} |")
    return "\n".join(lines)
