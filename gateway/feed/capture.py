"""pcap / pcapng captures of UDP datagrams (MoldUDP64 payloads), read and written with dpkt.

Reading keeps every UDP/IPv4 payload with its capture timestamp and counts
every frame it cannot use (not IPv4, not UDP, fragmented, cut short by the
snap length) under a named reason, so nothing is dropped silently.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import dpkt

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

_DLT_EN10MB = 1
_DLT_RAW = (12, 14, 101)
_DLT_LINUX_SLL = 113


def capture_format(head: bytes) -> str | None:
    """'pcap', 'pcapng' or None, from the first four bytes of a file."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    return None


@dataclass(frozen=True)
class Datagram:
    timestamp: float  # capture time, seconds since the epoch
    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes


@dataclass
class CaptureReport:
    frames: int = 0
    datagrams: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def describe(self) -> list[str]:
        return [f"{count} frame(s) skipped: {reason}"
                for reason, count in sorted(self.skipped.items())]


class CaptureError(ValueError):
    """A capture whose file header cannot be read."""


def read_datagrams(path: str | Path, report: CaptureReport | None = None) -> Iterator[Datagram]:
    """Yield the UDP datagrams of a pcap or pcapng file, counting the rest in ``report``.

    A file cut inside a record (a capture still being written, a copy cut
    short) keeps every whole record before the cut and counts the cut.
    """
    report = report if report is not None else CaptureReport()
    with open(path, "rb") as handle:
        kind = capture_format(handle.read(4))
        handle.seek(0)
        if kind is None:
            raise CaptureError(f"{path}: not a pcap or pcapng file")
        try:
            reader = dpkt.pcap.Reader(handle) if kind == "pcap" else dpkt.pcapng.Reader(handle)
        except (dpkt.UnpackError, ValueError, struct.error) as error:
            raise CaptureError(f"{path}: unreadable {kind} header ({error})") from None
        linktype = reader.datalink()
        records = iter(reader)
        while True:
            try:
                timestamp, frame = next(records)
            except StopIteration:
                break
            except (dpkt.UnpackError, ValueError, struct.error):
                report.skipped["capture file ends inside a record"] += 1
                break
            report.frames += 1
            datagram = _udp_of(linktype, frame, float(timestamp), report)
            if datagram is not None:
                report.datagrams += 1
                yield datagram


def _udp_of(linktype: int, frame: bytes, timestamp: float,
            report: CaptureReport) -> Datagram | None:
    try:
        if linktype == _DLT_EN10MB:
            packet = dpkt.ethernet.Ethernet(frame).data
        elif linktype == _DLT_LINUX_SLL:
            packet = dpkt.sll.SLL(frame).data
        elif linktype in _DLT_RAW:
            packet = dpkt.ip.IP(frame)
        else:
            report.skipped[f"link type {linktype} not supported"] += 1
            return None
    except (dpkt.UnpackError, dpkt.NeedData):
        report.skipped["malformed link-layer frame"] += 1
        return None
    if not isinstance(packet, dpkt.ip.IP):
        report.skipped["not IPv4"] += 1
        return None
    if packet.mf or packet.offset:
        report.skipped["IPv4 fragment"] += 1
        return None
    udp = packet.data
    if not isinstance(udp, dpkt.udp.UDP):
        report.skipped["not UDP"] += 1
        return None
    payload = bytes(udp.data)
    if udp.ulen - 8 != len(payload):
        report.skipped["UDP datagram cut short (snap length or bad length)"] += 1
        return None
    return Datagram(timestamp,
                    (socket.inet_ntoa(packet.src), udp.sport),
                    (socket.inet_ntoa(packet.dst), udp.dport),
                    payload)


def multicast_mac(group: str) -> bytes:
    """The Ethernet address an IPv4 multicast group maps to (01:00:5e + low 23 bits)."""
    raw = socket.inet_aton(group)
    return bytes((0x01, 0x00, 0x5E, raw[1] & 0x7F, raw[2], raw[3]))


_ETH_IPV4 = struct.Struct(">6s6sH")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_UDP = struct.Struct(">HHHH")


def _ipv4_checksum(header: bytes) -> int:
    total = int(sum(struct.unpack(">10H", header)))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(payload: bytes, source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """An Ethernet/IPv4/UDP frame carrying ``payload``.

    Packed by hand (dpkt's object model costs more than the rest of a capture
    write): the IPv4 header checksum is filled in, the UDP checksum is 0,
    which IPv4 allows and every reader accepts.
    """
    src, dst = socket.inet_aton(source[0]), socket.inet_aton(destination[0])
    total = 20 + 8 + len(payload)
    header = _IPV4.pack(0x45, 0, total, 0, 0x4000, 1, 17, 0, src, dst)  # DF set, TTL 1
    header = header[:10] + struct.pack(">H", _ipv4_checksum(header)) + header[12:]
    dst_mac = multicast_mac(destination[0]) if 224 <= dst[0] <= 239 else b"\x02" + bytes(5)
    return b"".join((_ETH_IPV4.pack(dst_mac, b"\x02\x00\x00\x00\x00\x01", 0x0800), header,
                     _UDP.pack(source[1], destination[1], 8 + len(payload), 0), payload))


class PcapWriter:
    """Writes UDP datagrams as a nanosecond pcap (the format every tool reads)."""

    def __init__(self, handle: BinaryIO):
        self._writer = dpkt.pcap.Writer(handle, linktype=_DLT_EN10MB, nano=True, snaplen=65535)

    def write(self, payload: bytes, source: tuple[str, int], destination: tuple[str, int],
              timestamp: float) -> None:
        self._writer.writepkt(udp_frame(payload, source, destination), ts=timestamp)


def write_datagrams(path: str | Path, datagrams: Iterable[Datagram]) -> int:
    count = 0
    with open(path, "wb") as handle:
        writer = PcapWriter(handle)
        for datagram in datagrams:
            writer.write(datagram.payload, datagram.source, datagram.destination,
                         datagram.timestamp)
            count += 1
    return count
