"""Why a message or packet of the feed was dropped: one name per fault, used everywhere.

The software decoders count under these names, ``nanogate feed stats``
prints them, and the hardware parser's error counters are named after them.
"""

from __future__ import annotations

import enum


class Fault(enum.IntEnum):
    TRUNCATED = 1  # the buffer ends inside a length prefix or a message
    UNKNOWN_TYPE = 2  # type byte not in the ITCH 5.0 table
    BAD_LENGTH = 3  # length prefix disagrees with the type's length (or is zero)
    TRAILING_BYTES = 4  # bytes left in a packet after its announced messages
    SHORT_PACKET = 5  # datagram shorter than the MoldUDP64 header

    @property
    def label(self) -> str:
        return self.name.lower()


class FeedFault(ValueError):
    """A fault with the place it happened, as raised by the strict decoders."""

    def __init__(self, fault: Fault, detail: str, offset: int = -1):
        super().__init__(detail)
        self.fault = fault
        self.offset = offset
