"""Exchange-side helpers for the end-to-end tests: a publisher thread and a rewinder."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from nanogate.gateway.feed.reference import ReferenceDecoder
from nanogate.gateway.feed.source import open_feed
from nanogate.gateway.net.addr import Endpoint
from nanogate.sim.publisher import LineFaults, Publisher, PublisherConfig, PublishStats
from nanogate.sim.rewinder import MessageStore


def decode_lines(path: Path) -> list[str]:
    """What ``nanogate feed decode`` prints for ``path``, line by line."""
    decoder = ReferenceDecoder(open_feed(path))
    return [json.dumps(d.as_json(), separators=(",", ":")) for d in decoder.messages()]


def wait_joined(group: str, timeout: float = 30.0) -> bool:
    """Wait until some socket on this host has joined multicast ``group`` (the kernel's
    /proc/net/igmp lists it), so a publisher started now is heard from its first packet."""
    wanted = socket.inet_aton(group)[::-1].hex().upper()  # as the kernel prints it
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/igmp") as table:
            if any(line.split()[:1] == [wanted] for line in table):
                return True
        time.sleep(0.01)
    return False


class PublisherThread(threading.Thread):
    def __init__(self, store: MessageStore, lines: tuple[Endpoint, Endpoint], *,
                 loss: float = 0.0, dup: float = 0.0, reorder: float = 0.0,
                 rate: float | None = 200_000, seed: int = 1,
                 start_at: int | None = None, stop_at: int | None = None,
                 end_session: bool = True, linger: float = 0.0) -> None:
        super().__init__(daemon=True)
        faults = LineFaults(loss, dup, reorder)
        self.config = PublisherConfig(lines[0], lines[1], rate=rate, faults_a=faults,
                                      faults_b=faults, seed=seed)
        self.store = store
        self.start_at, self.stop_at = start_at, stop_at
        self.end_session = end_session
        self.stats: PublishStats | None = None
        self.linger = linger  # repeat the end of session this long, or until done is set
        self.done = threading.Event()

    def run(self) -> None:
        with Publisher(self.config, self.store) as publisher:
            self.stats = publisher.run(end_session=self.end_session,
                                       start_at=self.start_at, stop_at=self.stop_at)
            if self.linger:
                publisher.linger(self.done.is_set, self.linger, 0.02)
