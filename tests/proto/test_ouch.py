from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.proto import ouch
from nanogate.proto.ouch import MESSAGES, Direction, OuchError, RejectCode

ENTER = {"type": "O", "user_ref_num": 7, "side": "B", "quantity": 300, "symbol": "AAPL",
         "price": 1_234_500, "time_in_force": "0", "display": "Y", "capacity": "P",
         "intermarket_sweep_eligibility": "N", "cross_type": "N", "cl_ord_id": "ABC123",
         "appendage_length": 0}


def test_lengths_are_the_specs() -> None:
    lengths = {(d.value, t): spec.length for (d, t), spec in MESSAGES.items()}
    assert lengths == {("inbound", "O"): 47, ("inbound", "U"): 40, ("inbound", "X"): 11,
                       ("outbound", "S"): 10, ("outbound", "A"): 64, ("outbound", "U"): 68,
                       ("outbound", "C"): 18, ("outbound", "E"): 36, ("outbound", "J"): 29}


def test_enter_order_layout_and_round_trip() -> None:
    raw = ouch.encode(Direction.INBOUND, ENTER)
    assert len(raw) == 47 and raw[:1] == b"O"
    assert raw[1:5] == (7).to_bytes(4, "big")
    assert raw[10:18] == b"AAPL    "
    assert raw[18:26] == (1_234_500).to_bytes(8, "big")  # OUCH 5.0: 8-byte price
    assert ouch.decode(Direction.INBOUND, raw) == ENTER


def test_direction_tells_replace_from_replaced() -> None:
    inbound = ouch.encode_inbound(type="U", orig_user_ref_num=1, user_ref_num=2, quantity=5,
                                  price=10, time_in_force="0", display="Y",
                                  intermarket_sweep_eligibility="N", cl_ord_id="")
    assert len(inbound) == 40
    assert ouch.decode(Direction.INBOUND, inbound)["orig_user_ref_num"] == 1
    with pytest.raises(OuchError) as error:
        ouch.decode(Direction.OUTBOUND, inbound)
    assert error.value.fault == "bad_length"


def test_outbound_messages_round_trip() -> None:
    executed = {"type": "E", "timestamp": 123, "user_ref_num": 9, "quantity": 50,
                "price": 1_000_100, "liquidity_flag": "A", "match_number": 77,
                "appendage_length": 0}
    assert ouch.decode(Direction.OUTBOUND, ouch.encode(Direction.OUTBOUND, executed)) == executed
    rejected = {"type": "J", "timestamp": 1, "user_ref_num": 3, "reason": 1, "cl_ord_id": "X"}
    assert ouch.decode(Direction.OUTBOUND, ouch.encode(Direction.OUTBOUND, rejected)) == rejected


def test_appendages_are_refused_clearly() -> None:
    raw = bytearray(ouch.encode(Direction.INBOUND, ENTER))
    raw[45:47] = (4).to_bytes(2, "big")
    with pytest.raises(OuchError, match="appendages") as error:
        ouch.decode(Direction.INBOUND, bytes(raw) + b"\x00\x02\x01\x02")
    assert error.value.fault == "appendage"
    with pytest.raises(OuchError) as error:  # announced but absent
        ouch.decode(Direction.INBOUND, bytes(raw))
    assert error.value.fault == "bad_length"
    with pytest.raises(OuchError, match="not supported"):
        ouch.encode(Direction.INBOUND, {**ENTER, "appendage_length": 2})


@pytest.mark.parametrize(("raw", "fault"), [
    (b"", "bad_length"),
    (b"Q\x00", "unknown_type"),
    (b"X\x00\x00\x00\x01", "bad_length"),
    (b"X" + bytes(11), "bad_length"),  # a trailing byte the Appendage Length (0) disowns
])
def test_bad_messages(raw: bytes, fault: str) -> None:
    with pytest.raises(OuchError) as error:
        ouch.decode(Direction.INBOUND, raw)
    assert error.value.fault == fault


def test_bad_fields_on_encode() -> None:
    with pytest.raises(OuchError, match="symbol") as error:
        ouch.encode(Direction.INBOUND, {**ENTER, "symbol": "TOOLONGSYM"})
    assert error.value.fault == "bad_field"
    with pytest.raises(OuchError, match="unknown"):
        ouch.encode(Direction.INBOUND, {"type": "Z"})
    assert "| inbound | O | Enter Order | 47 " in ouch.markdown_table()


def test_the_docs_state_every_message_and_length() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "orders.md").read_text()
    for spec in MESSAGES.values():
        assert f"| `{spec.type}` | {spec.name} | {spec.length} |" in text, spec.name


# --- byte for byte against the OUCH 5.0 layouts --------------------------------------------
# Each expected message is written out by hand from the spec's offsets (see the sources in
# proto/ouch.py), not produced by the table under test. Big-endian binary numbers; alpha
# fields left-justified and space padded.

def _u(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big")


TS = 34_200_000_000_123  # 09:30:00.000000123, nanoseconds since midnight

HAND_WRITTEN: list[tuple[Direction, dict[str, object], bytes]] = [
    (Direction.INBOUND, ENTER,
     b"O"                          # 0  Type
     + b"\x00\x00\x00\x07"          # 1  UserRefNum 7
     + b"B"                        # 5  Side
     + b"\x00\x00\x01\x2c"          # 6  Quantity 300
     + b"AAPL    "                 # 10 Symbol (8)
     + b"\x00\x00\x00\x00\x00\x12\xd6\x44"  # 18 Price 123.4500 (8, 4 implied decimals)
     + b"0"                        # 26 Time In Force: day
     + b"Y"                        # 27 Display
     + b"P"                        # 28 Capacity
     + b"N"                        # 29 InterMarket Sweep Eligibility
     + b"N"                        # 30 CrossType
     + b"ABC123        "           # 31 ClOrdID (14)
     + b"\x00\x00"),                 # 45 Appendage Length; 47 bytes
    (Direction.INBOUND,
     {"type": "U", "orig_user_ref_num": 7, "user_ref_num": 8, "quantity": 100,
      "price": 1_234_600, "time_in_force": "3", "display": "N",
      "intermarket_sweep_eligibility": "N", "cl_ord_id": "R1", "appendage_length": 0},
     b"U"                          # 0  Type
     + b"\x00\x00\x00\x07"          # 1  OrigUserRefNum
     + b"\x00\x00\x00\x08"          # 5  UserRefNum
     + b"\x00\x00\x00\x64"          # 9  Quantity 100
     + b"\x00\x00\x00\x00\x00\x12\xd6\xa8"  # 13 Price 123.4600
     + b"3"                        # 21 Time In Force: IOC
     + b"N"                        # 22 Display
     + b"N"                        # 23 InterMarket Sweep Eligibility
     + b"R1            "           # 24 ClOrdID (14)
     + b"\x00\x00"),                 # 38 Appendage Length; 40 bytes
    (Direction.INBOUND,
     {"type": "X", "user_ref_num": 8, "quantity": 0, "appendage_length": 0},
     b"X"                          # 0  Type
     + b"\x00\x00\x00\x08"          # 1  UserRefNum
     + b"\x00\x00\x00\x00"          # 5  Quantity: new intended size, 0 = cancel all
     + b"\x00\x00"),                 # 9  Appendage Length; 11 bytes
    (Direction.OUTBOUND, {"type": "S", "timestamp": TS, "event_code": "S"},
     b"S"                          # 0  Type
     + b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b"  # 1 Timestamp
     + b"S"),                      # 9  Event Code: start of day; 10 bytes
    (Direction.OUTBOUND,
     {"type": "A", "timestamp": TS, "user_ref_num": 7, "side": "S", "quantity": 300,
      "symbol": "MSFT", "price": 2_900_000, "time_in_force": "0", "display": "Y",
      "order_reference_number": 0x0102030405060708, "capacity": "A",
      "intermarket_sweep_eligibility": "N", "cross_type": "N", "order_state": "L",
      "cl_ord_id": "C7", "appendage_length": 0},
     b"A"                          # 0  Type
     + b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b"  # 1 Timestamp
     + b"\x00\x00\x00\x07"          # 9  UserRefNum
     + b"S"                        # 13 Side
     + b"\x00\x00\x01\x2c"          # 14 Quantity
     + b"MSFT    "                 # 18 Symbol
     + b"\x00\x00\x00\x00\x00\x2c\x40\x20"  # 26 Price 290.0000
     + b"0"                        # 34 Time In Force
     + b"Y"                        # 35 Display
     + b"\x01\x02\x03\x04\x05\x06\x07\x08"  # 36 Order Reference Number
     + b"A"                        # 44 Capacity
     + b"N"                        # 45 InterMarket Sweep Eligibility
     + b"N"                        # 46 CrossType
     + b"L"                        # 47 Order State
     + b"C7            "           # 48 ClOrdID
     + b"\x00\x00"),                 # 62 Appendage Length; 64 bytes
    (Direction.OUTBOUND,
     {"type": "U", "timestamp": TS, "orig_user_ref_num": 7, "user_ref_num": 8,
      "side": "S", "quantity": 100, "symbol": "MSFT", "price": 2_900_100,
      "time_in_force": "0", "display": "Y", "order_reference_number": 9, "capacity": "A",
      "intermarket_sweep_eligibility": "N", "cross_type": "N", "order_state": "D",
      "cl_ord_id": "C8", "appendage_length": 0},
     b"U"                          # 0  Type
     + b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b"  # 1 Timestamp
     + b"\x00\x00\x00\x07"          # 9  OrigUserRefNum
     + b"\x00\x00\x00\x08"          # 13 UserRefNum
     + b"S"                        # 17 Side
     + b"\x00\x00\x00\x64"          # 18 Quantity
     + b"MSFT    "                 # 22 Symbol
     + b"\x00\x00\x00\x00\x00\x2c\x40\x84"  # 30 Price 290.0100
     + b"0"                        # 38 Time In Force
     + b"Y"                        # 39 Display
     + b"\x00\x00\x00\x00\x00\x00\x00\x09"  # 40 Order Reference Number
     + b"A"                        # 48 Capacity
     + b"N"                        # 49 InterMarket Sweep Eligibility
     + b"N"                        # 50 CrossType
     + b"D"                        # 51 Order State
     + b"C8            "           # 52 ClOrdID
     + b"\x00\x00"),                 # 66 Appendage Length; 68 bytes
    (Direction.OUTBOUND,
     {"type": "C", "timestamp": TS, "user_ref_num": 8, "quantity": 60, "reason": "U"},
     b"C"                          # 0  Type
     + b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b"  # 1 Timestamp
     + b"\x00\x00\x00\x08"          # 9  UserRefNum
     + b"\x00\x00\x00\x3c"          # 13 Quantity (decrement) 60
     + b"U"),                      # 17 Reason: user requested; 18 bytes
    (Direction.OUTBOUND,
     {"type": "E", "timestamp": TS, "user_ref_num": 9, "quantity": 50, "price": 1_000_100,
      "liquidity_flag": "A", "match_number": 77, "appendage_length": 0},
     b"E"                          # 0  Type
     + b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b"  # 1 Timestamp
     + b"\x00\x00\x00\x09"          # 9  UserRefNum
     + b"\x00\x00\x00\x32"          # 13 Quantity 50
     + b"\x00\x00\x00\x00\x00\x0f\x42\xa4"  # 17 Price 100.0100
     + b"A"                        # 25 Liquidity Flag
     + b"\x00\x00\x00\x00\x00\x00\x00\x4d"  # 26 Match Number 77
     + b"\x00\x00"),                 # 34 Appendage Length; 36 bytes
    (Direction.OUTBOUND,
     {"type": "J", "timestamp": TS, "user_ref_num": 3, "reason": 0x17, "cl_ord_id": "X"},
     b"J"                          # 0  Type
     + b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b"  # 1 Timestamp
     + b"\x00\x00\x00\x03"          # 9  UserRefNum
     + b"\x00\x17"                   # 13 Reason: 0x0017 Invalid Symbol
     + b"X             "),         # 15 ClOrdID; 29 bytes
]


def test_the_hand_written_messages_cover_every_type() -> None:
    assert {(d, str(m["type"])) for d, m, _ in HAND_WRITTEN} == set(MESSAGES)


@pytest.mark.parametrize(("direction", "message", "expected"), HAND_WRITTEN,
                         ids=[f"{d.value}-{m['type']}" for d, m, _ in HAND_WRITTEN])
def test_encoding_matches_the_spec_layout_byte_for_byte(
        direction: Direction, message: dict[str, object], expected: bytes) -> None:
    assert int.from_bytes(b"\x00\x00\x1f\x1a\xce\xd9\xf0\x7b", "big") == TS
    raw = ouch.encode(direction, message)  # type: ignore[arg-type]
    assert raw == expected
    assert len(raw) == MESSAGES[direction, str(message["type"])].length
    decoded = ouch.decode(direction, expected)
    assert decoded == {k: (v.rstrip() if isinstance(v, str) else v) for k, v in message.items()}


def test_reject_codes_are_the_specs() -> None:
    # OUCH 5.0 Reject Reason table: a few anchors across it.
    assert (RejectCode.QUOTE_UNAVAILABLE, RejectCode.HALTED, RejectCode.INVALID_SIDE,
            RejectCode.OTHER, RejectCode.INVALID_QUANTITY, RejectCode.INVALID_SYMBOL,
            RejectCode.INVALID_PRICE, RejectCode.RISK_IPO_MARKET_BUY_NOT_ALLOWED) == (
        0x01, 0x07, 0x09, 0x0F, 0x13, 0x17, 0x1D, 0x33)
    assert [int(c) for c in RejectCode] == list(range(0x01, 0x34))  # no gaps, no aliases
