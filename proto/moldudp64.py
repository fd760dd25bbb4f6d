"""MoldUDP64: downstream packets, heartbeats, end of session, retransmission requests.

A downstream packet is a 20-byte header (session, sequence number of the
first message, message count) followed by ``count`` blocks of
``[u16 length][message]``. Count 0 is a heartbeat (the sequence number is the
next one expected), count 0xFFFF ends the session. A retransmission request
is the same 20-byte header with the count of messages wanted, sent unicast
to the rewinder.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from nanogate.proto.faults import Fault, FeedFault
from nanogate.proto.wire import Kind, WireError, build_struct

HEADER = build_struct("MoldUDP64 header", (
    ("session", 10, Kind.ALPHA),
    ("sequence_number", 8, Kind.INTEGER),
    ("message_count", 2, Kind.INTEGER),
))
REQUEST = build_struct("MoldUDP64 request", (
    ("session", 10, Kind.ALPHA),
    ("sequence_number", 8, Kind.INTEGER),
    ("requested_message_count", 2, Kind.INTEGER),
))
HEADER_LENGTH = HEADER.length  # 20
HEARTBEAT_COUNT = 0
END_OF_SESSION_COUNT = 0xFFFF
MAX_MESSAGES = 0xFFFE
_BLOCK_LENGTH = struct.Struct(">H")


class MoldError(WireError):
    """A packet or request that cannot be encoded."""


@dataclass(frozen=True)
class Packet:
    session: str
    sequence_number: int
    messages: tuple[bytes, ...] = ()
    end_of_session: bool = False

    @property
    def is_heartbeat(self) -> bool:
        return not self.messages and not self.end_of_session

    @property
    def next_sequence_number(self) -> int:
        return self.sequence_number + len(self.messages)

    def encode(self) -> bytes:
        return encode_packet(self.session, self.sequence_number, self.messages,
                             end_of_session=self.end_of_session)


def encode_packet(session: str, sequence_number: int, messages: Sequence[bytes] = (),
                  *, end_of_session: bool = False) -> bytes:
    if end_of_session and messages:
        raise MoldError("an end-of-session packet carries no messages")
    if len(messages) > MAX_MESSAGES:
        raise MoldError(f"{len(messages)} messages exceed the {MAX_MESSAGES} a packet can count")
    count = END_OF_SESSION_COUNT if end_of_session else len(messages)
    parts = [HEADER.pack({"session": session, "sequence_number": sequence_number,
                          "message_count": count})]
    for message in messages:
        if len(message) > 0xFFFF:
            raise MoldError(f"message of {len(message)} bytes exceeds a u16 length")
        parts.append(_BLOCK_LENGTH.pack(len(message)))
        parts.append(bytes(message))
    return b"".join(parts)


@dataclass
class PacketFraming:
    """What a lenient read of one packet found: header, message blocks, and the fault, if any.

    Messages framed before a fault are kept, and each block counts for one
    sequence number, as a receiver that applies what it can must do.
    """

    session: str
    sequence_number: int
    message_count: int  # as announced; 0 heartbeat, 0xFFFF end of session
    messages: list[tuple[int, int]]  # (offset, length) in the payload
    fault: Fault | None = None
    detail: str = ""

    @property
    def end_of_session(self) -> bool:
        return self.message_count == END_OF_SESSION_COUNT


def frame_packet(payload: bytes | bytearray | memoryview) -> PacketFraming:
    """Frame a downstream packet. Raises :class:`FeedFault` only for a short header."""
    if len(payload) < HEADER_LENGTH:
        raise FeedFault(Fault.SHORT_PACKET, f"datagram of {len(payload)} bytes is shorter "
                        f"than the {HEADER_LENGTH}-byte MoldUDP64 header")
    header = HEADER.unpack(payload)
    result = PacketFraming(str(header["session"]), int(header["sequence_number"]),
                           int(header["message_count"]), [])
    count = 0 if result.end_of_session else result.message_count
    position = HEADER_LENGTH
    for index in range(count):
        if position + 2 > len(payload):
            result.fault, result.detail = Fault.TRUNCATED, (
                f"message {index + 1} of {count} missing: payload ends at byte {len(payload)}")
            return result
        (length,) = _BLOCK_LENGTH.unpack_from(payload, position)
        if position + 2 + length > len(payload):
            result.fault, result.detail = Fault.TRUNCATED, (
                f"message {index + 1} of {count} announces {length} bytes, "
                f"{len(payload) - position - 2} left")
            return result
        result.messages.append((position + 2, length))
        position += 2 + length
    if position != len(payload):
        result.fault, result.detail = Fault.TRAILING_BYTES, (
            f"{len(payload) - position} bytes after the {count} announced messages")
    return result


def decode_packet(payload: bytes | bytearray | memoryview) -> Packet:
    """Decode a downstream packet strictly: any fault raises :class:`FeedFault`."""
    framing = frame_packet(payload)
    if framing.fault is not None:
        raise FeedFault(framing.fault, f"packet {framing.sequence_number}: {framing.detail}")
    messages = tuple(bytes(payload[o:o + n]) for o, n in framing.messages)
    return Packet(framing.session, framing.sequence_number, messages,
                  end_of_session=framing.end_of_session)


@dataclass(frozen=True)
class RetransmitRequest:
    session: str
    sequence_number: int
    count: int

    def encode(self) -> bytes:
        if not 1 <= self.count <= MAX_MESSAGES:
            raise MoldError(f"request count {self.count} outside 1..{MAX_MESSAGES}")
        return REQUEST.pack({"session": self.session, "sequence_number": self.sequence_number,
                             "requested_message_count": self.count})

    @classmethod
    def decode(cls, payload: bytes | bytearray | memoryview) -> RetransmitRequest:
        if len(payload) != REQUEST.length:
            raise FeedFault(Fault.BAD_LENGTH,
                            f"request of {len(payload)} bytes, expected {REQUEST.length}")
        fields = REQUEST.unpack(payload)
        return cls(str(fields["session"]), int(fields["sequence_number"]),
                   int(fields["requested_message_count"]))


def packetize(session: str, messages: Sequence[bytes], first_sequence: int = 1,
              max_payload: int = 1400, max_messages: int = MAX_MESSAGES) -> list[Packet]:
    """Group messages into packets no larger than ``max_payload`` bytes each."""
    packets: list[Packet] = []
    batch: list[bytes] = []
    size = HEADER_LENGTH
    sequence = first_sequence
    for message in messages:
        block = 2 + len(message)
        if HEADER_LENGTH + block > max_payload:
            raise MoldError(f"a {len(message)}-byte message cannot fit a {max_payload}-byte packet")
        if batch and (size + block > max_payload or len(batch) >= max_messages):
            packets.append(Packet(session, sequence, tuple(batch)))
            sequence += len(batch)
            batch, size = [], HEADER_LENGTH
        batch.append(message)
        size += block
    if batch:
        packets.append(Packet(session, sequence, tuple(batch)))
    return packets
