"""The fast and the reference decoders, against the sample, captures and broken input."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanogate.gateway.feed import fast, reference
from nanogate.gateway.feed.capture import Datagram, udp_frame, write_datagrams
from nanogate.gateway.feed.source import FeedFormatError, open_feed
from nanogate.proto import binaryfile, moldudp64
from nanogate.proto.faults import Fault
from nanogate.proto.itch import MESSAGES, encode_message
from nanogate.proto.records import EventFlags

TMP_PATH_OK = HealthCheck.function_scoped_fixture  # each example overwrites its file
LINE_A = (("127.0.0.1", 40000), ("239.1.1.1", 5001))

SAMPLE_TYPES = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745,
                "U": 12, "P": 5000}


def add_order(ref: int, locate: int = 1) -> bytes:
    return encode_message({"type": "A", "stock_locate": locate, "tracking_number": 0,
                           "timestamp": 1000 + ref, "order_reference_number": ref,
                           "buy_sell_indicator": "B", "shares": 100, "stock": "TEST",
                           "price": 10_000})


def write_capture(path: Path, payloads: list[bytes]) -> Path:
    write_datagrams(path, [Datagram(1.0 + i * 1e-6, *LINE_A, p) for i, p in enumerate(payloads)])
    return path


def both(path: Path) -> tuple[fast.DecodedFeed, np.ndarray, reference.ReferenceDecoder]:
    """Decode with both decoders and insist they agree on everything."""
    feed = open_feed(path)
    quick = fast.decode(feed)
    events, ref = reference.book_events(feed)
    assert quick.events.tolist() == events.tolist()
    assert quick.faults == ref.faults
    assert (quick.gaps, quick.missing, quick.duplicates) == (ref.gaps, ref.missing, ref.duplicates)
    assert (quick.heartbeats, quick.end_of_session) == (ref.heartbeats, ref.end_of_session)
    return quick, events, ref


def test_sample_file_decodes_every_message(sample_path: Path) -> None:
    feed = open_feed(sample_path)
    assert feed.format == "binaryfile" and feed.zero_length_prefixes
    assert any("length prefix is 0" in note for note in feed.notes())
    quick, events, _ = both(sample_path)
    assert len(events) == 12_012 and not quick.faults
    assert Counter(events["msg_type"].tobytes().decode()) == SAMPLE_TYPES
    assert events["seq"].tolist() == list(range(1, 12_013))
    assert set(events["stock"][events["msg_type"] == b"R"].tolist()) == {
        b"ALC     ", b"BOB     ", b"CHAR    "}


def test_sample_reframed_as_moldudp64_pcap_gives_the_same_events(
        sample_path: Path, tmp_path: Path) -> None:
    data = sample_path.read_bytes()
    messages = [data[o:o + n] for o, n in binaryfile.frame(data).messages]
    packets = moldudp64.packetize("NGSESSION", messages, first_sequence=1)
    payloads = [p.encode() for p in packets] + [
        moldudp64.encode_packet("NGSESSION", len(messages) + 1, end_of_session=True)]
    capture = write_capture(tmp_path / "sample.pcap", payloads)
    quick, _, _ = both(capture)
    direct = fast.decode(open_feed(sample_path))
    assert quick.events.tolist() == direct.events.tolist()
    assert quick.datagrams == len(payloads) and quick.end_of_session == 1
    assert quick.sessions == ["NGSESSION"]


def test_pcapng_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"  # the name says nothing: content decides
    with open(path, "wb") as handle:
        writer = dpkt.pcapng.Writer(handle)
        payload = moldudp64.encode_packet("S", 5, [add_order(1), add_order(2)])
        writer.writepkt(udp_frame(payload, *LINE_A), ts=1.0)
    feed = open_feed(path)
    assert feed.format == "pcapng"
    quick, _, _ = both(path)
    assert quick.events["seq"].tolist() == [5, 6]
    assert quick.events["order_ref"].tolist() == [1, 2]


def test_non_udp_frames_are_counted_not_fatal(tmp_path: Path) -> None:
    good = udp_frame(moldudp64.encode_packet("S", 1, [add_order(1)]), *LINE_A)
    arp = bytes(dpkt.ethernet.Ethernet(type=dpkt.ethernet.ETH_TYPE_ARP, data=b"\x00" * 28))
    tcp_ip = dpkt.ip.IP(src=b"\x7f\x00\x00\x01", dst=b"\x7f\x00\x00\x01", p=6,
                        data=dpkt.tcp.TCP(sport=1, dport=2))
    tcp = bytes(dpkt.ethernet.Ethernet(type=dpkt.ethernet.ETH_TYPE_IP, data=tcp_ip))
    fragment = bytearray(good)
    fragment[14 + 6] |= 0x20  # more-fragments bit
    cut = good[:-5]  # snap length shorter than the datagram
    path = tmp_path / "mixed.pcap"
    with open(path, "wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for i, frame in enumerate([arp, good, tcp, bytes(fragment), cut]):
            writer.writepkt(frame, ts=float(i))
    feed = open_feed(path)
    assert feed.capture is not None
    assert feed.capture.frames == 5 and feed.capture.datagrams == 1
    assert feed.capture.skipped == Counter({
        "not IPv4": 1, "not UDP": 1, "IPv4 fragment": 1,
        "UDP datagram cut short (snap length or bad length)": 1})
    assert len(feed.notes()) == 4
    quick, _, _ = both(path)
    assert len(quick.events) == 1


def test_gaps_duplicates_heartbeats_and_sessions(tmp_path: Path) -> None:
    p = moldudp64.encode_packet
    payloads = [
        p("S1", 1, [add_order(1), add_order(2)]),
        p("S1", 1, [add_order(1), add_order(2)]),  # line B's copy: duplicates
        p("S1", 5, [add_order(5)]),  # 3 and 4 missing: one gap
        p("S1", 6),  # heartbeat, in sequence
        p("S1", 9),  # heartbeat announcing 6..8 were missed: second gap
        p("S2", 1, [add_order(1)]),  # a new session starts again at 1: no duplicate
        p("S2", 2, end_of_session=True),
    ]
    quick, _, _ = both(write_capture(tmp_path / "g.pcap", payloads))
    assert quick.events["flags"].tolist() == [0, 0, EventFlags.DUPLICATE, EventFlags.DUPLICATE,
                                              EventFlags.GAP, 0]
    assert (quick.gaps, quick.missing, quick.duplicates) == (2, 5, 2)
    assert (quick.heartbeats, quick.end_of_session) == (2, 1)
    assert quick.sessions == ["S1", "S2"]


def test_every_fault_is_counted_and_later_packets_still_decode(tmp_path: Path) -> None:
    p = moldudp64.encode_packet
    head = moldudp64.HEADER.pack
    payloads = [
        b"short",  # SHORT_PACKET
        p("S", 1, [add_order(1), b"?" + bytes(20), add_order(3)]),  # UNKNOWN_TYPE in the middle
        p("S", 4, [add_order(4)[:-1], add_order(5)]),  # BAD_LENGTH (35-byte add order)
        p("S", 6, [add_order(6)]) + b"xx",  # TRAILING_BYTES
        head({"session": "S", "sequence_number": 7, "message_count": 3})
        + struct.pack(">H", 36) + add_order(7),  # TRUNCATED: 2 of 3 messages missing
        p("S", 8, [b""]),  # zero-length message: BAD_LENGTH
        p("S", 9, end_of_session=True) + b"!",  # TRAILING_BYTES after end of session
        p("S", 9, [add_order(9)]),
    ]
    quick, _, ref = both(write_capture(tmp_path / "bad.pcap", payloads))
    assert quick.faults == Counter({Fault.SHORT_PACKET: 1, Fault.UNKNOWN_TYPE: 1,
                                    Fault.BAD_LENGTH: 2, Fault.TRAILING_BYTES: 2,
                                    Fault.TRUNCATED: 1})
    assert quick.events["order_ref"].tolist() == [1, 3, 5, 6, 7, 9]
    assert len(quick.examples) == 7 and len(ref.fault_details) == 7
    assert all(e.detail for e in quick.examples)


def test_binaryfile_faults_agree(tmp_path: Path) -> None:
    data = (binaryfile.encode([add_order(1), b"?" * 12, add_order(2)[:-2], add_order(3)])
            + b"\x00\x24" + add_order(4)[:10])
    path = tmp_path / "bad.itch"
    path.write_bytes(data)
    quick, _, _ = both(path)
    assert quick.faults == Counter({Fault.UNKNOWN_TYPE: 1, Fault.BAD_LENGTH: 1,
                                    Fault.TRUNCATED: 1})
    # Every block takes a sequence number, decodable or not.
    assert quick.events["seq"].tolist() == [1, 4]


def _valid_message(type_char: str, ref: int) -> bytes:
    values: dict[str, int | str] = {"type": type_char}
    for f in MESSAGES[type_char].wire.fields[1:]:
        values[f.name] = "A" if f.kind.value == "alpha" else (ref * 7919 + f.offset) % (
            f.max_value + 1)
    return encode_message(values)


@st.composite
def mangled_capture(draw: st.DrawFn) -> list[bytes]:
    types = st.sampled_from(list(MESSAGES))
    payloads = []
    seq = draw(st.integers(1, 1000))
    for _ in range(draw(st.integers(1, 8))):
        count = draw(st.integers(0, 6))
        messages = [_valid_message(draw(types), seq + i) for i in range(count)]
        raw = bytearray(moldudp64.encode_packet(draw(st.sampled_from(["A", "B"])), seq, messages))
        for _ in range(draw(st.integers(0, 2))):  # corrupt a byte, cut, or append junk
            action = draw(st.integers(0, 2))
            if action == 0 and raw:
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
            elif action == 1:
                raw = raw[:draw(st.integers(0, len(raw)))]
            else:
                raw += draw(st.binary(max_size=5))
        payloads.append(bytes(raw))
        seq += draw(st.integers(-3, count + 3))
        seq = max(seq, 0)
    return payloads


@given(mangled_capture())
@settings(max_examples=60, deadline=None, suppress_health_check=[TMP_PATH_OK])
def test_decoders_agree_on_mangled_captures(tmp_path: Path, payloads: list[bytes]) -> None:
    path = write_capture(tmp_path / "fuzz.pcap", payloads)
    both(path)


@given(st.binary(min_size=3, max_size=400))
@settings(max_examples=100, deadline=None, suppress_health_check=[TMP_PATH_OK])
def test_decoders_agree_on_arbitrary_binaryfiles(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.itch"
    path.write_bytes(data)
    try:
        open_feed(path)
    except FeedFormatError:
        return
    both(path)


def test_unrecognised_files_get_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"hello world, not a feed")
    with pytest.raises(FeedFormatError, match=r"not a pcap, pcapng or ITCH 5\.0 BinaryFILE"):
        open_feed(junk)
    empty = tmp_path / "empty.itch"
    empty.write_bytes(b"")
    with pytest.raises(FeedFormatError, match="empty"):
        open_feed(empty)
    with pytest.raises(FeedFormatError, match="No such file"):
        open_feed(tmp_path / "missing.itch")
    broken = tmp_path / "broken.pcap"
    broken.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 6)  # pcap magic, header cut
    with pytest.raises(FeedFormatError, match="unreadable pcap header"):
        open_feed(broken)


@pytest.mark.parametrize(("cut", "reason"), [
    (10, "UDP datagram cut short (snap length or bad length)"),  # inside the last frame
    (14 + 20 + 8 + 56 + 6, "capture file ends inside a record"),  # inside its record header
])
def test_capture_cut_short_keeps_earlier_packets(tmp_path: Path, cut: int, reason: str) -> None:
    path = write_capture(tmp_path / "cut.pcap", [
        moldudp64.encode_packet("S", 1, [add_order(1)]),
        moldudp64.encode_packet("S", 2, [add_order(2)])])
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    feed = open_feed(path)
    assert feed.capture is not None
    assert feed.capture.skipped == Counter({reason: 1})
    assert fast.decode(feed).events["order_ref"].tolist() == [1]


@given(mangled_capture(), st.lists(st.integers(1, 4), min_size=1, max_size=8))
@settings(max_examples=60, deadline=None, suppress_health_check=[TMP_PATH_OK])
def test_stream_decoder_equals_whole_file_decode(tmp_path: Path, payloads: list[bytes],
                                                 bursts: list[int]) -> None:
    whole = fast.decode(open_feed(write_capture(tmp_path / "s.pcap", payloads)))
    stream = fast.StreamDecoder()
    events: list[object] = []
    position, index = 0, 0
    while position < len(payloads):  # random burst sizes: state must carry across pushes
        size = bursts[index % len(bursts)]
        events.extend(stream.push_copy(payloads[position:position + size]).tolist())
        position, index = position + size, index + 1
    assert events == whole.events.tolist()
    assert {f: int(stream.stats[f]) for f in Fault if stream.stats[f]} == \
        {f: n for f, n in whole.faults.items() if n}
    assert int(stream.missing[0]) == whole.missing
    assert (int(stream.stats[8]), int(stream.stats[10])) == (whole.gaps, whole.duplicates)
