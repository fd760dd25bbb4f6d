"""The feed parser in the Amaranth simulator, record for record against the software model."""

from __future__ import annotations

import gc
import random
import struct

import numpy as np
import pytest

from nanogate.gateway.device.software_feed import SoftwareFeedParser
from nanogate.hw.feed.harness import FeedSim
from nanogate.hw.feed.parser import FeedParser
from nanogate.hw.feed.stimulus import (
    every_type_messages,
    messages_of,
    records_to_array,
    stream_of_packets,
)
from nanogate.proto import moldudp64
from nanogate.proto.faults import Fault
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, TIMING_COUNTERS
from nanogate.proto.itch import MESSAGES
from nanogate.proto.records import EventFlags

LATENCY = 3  # cycles from the beat with a message's last byte to its record


def hardware_counters(sim: FeedSim) -> dict[str, int]:
    return {name: sim.read_register(name) for name in COUNTER_NAMES
            if name not in TIMING_COUNTERS}


def software_counters(model: SoftwareFeedParser) -> dict[str, int]:
    return {k: v for k, v in model.counters().items() if k not in TIMING_COUNTERS}


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    for index, (a, b) in enumerate(zip(got.tolist(), want.tolist(), strict=False)):
        assert a == b, f"record {index}: hardware {a} != software {b}"
    assert len(got) == len(want)


def test_register_map_is_derived_from_the_fault_names() -> None:
    names = FEED_REGS.offsets()
    assert {f.label for f in Fault} <= set(names)
    assert names["filter_enable"] == 0 and names["filter_write"] == 4
    assert FEED_REGS.register("missing").width == 64
    assert "| `bad_length` | ro | 32 |" in FEED_REGS.markdown()


@pytest.mark.parametrize("seed", [1, 2])
def test_faulty_stream_with_backpressure_matches_software(seed: int) -> None:
    rng = random.Random(seed)
    messages = messages_of(200, seed) + every_type_messages(rng) * 2
    rng.shuffle(messages)
    payloads = stream_of_packets(rng, messages)
    model = SoftwareFeedParser()
    sim = FeedSim(gap_probability=0.25, ready_probability=0.6, seed=seed)
    half = len(payloads) // 2
    for part in (payloads[:half], payloads[half:]):  # state carries across pushes
        assert_same(records_to_array(sim.push(part).records), model.push(part))
    assert hardware_counters(sim) == software_counters(model)
    assert sim.read_register("stalls") > 0  # back-pressure was exercised


def test_every_fault_and_flag_is_counted_like_software() -> None:
    rng = random.Random(20)  # a seed whose stream hits every fault (checked below)
    payloads = stream_of_packets(rng, messages_of(300, 20))
    model = SoftwareFeedParser()
    want = model.push(payloads)
    sim = FeedSim()
    got = records_to_array(sim.push(payloads).records)
    assert_same(got, want)
    counters = hardware_counters(sim)
    assert counters == software_counters(model)
    for name in ("truncated", "unknown_type", "bad_length", "trailing_bytes", "short_packet",
                 "gaps", "duplicates", "heartbeats", "end_of_session"):
        assert counters[name] > 0, f"the stimulus never hit {name}"
    assert {int(EventFlags.GAP), int(EventFlags.DUPLICATE)} <= set(got["flags"].tolist())


def test_every_type_at_every_start_lane() -> None:
    rng = random.Random(5)
    # a filler of 12..19 bytes before each message moves it through the 8 lanes
    payloads = []
    sequence = 1
    for spec_type in MESSAGES:
        for pad in range(8):
            filler = b"S" + rng.randbytes(11)
            extra = bytes(pad)  # trailing zero bytes of a longer S are a bad length
            message = bytes([ord(spec_type)]) + rng.randbytes(MESSAGES[spec_type].length - 1)
            blocks = [filler, filler + extra if pad else filler, message]
            payloads.append(moldudp64.encode_packet("LANES", sequence, blocks))
            sequence += len(blocks)
    model = SoftwareFeedParser()
    sim = FeedSim()
    got = records_to_array(sim.push(payloads).records)
    assert_same(got, model.push(payloads))
    assert set(got["msg_type"].tolist()) == {t.encode() for t in MESSAGES}


def test_full_rate_no_bubbles_and_fixed_latency() -> None:
    messages = messages_of(300, 4)
    payloads = moldudp64.packetize("RATE", messages, max_payload=400)
    encoded = [p.encode() for p in payloads]
    sim = FeedSim()
    trace = sim.push(encoded)
    beats = trace.beat_cycles
    assert beats == list(range(beats[0], beats[0] + len(beats))), "a bubble in the input"
    # each record's last byte: find the beat of every message end
    ends = []
    beat_base = 0
    for payload in encoded:
        position = moldudp64.HEADER_LENGTH
        while position < len(payload):
            (length,) = struct.unpack_from(">H", payload, position)
            position += 2 + length
            ends.append(beat_base + (position - 1) // 8)
        beat_base += (len(payload) + 7) // 8
    assert len(ends) == len(trace.records) == len(messages)
    latencies = {record - beats[end] for record, end in zip(trace.record_cycles, ends,
                                                            strict=True)}
    assert latencies == {LATENCY}
    assert sum(map(len, encoded)) / len(beats) > 7.9  # bytes per cycle


def test_filter_passes_only_marked_locates_through_registers() -> None:
    payloads = [p.encode() for p in moldudp64.packetize("FILT", messages_of(120, 9))]
    sim = FeedSim(filter_depth=16)
    model = SoftwareFeedParser()
    for device in (sim, model):
        for locate in (2, 5):
            device.write_register("filter_write", 1 << 16 | locate)
        device.write_register("filter_write", 0 << 16 | 5)  # and unmark 5 again
        device.write_register("filter_enable", 1)
    got = records_to_array(sim.push(payloads).records)
    assert_same(got, model.push(payloads))
    assert set(got["stock_locate"].tolist()) == {2}
    assert sim.read_register("filtered") == model.read_register("filtered") > 0
    assert sim.read_register("filter_enable") == 1


@pytest.mark.parametrize("data_bytes", [
    4,  # 32 bits: the header ends on a beat boundary, the first prefix starts a beat
    16,  # 128 bits
    pytest.param(64, marks=pytest.mark.slow),  # 512 bits: several block ends per beat
])
def test_other_widths_match_software(data_bytes: int) -> None:
    rng = random.Random(data_bytes)
    messages = messages_of(80, data_bytes) + every_type_messages(rng)
    rng.shuffle(messages)
    payloads = stream_of_packets(rng, messages)
    model = SoftwareFeedParser()
    sim = FeedSim(data_bytes, filter_depth=16, gap_probability=0.2, ready_probability=0.6,
                  seed=data_bytes)
    assert_same(records_to_array(sim.push(payloads).records), model.push(payloads))
    assert hardware_counters(sim) == software_counters(model)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameters_are_checked() -> None:
    for data_bytes in (1, 6, 128):
        with pytest.raises(ValueError, match="data_bytes must be a power of two from 2 to 64"):
            FeedParser(data_bytes=data_bytes)
    with pytest.raises(ValueError, match="filter_depth"):
        FeedParser(filter_depth=0)
    gc.collect()  # the refused designs warn when collected: here, under this test's filter
