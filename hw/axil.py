"""AXI4-Lite: the bus signature and a register bank generated from a register map.

:class:`RegisterBank` turns a :class:`nanogate.proto.regmap.RegisterMap` into an
AXI4-Lite slave (32-bit data). Each register becomes ports of the component:

* ``rw`` / ``wo`` register ``x``: ``Out(width)`` port ``x`` (the value written) and
  ``Out(1)`` port ``x_stb``, high for one cycle after the write of its last word;
* ``ro`` register ``x``: ``In(width)`` port ``x``, driven by the design.

One transaction at a time per direction; a write needs AW and W together (as
cocotbext-axi and most masters send them). Responses: OKAY; SLVERR for a
write to a read-only register; DECERR for an address outside the map.
Reads answer one cycle after the address is taken. Reading the low word of
a wide ``ro`` register latches its upper words, so a 64-bit counter is read
whole; other words are read live.

Verilog ports of a bank named ``bus``: ``bus__awaddr``, ``bus__awvalid``, ... as
``amaranth.back.verilog`` joins names with a double underscore. cocotbext-axi
finds them with ``AxiLiteBus.from_prefix(dut, "bus_")``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nanogate.proto.regmap import WORD_BITS, WORD_BYTES, Access, Register, RegisterMap

RESP_OKAY, RESP_SLVERR, RESP_DECERR = 0b00, 0b10, 0b11


class AXILiteSignature(wiring.Signature):  # type: ignore[misc]
    """AXI4-Lite as seen from the master (a slave takes it with ``In(...)``)."""

    def __init__(self, addr_width: int, data_width: int = WORD_BITS):
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class RegisterBank(wiring.Component):  # type: ignore[misc]
    def __init__(self, regmap: RegisterMap):
        self.regmap = regmap
        members: dict[str, object] = {"bus": In(AXILiteSignature(regmap.address_width))}
        for register in regmap.registers:
            if register.access is Access.RO:
                members[register.name] = In(register.width)
            else:
                members[register.name] = Out(register.width, init=register.reset)
                members[f"{register.name}_stb"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus = self.bus
        words = self.regmap.size // WORD_BYTES

        # One Switch per channel on the word address: a parallel decode (a few LUT
        # levels) rather than a priority chain of comparisons per register word.
        # --- write channel ------------------------------------------------------
        take_write = Signal()
        m.d.comb += take_write.eq(bus.awvalid & bus.wvalid & ~bus.bvalid)
        m.d.comb += [bus.awready.eq(take_write), bus.wready.eq(take_write)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        for register in self.regmap.registers:
            if register.writable:
                m.d.sync += getattr(self, f"{register.name}_stb").eq(0)
        with m.If(take_write):
            m.d.sync += bus.bvalid.eq(1)
            with m.Switch(bus.awaddr[2:]):
                for register in self.regmap.registers:
                    base = self.regmap.offset(register.name) // WORD_BYTES
                    for word in range(register.words):
                        with m.Case(base + word):
                            self._write_word(m, register, word)
                with m.Default():
                    m.d.sync += bus.bresp.eq(RESP_DECERR)

        # --- read channel -------------------------------------------------------
        take_read = Signal()
        m.d.comb += [take_read.eq(bus.arvalid & ~bus.rvalid), bus.arready.eq(take_read)]
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        latches = {r.name: Signal(r.words * WORD_BITS, name=f"{r.name}_latched")
                   for r in self.regmap.registers if r.access is Access.RO and r.words > 1}
        with m.If(take_read):
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(RESP_OKAY), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                for register in self.regmap.registers:
                    base = self.regmap.offset(register.name) // WORD_BYTES
                    value = getattr(self, register.name)
                    padded = Cat(value, Const(0, register.words * WORD_BITS - register.width))
                    latched = latches.get(register.name)
                    for word in range(register.words):
                        with m.Case(base + word):
                            chunk = slice(word * WORD_BITS, (word + 1) * WORD_BITS)
                            if register.access is Access.WO:
                                pass  # reads as 0
                            elif latched is not None and word == 0:
                                m.d.sync += [bus.rdata.eq(padded[chunk]), latched.eq(padded)]
                            elif latched is not None:
                                m.d.sync += bus.rdata.eq(latched[chunk])
                            else:
                                m.d.sync += bus.rdata.eq(padded[chunk])
                with m.Default():
                    m.d.sync += bus.rresp.eq(RESP_DECERR)
        assert words * WORD_BYTES == self.regmap.size
        return m

    def _write_word(self, m: Module, register: Register, word: int) -> None:
        """The write of one 32-bit word of ``register``, byte lanes by WSTRB."""
        bus = self.bus
        if not register.writable:
            m.d.sync += bus.bresp.eq(RESP_SLVERR)
            return
        m.d.sync += bus.bresp.eq(RESP_OKAY)
        value = getattr(self, register.name)
        for byte in range(WORD_BYTES):
            low = word * WORD_BITS + 8 * byte
            if low >= register.width:
                break
            high = min(low + 8, register.width)
            with m.If(bus.wstrb[byte]):
                m.d.sync += value[low:high].eq(bus.wdata[8 * byte:8 * byte + high - low])
        if word == register.words - 1:
            m.d.sync += getattr(self, f"{register.name}_stb").eq(1)
