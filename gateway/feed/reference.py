"""The plain reference decoder: every message as a dict of the spec's fields, in Python.

It shares nothing with the fast decoder but the tables in ``nanogate.proto``:
its own framing (``proto.binaryfile.frame``, ``proto.moldudp64.frame_packet``),
its own sequence tracking, ``proto.itch.decode_message`` for fields and
``proto.records.book_event_tuple`` for BookEvents. Tests hold the two to the
same output, event for event and fault for fault.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from nanogate.gateway.feed.source import FeedFile
from nanogate.proto import binaryfile
from nanogate.proto.faults import Fault, FeedFault
from nanogate.proto.itch import decode_message
from nanogate.proto.moldudp64 import frame_packet
from nanogate.proto.records import BOOK_EVENT_DTYPE, EventFlags, book_event_tuple
from nanogate.proto.wire import Value


@dataclass(frozen=True)
class Decoded:
    seq: int
    message: dict[str, Value]  # {"type": "A", "stock_locate": 1, ...}
    flags: EventFlags

    def as_json(self) -> dict[str, Value]:
        """The ``nanogate feed decode`` JSON object: seq, type, then the spec's fields."""
        return {"seq": self.seq, **self.message}


_U64_MAX = 2**64 - 1


@dataclass
class _SequenceTracker:
    expected: int | None = None
    gaps: int = 0
    missing: int = 0
    duplicates: int = 0

    def message(self, seq: int) -> EventFlags:
        flags = EventFlags(0)
        if self.expected is not None and seq > self.expected:
            flags, self.gaps = EventFlags.GAP, self.gaps + 1
            self.missing = min(self.missing + seq - self.expected, _U64_MAX)
        elif self.expected is not None and seq < self.expected:
            flags, self.duplicates = EventFlags.DUPLICATE, self.duplicates + 1
        self.expected = max(self.expected or 0, seq + 1)
        return flags

    def heartbeat(self, seq: int) -> None:
        if self.expected is not None and seq > self.expected:
            self.gaps += 1
            self.missing = min(self.missing + seq - self.expected, _U64_MAX)
        if self.expected is None or seq > self.expected:
            self.expected = seq


@dataclass
class ReferenceDecoder:
    """Iterate :meth:`messages`; counters are complete once the iteration ends."""

    feed: FeedFile
    first_seq: int = 1
    faults: Counter[Fault] = field(default_factory=Counter)
    fault_details: list[str] = field(default_factory=list)
    datagrams: int = 0
    heartbeats: int = 0
    end_of_session: int = 0
    sessions: list[str] = field(default_factory=list)
    gaps: int = 0
    missing: int = 0
    duplicates: int = 0

    def _fault(self, fault: Fault, where: str, detail: str) -> None:
        self.faults[fault] += 1
        if len(self.fault_details) < 1000:
            self.fault_details.append(f"{fault.label} at {where}: {detail}")

    def messages(self) -> Iterator[Decoded]:
        tracker = _SequenceTracker()
        try:
            if self.feed.is_capture:
                yield from self._capture(tracker)
            else:
                yield from self._binaryfile(tracker)
        finally:
            self.gaps, self.missing = tracker.gaps, tracker.missing
            self.duplicates = tracker.duplicates

    def _decode(self, tracker: _SequenceTracker, buf: bytes, seq: int,
                where: str) -> Decoded | None:
        try:
            message = decode_message(buf)
        except FeedFault as fault:
            self._fault(fault.fault, where, str(fault))
            tracker.expected = max(tracker.expected or 0, seq + 1)
            return None
        return Decoded(seq, message, tracker.message(seq))

    def _binaryfile(self, tracker: _SequenceTracker) -> Iterator[Decoded]:
        data = self.feed.data
        framing = binaryfile.frame(data)
        for index, (offset, length) in enumerate(framing.messages):
            decoded = self._decode(tracker, data[offset:offset + length],
                                   self.first_seq + index, f"byte {offset - 2}")
            if decoded is not None:
                yield decoded
        for fault in framing.faults:
            self._fault(fault.fault, f"byte {fault.offset}", fault.detail)

    def _capture(self, tracker: _SequenceTracker) -> Iterator[Decoded]:
        session: str | None = None
        for index, datagram in enumerate(self.feed.datagrams):
            self.datagrams += 1
            payload = datagram.payload
            try:
                packet = frame_packet(payload)
            except FeedFault as fault:
                self._fault(fault.fault, f"datagram {index}", str(fault))
                continue
            if packet.session not in self.sessions:
                self.sessions.append(packet.session)
            if packet.end_of_session:
                self.end_of_session += 1
                if packet.fault is not None:
                    self._fault(packet.fault, f"datagram {index}", packet.detail)
                continue
            if packet.session != session:
                session, tracker.expected = packet.session, None
            if packet.message_count == 0:
                self.heartbeats += 1
                tracker.heartbeat(packet.sequence_number)
            for k, (offset, length) in enumerate(packet.messages):
                decoded = self._decode(tracker, payload[offset:offset + length],
                                       packet.sequence_number + k,
                                       f"datagram {index} byte {offset - 2}")
                if decoded is not None:
                    yield decoded
            if packet.fault is not None:
                self._fault(packet.fault, f"datagram {index}", packet.detail)


def book_events(feed: FeedFile, first_seq: int = 1) -> tuple[np.ndarray, ReferenceDecoder]:
    """All BookEvents of a feed, by the reference path (for cross-checks; slow)."""
    decoder = ReferenceDecoder(feed, first_seq)
    rows = [book_event_tuple(d.message, d.seq, int(d.flags)) for d in decoder.messages()]
    return np.array(rows, dtype=BOOK_EVENT_DTYPE), decoder
