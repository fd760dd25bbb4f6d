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
