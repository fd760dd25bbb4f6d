"""NASDAQ TotalView-ITCH 5.0: the message table, and the reference codec.

Every message is a :class:`~nanogate.proto.wire.WireStruct` built from the
rows below; the spec's stated length of each message is checked against the
sum of its field widths when this module loads. Field names are the spec's
names in snake_case; they are also the keys of the JSON that
``nanogate feed decode`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nanogate.proto.faults import Fault, FeedFault
from nanogate.proto.wire import Kind, Value, WireField, WireStruct, build_struct

# Short names keep the table below one row per message, as the spec prints it.
A, INT, P4, P8, T = Kind.ALPHA, Kind.INTEGER, Kind.PRICE4, Kind.PRICE8, Kind.TIMESTAMP

#: Every message starts with these four fields (11 bytes).
HEADER: tuple[WireField, ...] = (
    WireField("message_type", 0, 1, A),
    WireField("stock_locate", 1, 2, INT),
    WireField("tracking_number", 3, 2, INT),
    WireField("timestamp", 5, 6, T),
)
HEADER_LENGTH = 11

# type, spec name, spec length, body fields after the header
_TABLE: tuple[tuple[str, str, int, tuple[tuple[str, int, Kind], ...]], ...] = (
    ("S", "System Event", 12, (("event_code", 1, A),)),
    ("R", "Stock Directory", 39, (
        ("stock", 8, A), ("market_category", 1, A), ("financial_status_indicator", 1, A),
        ("round_lot_size", 4, INT), ("round_lots_only", 1, A), ("issue_classification", 1, A),
        ("issue_sub_type", 2, A), ("authenticity", 1, A),
        ("short_sale_threshold_indicator", 1, A), ("ipo_flag", 1, A),
        ("luld_reference_price_tier", 1, A), ("etp_flag", 1, A),
        ("etp_leverage_factor", 4, INT), ("inverse_indicator", 1, A),
    )),
    ("H", "Stock Trading Action", 25, (
        ("stock", 8, A), ("trading_state", 1, A), ("reserved", 1, A), ("reason", 4, A),
    )),
    ("Y", "Reg SHO Restriction", 20, (("stock", 8, A), ("reg_sho_action", 1, A))),
    ("L", "Market Participant Position", 26, (
        ("mpid", 4, A), ("stock", 8, A), ("primary_market_maker", 1, A),
        ("market_maker_mode", 1, A), ("market_participant_state", 1, A),
    )),
    ("V", "MWCB Decline Level", 35, (("level_1", 8, P8), ("level_2", 8, P8), ("level_3", 8, P8))),
    ("W", "MWCB Status", 12, (("breached_level", 1, A),)),
    ("K", "IPO Quoting Period Update", 28, (
        ("stock", 8, A), ("ipo_quotation_release_time", 4, INT),
        ("ipo_quotation_release_qualifier", 1, A), ("ipo_price", 4, P4),
    )),
    ("J", "LULD Auction Collar", 35, (
        ("stock", 8, A), ("auction_collar_reference_price", 4, P4),
        ("upper_auction_collar_price", 4, P4), ("lower_auction_collar_price", 4, P4),
        ("auction_collar_extension", 4, INT),
    )),
    ("h", "Operational Halt", 21, (
        ("stock", 8, A), ("market_code", 1, A), ("operational_halt_action", 1, A),
    )),
    ("A", "Add Order", 36, (
        ("order_reference_number", 8, INT), ("buy_sell_indicator", 1, A), ("shares", 4, INT),
        ("stock", 8, A), ("price", 4, P4),
    )),
    ("F", "Add Order with MPID Attribution", 40, (
        ("order_reference_number", 8, INT), ("buy_sell_indicator", 1, A), ("shares", 4, INT),
        ("stock", 8, A), ("price", 4, P4), ("attribution", 4, A),
    )),
    ("E", "Order Executed", 31, (
        ("order_reference_number", 8, INT), ("executed_shares", 4, INT), ("match_number", 8, INT),
    )),
    ("C", "Order Executed with Price", 36, (
        ("order_reference_number", 8, INT), ("executed_shares", 4, INT), ("match_number", 8, INT),
        ("printable", 1, A), ("execution_price", 4, P4),
    )),
    ("X", "Order Cancel", 23, (("order_reference_number", 8, INT), ("cancelled_shares", 4, INT))),
    ("D", "Order Delete", 19, (("order_reference_number", 8, INT),)),
    ("U", "Order Replace", 35, (
        ("original_order_reference_number", 8, INT), ("new_order_reference_number", 8, INT),
        ("shares", 4, INT), ("price", 4, P4),
    )),
    ("P", "Trade (non-cross)", 44, (
        ("order_reference_number", 8, INT), ("buy_sell_indicator", 1, A), ("shares", 4, INT),
        ("stock", 8, A), ("price", 4, P4), ("match_number", 8, INT),
    )),
    ("Q", "Cross Trade", 40, (
        ("shares", 8, INT), ("stock", 8, A), ("cross_price", 4, P4), ("match_number", 8, INT),
        ("cross_type", 1, A),
    )),
    ("B", "Broken Trade", 19, (("match_number", 8, INT),)),
    ("I", "Net Order Imbalance Indicator", 50, (
        ("paired_shares", 8, INT), ("imbalance_shares", 8, INT), ("imbalance_direction", 1, A),
        ("stock", 8, A), ("far_price", 4, P4), ("near_price", 4, P4),
        ("current_reference_price", 4, P4), ("cross_type", 1, A),
        ("price_variation_indicator", 1, A),
    )),
    ("N", "Retail Price Improvement Indicator", 20, (("stock", 8, A), ("interest_flag", 1, A))),
    ("O", "Direct Listing with Capital Raise Price Discovery", 48, (
        ("stock", 8, A), ("open_eligibility_status", 1, A), ("minimum_allowable_price", 4, P4),
        ("maximum_allowable_price", 4, P4), ("near_execution_price", 4, P4),
        ("near_execution_time", 8, INT), ("lower_price_range_collar", 4, P4),
        ("upper_price_range_collar", 4, P4),
    )),
)


@dataclass(frozen=True)
class MessageSpec:
    type: str
    name: str
    wire: WireStruct

    @property
    def length(self) -> int:
        return self.wire.length

    @property
    def body_fields(self) -> tuple[WireField, ...]:
        """The fields after ``message_type`` (the JSON keys, in order)."""
        return self.wire.fields[1:]


def _build() -> dict[str, MessageSpec]:
    specs: dict[str, MessageSpec] = {}
    for type_char, name, length, body in _TABLE:
        wire = build_struct(f"ITCH {type_char} ({name})", body, HEADER_LENGTH, HEADER)
        if wire.length != length:
            raise AssertionError(
                f"ITCH {type_char}: fields sum to {wire.length}, spec says {length}")
        specs[type_char] = MessageSpec(type_char, name, wire)
    return specs


#: The 23 ITCH 5.0 messages, keyed by type character, in spec order.
MESSAGES: dict[str, MessageSpec] = _build()

#: Message length (without the 2-byte length prefix) by type byte; 0 = unknown.
LENGTH_BY_TYPE_BYTE: tuple[int, ...] = tuple(
    MESSAGES[chr(b)].length if chr(b) in MESSAGES else 0 for b in range(256)
)


def check_message(buf: bytes | bytearray | memoryview) -> MessageSpec:
    """The spec of a whole message, or :class:`FeedFault` (unknown type, bad length)."""
    if not buf:
        raise FeedFault(Fault.BAD_LENGTH, "empty message")
    spec = MESSAGES.get(chr(buf[0]))
    if spec is None:
        raise FeedFault(Fault.UNKNOWN_TYPE, f"unknown message type 0x{buf[0]:02x}")
    if len(buf) != spec.length:
        raise FeedFault(Fault.BAD_LENGTH,
                        f"type {spec.type} is {spec.length} bytes, message has {len(buf)}")
    return spec


def decode_message(buf: bytes | bytearray | memoryview) -> dict[str, Value]:
    """Decode one whole message (no length prefix) into ``{"type": .., field: value}``."""
    spec = check_message(buf)
    type_char = spec.type
    values = spec.wire.unpack(buf)
    del values["message_type"]
    return {"type": type_char, **values}


def encode_message(message: Mapping[str, Value]) -> bytes:
    """Inverse of :func:`decode_message`: ``type`` plus every body field."""
    type_char = message.get("type")
    if not isinstance(type_char, str) or type_char not in MESSAGES:
        raise FeedFault(Fault.UNKNOWN_TYPE, f"unknown message type {type_char!r}")
    values = {k: v for k, v in message.items() if k != "type"}
    values["message_type"] = type_char
    return MESSAGES[type_char].wire.pack(values)


def markdown_table() -> str:
    """The message table as Markdown (used by docs/itch.md)."""
    lines = ["| type | message | length | field | offset | width | kind |",
             "| --- | --- | ---: | --- | ---: | ---: | --- |"]
    for spec in MESSAGES.values():
        for i, f in enumerate(spec.wire.fields):
            head = (f"`{spec.type}`", spec.name, str(spec.length)) if i == 0 else ("", "", "")
            lines.append(f"| {' | '.join(head)} | `{f.name}` | {f.offset} | {f.width} "
                         f"| {f.kind.value} |")
    return "\n".join(lines) + "\n"
