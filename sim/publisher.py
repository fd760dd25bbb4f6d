"""The simulated exchange's publisher: a feed onto lines A and B as MoldUDP64 multicast.

Messages come from a file (BinaryFILE, or a pcap/pcapng capture whose
MoldUDP64 messages are published again in sequence order) or from a
synthetic session. They are cut into packets (batching up to
``max_messages`` per packet, ``max_payload`` bytes), paced at ``rate``
messages per second, and sent on each line with that line's seeded loss,
duplication and reordering. The :class:`~nanogate.sim.rewinder.MessageStore`
it fills lets a rewinder answer for every message published, lost or not.
After the data: heartbeats, then end-of-session packets (sent ``end_repeats``
times, each subject to the line's loss).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from nanogate.gateway.feed.source import open_feed
from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.framing import HEADER
from nanogate.gateway.net.sockets import open_sender
from nanogate.proto import binaryfile
from nanogate.proto.moldudp64 import (
    END_OF_SESSION_COUNT,
    MAX_MESSAGES,
    frame_packet,
)
from nanogate.sim.rewinder import MAX_PAYLOAD, MessageStore

DEFAULT_SESSION = "SYNTH00001"


@dataclass(frozen=True)
class LineFaults:
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "dup", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} probability must be within 0..1, got {value}")


_PACE_SLACK_S = 0.0001  # a packet due within this long goes out now (see run)


@dataclass
class PublisherConfig:
    line_a: Endpoint
    line_b: Endpoint | None = None
    interface: str = "127.0.0.1"
    rate: float | None = None  # messages per second; None: as fast as possible
    max_payload: int = MAX_PAYLOAD
    max_messages: int = MAX_MESSAGES  # batching: messages per packet at most
    faults_a: LineFaults = field(default_factory=LineFaults)
    faults_b: LineFaults = field(default_factory=LineFaults)
    seed: int = 1
    heartbeats: int = 1  # heartbeat packets after the data, before the end of session
    heartbeat_interval_s: float = 0.0
    end_repeats: int = 3

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate must be > 0 messages/s, got {self.rate}")
        if not HEADER.size + 3 <= self.max_payload <= 65507:
            raise ValueError(f"max_payload must be {HEADER.size + 3}..65507, got "
                             f"{self.max_payload}")
        if not 1 <= self.max_messages <= MAX_MESSAGES:
            raise ValueError(f"max_messages must be 1..{MAX_MESSAGES}, got {self.max_messages}")


@dataclass
class LineStats:
    packets: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0


@dataclass
class PublishStats:
    messages: int = 0
    packets: int = 0
    seconds: float = 0.0
    lines: list[LineStats] = field(default_factory=lambda: [LineStats(), LineStats()])

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


# -- feeds ---------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _block_starts(data: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    starts = np.empty(data.shape[0] // 3 + 2, np.int64)
    n = 0
    position = 0
    while position + 2 <= data.shape[0]:
        starts[n] = position
        n += 1
        position += 2 + int((np.int64(data[position]) << 8) | np.int64(data[position + 1]))
    starts[n] = position
    return starts[:n + 1]


def store_from_blocks(data: bytes, session: str = DEFAULT_SESSION,
                      retention: int = 1_000_000) -> MessageStore:
    """A store over BinaryFILE bytes with real length prefixes."""
    starts = _block_starts(np.frombuffer(data, np.uint8))
    if starts[-1] != len(data):
        raise ValueError(f"BinaryFILE blocks end at byte {starts[-1]}, file has {len(data)}")
    return MessageStore(session, data, starts, 1, retention)


def store_from_file(path: str | Path, session: str | None = None,
                    retention: int = 1_000_000) -> MessageStore:
    """Load any feed file; a capture keeps its session name unless ``session`` is given."""
    feed = open_feed(path)
    if not feed.is_capture:
        if feed.zero_length_prefixes or not _prefixes_frame(feed.data):
            framing = binaryfile.frame(feed.data)
            if framing.faults:
                fault = framing.faults[0]
                raise ValueError(f"{path}: {fault.fault.label} at byte {fault.offset}: "
                                 f"{fault.detail}")
            data = binaryfile.encode(feed.data[o:o + n] for o, n in framing.messages)
        else:
            data = feed.data
        return store_from_blocks(data, session or DEFAULT_SESSION, retention)
    messages: dict[int, bytes] = {}
    name = session
    for datagram in feed.datagrams:
        try:
            packet = frame_packet(datagram.payload)
        except ValueError:
            continue  # a short datagram has nothing to publish
        if name is None:
            name = packet.session
        if packet.session != name or packet.end_of_session:
            continue
        for k, (offset, length) in enumerate(packet.messages):
            messages.setdefault(packet.sequence_number + k,
                                datagram.payload[offset:offset + length])
    if not messages:
        raise ValueError(f"{path}: no MoldUDP64 messages in the capture")
    first = min(messages)
    missing = [s for s in range(first, max(messages) + 1) if s not in messages]
    if missing:
        raise ValueError(f"{path}: the capture lacks {len(missing)} message(s) "
                         f"(first missing: {missing[0]}); it cannot be published whole")
    data = binaryfile.encode(messages[s] for s in sorted(messages))
    store = store_from_blocks(data, name or DEFAULT_SESSION, retention)
    store.first = store.published = first
    return store


def _prefixes_frame(data: bytes) -> bool:
    starts = _block_starts(np.frombuffer(data, np.uint8))
    return bool(starts[-1] == len(data))


def store_from_synthetic(messages: int, instruments: int = 8, seed: int = 1,
                         session: str = DEFAULT_SESSION,
                         retention: int = 1_000_000) -> MessageStore:
    from nanogate.sim.synth import generate_session

    data = b"".join(bytes(chunk.data) for chunk in generate_session(
        messages, instruments, seed).chunks())
    return store_from_blocks(data, session, retention)


# -- packets -------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _packet_ends(starts: np.ndarray, max_body: int, max_messages: int
                 ) -> np.ndarray:  # pragma: no cover - compiled
    ends = np.empty(starts.shape[0], np.int64)
    n = 0
    first = 0
    for i in range(1, starts.shape[0]):
        if i - first > 1 and (starts[i] - starts[first] > max_body or i - first > max_messages):
            ends[n] = i - 1
            n += 1
            first = i - 1
    if first < starts.shape[0] - 1:
        ends[n] = starts.shape[0] - 1
        n += 1
    return ends[:n]


def packets(store: MessageStore, max_payload: int = MAX_PAYLOAD,
            max_messages: int = MAX_MESSAGES) -> list[tuple[int, int, bytes]]:
    """Every message of ``store`` cut into (sequence, count, payload) packets."""
    ends = _packet_ends(store.starts, max_payload - HEADER.size, max_messages).tolist()
    session = store.session.encode("latin-1").ljust(10)
    out: list[tuple[int, int, bytes]] = []
    first = 0
    starts = store.starts.tolist()
    for end in ends:
        sequence = store.first + first
        out.append((sequence, end - first, HEADER.pack(session, sequence, end - first)
                    + store.data[starts[first]:starts[end]]))
        first = end
    return out


# -- sending -------------------------------------------------------------------------------


class Publisher:
    def __init__(self, config: PublisherConfig, store: MessageStore) -> None:
        self.config = config
        self.store = store
        self.stats = PublishStats()
        self._sock = open_sender(config.interface)
        self._lines = [(config.line_a, config.faults_a)]
        if config.line_b is not None:
            self._lines.append((config.line_b, config.faults_b))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, *, end_session: bool = True, start_at: int | None = None,
            stop_at: int | None = None) -> PublishStats:
        """Publish the store's packets from ``start_at`` up to ``stop_at``, then end the session.

        Packets before ``start_at`` count as published (the rewinder serves them):
        a late joiner or a restarted gateway has to ask for them.
        """
        config, store = self.config, self.store
        cut = packets(store, config.max_payload, config.max_messages)
        if stop_at is not None:
            cut = [p for p in cut if p[0] < stop_at]
        if start_at is not None:
            store.published = max(store.published, start_at)
            cut = [p for p in cut if p[0] >= start_at]
        rng = np.random.default_rng(config.seed)
        plans = [self._plan(rng, faults, len(cut)) for _, faults in self._lines]
        sendto = self._sock.sendto
        targets = [tuple(endpoint) for endpoint, _ in self._lines]
        held: list[bytes | None] = [None] * len(targets)
        started = time.perf_counter()
        interval = 1.0 / config.rate if config.rate else 0.0
        for index, (sequence, count, payload) in enumerate(cut):
            store.published = sequence + count
            if interval:
                # Send at most 0.1 ms before the packet's time (a 0.5 ms threshold sent
                # packets in back-to-back pairs at 100 k msg/s: each second one then
                # waited in the gateway while the first was applied).
                wait = started + (sequence - store.first) * interval - time.perf_counter()
                if wait > _PACE_SLACK_S:
                    time.sleep(wait)
            for line, target in enumerate(targets):
                action = plans[line][index]
                stats = self.stats.lines[line]
                if action == _DROP:
                    stats.dropped += 1
                    continue
                if action == _REORDER and held[line] is None:
                    held[line] = payload  # goes out after the next packet
                    stats.reordered += 1
                    continue
                sendto(payload, target)
                stats.packets += 1
                if action == _DUP:
                    sendto(payload, target)
                    stats.duplicated += 1
                late = held[line]
                if late is not None and action != _REORDER:
                    sendto(late, target)
                    held[line] = None
            self.stats.messages += count
            self.stats.packets += 1
        for line, target in enumerate(targets):
            late = held[line]
            if late is not None:
                sendto(late, target)
        self.stats.seconds = time.perf_counter() - started
        if end_session:
            self.end(rng)
        return self.stats

    def end(self, rng: np.random.Generator | None = None) -> None:
        """Heartbeats, then the end-of-session packet, each subject to the line's loss."""
        rng = rng or np.random.default_rng(self.config.seed)
        session = self.store.session.encode("latin-1").ljust(10)
        beat = HEADER.pack(session, self.store.published, 0)
        end = HEADER.pack(session, self.store.published, END_OF_SESSION_COUNT)
        plan = [beat] * self.config.heartbeats + [end] * self.config.end_repeats
        for payload in plan:
            for endpoint, faults in self._lines:
                if rng.random() >= faults.loss:
                    self._sock.sendto(payload, tuple(endpoint))
            if payload is beat and self.config.heartbeat_interval_s:
                time.sleep(self.config.heartbeat_interval_s)

    def linger(self, stop: Callable[[], bool], seconds: float, interval_s: float = 0.1) -> int:
        """Repeat the end-of-session packet every ``interval_s`` until ``stop()`` or ``seconds``.

        A gateway that lost the tail of the session (and the first end-of-session
        packets) learns from a later one how far the session went, and asks.
        Returns the packets sent.
        """
        session = self.store.session.encode("latin-1").ljust(10)
        end = HEADER.pack(session, self.store.published, END_OF_SESSION_COUNT)
        deadline = time.monotonic() + seconds
        sent = 0
        while not stop() and time.monotonic() < deadline:
            for endpoint, _ in self._lines:
                self._sock.sendto(end, tuple(endpoint))
                sent += 1
            time.sleep(interval_s)
        return sent

    @staticmethod
    def _plan(rng: np.random.Generator, faults: LineFaults, n: int) -> np.ndarray:
        draw = rng.random((3, n))
        plan = np.zeros(n, np.int8)
        plan[draw[2] < faults.reorder] = _REORDER
        plan[draw[1] < faults.dup] = _DUP
        plan[draw[0] < faults.loss] = _DROP
        return plan


_DROP, _DUP, _REORDER = 1, 2, 3
