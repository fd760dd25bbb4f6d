from __future__ import annotations

import numpy as np

from nanogate.proto.itch import MESSAGES, decode_message, encode_message
from nanogate.proto.records import (
    BOOK_EVENT,
    BOOK_EVENT_DTYPE,
    BOOK_EVENT_SOURCES,
    RecordField,
    RecordLayout,
    book_event_tuple,
)


def test_dtype_follows_the_layout() -> None:
    assert BOOK_EVENT_DTYPE.names == BOOK_EVENT.names
    assert BOOK_EVENT_DTYPE["timestamp"] == np.dtype("<u8")  # 48 bits -> u8
    assert BOOK_EVENT_DTYPE["stock_locate"] == np.dtype("<u2")
    assert BOOK_EVENT_DTYPE["stock"] == np.dtype("S8")
    layout = RecordLayout("T", (RecordField("a", 1, "x"), RecordField("b", 17, "y")))
    assert layout.numpy_dtype().itemsize == 1 + 4
    assert layout.bits == 18


def test_book_types_map_their_fields() -> None:
    assert BOOK_EVENT_SOURCES["A"] == {
        "timestamp": "timestamp", "stock_locate": "stock_locate", "side": "buy_sell_indicator",
        "order_ref": "order_reference_number", "shares": "shares", "price": "price",
        "stock": "stock"}
    assert BOOK_EVENT_SOURCES["U"]["order_ref"] == "original_order_reference_number"
    assert BOOK_EVENT_SOURCES["U"]["new_order_ref"] == "new_order_reference_number"
    assert BOOK_EVENT_SOURCES["X"]["shares"] == "cancelled_shares"
    assert BOOK_EVENT_SOURCES["C"]["price"] == "execution_price"
    # Q's shares are 8 bytes: they do not fit the 32-bit column, so they are not mapped.
    assert "shares" not in BOOK_EVENT_SOURCES["Q"]
    assert set(BOOK_EVENT_SOURCES) == set(MESSAGES)


def test_every_mapped_field_fits_its_column() -> None:
    for type_char, row in BOOK_EVENT_SOURCES.items():
        for column, source in row.items():
            width = MESSAGES[type_char].wire.field(source).width
            assert 8 * width <= BOOK_EVENT.field(column).bits, (type_char, column)


def test_reference_conversion_keeps_wire_padding() -> None:
    message = decode_message(encode_message({
        "type": "A", "stock_locate": 2, "tracking_number": 0, "timestamp": 99,
        "order_reference_number": 5, "buy_sell_indicator": "S", "shares": 10,
        "stock": "AB", "price": 1000}))
    row = np.array([book_event_tuple(message, seq=42, flags=1)], dtype=BOOK_EVENT_DTYPE)[0]
    assert row["seq"] == 42 and row["flags"] == 1
    assert row["stock"] == b"AB      " and row["side"] == b"S" and row["msg_type"] == b"A"
    assert row["price"] == 1000 and row["order_ref"] == 5 and row["new_order_ref"] == 0
