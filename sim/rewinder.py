"""The MoldUDP64 retransmission server ("rewinder") of the simulated exchange.

It answers :class:`~nanogate.proto.moldudp64.RetransmitRequest` datagrams
unicast, with ordinary downstream packets of the requested messages, from a
:class:`MessageStore` the publisher fills. Only the last ``retention``
messages published are kept; older ones, messages not yet published, a
wrong session or a malformed request get no answer and a counter. Switched
off (``enabled = False``) it reads and counts requests but never answers, to
test a gateway's failure path.
"""

from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass

import numpy as np

from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.framing import HEADER
from nanogate.gateway.net.sockets import open_unicast
from nanogate.proto.faults import FeedFault
from nanogate.proto.moldudp64 import MAX_MESSAGES, RetransmitRequest

MAX_PAYLOAD = 1400


class MessageStore:
    """A session's messages as BinaryFILE blocks, and how far they have been published.

    ``data`` holds ``[u16 length][message]`` blocks; ``starts[i]`` is where the
    block of sequence number ``first + i`` begins, ``starts[-1]`` the end.
    """

    def __init__(self, session: str, data: bytes, starts: np.ndarray, first: int = 1,
                 retention: int = 1_000_000) -> None:
        if len(session.encode("latin-1")) > 10:
            raise ValueError(f"MoldUDP64 session {session!r} is longer than 10 characters")
        if retention < 1:
            raise ValueError(f"retention must be >= 1, got {retention}")
        self.session = session
        self.data = data
        self.starts = starts.astype(np.int64)
        self.first = first
        self.retention = retention
        self.published = first  # the next sequence number to publish
        self._session_raw = session.encode("latin-1").ljust(10)

    @property
    def end(self) -> int:
        """One past the last sequence number held."""
        return self.first + len(self.starts) - 1

    def available(self) -> tuple[int, int]:
        """The range [low, high) a request can be answered from now."""
        return max(self.first, self.published - self.retention), self.published

    def packets(self, first: int, count: int, max_payload: int = MAX_PAYLOAD) -> list[bytes]:
        """Downstream packets holding ``first .. first + count - 1``, clipped to what is held."""
        low, high = self.available()
        start, stop = max(first, low), min(first + count, high)
        out: list[bytes] = []
        starts = self.starts
        while start < stop:
            # as many whole blocks as fit, found by a search on the block offsets
            base = starts[start - self.first]
            limit = base + max_payload - HEADER.size
            end_index = int(np.searchsorted(starts, limit, side="right")) - 1
            end = min(max(end_index + self.first, start + 1), stop, start + MAX_MESSAGES)
            payload = self.data[base:starts[end - self.first]]
            out.append(HEADER.pack(self._session_raw, start, end - start) + payload)
            start = end
        return out


@dataclass
class RewinderStats:
    requests: int = 0
    answered: int = 0  # messages sent
    packets: int = 0
    malformed: int = 0
    wrong_session: int = 0
    unavailable: int = 0  # requests for messages not held (too old, or not yet published)
    ignored: int = 0  # requests read while switched off


class Rewinder:
    """Serves retransmission requests on ``listen`` from a thread, until :meth:`close`."""

    def __init__(self, store: MessageStore, listen: Endpoint, *, enabled: bool = True,
                 max_answer: int = MAX_MESSAGES) -> None:
        self.store = store
        self.enabled = enabled
        self.max_answer = max_answer
        self.stats = RewinderStats()
        self._sock = open_unicast(listen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="rewinder", daemon=True)

    @property
    def address(self) -> Endpoint:
        host, port = self._sock.getsockname()
        return Endpoint(host, port)

    def start(self) -> Rewinder:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> Rewinder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.05)
            if not ready:
                continue
            while True:
                try:
                    data, peer = self._sock.recvfrom(2048)
                except BlockingIOError:
                    break
                except OSError:
                    return  # closed under us
                self.handle(data, peer)

    def handle(self, data: bytes, peer: tuple[str, int]) -> None:
        """Answer one request datagram from ``peer``."""
        stats = self.stats
        stats.requests += 1
        if not self.enabled:
            stats.ignored += 1
            return
        try:
            request = RetransmitRequest.decode(data)
        except FeedFault:
            stats.malformed += 1
            return
        if request.session.rstrip() != self.store.session:
            stats.wrong_session += 1
            return
        count = min(request.count, self.max_answer)
        packets = self.store.packets(request.sequence_number, count)
        if not packets:
            stats.unavailable += 1
            return
        for payload in packets:
            try:
                self._sock.sendto(payload, peer)
            except OSError:
                return  # the requester went away: it will ask again
            stats.packets += 1
            stats.answered += int.from_bytes(payload[18:20], "big")


def request(sock: socket.socket, rewinder: Endpoint, session: str, first: int,
            count: int) -> None:
    """Send one request (a helper for tests and tools)."""
    sock.sendto(RetransmitRequest(session, first, count).encode(), tuple(rewinder))
