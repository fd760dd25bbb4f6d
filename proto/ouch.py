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

Sources (checked field by field; the NASDAQ PDF itself was not readable here):

* [orchestra] Atomic Wire's FIX Orchestra rendering of the NASDAQ OUCH 5.0 Order Entry
  Specification (orchimate.org/r/atomicwire/nasdaq-ouch/5.0, source
  nasdaqtrader.com/.../OUCH5.0.pdf): datatypes, EnterOrder, CancelOrderRequest,
  OrderAccepted, the cancel reason code set.
* [dissector] a public Wireshark Lua dissector for OUCH 5.0 (rev 1.05, 10/7/2025) with
  every message's field list and widths, and the Reject Reason table.
* [rust] the ``ouch_model`` 5.0.1 and ``slouch`` crates (field order, Reject Reasons).

Data types per [orchestra]: numeric fields are big-endian binary; Price is unsigned
("unless designated otherwise": only peg offsets, in appendages, are signed), at most
$199,999.9900, with $200,000.0000 and 0x7FFFFFFF as market-order prices; UserRefNum
is an unsigned 4-byte number, day-unique and strictly increasing per account.
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


# direction, type, spec name, spec length (without appendages), fields after the type.
# Offsets in the comments count the type byte as offset 0.
_TABLE: tuple[tuple[Direction, str, str, int, tuple[tuple[str, int, Kind], ...]], ...] = (
    # [orchestra] EnterOrder, [dissector], [rust]: UserRefNum 1, Side 5, Quantity 6,
    # Symbol 10, Price 18, Time In Force 26, Display 27, Capacity 28, ISO 29,
    # CrossType 30, ClOrdID 31, Appendage Length 45, appendage from 47.
    (Direction.INBOUND, "O", "Enter Order", 47, (
        ("user_ref_num", 4, INT), ("side", 1, A), ("quantity", 4, INT), ("symbol", 8, A),
        ("price", 8, INT), ("time_in_force", 1, A), ("display", 1, A), ("capacity", 1, A),
        ("intermarket_sweep_eligibility", 1, A), ("cross_type", 1, A), ("cl_ord_id", 14, A),
        ("appendage_length", 2, INT),
    )),
    # [dissector], [rust]: OrigUserRefNum 1, UserRefNum 5, Quantity 9, Price 13, Time In
    # Force 21, Display 22, ISO 23, ClOrdID 24, Appendage Length 38.
    (Direction.INBOUND, "U", "Replace Order", 40, (
        ("orig_user_ref_num", 4, INT), ("user_ref_num", 4, INT), ("quantity", 4, INT),
        ("price", 8, INT), ("time_in_force", 1, A), ("display", 1, A),
        ("intermarket_sweep_eligibility", 1, A), ("cl_ord_id", 14, A),
        ("appendage_length", 2, INT),
    )),
    # [orchestra] CancelOrderRequest: UserRefNum 1, Quantity 5 (the new intended order
    # size), Appendage Length 9 (options: UserRefIdx); [rust] has no Appendage Length.
    (Direction.INBOUND, "X", "Cancel Order", 11, (
        ("user_ref_num", 4, INT), ("quantity", 4, INT), ("appendage_length", 2, INT),
    )),
    # [dissector], [rust]: Timestamp 1, Event Code 9 (S start of day, E end of day).
    (Direction.OUTBOUND, "S", "System Event", 10, (
        ("timestamp", 8, INT), ("event_code", 1, A),
    )),
    # [orchestra] OrderAccepted, [dissector]: Timestamp 1, UserRefNum 9, Side 13,
    # Quantity 14, Symbol 18, Price 26, Time In Force 34, Display 35, Order Reference
    # Number 36, Capacity 44, ISO 45, CrossType 46, Order State 47, ClOrdID 48, Appendage
    # Length 62. (OUCH 4.2's BBO Weight Indicator is an optional appendage in 5.0.)
    (Direction.OUTBOUND, "A", "Order Accepted", 64, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("side", 1, A), ("quantity", 4, INT),
        ("symbol", 8, A), ("price", 8, INT), ("time_in_force", 1, A), ("display", 1, A),
        ("order_reference_number", 8, INT), ("capacity", 1, A),
        ("intermarket_sweep_eligibility", 1, A), ("cross_type", 1, A), ("order_state", 1, A),
        ("cl_ord_id", 14, A), ("appendage_length", 2, INT),
    )),
    # [dissector], [rust]: Timestamp 1, OrigUserRefNum 9, UserRefNum 13, then as Order
    # Accepted four bytes on: Side 17 ... ClOrdID 52, Appendage Length 66.
    (Direction.OUTBOUND, "U", "Order Replaced", 68, (
        ("timestamp", 8, INT), ("orig_user_ref_num", 4, INT), ("user_ref_num", 4, INT),
        ("side", 1, A), ("quantity", 4, INT), ("symbol", 8, A), ("price", 8, INT),
        ("time_in_force", 1, A), ("display", 1, A), ("order_reference_number", 8, INT),
        ("capacity", 1, A), ("intermarket_sweep_eligibility", 1, A), ("cross_type", 1, A),
        ("order_state", 1, A), ("cl_ord_id", 14, A), ("appendage_length", 2, INT),
    )),
    # [dissector], [rust]: Timestamp 1, UserRefNum 9, Quantity 13 (decrement), Reason 17.
    # Not verified: whether the current revision appends an Appendage Length here too
    # (the dissector reads one after any message when two bytes remain).
    (Direction.OUTBOUND, "C", "Order Canceled", 18, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("quantity", 4, INT), ("reason", 1, A),
    )),
    # [dissector], [rust]: Timestamp 1, UserRefNum 9, Quantity 13, Price 17, Liquidity Flag
    # 25, Match Number 26, Appendage Length 34 (the field list is confirmed; the Appendage
    # Length only by the dissector's generic reading, see Order Canceled).
    (Direction.OUTBOUND, "E", "Order Executed", 36, (
        ("timestamp", 8, INT), ("user_ref_num", 4, INT), ("quantity", 4, INT),
        ("price", 8, INT), ("liquidity_flag", 1, A), ("match_number", 8, INT),
        ("appendage_length", 2, INT),
    )),
    # [dissector]: Timestamp 1, UserRefNum 9, Reason 13 (2-byte code, RejectCode),
    # ClOrdID 15.
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
    """Order Canceled reasons (OUCH letters; [orchestra] OrderCancelReasonCodeSet, which also
    has D, E, F, G, K, Q, T, X and e, not used here)."""

    USER = "U"  # the client asked
    IOC = "I"  # immediate or cancel: the part that did not match at once
    SUPERVISORY = "S"  # the venue's operator
    HALTED = "H"  # trading halted in the symbol
    SYSTEM = "Z"  # the venue shut down


class RejectCode(enum.IntEnum):
    """OUCH 5.0 Order Rejected reasons: the spec's 2-byte codes (Reject Reason table).

    Agreed by [dissector], [rust] (``slouch``) and a third public table; 0x40 Invalid AIQ
    appears in one source only and is left out. The simulated venue sends the spec code
    for each of its own reasons, or OTHER where the spec has none (``sim/venue``).
    """

    QUOTE_UNAVAILABLE = 0x01
    DESTINATION_CLOSED = 0x02
    INVALID_DISPLAY = 0x03
    INVALID_MAX_FLOOR = 0x04
    INVALID_PEG_TYPE = 0x05
    FAT_FINGER = 0x06
    HALTED = 0x07
    ISO_NOT_ALLOWED = 0x08
    INVALID_SIDE = 0x09
    PROCESSING_ERROR = 0x0A
    CANCEL_PENDING = 0x0B
    FIRM_NOT_AUTHORIZED = 0x0C
    INVALID_MIN_QUANTITY = 0x0D
    NO_CLOSING_REFERENCE_PRICE = 0x0E
    OTHER = 0x0F
    CANCEL_NOT_ALLOWED = 0x10
    PEGGING_NOT_ALLOWED = 0x11
    CROSSED_MARKET = 0x12
    INVALID_QUANTITY = 0x13
    INVALID_CROSS_ORDER = 0x14
    REPLACE_NOT_ALLOWED = 0x15
    ROUTING_NOT_ALLOWED = 0x16
    INVALID_SYMBOL = 0x17
    TEST = 0x18
    LATE_LOC_TOO_AGGRESSIVE = 0x19
    RETAIL_NOT_ALLOWED = 0x1A
    INVALID_MIDPOINT_POST_ONLY_PRICE = 0x1B
    INVALID_DESTINATION = 0x1C
    INVALID_PRICE = 0x1D
    SHARES_EXCEED_THRESHOLD = 0x1E
    EXCEEDS_MAXIMUM_ALLOWED_NOTIONAL_VALUE = 0x1F
    RISK_AGGREGATE_EXPOSURE_EXCEEDED = 0x20
    RISK_MARKET_IMPACT = 0x21
    RISK_RESTRICTED_STOCK = 0x22
    RISK_SHORT_SELL_RESTRICTED = 0x23
    RISK_ISO_NOT_ALLOWED = 0x24
    RISK_EXCEEDS_ADV_LIMIT = 0x25
    RISK_FAT_FINGER = 0x26
    RISK_LOCATE_REQUIRED = 0x27
    RISK_SYMBOL_MESSAGE_RATE_RESTRICTION = 0x28
    RISK_PORT_MESSAGE_RATE_RESTRICTION = 0x29
    RISK_DUPLICATE_MESSAGE_RATE_RESTRICTION = 0x2A
    RISK_SHORT_SELL_NOT_ALLOWED = 0x2B
    RISK_MARKET_ORDER_NOT_ALLOWED = 0x2C
    RISK_PRE_MARKET_NOT_ALLOWED = 0x2D
    RISK_POST_MARKET_NOT_ALLOWED = 0x2E
    RISK_SHORT_SELL_EXEMPT_NOT_ALLOWED = 0x2F
    RISK_SINGLE_ORDER_NOTIONAL_EXCEEDED = 0x30
    RISK_MAX_QUANTITY_EXCEEDED = 0x31
    REG_SHO_STATE_NOT_AVAILABLE = 0x32
    RISK_IPO_MARKET_BUY_NOT_ALLOWED = 0x33


#: OUCH 5.0 caps an order at fewer than 1,000,000 shares ([orchestra] EnterOrder Quantity).
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
