from __future__ import annotations

import pytest

from nanogate.proto import soupbintcp
from nanogate.proto.soupbintcp import (
    Decoder,
    LoginAccepted,
    LoginRequest,
    Packet,
    PacketType,
    RejectReason,
    SoupError,
)


def test_login_request_layout() -> None:
    raw = soupbintcp.login_request(LoginRequest("MM01", "secret", "", 42))
    assert raw[:3] == b"\x00\x2fL"  # 46 bytes of payload + the type byte
    payload = raw[3:]
    assert payload[:6] == b"MM01  " and payload[6:16] == b"secret    "
    assert payload[16:26] == b" " * 10 and payload[26:] == b"42".rjust(20)
    assert soupbintcp.parse_login_request(payload) == LoginRequest("MM01", "secret", "", 42)


def test_login_accepted_and_rejected_round_trip() -> None:
    raw = soupbintcp.login_accepted(LoginAccepted("NGVENUE", 1001))
    (packet,) = Decoder().feed(raw)
    assert soupbintcp.parse_login_accepted(packet.payload) == LoginAccepted("NGVENUE", 1001)
    (packet,) = Decoder().feed(soupbintcp.login_rejected(RejectReason.NOT_AUTHORIZED))
    assert soupbintcp.parse_login_rejected(packet.payload) is RejectReason.NOT_AUTHORIZED
    with pytest.raises(SoupError):
        soupbintcp.parse_login_rejected(b"Q")


def test_partial_frames_byte_by_byte() -> None:
    stream = (soupbintcp.sequenced(b"hello") + soupbintcp.SERVER_HEARTBEAT
              + soupbintcp.unsequenced(b"") + soupbintcp.END_OF_SESSION)
    decoder = Decoder()
    packets: list[Packet] = []
    for i in range(len(stream)):
        packets += decoder.feed(stream[i:i + 1])
    assert packets == [Packet(PacketType.SEQUENCED_DATA, b"hello"),
                       Packet(PacketType.SERVER_HEARTBEAT),
                       Packet(PacketType.UNSEQUENCED_DATA, b""),
                       Packet(PacketType.END_OF_SESSION)]
    assert decoder.buffered == 0
    assert Decoder().feed(stream) == packets  # and all at once


def test_incomplete_packet_is_kept() -> None:
    decoder = Decoder()
    raw = soupbintcp.sequenced(b"abcdef")
    assert decoder.feed(raw[:-2]) == []
    assert decoder.buffered == len(raw) - 2
    assert decoder.feed(raw[-2:]) == [Packet(PacketType.SEQUENCED_DATA, b"abcdef")]


@pytest.mark.parametrize(("raw", "fault"), [
    (b"\x00\x00S", "bad_length"),  # the length must count the type byte
    (b"\x00\x02H\x00", "bad_length"),  # a heartbeat has no payload
    (b"\x00\x05Lxxxx", "bad_length"),  # a login request is 46 bytes
    (b"\xff\xffS", "bad_length"),  # longer than MAX_PAYLOAD
    (b"\x00\x01?", "unknown_type"),
])
def test_bad_frames_fail_the_decoder(raw: bytes, fault: str) -> None:
    decoder = Decoder()
    with pytest.raises(SoupError) as error:
        decoder.feed(soupbintcp.SERVER_HEARTBEAT + raw)
    assert error.value.fault == fault
    with pytest.raises(SoupError):  # no resynchronisation after a framing error
        decoder.feed(soupbintcp.SERVER_HEARTBEAT)


def test_bad_fields_are_clear_errors() -> None:
    with pytest.raises(SoupError, match="username"):
        soupbintcp.login_request(LoginRequest("TOOLONGNAME", "pw"))
    with pytest.raises(SoupError, match="does not fit"):
        soupbintcp.login_request(LoginRequest("U", "pw", "", 10 ** 21))
    payload = soupbintcp.login_request(LoginRequest("U", "pw", "", 5))[3:]
    with pytest.raises(SoupError, match="not a number"):
        soupbintcp.parse_login_request(payload[:-1] + b"x")
    with pytest.raises(SoupError, match="payload is 0 bytes"):
        soupbintcp.encode(PacketType.SERVER_HEARTBEAT, b"x")


def test_every_packet_byte_for_byte() -> None:
    # Written out by hand: 2-byte big-endian length (type byte + payload), type, payload.
    login = (b"\x00\x2f" b"L"                  # length 47, Login Request
             b"MM01  "                          # 3  username (6)
             b"secret    "                      # 9  password (10)
             b"          "                      # 19 requested session (10): blank = current
             b"                  42")           # 29 requested sequence number (20 ASCII)
    assert soupbintcp.login_request(LoginRequest("MM01", "secret", "", 42)) == login
    accepted = (b"\x00\x1f" b"A"               # length 31, Login Accepted
                b"NGVENUE   "                   # 3  session (10)
                b"                1001")        # 13 sequence number (20 ASCII)
    assert soupbintcp.login_accepted(LoginAccepted("NGVENUE", 1001)) == accepted
    assert soupbintcp.login_rejected(RejectReason.NOT_AUTHORIZED) == b"\x00\x02JA"
    assert soupbintcp.login_rejected(RejectReason.SESSION_UNAVAILABLE) == b"\x00\x02JS"
    assert soupbintcp.sequenced(b"abc") == b"\x00\x04Sabc"
    assert soupbintcp.unsequenced(b"abc") == b"\x00\x04Uabc"
    assert (soupbintcp.SERVER_HEARTBEAT, soupbintcp.CLIENT_HEARTBEAT,
            soupbintcp.END_OF_SESSION, soupbintcp.LOGOUT_REQUEST) == (
        b"\x00\x01H", b"\x00\x01R", b"\x00\x01Z", b"\x00\x01O")
    assert soupbintcp.encode(PacketType.DEBUG, b"hi") == b"\x00\x03+hi"
