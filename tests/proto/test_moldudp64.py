from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanogate.proto.faults import Fault, FeedFault
from nanogate.proto.moldudp64 import (
    END_OF_SESSION_COUNT,
    MoldError,
    Packet,
    RetransmitRequest,
    decode_packet,
    encode_packet,
    frame_packet,
    packetize,
)


def header(session: bytes, seq: int, count: int) -> bytes:
    return session.ljust(10) + struct.pack(">QH", seq, count)


def test_downstream_packet_layout() -> None:
    raw = encode_packet("SESSION01", 1000, [b"abc", b"de"])
    assert raw == header(b"SESSION01", 1000, 2) + b"\x00\x03abc\x00\x02de"
    packet = decode_packet(raw)
    assert packet == Packet("SESSION01", 1000, (b"abc", b"de"))
    assert packet.next_sequence_number == 1002 and not packet.is_heartbeat


def test_heartbeat_and_end_of_session() -> None:
    heartbeat = decode_packet(header(b"S1", 77, 0))
    assert heartbeat.is_heartbeat and heartbeat.sequence_number == 77
    end = decode_packet(encode_packet("S1", 78, end_of_session=True))
    assert end.end_of_session and not end.is_heartbeat
    assert encode_packet("S1", 78, end_of_session=True)[-2:] == b"\xff\xff"
    with pytest.raises(MoldError):
        encode_packet("S1", 1, [b"x"], end_of_session=True)


def test_retransmission_request() -> None:
    raw = RetransmitRequest("ABC", 500, 20).encode()
    assert raw == header(b"ABC", 500, 20)
    assert RetransmitRequest.decode(raw) == RetransmitRequest("ABC", 500, 20)
    with pytest.raises(MoldError):
        RetransmitRequest("ABC", 1, 0).encode()
    with pytest.raises(FeedFault):
        RetransmitRequest.decode(raw + b"x")


@pytest.mark.parametrize(("raw", "fault", "kept"), [
    (header(b"S", 1, 2) + b"\x00\x03abc", Fault.TRUNCATED, 1),  # second message missing
    (header(b"S", 1, 2) + b"\x00\x03abc\x00", Fault.TRUNCATED, 1),  # prefix cut
    (header(b"S", 1, 1) + b"\x00\x05abc", Fault.TRUNCATED, 0),  # body cut
    (header(b"S", 1, 1) + b"\x00\x01a" + b"junk", Fault.TRAILING_BYTES, 1),
    (header(b"S", 1, END_OF_SESSION_COUNT) + b"x", Fault.TRAILING_BYTES, 0),
])
def test_malformed_packets_keep_what_frames(raw: bytes, fault: Fault, kept: int) -> None:
    framing = frame_packet(raw)
    assert framing.fault is fault and framing.detail
    assert len(framing.messages) == kept
    with pytest.raises(FeedFault) as caught:
        decode_packet(raw)
    assert caught.value.fault is fault


def test_short_datagram_is_a_short_packet() -> None:
    with pytest.raises(FeedFault) as caught:
        frame_packet(b"\x00" * 19)
    assert caught.value.fault is Fault.SHORT_PACKET


@given(st.lists(st.binary(min_size=1, max_size=60), max_size=40),
       st.integers(1, 2**63), st.integers(60, 1500))
def test_packetize_round_trip(messages: list[bytes], first: int, max_payload: int) -> None:
    packets = packetize("SESS", messages, first, max_payload=max_payload)
    seq = first
    out: list[bytes] = []
    for packet in packets:
        raw = packet.encode()
        assert len(raw) <= max_payload
        decoded = decode_packet(raw)
        assert decoded.sequence_number == seq
        seq += len(decoded.messages)
        out.extend(decoded.messages)
    assert out == messages


def test_packetize_refuses_a_message_that_cannot_fit() -> None:
    with pytest.raises(MoldError, match="cannot fit"):
        packetize("S", [b"x" * 100], max_payload=100)
