"""The fast batch decoder: a feed buffer in, a NumPy array of BookEvents out.

One compiled pass (numba, cached on disk): :func:`_frame` splits every
datagram into message blocks, validates type and length, tracks sequence
numbers, and calls the generated ``decode_one`` (inlined), which fills a
BookEvent row with constant offsets. Numba, because the decoder must stay a loop over bytes
that reads like the spec (a vectorised NumPy decoder needs a pass per type
and loses the sequential sequence tracking) and it compiles to about the
speed of C with no build step; see docs/performance.md for the figures.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from nanogate.gateway.feed._fastdecode_generated import decode_one
from nanogate.gateway.feed.decoder_codegen import kernel_dtype
from nanogate.gateway.feed.source import FeedFile
from nanogate.proto.faults import Fault
from nanogate.proto.itch import LENGTH_BY_TYPE_BYTE
from nanogate.proto.moldudp64 import END_OF_SESSION_COUNT, HEADER_LENGTH
from nanogate.proto.records import BOOK_EVENT_DTYPE

_LENGTHS = np.array(LENGTH_BY_TYPE_BYTE, dtype=np.int64)
_KERNEL_DTYPE = kernel_dtype()
_FAULT_EXAMPLES = 1000
_WHOLE_BUFFER = -1  # a packet count meaning "frame blocks to the end" (BinaryFILE)
_EVENT_SIZE = BOOK_EVENT_DTYPE.itemsize
_MOLD_HEADER = struct.Struct(">10sQH")
Array = np.ndarray


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _frame(data: Array, starts: Array, ends: Array, seqs: Array, counts: Array,
           sessions: Array, zero_len: bool, lengths: Array, out: Array,
           fault_kind: Array, fault_offset: Array, fault_value: Array,
           stats: Array, missing: Array, track: Array) -> int:
    """Frame, validate and decode every block into ``out``; returns the rows written.

    ``stats``: [faults by Fault value (0..7), gaps, (unused), duplicates, heartbeats,
    fault examples stored]; ``missing[0]``: sequence numbers skipped (u64, saturating).
    ``track``: sequence tracking in and out, [expected, synced, session id + 1] (u64),
    so a stream decoded a piece at a time tracks as if decoded whole.
    """
    n = 0
    # Sequence numbers are u64 on the wire: keep them unsigned (numba turns a
    # mix of int64 and uint64 into float64, so every operand is cast).
    expected = track[0]
    synced = track[1] != np.uint64(0)
    session = np.int64(track[2]) - 1
    for p in range(starts.shape[0]):
        if sessions[p] != session:
            session = sessions[p]
            synced = False  # a new session: resynchronise on its first sequence number
        position = starts[p]
        end = ends[p]
        count = counts[p]
        base = seqs[p]
        if count == 0:
            stats[11] += 1
            if synced and base > expected:
                stats[8] += 1
                _add_missing(missing, base - expected)
            if not synced or base > expected:
                expected = base
                synced = True
        k = 0
        while count == _WHOLE_BUFFER or k < count:
            if count == _WHOLE_BUFFER and position >= end:
                break
            seq = base + np.uint64(k)
            fault = 0
            if position + 2 > end:
                fault = 1  # TRUNCATED
                length = 0
            else:
                length = (np.int64(data[position]) << 8) | np.int64(data[position + 1])  # type: ignore[assignment]
                if zero_len:
                    if length != 0:
                        fault = 3  # BAD_LENGTH: a real prefix among zero ones
                    elif position + 2 >= end:
                        fault = 1
                    else:
                        length = lengths[data[position + 2]]
                        if length == 0:
                            fault = 2  # UNKNOWN_TYPE, and no way to find the next one
                if fault == 0 and position + 2 + length > end:
                    fault = 1
            if fault != 0:
                _note(stats, fault_kind, fault_offset, fault_value, fault, position, length)
                break  # the rest of this packet (file) cannot be framed
            body = position + 2
            position = body + length
            k += 1
            if length == 0:
                fault = 3
            elif lengths[data[body]] == 0:
                fault = 2
            elif lengths[data[body]] != length:
                fault = 3
            if fault != 0:
                _note(stats, fault_kind, fault_offset, fault_value, fault, body - 2, length)
            else:
                flags = 0
                if synced and seq > expected:
                    flags = 1  # EventFlags.GAP
                    stats[8] += 1
                    _add_missing(missing, seq - expected)
                elif synced and seq < expected:
                    flags = 2  # EventFlags.DUPLICATE
                    stats[10] += 1
                decode_one(data, body, out, n)
                out[n].seq = seq
                out[n].flags = flags
                n += 1
            if not synced or seq + np.uint64(1) > expected:
                expected = seq + np.uint64(1)
                synced = True
        if count != _WHOLE_BUFFER and k == count and position != end:
            _note(stats, fault_kind, fault_offset, fault_value, 4, position, end - position)
    track[0] = expected
    track[1] = np.uint64(1) if synced else np.uint64(0)
    track[2] = np.uint64(session + 1)
    return n


@numba.njit(cache=True, nogil=True)
def _add_missing(missing: Array, jump: np.uint64) -> None:
    total = missing[0] + jump
    missing[0] = total if total >= jump else np.uint64(0xFFFF_FFFF_FFFF_FFFF)


@numba.njit(cache=True, nogil=True)
def _note(stats: Array, fault_kind: Array, fault_offset: Array, fault_value: Array,
          fault: int, offset: int, value: int) -> None:
    stats[fault] += 1
    stored = stats[12]
    if stored < fault_kind.shape[0]:
        fault_kind[stored] = fault
        fault_offset[stored] = offset
        fault_value[stored] = value
        stats[12] = stored + 1


@dataclass(frozen=True)
class FaultExample:
    fault: Fault
    offset: int  # byte offset in the file (BinaryFILE) or in the datagram's payload
    datagram: int  # index of the datagram, -1 for a BinaryFILE
    detail: str


@dataclass
class DecodedFeed:
    events: np.ndarray
    faults: Counter[Fault] = field(default_factory=Counter)
    examples: list[FaultExample] = field(default_factory=list)
    datagrams: int = 0
    heartbeats: int = 0
    end_of_session: int = 0
    sessions: list[str] = field(default_factory=list)
    gaps: int = 0  # places where sequence numbers jumped forward
    missing: int = 0  # sequence numbers skipped over at those places
    duplicates: int = 0  # messages whose sequence number was already seen

    @property
    def fault_total(self) -> int:
        return sum(self.faults.values())


def _describe(fault: Fault, value: int) -> str:
    return {
        Fault.TRUNCATED: f"message or prefix cut off ({value} bytes announced)",
        Fault.UNKNOWN_TYPE: "unknown message type",
        Fault.BAD_LENGTH: f"length {value} does not match the message type",
        Fault.TRAILING_BYTES: f"{value} bytes after the announced messages",
        Fault.SHORT_PACKET: f"{value}-byte datagram, shorter than the MoldUDP64 header",
    }[fault]


def capacity_for(nbytes: int) -> int:
    """The most BookEvents ``nbytes`` of feed can hold (14 bytes: prefix + shortest message)."""
    return max(1, nbytes // 14)


@dataclass
class SequenceState:
    """Sequence tracking carried from one :func:`decode` call to the next.

    A receiver that decodes a stream of datagrams a burst at a time (the
    ``software`` device backend) passes one of these to every call, so
    sequence numbers, GAP/DUPLICATE flags and session changes are judged
    across bursts exactly as in one call over the whole stream.
    """

    expected: int = 0
    synced: bool = False
    session: bytes | None = None  # the last data or heartbeat packet's, as on the wire


def decode(feed: FeedFile, first_seq: int = 1, out: np.ndarray | None = None,
           state: SequenceState | None = None) -> DecodedFeed:
    """Decode a whole feed file into BookEvents (fast path).

    ``out``: a BOOK_EVENT_DTYPE array of at least ``capacity_for(len(feed.data))``
    rows to decode into (reuse one across calls to skip allocation); the
    result's ``events`` is then a view of it. ``state``: sequence tracking to
    start from, updated in place (captures only; a BinaryFILE starts afresh).
    """
    data = np.frombuffer(feed.data, dtype=np.uint8)
    result = DecodedFeed(np.zeros(0, BOOK_EVENT_DTYPE))
    track = np.zeros(3, np.uint64)
    session_names: list[bytes] = []
    if feed.is_capture:
        known = state.session if state is not None else None
        if state is not None:
            track[:] = (state.expected, int(state.synced), 1 if known is not None else 0)
        starts, ends, seqs, counts, sessions = _packet_arrays(feed, result, known,
                                                              session_names)
    else:
        starts = np.array([0], np.int64)
        ends = np.array([len(data)], np.int64)
        seqs = np.array([first_seq], np.uint64)
        counts = np.array([_WHOLE_BUFFER], np.int64)
        sessions = np.zeros(1, np.int64)
    capacity = capacity_for(len(data))
    if out is None:
        events = np.empty(capacity, BOOK_EVENT_DTYPE)  # costs no memory until written
    elif out.dtype != BOOK_EVENT_DTYPE or len(out) < capacity or not out.flags.c_contiguous:
        raise ValueError(f"out must be a contiguous BookEvent array of >= {capacity} rows")
    else:
        events = out
    fault_kind = np.zeros(_FAULT_EXAMPLES, np.int64)
    fault_offset = np.zeros(_FAULT_EXAMPLES, np.int64)
    fault_value = np.zeros(_FAULT_EXAMPLES, np.int64)
    stats = np.zeros(13, np.int64)
    missing = np.zeros(1, np.uint64)
    n = _frame(data, starts, ends, seqs, counts, sessions, feed.zero_length_prefixes, _LENGTHS,
               events.view(_KERNEL_DTYPE), fault_kind, fault_offset, fault_value, stats, missing,
               track)
    if state is not None and feed.is_capture:
        state.expected, state.synced = int(track[0]), bool(track[1])
        if track[2]:
            state.session = session_names[int(track[2]) - 1]
    # A view: the rows never written were never touched, so they cost no memory.
    result.events = events[:n]
    for fault in Fault:
        if stats[fault]:
            result.faults[fault] += int(stats[fault])
    result.gaps, result.missing, result.duplicates = int(stats[8]), int(missing[0]), int(stats[10])
    result.heartbeats = int(stats[11])
    for i in range(int(stats[12])):
        result.examples.append(_example(feed, Fault(int(fault_kind[i])), int(fault_offset[i]),
                                        int(fault_value[i])))
    return result


def _example(feed: FeedFile, fault: Fault, offset: int, value: int) -> FaultExample:
    if not feed.is_capture:
        return FaultExample(fault, offset, -1, _describe(fault, value))
    starts = [s for s, _ in feed.datagram_bounds]
    index = int(np.searchsorted(starts, offset, side="right")) - 1
    return FaultExample(fault, offset - starts[index], index, _describe(fault, value))


def _packet_arrays(feed: FeedFile, result: DecodedFeed, known_session: bytes | None = None,
                   session_names: list[bytes] | None = None) -> tuple[np.ndarray, ...]:
    """Parse each datagram's MoldUDP64 header into the arrays the framer walks.

    ``known_session`` (the one tracked before this call) gets id 0; every
    session's bytes are appended to ``session_names`` in id order.
    """
    rows: list[tuple[int, int, int, int, int]] = []
    session_ids: dict[bytes, int] = {}
    seen: set[bytes] = set()
    if known_session is not None:
        session_ids[known_session] = 0
    for index, (start, end) in enumerate(feed.datagram_bounds):
        result.datagrams += 1
        if end - start < HEADER_LENGTH:
            result.faults[Fault.SHORT_PACKET] += 1
            if len(result.examples) < _FAULT_EXAMPLES:
                result.examples.append(FaultExample(Fault.SHORT_PACKET, 0, index,
                                                    _describe(Fault.SHORT_PACKET, end - start)))
            continue
        session, sequence, count = _MOLD_HEADER.unpack_from(feed.data, start)
        session_id = session_ids.setdefault(session, len(session_ids))
        seen.add(session)
        if count == END_OF_SESSION_COUNT:
            result.end_of_session += 1
            trailing = end - start - HEADER_LENGTH
            if trailing:
                result.faults[Fault.TRAILING_BYTES] += 1
                if len(result.examples) < _FAULT_EXAMPLES:
                    result.examples.append(FaultExample(
                        Fault.TRAILING_BYTES, HEADER_LENGTH, index,
                        _describe(Fault.TRAILING_BYTES, trailing)))
            continue
        rows.append((start + HEADER_LENGTH, end, sequence, count, session_id))
    result.sessions = [s.decode("latin-1").rstrip() for s in session_ids
                       if s != known_session or s in seen]
    if session_names is not None:
        session_names.extend(session_ids)
    if not rows:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.uint64), empty, empty
    columns = list(zip(*rows, strict=True))
    return (np.array(columns[0], np.int64), np.array(columns[1], np.int64),
            np.array(columns[2], np.uint64), np.array(columns[3], np.int64),
            np.array(columns[4], np.int64))


# -- streaming: MoldUDP64 payloads a burst at a time, buffers reused -------------------------

#: :attr:`StreamDecoder.stats` slots past those of :func:`_frame` (0..12).
STAT_END_OF_SESSION = 13
STAT_DATAGRAMS = 14
_STATS = 16
_SESSION_BYTES = 10


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _stream(data: Array, sizes: Array, current: Array, track: Array, rows_out: Array,
            seqs: Array, lengths: Array, out: Array, faults: Array, stats: Array) -> int:
    """Payloads of ``sizes`` bytes back to back in ``data``: read their MoldUDP64 headers
    as :func:`_packet_arrays` does, then :func:`_frame` them; returns the rows written.

    Few arguments, as each costs dispatch time: ``track`` is :func:`_frame`'s plus
    [session known, missing]; ``rows_out`` the packets' start, end, count and session
    id columns; ``faults`` the example columns (none kept: zero rows). ``current``: the
    session of the last data or heartbeat packet, valid when ``track[2]`` is 1; it has
    id 0 and every change of session a new id, which is all :func:`_frame` compares.
    """
    rows = 0
    position = 0
    known = track[2] != np.uint64(0)
    session = 0
    for k in range(sizes.shape[0]):
        start = position
        end = position + sizes[k]
        position = end
        stats[STAT_DATAGRAMS] += 1
        if end - start < HEADER_LENGTH:
            stats[5] += 1  # SHORT_PACKET
            continue
        count = (np.int64(data[start + 18]) << 8) | np.int64(data[start + 19])
        if count == END_OF_SESSION_COUNT:
            stats[STAT_END_OF_SESSION] += 1
            if end - start > HEADER_LENGTH:
                stats[4] += 1  # TRAILING_BYTES
            continue
        same = known
        if known:
            for b in range(_SESSION_BYTES):
                if data[start + b] != current[b]:
                    same = False
                    break
        if not same:
            session += 1
            for b in range(_SESSION_BYTES):
                current[b] = data[start + b]
            known = True
        seq = np.uint64(0)
        for b in range(8):
            seq = (seq << np.uint64(8)) | np.uint64(data[start + _SESSION_BYTES + b])
        rows_out[rows, 0] = start + HEADER_LENGTH
        rows_out[rows, 1] = end
        rows_out[rows, 2] = count
        rows_out[rows, 3] = session
        seqs[rows] = seq
        rows += 1
    n = _frame(data, rows_out[:rows, 0], rows_out[:rows, 1], seqs[:rows], rows_out[:rows, 2],
               rows_out[:rows, 3], False, lengths, out, faults[:, 0], faults[:, 1],
               faults[:, 2], stats, track[3:4], track)
    track[2] = np.uint64(1) if known else np.uint64(0)
    return n


class StreamDecoder:
    """The lean streaming entry point: MoldUDP64 payloads in, BookEvents out, per burst.

    What :func:`decode` of a capture does, with its sequence tracking carried from
    one :meth:`push` to the next (as with a :class:`SequenceState`), but nothing is
    allocated per call once the buffers are big enough: no FeedFile, no
    DecodedFeed, no fault examples. Counts accumulate in :attr:`stats` (by
    :class:`Fault` value 1..5, 8 gaps, 10 duplicates, 11 heartbeats,
    :data:`STAT_END_OF_SESSION`, :data:`STAT_DATAGRAMS`) and :attr:`missing`
    (saturating at 2**64 - 1).
    """

    def __init__(self) -> None:
        self.stats = np.zeros(_STATS, np.int64)
        self._track = np.zeros(4, np.uint64)  # expected, synced, session known, missing
        self.missing = self._track[3:4]
        self._current = np.zeros(_SESSION_BYTES, np.uint8)
        self._no_examples = np.zeros((0, 3), np.int64)
        self._rows = np.zeros((64, 4), np.int64)
        self._seqs = np.zeros(64, np.uint64)
        self._events = np.empty(0, BOOK_EVENT_DTYPE)
        self._kernel_events = self._events.view(_KERNEL_DTYPE)
        self._bytes = np.frombuffer(self._events, np.uint8)

    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        """Decode one burst; the events are a view of a buffer the next push reuses."""
        n = self._decode(payloads)  # first: it may replace the buffer
        return self._events[:n]

    def push_copy(self, payloads: Sequence[bytes]) -> np.ndarray:
        """:meth:`push`, the events in an array of their own (copied as bytes, then viewed
        as BookEvents: NumPy copies a packed record array field by field, several times
        slower)."""
        n = self._decode(payloads)
        events: np.ndarray = self._bytes[:n * _EVENT_SIZE].copy().view(BOOK_EVENT_DTYPE)
        return events

    def _decode(self, payloads: Sequence[bytes]) -> int:
        """Decode one burst into the reused buffer; returns the rows written."""
        count = len(payloads)
        data = b"".join(payloads)
        if count > len(self._seqs):
            packets = max(count, 2 * len(self._seqs))
            self._rows = np.zeros((packets, 4), np.int64)
            self._seqs = np.zeros(packets, np.uint64)
        capacity = capacity_for(len(data))
        if capacity > len(self._events):
            self._events = np.empty(max(capacity, 2 * len(self._events)), BOOK_EVENT_DTYPE)
            self._kernel_events = self._events.view(_KERNEL_DTYPE)
            self._bytes = np.frombuffer(self._events, np.uint8)
        sizes = np.fromiter(map(len, payloads), np.int64, count)
        n: int = _stream(np.frombuffer(data, np.uint8), sizes, self._current, self._track,
                         self._rows, self._seqs, _LENGTHS, self._kernel_events,
                         self._no_examples, self.stats)
        return n

    @property
    def state(self) -> SequenceState:
        """The sequence tracking so far, as :func:`decode` takes and updates it."""
        track = self._track
        return SequenceState(int(track[0]), bool(track[1]),
                             self._current.tobytes() if track[2] else None)
