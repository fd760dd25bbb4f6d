"""The software feed parser backend: the golden model behind the device interface."""

from __future__ import annotations

import pytest

from nanogate.gateway.device import DeviceError, open_device
from nanogate.gateway.feed import fast
from nanogate.gateway.feed.source import FeedFile
from nanogate.proto import moldudp64
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS
from nanogate.proto.itch import encode_message
from nanogate.proto.records import EventFlags


def add(ref: int, locate: int) -> bytes:
    return encode_message({"type": "A", "stock_locate": locate, "tracking_number": 0,
                           "timestamp": ref, "order_reference_number": ref,
                           "buy_sell_indicator": "S", "shares": 10, "stock": "X",
                           "price": 1})


def packet(seq: int, locates: list[int], session: str = "S1") -> bytes:
    return moldudp64.encode_packet(session, seq, [add(seq + i, loc)
                                                  for i, loc in enumerate(locates)])


def test_sequence_tracking_carries_across_pushes() -> None:
    parser = open_device("software").feed_parser()
    first = parser.push([packet(1, [1, 1])])
    assert first["flags"].tolist() == [0, 0]
    gap = parser.push([packet(5, [1])])  # 3 and 4 missing, found across the push boundary
    assert gap["flags"].tolist() == [int(EventFlags.GAP)]
    again = parser.push([packet(5, [1]), packet(9, [1], session="S2")])  # S2 resyncs
    assert again["flags"].tolist() == [int(EventFlags.DUPLICATE), 0]
    counters = parser.counters()
    assert (counters["gaps"], counters["missing"], counters["duplicates"]) == (1, 2, 1)
    assert counters["packets"] == 4 and counters["messages"] == counters["records"] == 5
    assert set(counters) == set(COUNTER_NAMES)


def test_streamed_equals_whole_stream() -> None:
    payloads = [packet(1, [1]), packet(4, [2]), packet(3, [1, 1]), packet(2, [3], "S9")]
    whole_feed = FeedFile(__import__("pathlib").Path("x"), "pcap", b"".join(payloads),
                          [(sum(map(len, payloads[:i])), sum(map(len, payloads[:i + 1])))
                           for i in range(len(payloads))])
    whole = fast.decode(whole_feed).events
    parser = open_device("software").feed_parser()
    pieces = [parser.push([p]) for p in payloads]
    assert [r for piece in pieces for r in piece.tolist()] == whole.tolist()


def test_filter_and_registers() -> None:
    parser = open_device("software").feed_parser()
    parser.write_register("filter_write", 1 << 16 | 7)
    assert parser.read_register("filter_enable") == 0
    assert len(parser.push([packet(1, [7, 8])])) == 2  # filter off: all pass
    parser.write_register("filter_enable", 1)
    assert parser.push([packet(3, [7, 8, 7])])["stock_locate"].tolist() == [7, 7]
    assert parser.read_register("filtered") == 1
    assert parser.read_register("filter_write") == 0  # write-only reads 0
    with pytest.raises(DeviceError, match="read-only"):
        parser.write_register("packets", 1)
    with pytest.raises(KeyError):
        parser.read_register("nope")
    assert parser.regmap is FEED_REGS


def test_faults_counted_by_name() -> None:
    parser = open_device("software").feed_parser()
    bad = moldudp64.encode_packet("S1", 1, [b"Z" * 12])  # unknown type
    parser.push([bad, b"short", bad[:25], moldudp64.encode_packet("S1", 2) + b"xx"])
    counters = parser.counters()
    assert (counters["unknown_type"], counters["short_packet"], counters["truncated"],
            counters["trailing_bytes"], counters["heartbeats"]) == (1, 1, 1, 1, 1)
    assert counters["stalls"] == 0
