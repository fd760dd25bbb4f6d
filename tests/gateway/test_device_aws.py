"""The aws backend against temporary files mapped in place of the PCI BARs: each register
access must land at the offset the register map gives, each stream beat in its window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanogate.gateway.device import DeviceError, aws
from nanogate.gateway.device.pynq import scenario_payloads
from nanogate.gateway.device.software_feed import SoftwareFeedParser
from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.proto import aws_map
from nanogate.proto.feed_regs import FEED_REGS
from nanogate.proto.records import BOOK_EVENT, BOOK_EVENT_DTYPE
from nanogate.proto.risk import DECISION, DECISION_DTYPE, ORDER, ORDER_DTYPE, RISK_REGMAP

from .aws_bars import OCL_SIZE, FakeBars


@pytest.fixture
def bars(tmp_path: Path) -> FakeBars:
    return FakeBars(tmp_path)


def test_feed_registers_land_at_the_map_offsets(bars: FakeBars) -> None:
    parser = aws.AwsFeedParser(**bars.options(), timeout_s=0.05)
    parser.write_register("filter_enable", 1)
    parser.write_register("filter_write", 1 << 16 | 0x1234)
    parser.close()
    assert bars.peek(aws.OCL_FEED_BASE + FEED_REGS.offset("filter_enable")) == 1
    assert bars.peek(aws.OCL_FEED_BASE + FEED_REGS.offset("filter_write")) == 0x11234
    written = {aws.OCL_FEED_BASE + FEED_REGS.offset(n) for n in ("filter_enable", "filter_write")}
    for offset in range(0, 0x1000, 4):  # nothing else was touched
        if offset not in written:
            assert bars.peek(offset) == 0, hex(offset)


def test_wide_registers_are_two_words_low_first(bars: FakeBars) -> None:
    missing = aws.OCL_FEED_BASE + FEED_REGS.offset("missing")
    bars.poke(missing, 0x89ABCDEF)
    bars.poke(missing + 4, 0x01234567)
    parser = aws.AwsFeedParser(**bars.options())
    assert parser.read_register("missing") == 0x0123456789ABCDEF
    assert parser.counters()["missing"] == 0x0123456789ABCDEF
    risk = aws.AwsRiskEngine(**bars.options())
    risk.write_register("inst_max_notional", 0x1122334455667788)
    base = aws.OCL_RISK_BASE + RISK_REGMAP.offset("inst_max_notional")
    assert (bars.peek(base), bars.peek(base + 4)) == (0x55667788, 0x11223344)


def test_push_writes_packets_and_reads_records(bars: FakeBars) -> None:
    payloads = scenario_payloads()[:2]
    expected = SoftwareFeedParser().push(payloads)
    parser = aws.AwsFeedParser(**bars.options(), timeout_s=0.5)
    # stand in for the hardware: two packets taken, the records waiting in the window
    bars.poke(aws.OCL_FEED_BASE + FEED_REGS.offset("packets"), 2)
    bars.platform("records_ready", len(expected))
    bars.put_beats(aws.RECORD_WINDOW, aws.records_to_beats(BOOK_EVENT, expected))
    got = parser.push(payloads)
    np.testing.assert_array_equal(got, expected)
    window = bars.pcis.read_bytes()
    first = aws.packet_beats(payloads[0])
    assert window[:len(first)] == first
    assert int.from_bytes(first[:4], "little") == len(payloads[0])
    second = aws.packet_beats(payloads[1])
    assert window[len(first):len(first) + len(second)] == second


def test_push_times_out_when_the_device_takes_nothing(bars: FakeBars) -> None:
    parser = aws.AwsFeedParser(**bars.options(), timeout_s=0.01)
    with pytest.raises(DeviceError, match="packets did not reach 1"):
        parser.push([b"x" * 30])


def test_submit_streams_orders_and_reads_decisions(bars: FakeBars) -> None:
    orders = np.zeros(3, dtype=ORDER_DTYPE)
    orders["client_order_id"] = [7, 8, 9]
    orders["quantity"] = 100
    decisions = SoftwareRiskEngine().submit(orders)
    risk = aws.AwsRiskEngine(**bars.options(), timeout_s=0.5)
    bars.poke(aws.OCL_RISK_BASE + RISK_REGMAP.offset("orders"), 3)
    bars.platform("decisions_ready", 3)
    bars.put_beats(aws.DECISION_WINDOW, aws.records_to_beats(DECISION, decisions))
    got = risk.submit(orders)
    np.testing.assert_array_equal(got, decisions)
    beats = bars.pcis.read_bytes()[aws.ORDER_WINDOW:aws.ORDER_WINDOW + 3 * aws.BEAT_BYTES]
    assert beats == aws.records_to_beats(ORDER, orders)
    assert int.from_bytes(beats[64:72], "little") == 8  # client_order_id at bit 0
    assert set(risk.counters()) >= {"orders", "accepted", "rejected"}


def test_beats_round_trip_the_model_records() -> None:
    records = SoftwareFeedParser().push(scenario_payloads())
    data = aws.records_to_beats(BOOK_EVENT, records)
    assert len(data) == 64 * len(records)
    np.testing.assert_array_equal(aws.beats_to_records(BOOK_EVENT, BOOK_EVENT_DTYPE, data),
                                  records)
    decisions = np.zeros(1, dtype=DECISION_DTYPE)
    with pytest.raises(DeviceError, match="whole 64-byte beats"):
        aws.beats_to_records(DECISION, DECISION_DTYPE, b"x" * 10)
    decisions["cycle"] = 1
    assert aws.records_to_beats(DECISION, decisions)[8:16] == (2 << 15).to_bytes(8, "little")


def test_bad_register_access(bars: FakeBars) -> None:
    parser = aws.AwsFeedParser(**bars.options())
    with pytest.raises(DeviceError, match="read-only"):
        parser.write_register("packets", 1)
    with pytest.raises(DeviceError, match="does not fit 1 bits"):
        parser.write_register("filter_enable", 2)
    with pytest.raises(KeyError):
        parser.read_register("nope")
    with pytest.raises(DeviceError, match="outside"):
        parser.ocl.read32(OCL_SIZE)
    with pytest.raises(DeviceError, match="does not fit the packet window"):
        parser.push([bytes(aws.WINDOW_BYTES)])


def test_open_errors(bars: FakeBars, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="needs bdf="):
        aws.AwsFeedParser()
    with pytest.raises(DeviceError, match="unknown aws backend options"):
        aws.AwsFeedParser(**bars.options(), nope=0)
    with pytest.raises(DeviceError, match="cannot open"):
        aws.AwsFeedParser(ocl=str(tmp_path / "none"), pcis=str(bars.pcis))
    with pytest.raises(DeviceError, match=r"cannot open .*/sys/bus/pci/devices/0000:99:00\.0"):
        aws.AwsFeedParser(bdf="0000:99:00.0")
    empty = tmp_path / "empty"
    empty.touch()
    with pytest.raises(DeviceError, match="empty"):
        aws.AwsFeedParser(ocl=str(empty), pcis=str(bars.pcis))
    bars.platform("platform_id", 0xDEADBEEF)
    with pytest.raises(DeviceError, match="is the nanogate AGFI loaded"):
        aws.AwsFeedParser(**bars.options())


def test_packet_framing_is_the_one_proto_aws_map_defines() -> None:
    payload = b"\x01" * 70
    frame = aws.packet_beats(payload)
    assert frame == aws_map.packet_frame(payload)
    assert len(frame) == 3 * aws.BEAT_BYTES
    assert frame[:8] == (70).to_bytes(4, "little") + b"NGPK"
    assert frame[8:64] == bytes(56) and frame[64:134] == payload and frame[134:] == bytes(58)
    with pytest.raises(DeviceError, match="does not fit"):
        aws.packet_beats(b"")
    assert len(aws.packet_beats(bytes(aws_map.MAX_PACKET_BYTES))) == aws_map.WINDOW_BYTES


def test_records_are_read_from_the_ring_slots_wrapping_and_then_popped(
        bars: FakeBars) -> None:
    bars.platform("records_ready", 2)  # left over from an earlier user: freed at open
    parser = aws.AwsFeedParser(**bars.options(), timeout_s=0.5)
    pop = aws.OCL_PLATFORM_BASE + aws.PLATFORM_REGS.offset("records_pop")
    assert bars.peek(pop) == 2
    payloads = scenario_payloads()[:1]
    expected = SoftwareFeedParser().push(payloads)[:3]
    last = aws.RING_RECORDS - 2
    bars.poke(aws.OCL_FEED_BASE + FEED_REGS.offset("packets"), 1)
    bars.platform("records_ready", 3)
    bars.platform("records_tail", last)
    data = aws.records_to_beats(BOOK_EVENT, expected)
    bars.put_beats(aws.RECORD_WINDOW + last * aws.BEAT_BYTES, data[:128])
    bars.put_beats(aws.RECORD_WINDOW, data[128:])
    np.testing.assert_array_equal(parser.push(payloads), expected)
    assert bars.peek(pop) == 3


def test_the_records_bound_holds_for_the_model() -> None:
    model = SoftwareFeedParser()
    for payload in scenario_payloads():
        assert len(model.push([payload])) <= aws_map.records_bound(len(payload))
    assert aws_map.records_bound(20 + 13 * 5) == 6  # five smallest blocks, and one spare
