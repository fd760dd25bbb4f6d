"""The risk pipeline with AXI4-Stream ports: what a board's shell and cocotbext-axi see.

Ports (Verilog names): ``bus__*`` (AXI4-Lite, the limits register map),
``s_axis_order__tdata[239:0]`` / ``__tvalid`` / ``__tready`` (one Order per beat),
``s_axis_update__*`` (one RiskUpdate per beat), ``m_axis_decision__*`` (one Decision per
beat), ``clk``, ``rst``. TDATA is the record's layout, first field at bit 0. A record
is a whole beat, so there is no TLAST/TKEEP; cocotbext-axi drives it with
``byte_lanes=1``.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nanogate.hw.axil import AXILiteSignature
from nanogate.hw.risk.pipeline import RiskPipeline
from nanogate.proto.risk import DECISION, DUP_WINDOW, ORDER, RISK_REGMAP, UPDATE

__all__ = ["AXIStreamSignature", "RiskTop"]


class AXIStreamSignature(wiring.Signature):  # type: ignore[misc]
    """AXI4-Stream (TDATA, TVALID, TREADY) as seen from the master."""

    def __init__(self, data_width: int) -> None:
        super().__init__({"tdata": Out(data_width), "tvalid": Out(1), "tready": In(1)})


class RiskTop(wiring.Component):  # type: ignore[misc]
    def __init__(self, instruments: int = 8192, accounts: int = 1024, dup_bits: int = 16,
                 dup_window: int = DUP_WINDOW) -> None:
        self.params = (instruments, accounts, dup_bits, dup_window)
        super().__init__({
            "bus": In(AXILiteSignature(RISK_REGMAP.address_width)),
            "s_axis_order": In(AXIStreamSignature(ORDER.bits)),
            "s_axis_update": In(AXIStreamSignature(UPDATE.bits)),
            "m_axis_decision": Out(AXIStreamSignature(DECISION.bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.risk = risk = RiskPipeline(*self.params)
        wiring.connect(m, wiring.flipped(self.bus), risk.bus)
        for axis, port in ((self.s_axis_order, risk.orders), (self.s_axis_update, risk.updates)):
            m.d.comb += [port.valid.eq(axis.tvalid), port.payload.eq(axis.tdata),
                         axis.tready.eq(port.ready)]
        out = self.m_axis_decision
        m.d.comb += [out.tvalid.eq(risk.decisions.valid), out.tdata.eq(risk.decisions.payload),
                     risk.decisions.ready.eq(out.tready)]
        return m
