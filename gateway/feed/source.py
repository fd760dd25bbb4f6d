"""Feed files, recognised by their content: BinaryFILE, pcap or pcapng of MoldUDP64.

:func:`open_feed` loads a file into a :class:`FeedFile`: one byte buffer plus
the bounds of each MoldUDP64 datagram in it (a BinaryFILE is one stretch of
``[u16 length][message]`` blocks). Both decoders read this one form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nanogate.gateway.feed.capture import (
    CaptureError,
    CaptureReport,
    Datagram,
    capture_format,
    read_datagrams,
)
from nanogate.proto import binaryfile
from nanogate.proto.itch import LENGTH_BY_TYPE_BYTE

FeedFormat = Literal["binaryfile", "pcap", "pcapng"]


class FeedFormatError(ValueError):
    """The file is none of the formats we read."""


@dataclass
class FeedFile:
    path: Path
    format: FeedFormat
    data: bytes  # BinaryFILE bytes, or every datagram payload back to back
    datagram_bounds: list[tuple[int, int]] = field(default_factory=list)  # captures only
    datagrams: list[Datagram] = field(default_factory=list)  # captures only, payloads in data
    capture: CaptureReport | None = None
    zero_length_prefixes: bool = False

    @property
    def is_capture(self) -> bool:
        return self.format != "binaryfile"

    def notes(self) -> list[str]:
        """What a user should be told about how the file was read (stderr)."""
        notes = []
        if self.zero_length_prefixes:
            notes.append(f"{self.path}: every BinaryFILE length prefix is 0; "
                         "taking each message's length from its ITCH 5.0 type")
        if self.capture is not None:
            notes += [f"{self.path}: {line}" for line in self.capture.describe()]
        return notes


def detect_format(head: bytes) -> FeedFormat | None:
    kind = capture_format(head)
    if kind == "pcap":
        return "pcap"
    if kind == "pcapng":
        return "pcapng"
    if binaryfile.has_zero_length_prefixes(head):
        return "binaryfile"
    if len(head) >= 3:
        length = int.from_bytes(head[:2], "big")
        if length and LENGTH_BY_TYPE_BYTE[head[2]] == length:
            return "binaryfile"
    return None


def open_feed(path: str | Path) -> FeedFile:
    """Read a feed file of any supported format (chosen by content, not by name)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise FeedFormatError(f"{path}: {error.strerror or error}") from None
    if not head:
        raise FeedFormatError(f"{path}: file is empty")
    kind = detect_format(head)
    if kind is None:
        raise FeedFormatError(
            f"{path}: not a pcap, pcapng or ITCH 5.0 BinaryFILE "
            f"(first bytes {head[:8].hex(' ')}): a BinaryFILE starts with a u16 length "
            "equal to its first message's length, or 0, followed by a known type")
    if kind == "binaryfile":
        data = path.read_bytes()
        return FeedFile(path, kind, data,
                        zero_length_prefixes=binaryfile.has_zero_length_prefixes(data))
    report = CaptureReport()
    try:
        datagrams = list(read_datagrams(path, report))
    except CaptureError as error:
        raise FeedFormatError(str(error)) from None
    bounds, position = [], 0
    for datagram in datagrams:
        bounds.append((position, position + len(datagram.payload)))
        position += len(datagram.payload)
    data = b"".join(d.payload for d in datagrams)
    return FeedFile(path, kind, data, bounds, datagrams, report)
