"""MoldUDP64 framing checks for the arbiter: the header, and whether the blocks frame.

A packet whose blocks do not frame (truncated, trailing bytes) is dropped
whole by the arbiter and counted as malformed: the other line or the
rewinder supplies a good copy. Message contents (types, lengths) are the
device's to judge, as each block still takes its sequence number there.
The check is one compiled pass over a whole burst.
"""

from __future__ import annotations

import struct

import numba
import numpy as np

from nanogate.proto.faults import Fault
from nanogate.proto.moldudp64 import END_OF_SESSION_COUNT, HEADER_LENGTH

HEADER = struct.Struct(">10sQH")  # session, sequence number, message count


@numba.njit(cache=True, nogil=True)
def _fault(data: np.ndarray, start: int, end: int) -> int:  # pragma: no cover - compiled
    """The framing fault of ``data[start:end]`` (0: frames cleanly)."""
    if end - start < 20:
        return 5  # SHORT_PACKET
    count = int((np.int64(data[start + 18]) << 8) | np.int64(data[start + 19]))
    position = start + 20
    if count == 0xFFFF:
        count = 0
    for _ in range(count):
        if position + 2 > end:
            return 1  # TRUNCATED
        length = int((np.int64(data[position]) << 8) | np.int64(data[position + 1]))
        if position + 2 + length > end:
            return 1
        position += 2 + length
    if position != end:
        return 4  # TRAILING_BYTES
    return 0


@numba.njit(cache=True, nogil=True)
def _check(data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           out: np.ndarray) -> None:  # pragma: no cover - compiled
    for p in range(starts.shape[0]):
        out[p] = _fault(data, starts[p], ends[p])


def check_burst(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Fault code per datagram ``data[starts[i]:ends[i]]`` (0: frames cleanly)."""
    out = np.zeros(len(starts), np.int8)
    if len(starts):
        _check(data, starts.astype(np.int64, copy=False), ends.astype(np.int64, copy=False),
               out)
    return out


@numba.njit(cache=True, nogil=True)
def _in_order(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, faults: np.ndarray,
              session: np.ndarray, expected: int, begin: int,
              out: np.ndarray) -> tuple[int, int]:  # pragma: no cover - compiled
    for p in range(begin, starts.shape[0]):
        start = starts[p]
        if faults[p] != 0 or ends[p] - start < 20:
            return p, expected
        for k in range(10):
            if data[start + k] != session[k]:
                return p, expected
        sequence = np.int64(0)
        for k in range(8):
            sequence = (sequence << 8) | np.int64(data[start + 10 + k])
        count = (np.int64(data[start + 18]) << 8) | np.int64(data[start + 19])
        if count == 0 or count == 0xFFFF or sequence < 0:  # noqa: PLR1714 - as above
            return p, expected  # heartbeat, end of session, absurd number: the full path
        if sequence + count <= expected:
            out[p] = 1  # every message delivered already: a duplicate
        elif sequence == expected:
            out[p] = 2  # exactly the next packet: delivered whole
            expected += int(count)
        else:
            return p, expected  # ahead (a gap) or overlapping: the full path
    return starts.shape[0], expected


def in_order(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, faults: np.ndarray,
             session: bytes, expected: int, begin: int, out: np.ndarray) -> tuple[int, int]:
    """Classify a burst from ``begin`` while it needs no more than "next or duplicate".

    ``out[p]``: 1 a duplicate (every message before ``expected``), 2 the packet
    starting exactly at ``expected`` (which then moves past it). Stops at the
    first packet that needs the arbiter's full logic (a fault, another session,
    a heartbeat or end of session, a gap, an overlap) and returns
    (that index, the new expected); the caller hands that one packet to
    :meth:`Arbiter.on_packet` and carries on after it.
    """
    key = np.frombuffer(session.ljust(10)[:10], np.uint8)
    stop, after = _in_order(data, starts, ends, faults, key, expected, begin, out)
    return int(stop), int(after)


@numba.njit(cache=True, nogil=True)
def _sequences(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, faults: np.ndarray,
               session: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    ordered = True
    for p in range(starts.shape[0]):
        start = starts[p]
        if faults[p] != 0 or ends[p] - start < 20:
            return False
        for k in range(10):
            if data[start + k] != session[k]:
                return False
        count = (np.int64(data[start + 18]) << 8) | np.int64(data[start + 19])
        if count == 0 or count == 0xFFFF:  # noqa: PLR1714 - plain compares compile in numba
            return False
        sequence = np.int64(0)
        for k in range(8):
            sequence = (sequence << 8) | np.int64(data[start + 10 + k])
        if sequence < 0:
            return False
        out[p] = sequence
        if p and sequence < out[p - 1]:
            ordered = False
    return not ordered


def sequence_order(data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                   faults: np.ndarray, session: bytes) -> np.ndarray | None:
    """The burst's packets by sequence number (stable: first arrival first), or None.

    None when the order is fine as it is, or when the burst holds anything
    but clean data packets of ``session`` (faults, heartbeats, end of session,
    another session), whose order matters to the arbiter. A burst is taken
    from the ring at one instant, so handling it in sequence order is as
    valid as the order it was received in; it turns line A's burst then line
    B's (each with its own losses) into one in-order stream, without
    holding and draining every packet after each loss.
    """
    key = np.frombuffer(session.ljust(10)[:10], np.uint8)
    sequences = np.empty(len(starts), np.int64)
    if len(starts) < 2 or not _sequences(data, starts, ends, faults, key, sequences):
        return None
    return np.argsort(sequences, kind="stable")


@numba.njit(cache=True, nogil=True)
def _slots_in_order(pool: np.ndarray, slot_size: int, first: int, count: int,
                    lengths: np.ndarray, flags: np.ndarray, lines: np.ndarray,
                    stamps: np.ndarray, session: np.ndarray, expected: int,
                    sequences: np.ndarray, out: np.ndarray,
                    tally: np.ndarray) -> tuple[int, int]:  # pragma: no cover - compiled
    # Pass 1, per slot in arrival order: what check_burst, the truncation flag and
    # sequence_order look at. Anything but a clean data packet of the session: decline.
    ordered = True
    for p in range(count):
        slot = first + p
        start = slot * slot_size
        end = start + int(lengths[slot])
        if flags[slot] & 1 or _fault(pool, start, end) != 0:  # FLAG_TRUNCATED
            return -1, expected
        for k in range(10):
            if pool[start + k] != session[k]:
                return -1, expected
        announced = (np.int64(pool[start + 18]) << 8) | np.int64(pool[start + 19])
        if announced == 0 or announced == 0xFFFF:  # noqa: PLR1714 - as in _sequences
            return -1, expected
        sequence = np.int64(0)
        for k in range(8):
            sequence = (sequence << 8) | np.int64(pool[start + 10 + k])
        if sequence < 0:
            return -1, expected
        sequences[p] = sequence
        if p and sequence < sequences[p - 1]:
            ordered = False
    if ordered:
        order = np.arange(count)
    else:
        order = np.argsort(sequences[:count], kind="mergesort")  # stable
    # Pass 2, in sequence order: what in_order does, to the end or not at all.
    for k in range(6):
        tally[k] = 0
    delivered = 0
    for i in range(count):
        p = order[i]
        slot = first + p
        start = slot * slot_size
        size = int((np.int64(pool[start + 18]) << 8) | np.int64(pool[start + 19]))
        sequence = sequences[p]
        line = np.int64(lines[slot])
        if line > 2:
            return -1, expected  # not a Line: the general path's to report
        tally[line] += 1
        if sequence + size <= expected:
            tally[3 + line] += 1  # a duplicate
        elif sequence == expected:
            out[delivered, 0] = start
            out[delivered, 1] = start + int(lengths[slot])
            out[delivered, 2] = size
            out[delivered, 3] = line
            out[delivered, 4] = stamps[slot]
            delivered += 1
            expected += size
        else:
            return -1, expected  # a gap or an overlap
    return delivered, expected


class SlotsInOrder:
    """The in-order fast path over ring slots: framing, order and classification in one pass.

    :meth:`classify` looks at slots ``first .. first + count - 1`` of a pool of
    ``slot_size``-byte slots (descriptor columns ``lengths``, ``flags``,
    ``lines``, ``stamps``, indexed by slot) and says what :func:`check_burst`,
    :func:`sequence_order` and :func:`in_order` would, when their answer is
    the simple one: every datagram a clean data packet of ``session``, and in
    sequence order (stable) each either a duplicate or exactly the next. Then
    it returns the packets to deliver, in that order, as [start, end, count,
    line, rx_ns] rows (byte offsets in ``pool``), the packets and duplicates
    per line (``tally``: 3 + 3 counts, by line number) and the new expected
    number; otherwise None, and the burst goes the general way.
    """

    def __init__(self) -> None:
        self._sequences = np.zeros(64, np.int64)
        self._out = np.zeros((64, 5), np.int64)
        self.tally = np.zeros(6, np.int64)
        self._session = b""
        self._key = np.zeros(10, np.uint8)

    def classify(self, pool: np.ndarray, slot_size: int, first: int, count: int,
                 lengths: np.ndarray, flags: np.ndarray, lines: np.ndarray,
                 stamps: np.ndarray, session: bytes,
                 expected: int) -> tuple[list[list[int]], int] | None:
        if count > len(self._sequences):
            self._sequences = np.zeros(count, np.int64)
            self._out = np.zeros((count, 5), np.int64)
        if session != self._session:
            self._session, self._key = session, np.frombuffer(session.ljust(10)[:10], np.uint8)
        delivered, after = _slots_in_order(pool, slot_size, first, count, lengths, flags,
                                           lines, stamps, self._key, expected,
                                           self._sequences, self._out, self.tally)
        if delivered < 0:
            return None
        return self._out[:delivered].tolist(), after


def check_payload(payload: bytes) -> Fault | None:
    """The framing fault of one datagram, or None."""
    code = int(check_burst(np.frombuffer(payload, np.uint8), np.array([0]),
                           np.array([len(payload)]))[0])
    return Fault(code) if code else None


def trim(payload: bytes, skip: int) -> bytes:
    """The same packet less its first ``skip`` messages (renumbered), for a partial overlap."""
    session, sequence, count = HEADER.unpack_from(payload)
    position = HEADER_LENGTH
    for _ in range(skip):
        position += 2 + int.from_bytes(payload[position:position + 2], "big")
    assert 0 < skip < count != END_OF_SESSION_COUNT
    return HEADER.pack(session, sequence + skip, count - skip) + payload[position:]
