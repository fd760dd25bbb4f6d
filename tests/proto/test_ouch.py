from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.proto import ouch
from nanogate.proto.ouch import MESSAGES, Direction, OuchError

ENTER = {"type": "O", "user_ref_num": 7, "side": "B", "quantity": 300, "symbol": "AAPL",
         "price": 1_234_500, "time_in_force": "0", "display": "Y", "capacity": "P",
         "intermarket_sweep_eligibility": "N", "cross_type": "N", "cl_ord_id": "ABC123",
         "appendage_length": 0}


def test_lengths_are_the_specs() -> None:
    lengths = {(d.value, t): spec.length for (d, t), spec in MESSAGES.items()}
    assert lengths == {("inbound", "O"): 47, ("inbound", "U"): 40, ("inbound", "X"): 9,
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
    (b"X" + bytes(9), "bad_length"),  # a trailing byte on a message without appendages
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
