"""The platform core: the feed parser and the risk pipeline behind one AXI4-Lite port.

:class:`PlatformCore` is what every platform top wraps. Its ``ocl`` port (32-bit
AXI4-Lite, 16-bit address) reaches three register banks, selected by address
bits 13..12 (the map the ``aws`` backend uses, ``gateway/device/aws.py``):

* ``0x0000`` the feed parser (:data:`~nanogate.proto.feed_regs.FEED_REGS`);
* ``0x1000`` the risk pipeline (:data:`~nanogate.proto.risk.RISK_REGMAP`);
* ``0x2000`` the platform registers (:data:`PLATFORM_REGS`); ``0x3000`` aliases it.

One transaction at a time per direction: a response is routed back from the bank
that took the request before the next request is taken. The feed parser's and the
risk pipeline's streams are ports of the core (``feed_in``, ``feed_out``,
``orders``, ``updates``, ``decisions``), for the platform's stream adapter.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.axil import AXILiteSignature, RegisterBank
from nanogate.hw.feed.top import AXIStreamSignature, FeedParserTop
from nanogate.hw.layouts import BOOK_EVENT_LAYOUT
from nanogate.hw.risk.top import RiskTop
from nanogate.proto.aws_map import OCL_BANK_BYTES, PLATFORM_ID, PLATFORM_REGS
from nanogate.proto.risk import DECISION, ORDER, UPDATE

OCL_ADDRESS_BITS = 16
BANK_SHIFT = OCL_BANK_BYTES.bit_length() - 1  # 4 KiB banks


class PlatformCore(wiring.Component):  # type: ignore[misc]
    def __init__(self, *, small: bool = False) -> None:
        """``small``: test-sized tables (filter 256 entries, risk 16 / 4 / 2**4), for lint."""
        self.small = small
        super().__init__({
            "ocl": In(AXILiteSignature(OCL_ADDRESS_BITS)),
            "feed_in": In(AXIStreamSignature(64)),
            "feed_out": Out(AXIStreamSignature(BOOK_EVENT_LAYOUT.size, keep=False)),
            "orders": In(AXIStreamSignature(ORDER.bits, keep=False)),
            "updates": In(AXIStreamSignature(UPDATE.bits, keep=False)),
            "decisions": Out(AXIStreamSignature(DECISION.bits, keep=False)),
            "records_ready": In(32),
            "decisions_ready": In(32),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.small:
            feed, risk = FeedParserTop(filter_depth=256), RiskTop(16, 4, 4, 16)
        else:
            feed, risk = FeedParserTop(), RiskTop()
        m.submodules.feed = feed
        m.submodules.risk = risk
        m.submodules.platform_regs = regs = RegisterBank(PLATFORM_REGS)
        m.d.comb += [regs.platform_id.eq(PLATFORM_ID),
                     regs.records_ready.eq(self.records_ready),
                     regs.decisions_ready.eq(self.decisions_ready)]
        banks = [feed.bus, risk.bus, regs.bus, regs.bus]

        # streams: straight through to the platform's adapter
        m.d.comb += [
            feed.s_axis.tdata.eq(self.feed_in.tdata), feed.s_axis.tkeep.eq(self.feed_in.tkeep),
            feed.s_axis.tlast.eq(self.feed_in.tlast), feed.s_axis.tvalid.eq(self.feed_in.tvalid),
            self.feed_in.tready.eq(feed.s_axis.tready),
            self.feed_out.tdata.eq(feed.m_axis.tdata), self.feed_out.tlast.eq(feed.m_axis.tlast),
            self.feed_out.tvalid.eq(feed.m_axis.tvalid),
            feed.m_axis.tready.eq(self.feed_out.tready),
            self.decisions.tdata.eq(risk.m_axis_decision.tdata),
            self.decisions.tvalid.eq(risk.m_axis_decision.tvalid),
            self.decisions.tlast.eq(1),
            risk.m_axis_decision.tready.eq(self.decisions.tready),
        ]
        for outer, inner in ((self.orders, risk.s_axis_order), (self.updates, risk.s_axis_update)):
            m.d.comb += [inner.tdata.eq(outer.tdata), inner.tvalid.eq(outer.tvalid),
                         outer.tready.eq(inner.tready)]

        # AXI4-Lite demultiplexer, one transaction per direction in flight
        bus = self.ocl
        write_sel, write_busy = Signal(2), Signal()
        read_sel, read_busy = Signal(2), Signal()
        aw_sel = bus.awaddr[BANK_SHIFT:BANK_SHIFT + 2]
        ar_sel = bus.araddr[BANK_SHIFT:BANK_SHIFT + 2]
        for index, bank in enumerate(banks[:3]):
            selects = [index] if index < 2 else [2, 3]
            aw_hit = Signal(name=f"aw_hit{index}")
            ar_hit = Signal(name=f"ar_hit{index}")
            m.d.comb += [aw_hit.eq(0), ar_hit.eq(0)]
            for value in selects:
                with m.If(aw_sel == value):
                    m.d.comb += aw_hit.eq(1)
                with m.If(ar_sel == value):
                    m.d.comb += ar_hit.eq(1)
            width = len(bank.awaddr)
            m.d.comb += [
                bank.awaddr.eq(bus.awaddr[:width]), bank.wdata.eq(bus.wdata),
                bank.wstrb.eq(bus.wstrb),
                bank.awvalid.eq(bus.awvalid & aw_hit & ~write_busy),
                bank.wvalid.eq(bus.wvalid & aw_hit & ~write_busy),
                bank.bready.eq(bus.bready & write_busy & (write_sel == index)),
                bank.araddr.eq(bus.araddr[:width]),
                bank.arvalid.eq(bus.arvalid & ar_hit & ~read_busy),
                bank.rready.eq(bus.rready & read_busy & (read_sel == index)),
            ]
            with m.If(aw_hit & ~write_busy):
                m.d.comb += [bus.awready.eq(bank.awready), bus.wready.eq(bank.wready)]
                with m.If(bank.awvalid & bank.awready):
                    m.d.sync += [write_busy.eq(1), write_sel.eq(index)]
            with m.If(ar_hit & ~read_busy):
                m.d.comb += bus.arready.eq(bank.arready)
                with m.If(bank.arvalid & bank.arready):
                    m.d.sync += [read_busy.eq(1), read_sel.eq(index)]
            with m.If(write_busy & (write_sel == index)):
                m.d.comb += [bus.bvalid.eq(bank.bvalid), bus.bresp.eq(bank.bresp)]
                with m.If(bank.bvalid & bus.bready):
                    m.d.sync += write_busy.eq(0)
            with m.If(read_busy & (read_sel == index)):
                m.d.comb += [bus.rvalid.eq(bank.rvalid), bus.rdata.eq(bank.rdata),
                             bus.rresp.eq(bank.rresp)]
                with m.If(bank.rvalid & bus.rready):
                    m.d.sync += read_busy.eq(0)
        return m
