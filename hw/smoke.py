"""A tiny but real stream block that proves the RTL flow: Amaranth -> simulator -> Verilog.

:class:`PacketCounter` is a one-stage pipeline register on a stream of packet beats
(:func:`~nanogate.hw.layouts.beat_layout`) that counts what it delivers. It follows the
hardware conventions of docs/DESIGN.md: ``wiring.Component`` with ``lib.stream``
ports, one beat per cycle, back-pressure honoured.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.layouts import beat_layout

__all__ = ["PacketCounter"]


class PacketCounter(wiring.Component):  # type: ignore[misc]
    """Pass packet beats through one register stage, counting beats and packets.

    Ports (the members of its signature):

    ``i``: ``In(stream.Signature(beat_layout(data_bytes)))``, the incoming beats.
    ``o``: ``Out(stream.Signature(beat_layout(data_bytes)))``, the same beats, in order,
    one cycle later at the earliest.
    ``beats``, ``packets``: ``Out(32)``, beats and packets (beats with ``last``)
    delivered on ``o`` since reset, wrapping at 2**32.

    Timing: latency 1 cycle, throughput 1 beat per cycle. The output register is
    loaded whenever it is empty or being emptied in the same cycle, so
    ``i.ready = ~o.valid | o.ready``: ``o.valid`` and ``o.payload`` come straight from
    flops, and the only combinational path is ``o.ready -> i.ready`` (no loop: a
    stream's ``valid`` never depends on its ``ready``).
    """

    def __init__(self, data_bytes: int = 8) -> None:
        self.data_bytes = data_bytes
        layout = beat_layout(data_bytes)
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
            "beats": Out(32),
            "packets": Out(32),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()

        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += [
                self.o.valid.eq(self.i.valid),
                self.o.payload.eq(self.i.payload),
            ]

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.beats.eq(self.beats + 1)
            with m.If(self.o.payload.last):
                m.d.sync += self.packets.eq(self.packets + 1)

        return m
