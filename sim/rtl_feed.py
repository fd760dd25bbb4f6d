"""The ``rtl-sim`` feed parser: the Amaranth design itself, in the Amaranth simulator.

Every payload goes through :class:`nanogate.hw.feed.top.FeedParserTop` beat by
beat (AXI-Stream), records come back from ``m_axis``, and registers are read
and written through the AXI4-Lite bank, so this backend exercises the same
contract a board does.

Why the Amaranth simulator and not Icarus: it runs in-process with no tool to
install, and one simulation lives as long as the backend, so sequence
tracking, counters and the filter table carry across :meth:`push` calls as
in a device. It is slow (about 1,500 clock cycles a second, a 64-bit beat
per cycle: some 12 kB of feed a second); the cocotb tests run the generated
Verilog under Icarus instead, and the benchmark counts cycles, not seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nanogate.gateway.device import DeviceError
from nanogate.hw.feed.harness import FeedSim, PushTrace
from nanogate.hw.feed.stimulus import records_to_array
from nanogate.proto.feed_regs import COUNTER_NAMES, FEED_REGS, LOCATE_BITS
from nanogate.proto.records import BOOK_EVENT_DTYPE
from nanogate.proto.regmap import RegisterMap


class RtlFeedParser:
    """Options: ``data_bytes`` (8), ``filter_depth`` (65536), ``gap_probability`` and
    ``ready_probability`` (random idle input cycles / output back-pressure), ``seed``."""

    def __init__(self, data_bytes: int = 8, filter_depth: int = 1 << LOCATE_BITS,
                 gap_probability: float = 0.0, ready_probability: float = 1.0,
                 seed: int = 0, **options: Any) -> None:
        self._sim = FeedSim(data_bytes, filter_depth, gap_probability=gap_probability,
                            ready_probability=ready_probability, seed=seed)
        self.last_trace = PushTrace()

    @property
    def regmap(self) -> RegisterMap:
        return FEED_REGS

    @property
    def cycles(self) -> int:
        """Clock cycles simulated so far."""
        return self._sim.cycle

    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        self.last_trace = self._sim.push(payloads)
        if not self.last_trace.records:
            return np.zeros(0, BOOK_EVENT_DTYPE)
        return records_to_array(self.last_trace.records)

    def counters(self) -> dict[str, int]:
        return {name: self._sim.read_register(name) for name in COUNTER_NAMES}

    def read_register(self, name: str) -> int:
        FEED_REGS.register(name)  # KeyError for a name not in the map
        return self._sim.read_register(name)

    def write_register(self, name: str, value: int) -> None:
        if not FEED_REGS.register(name).writable:
            raise DeviceError(f"register {name!r} is read-only")
        self._sim.write_register(name, value)
