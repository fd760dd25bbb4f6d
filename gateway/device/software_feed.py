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
from typing import Any

import numpy as np

from nanogate.gateway.device import DeviceError
from nanogate.gateway.feed import fast
from nanogate.proto.faults import Fault
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, FILTER_PASS_BIT, LOCATE_BITS
from nanogate.proto.regmap import Access, RegisterMap

_U64_MAX = (1 << 64) - 1


# Where each counter comes from in fast.StreamDecoder.stats.
_STAT_COUNTERS: tuple[tuple[str, int], ...] = (
    ("heartbeats", 11), ("end_of_session", fast.STAT_END_OF_SESSION),
    *((fault.label, int(fault)) for fault in Fault), ("gaps", 8), ("duplicates", 10),
)


class SoftwareFeedParser:
    """Payloads in, BookEvents out, with the hardware's registers. Options are ignored.

    The decoder's counts accumulate in its own arrays and the counts kept here are
    plain sums; each counter wraps to its register's width when read, which equals
    wrapping at every push.
    """

    def __init__(self, **options: Any) -> None:
        self._decoder = fast.StreamDecoder()
        self._sums = dict.fromkeys(("packets", "messages", "records", "filtered"), 0)
        self._masks = {name: (1 << FEED_REGS.register(name).width) - 1
                       for name in COUNTER_NAMES}
        self._filter_enable = 0
        self._filter_table = np.zeros(1 << LOCATE_BITS, dtype=bool)  # all drop, as in hardware

    @property
    def regmap(self) -> RegisterMap:
        return FEED_REGS

    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        sums = self._sums
        sums["packets"] += len(payloads)
        events: np.ndarray
        if self._filter_enable:
            decoded = self._decoder.push(payloads)  # its buffer is reused by the next push
            keep = self._filter_table[decoded["stock_locate"]]
            events = decoded[keep]  # a copy
            sums["messages"] += len(decoded)
            sums["filtered"] += len(decoded) - len(events)
        else:
            events = self._decoder.push_copy(payloads)
            sums["messages"] += len(events)
        sums["records"] += len(events)
        return events

    def counters(self) -> dict[str, int]:
        stats = self._decoder.stats.tolist()
        masks = self._masks
        values = {name: value & masks[name] for name, value in self._sums.items()}
        for name, slot in _STAT_COUNTERS:
            values[name] = stats[slot] & masks[name]
        values["missing"] = min(int(self._decoder.missing[0]), _U64_MAX)
        values["stalls"] = 0
        return {name: values[name] for name in COUNTER_NAMES}

    def read_register(self, name: str) -> int:
        register = FEED_REGS.register(name)
        if name in self._masks:
            return self.counters()[name]
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
