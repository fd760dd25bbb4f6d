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
def _check(data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           out: np.ndarray) -> None:  # pragma: no cover - compiled
    for p in range(starts.shape[0]):
        start = starts[p]
        end = ends[p]
        if end - start < 20:
            out[p] = 5  # SHORT_PACKET
            continue
        count = int((np.int64(data[start + 18]) << 8) | np.int64(data[start + 19]))
        position = start + 20
        if count == 0xFFFF:
            count = 0
        fault = 0
        for _ in range(count):
            if position + 2 > end:
                fault = 1  # TRUNCATED
                break
            length = (np.int64(data[position]) << 8) | np.int64(data[position + 1])
            if position + 2 + length > end:
                fault = 1
                break
            position += 2 + length
        if fault == 0 and position != end:
            fault = 4  # TRAILING_BYTES
        out[p] = fault


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
