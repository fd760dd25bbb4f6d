"""The ``software`` feed parser: the golden model of ``hw/feed``, register for register.

MoldUDP64 payloads go through the fast decoder (:mod:`nanogate.gateway.feed.fast`)
with its sequence tracking carried from one :meth:`push` to the next, then
through the instrument filter; every counter of
:data:`nanogate.proto.feed_regs.FEED_REGS` is kept with the hardware's width
(32-bit counters wrap, ``missing`` saturates at 2**64 - 1). ``stalls`` counts
clock cycles, which software has none of: it stays 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nanogate.gateway.device import DeviceError
from nanogate.gateway.feed import fast
from nanogate.gateway.feed.source import FeedFile
from nanogate.proto.faults import Fault
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, FILTER_PASS_BIT, LOCATE_BITS
from nanogate.proto.records import BOOK_EVENT_DTYPE
from nanogate.proto.regmap import Access, RegisterMap

_U64_MAX = (1 << 64) - 1


class SoftwareFeedParser:
    """Payloads in, BookEvents out, with the hardware's registers. Options are ignored."""

    def __init__(self, **options: Any) -> None:
        self._state = fast.SequenceState()
        self._counters = dict.fromkeys(COUNTER_NAMES, 0)
        self._filter_enable = 0
        self._filter_table = np.zeros(1 << LOCATE_BITS, dtype=bool)  # all drop, as in hardware

    @property
    def regmap(self) -> RegisterMap:
        return FEED_REGS

    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        bounds: list[tuple[int, int]] = []
        position = 0
        for payload in payloads:
            bounds.append((position, position + len(payload)))
            position += len(payload)
        feed = FeedFile(Path("<device>"), "pcap", b"".join(payloads), bounds)
        decoded = fast.decode(feed, state=self._state)
        events = decoded.events.copy()
        self._add("packets", len(payloads))
        self._add("messages", len(events))
        self._add("heartbeats", decoded.heartbeats)
        self._add("end_of_session", decoded.end_of_session)
        for fault in Fault:
            self._add(fault.label, decoded.faults[fault])
        self._add("gaps", decoded.gaps)
        self._add("duplicates", decoded.duplicates)
        self._counters["missing"] = min(self._counters["missing"] + decoded.missing, _U64_MAX)
        if self._filter_enable:
            keep = self._filter_table[events["stock_locate"]]
            self._add("filtered", int(np.count_nonzero(~keep)))
            events = events[keep]
        self._add("records", len(events))
        return np.ascontiguousarray(events, dtype=BOOK_EVENT_DTYPE)

    def _add(self, name: str, amount: int) -> None:
        width = FEED_REGS.register(name).width
        self._counters[name] = (self._counters[name] + amount) & ((1 << width) - 1)

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def read_register(self, name: str) -> int:
        register = FEED_REGS.register(name)
        if name in self._counters:
            return self._counters[name]
        if name == "filter_enable":
            return self._filter_enable
        assert register.access is Access.WO
        return 0  # write-only registers read as 0

    def write_register(self, name: str, value: int) -> None:
        register = FEED_REGS.register(name)
        if not register.writable:
            raise DeviceError(f"register {name!r} is read-only")
        value &= (1 << register.width) - 1
        if name == "filter_enable":
            self._filter_enable = value
        elif name == "filter_write":
            locate = value & ((1 << LOCATE_BITS) - 1)
            self._filter_table[locate] = bool(value >> FILTER_PASS_BIT & 1)
