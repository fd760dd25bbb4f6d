"""The platform core: the feed parser and the risk pipeline behind one AXI4-Lite port.

:class:`PlatformCore` is what every platform top wraps. Its ``ocl`` port (32-bit
AXI4-Lite, 16-bit address) reaches three register banks, selected by address
bits 13..12 (the map the ``aws`` backend uses, ``gateway/device/aws.py``):

* ``0x0000`` the feed parser (:data:`~nanogate.proto.feed_regs.FEED_REGS`);
* ``0x1000`` the risk pipeline (:data:`~nanogate.proto.risk.RISK_REGMAP`);
* ``0x2000`` the platform registers (:data:`PLATFORM_REGS`); ``0x3000`` aliases it.

One transaction at a time per direction: a response is routed back from the bank
that took the request before the next request is taken. The ``pcis`` port (512-bit
AXI4 slave, :class:`~nanogate.hw.platforms.pcis.PcisAdapter`) carries packets, orders
and updates in and BookEvents and decisions out, in the windows and framing of
:mod:`nanogate.proto.aws_map`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from nanogate.hw.axil import AXILiteSignature, RegisterBank
from nanogate.hw.feed.top import FeedParserTop
from nanogate.hw.platforms.pcis import AXI4Signature, PcisAdapter
from nanogate.hw.risk.top import RiskTop
from nanogate.proto.aws_map import OCL_BANK_BYTES, PLATFORM_ID, PLATFORM_REGS

OCL_ADDRESS_BITS = 16
BANK_SHIFT = OCL_BANK_BYTES.bit_length() - 1  # 4 KiB banks
#: The risk pipeline's test sizes (instruments, accounts, dup_bits, dup_window): those
#: of the hand cases in ``sim/cocotb/tb_risk_cases.py``, so a simulated CL runs them.
SMALL_RISK = (16, 16, 6, 8)


class PlatformCore(wiring.Component):  # type: ignore[misc]
    def __init__(self, *, small: bool = False, id_bits: int = 16) -> None:
        """``small``: test-sized tables (filter 256 entries, risk :data:`SMALL_RISK`), for lint
        and simulation. ``id_bits``: the shell's AXI ID width on PCIS (F2 16, F1 6)."""
        self.small = small
        self.id_bits = id_bits
        super().__init__({
            "ocl": In(AXILiteSignature(OCL_ADDRESS_BITS)),
            "pcis": In(AXI4Signature(id_bits=id_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.small:
            feed, risk = FeedParserTop(filter_depth=256), RiskTop(*SMALL_RISK)
        else:
            feed, risk = FeedParserTop(), RiskTop()
        m.submodules.feed = feed
        m.submodules.risk = risk
        m.submodules.pcis = pcis = PcisAdapter(self.id_bits)
        m.submodules.platform_regs = regs = RegisterBank(PLATFORM_REGS)
        wiring.connect(m, wiring.flipped(self.pcis), pcis.pcis)
        m.d.comb += [regs.platform_id.eq(PLATFORM_ID),
                     regs.records_ready.eq(pcis.records_ready),
                     regs.records_tail.eq(pcis.records_tail),
                     regs.decisions_ready.eq(pcis.decisions_ready),
                     regs.decisions_tail.eq(pcis.decisions_tail),
                     pcis.records_pop.eq(regs.records_pop),
                     pcis.records_pop_stb.eq(regs.records_pop_stb),
                     pcis.decisions_pop.eq(regs.decisions_pop),
                     pcis.decisions_pop_stb.eq(regs.decisions_pop_stb),
                     regs.pcis_write_errors.eq(pcis.write_errors),
                     regs.pcis_read_errors.eq(pcis.read_errors),
                     regs.pcis_framing_errors.eq(pcis.framing_errors),
                     regs.pcis_stall_cycles.eq(pcis.stall_cycles)]
        banks = [feed.bus, risk.bus, regs.bus, regs.bus]

        # streams: the PCIS adapter to and from the cores' AXI-Stream ports
        m.d.comb += [
            feed.s_axis.tdata.eq(pcis.feed.payload.data),
            feed.s_axis.tkeep.eq(pcis.feed.payload.keep),
            feed.s_axis.tlast.eq(pcis.feed.payload.last),
            feed.s_axis.tvalid.eq(pcis.feed.valid),
            pcis.feed.ready.eq(feed.s_axis.tready),
            pcis.records.payload.eq(feed.m_axis.tdata),
            pcis.records.valid.eq(feed.m_axis.tvalid),
            feed.m_axis.tready.eq(pcis.records.ready),
            pcis.decisions.payload.eq(risk.m_axis_decision.tdata),
            pcis.decisions.valid.eq(risk.m_axis_decision.tvalid),
            risk.m_axis_decision.tready.eq(pcis.decisions.ready),
        ]
        for outer, inner in ((pcis.orders, risk.s_axis_order), (pcis.updates, risk.s_axis_update)):
            m.d.comb += [inner.tdata.eq(outer.payload), inner.tvalid.eq(outer.valid),
                         outer.ready.eq(inner.tready)]

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
