"""The feed parser's top level: AXI-Stream in and out, AXI4-Lite registers.

``s_axis``: the MoldUDP64 payloads, one per frame (``tlast``), ``W`` bytes per
beat with ``tkeep`` (packed: only a frame's last beat may be partial).
``m_axis``: one BookEvent per beat (``tlast`` always 1), ``tdata`` laid out as
:data:`nanogate.hw.layouts.BOOK_EVENT_LAYOUT` (``seq`` in bits 63..0).
``bus``: AXI4-Lite, the bank generated from :data:`nanogate.proto.feed_regs.FEED_REGS`.

Verilog ports are ``s_axis__tdata``, ``m_axis__tvalid``, ``bus__awaddr``, ...;
cocotbext-axi finds them with ``from_prefix(dut, "s_axis_")`` and so on.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.axil import AXILiteSignature, RegisterBank
from nanogate.hw.feed.parser import FeedParser
from nanogate.hw.layouts import BOOK_EVENT_LAYOUT
from nanogate.proto.feed_regs import COUNTERS, FEED_REGS, LOCATE_BITS

__all__ = ["AXIStreamSignature", "FeedParserTop"]


class AXIStreamSignature(wiring.Signature):  # type: ignore[misc]
    """AXI4-Stream as seen from the master: TDATA, TKEEP (optional), TLAST, TVALID, TREADY."""

    def __init__(self, data_bits: int, keep: bool = True):
        members: dict[str, object] = {"tdata": Out(data_bits), "tlast": Out(1),
                                      "tvalid": Out(1), "tready": In(1)}
        if keep:
            members["tkeep"] = Out(data_bits // 8)
        super().__init__(members)


class FeedParserTop(wiring.Component):  # type: ignore[misc]
    def __init__(self, data_bytes: int = 8, filter_depth: int = 1 << LOCATE_BITS) -> None:
        self.data_bytes = data_bytes
        self.filter_depth = filter_depth
        super().__init__({
            "s_axis": In(AXIStreamSignature(8 * data_bytes)),
            "m_axis": Out(AXIStreamSignature(BOOK_EVENT_LAYOUT.size, keep=False)),
            "bus": In(AXILiteSignature(FEED_REGS.address_width)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.parser = parser = FeedParser(self.data_bytes, self.filter_depth)
        m.submodules.regs = regs = RegisterBank(FEED_REGS)
        wiring.connect(m, wiring.flipped(self.bus), regs.bus)
        m.d.comb += [
            parser.i.valid.eq(self.s_axis.tvalid),
            parser.i.payload.data.eq(self.s_axis.tdata),
            parser.i.payload.keep.eq(self.s_axis.tkeep),
            parser.i.payload.last.eq(self.s_axis.tlast),
            self.s_axis.tready.eq(parser.i.ready),
            self.m_axis.tvalid.eq(parser.o.valid),
            self.m_axis.tdata.eq(parser.o.payload.as_value()),
            self.m_axis.tlast.eq(1),
            parser.o.ready.eq(self.m_axis.tready),
            parser.filter_enable.eq(regs.filter_enable),
            parser.filter_write.eq(regs.filter_write),
            parser.filter_write_stb.eq(regs.filter_write_stb),
        ]
        for register in COUNTERS:
            m.d.comb += getattr(regs, register.name).eq(getattr(parser, register.name))
        return m
