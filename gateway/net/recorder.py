"""Per-line pcap recording of what each line received, copies and faults included."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from nanogate.gateway.feed.capture import PcapWriter
from nanogate.gateway.net.addr import Endpoint


class LineRecorder:
    """``DIR/line-a.pcap``, ``DIR/line-b.pcap``, ``DIR/recovery.pcap`` as datagrams arrive."""

    NAMES = ("line-a", "line-b", "recovery")

    def __init__(self, directory: str | Path, lines: list[Endpoint], interface: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._handles: list[BinaryIO] = []
        self._writers: list[PcapWriter] = []
        self._destinations = [(e.host, e.port) for e in lines] + [(interface, 0)]
        self._source = (interface, 0)  # recvmmsg is asked for no source address
        for name in self.NAMES[:len(lines)] + self.NAMES[2:]:
            handle = open(self.directory / f"{name}.pcap", "wb")  # noqa: SIM115 - closed in close()
            self._handles.append(handle)
            self._writers.append(PcapWriter(handle))
        self.datagrams = 0

    def paths(self) -> list[Path]:
        return [Path(h.name) for h in self._handles]

    def write(self, line: int, payload: bytes, rx_ns: int) -> None:
        index = min(line, len(self._writers) - 1)
        self._writers[index].write(payload, self._source, self._destinations[index],
                                   rx_ns / 1e9)
        self.datagrams += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
