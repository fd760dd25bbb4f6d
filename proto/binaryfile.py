"""NASDAQ BinaryFILE framing: a file of ``[u16 length][message]`` blocks.

Some tools write every length prefix as zero (the sample under
``shared/data`` does). Such a file can still be framed, because every ITCH
5.0 type has a fixed length: :func:`frame` detects it, takes the lengths from
the message table and says so through :attr:`Framing.zero_length_prefixes`.
This is the plain reference framer; ``nanogate.gateway.feed`` has the fast one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from nanogate.proto.faults import Fault
from nanogate.proto.itch import LENGTH_BY_TYPE_BYTE

_PREFIX = struct.Struct(">H")


def encode(messages: Iterable[bytes]) -> bytes:
    parts: list[bytes] = []
    for message in messages:
        if not 0 < len(message) <= 0xFFFF:
            raise ValueError(f"a {len(message)}-byte message cannot be framed")
        parts.append(_PREFIX.pack(len(message)))
        parts.append(message)
    return b"".join(parts)


def has_zero_length_prefixes(buf: bytes | bytearray | memoryview) -> bool:
    """True when the file starts with a zero prefix followed by a known type."""
    return len(buf) >= 3 and buf[0] == 0 and buf[1] == 0 and LENGTH_BY_TYPE_BYTE[buf[2]] > 0


@dataclass(frozen=True)
class FramingFault:
    offset: int
    fault: Fault
    detail: str


@dataclass
class Framing:
    """Message (offset, length) pairs, offsets pointing past the prefix.

    Every block is one message and takes one sequence number, even one that
    will not decode (zero length, unknown type): framing only splits.
    """

    messages: list[tuple[int, int]] = field(default_factory=list)
    faults: list[FramingFault] = field(default_factory=list)
    zero_length_prefixes: bool = False


def frame(buf: bytes | bytearray | memoryview) -> Framing:
    """Split a BinaryFILE into messages, reporting where it stops framing."""
    result = Framing(zero_length_prefixes=has_zero_length_prefixes(buf))
    position, end = 0, len(buf)
    while position < end:
        if position + 2 > end:
            result.faults.append(FramingFault(position, Fault.TRUNCATED,
                                              "file ends inside a length prefix"))
            break
        (length,) = _PREFIX.unpack_from(buf, position)
        if result.zero_length_prefixes:
            if length != 0:
                result.faults.append(FramingFault(
                    position, Fault.BAD_LENGTH,
                    f"non-zero prefix {length} in a file of zero prefixes: stopping"))
                break
            if position + 2 >= end:
                result.faults.append(FramingFault(position, Fault.TRUNCATED,
                                                  "file ends after a length prefix"))
                break
            length = LENGTH_BY_TYPE_BYTE[buf[position + 2]]
            if length == 0:
                result.faults.append(FramingFault(
                    position + 2, Fault.UNKNOWN_TYPE,
                    f"unknown type 0x{buf[position + 2]:02x} without a length prefix: "
                    "the next message cannot be found, stopping"))
                break
        if position + 2 + length > end:
            result.faults.append(FramingFault(
                position, Fault.TRUNCATED,
                f"{length}-byte message runs {position + 2 + length - end} bytes past the end"))
            break
        result.messages.append((position + 2, length))
        position += 2 + length
    return result
