from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanogate.proto.faults import Fault, FeedFault
from nanogate.proto.itch import (
    LENGTH_BY_TYPE_BYTE,
    MESSAGES,
    decode_message,
    encode_message,
    markdown_table,
)
from nanogate.proto.wire import Kind, WireError

# Lengths as printed in the TotalView-ITCH 5.0 specification, typed in independently.
SPEC_LENGTHS = {"S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28,
                "J": 35, "h": 21, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19,
                "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48}


def test_table_has_all_23_types_with_spec_lengths() -> None:
    assert list(MESSAGES) == list("SRHYLVWKJhAFECXDUPQBINO")
    assert {t: m.length for t, m in MESSAGES.items()} == SPEC_LENGTHS
    for type_char, length in SPEC_LENGTHS.items():
        assert LENGTH_BY_TYPE_BYTE[ord(type_char)] == length
    assert sum(1 for n in LENGTH_BY_TYPE_BYTE if n) == 23


def test_every_message_starts_with_the_common_header() -> None:
    for spec in MESSAGES.values():
        head = [(f.name, f.offset, f.width) for f in spec.wire.fields[:4]]
        assert head == [("message_type", 0, 1), ("stock_locate", 1, 2),
                        ("tracking_number", 3, 2), ("timestamp", 5, 6)]
        assert spec.wire.fields[3].kind is Kind.TIMESTAMP


def test_known_add_order_bytes_decode_to_spec_values() -> None:
    # Built by hand from the spec's offsets, not from the table under test.
    raw = (b"A" + struct.pack(">HH", 7, 3) + (34_200_000_000_123).to_bytes(6, "big")
           + struct.pack(">Q", 123456789) + b"B" + struct.pack(">I", 300) + b"AAPL    "
           + struct.pack(">I", 1_234_500))
    assert decode_message(raw) == {
        "type": "A", "stock_locate": 7, "tracking_number": 3, "timestamp": 34_200_000_000_123,
        "order_reference_number": 123456789, "buy_sell_indicator": "B", "shares": 300,
        "stock": "AAPL", "price": 1_234_500,
    }
    assert encode_message(decode_message(raw)) == raw


def test_price8_and_large_integer_fields() -> None:
    message = {"type": "V", "stock_locate": 0, "tracking_number": 1, "timestamp": 2**48 - 1,
               "level_1": 2**64 - 1, "level_2": 0, "level_3": 123_45678901}
    raw = encode_message(message)
    assert len(raw) == 35
    assert raw[5:11] == b"\xff" * 6
    assert decode_message(raw) == message


@st.composite
def valid_message_bytes(draw: st.DrawFn) -> bytes:
    spec = MESSAGES[draw(st.sampled_from(list(MESSAGES)))]
    parts = [spec.type.encode()]
    for f in spec.wire.fields[1:]:
        if f.kind is Kind.ALPHA:
            parts.append(draw(st.binary(min_size=f.width, max_size=f.width).map(
                lambda b: bytes(32 + x % 95 for x in b))))
        else:
            parts.append(draw(st.integers(0, f.max_value)).to_bytes(f.width, "big"))
    return b"".join(parts)


@given(valid_message_bytes())
@settings(max_examples=600)
def test_encode_decode_round_trip_every_type(raw: bytes) -> None:
    assert encode_message(decode_message(raw)) == raw


def test_round_trip_covers_each_type_explicitly() -> None:
    for spec in MESSAGES.values():
        raw = bytes([ord(spec.type)]) + bytes(range(1, spec.length))
        raw = bytearray(raw)
        for f in spec.wire.fields:
            if f.kind is Kind.ALPHA and f.name != "message_type":
                raw[f.offset:f.offset + f.width] = b"Z" * f.width
        assert encode_message(decode_message(bytes(raw))) == bytes(raw), spec.type


@pytest.mark.parametrize(("raw", "fault"), [
    (b"", Fault.BAD_LENGTH),
    (b"z" + bytes(20), Fault.UNKNOWN_TYPE),
    (b"A" + bytes(34), Fault.BAD_LENGTH),
    (b"A" + bytes(36), Fault.BAD_LENGTH),
    (b"\x00" * 12, Fault.UNKNOWN_TYPE),
])
def test_bad_messages_raise_named_faults(raw: bytes, fault: Fault) -> None:
    with pytest.raises(FeedFault) as caught:
        decode_message(raw)
    assert caught.value.fault is fault


def test_encoder_rejects_bad_values_naming_the_field() -> None:
    good = decode_message(encode_message({"type": "D", "stock_locate": 1, "tracking_number": 0,
                                          "timestamp": 5, "order_reference_number": 9}))
    with pytest.raises(WireError, match="missing field 'order_reference_number'"):
        encode_message({k: v for k, v in good.items() if k != "order_reference_number"})
    with pytest.raises(WireError, match="unknown field"):
        encode_message({**good, "shares": 1})
    with pytest.raises(WireError, match="outside"):
        encode_message({**good, "stock_locate": 70000})
    with pytest.raises(WireError, match="timestamp"):
        encode_message({**good, "timestamp": 2**48})
    with pytest.raises(WireError, match="expected an integer"):
        encode_message({**good, "timestamp": True})
    with pytest.raises(FeedFault, match="unknown message type"):
        encode_message({**good, "type": "?"})
    add = {"type": "A", "stock_locate": 1, "tracking_number": 0, "timestamp": 0,
           "order_reference_number": 1, "buy_sell_indicator": "B", "shares": 1, "price": 1}
    with pytest.raises(WireError, match="longer than 8"):
        encode_message({**add, "stock": "TOOLONGXX"})
    with pytest.raises(WireError, match="not ASCII"):
        encode_message({**add, "stock": "ÄPFEL"})
    with pytest.raises(WireError, match="expected text"):
        encode_message({**add, "stock": 5})


def test_markdown_table_lists_every_field() -> None:
    table = markdown_table()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == sum(len(m.wire.fields) for m in MESSAGES.values())
    assert "| `cancelled_shares` | 19 | 4 | integer |" in table
