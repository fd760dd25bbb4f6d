"""The AXI4-Lite register bank generated from a register map."""

from __future__ import annotations

from typing import Any

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from nanogate.hw.axil import RESP_DECERR, RESP_OKAY, RESP_SLVERR, RegisterBank
from nanogate.hw.testing import axil_read, axil_write
from nanogate.proto.regmap import Access, Register, register_map
from nanogate.sim.cocotb.tb_axil import TEST_MAP as MAP


def test_offsets_and_markdown() -> None:
    assert MAP.offsets() == {"control": 0, "limit": 4, "counter": 12, "command": 20,
                             "status": 24}
    assert MAP.size == 28 and MAP.address_width == 5
    assert "| 0x0004 | `limit` | rw | 64 | 0x0 | a 64-bit limit |" in MAP.markdown()
    with pytest.raises(ValueError, match="twice"):
        register_map("x", [Register("a", Access.RW), Register("a", Access.RO)])
    with pytest.raises(ValueError, match="does not fit"):
        Register("a", Access.RW, 4, reset=16)
    with pytest.raises(ValueError, match="identifier"):
        Register("bus", Access.RW)
    with pytest.raises(ValueError, match="read-only"):
        Register("a", Access.RO, reset=1)


def test_read_write_strobes_and_errors() -> None:
    strobes: list[str] = []
    dut = RegisterBank(MAP)

    names = ("control", "limit", "command")

    async def watch(ctx: Any) -> None:
        async for _, _, *values in ctx.tick().sample(
                *(getattr(dut, f"{name}_stb") for name in names)):
            strobes.extend(name for name, value in zip(names, values, strict=True) if value)

    async def bench(ctx: Any) -> None:
        assert await axil_read(ctx, dut.bus, 0) == (0x5, RESP_OKAY)  # reset value
        assert await axil_write(ctx, dut.bus, 0, 0xFFFF_FF3C) == RESP_OKAY
        assert ctx.get(dut.control) == 0x3C  # 8 bits kept
        assert await axil_write(ctx, dut.bus, 4, 0x1122_3344) == RESP_OKAY
        assert strobes == ["control"]  # the low word of a 64-bit register: no strobe yet
        assert await axil_write(ctx, dut.bus, 8, 0x5566_7788, strobe=0b0101) == RESP_OKAY
        assert ctx.get(dut.limit) == 0x0066_0088_1122_3344
        assert strobes == ["control", "limit"]
        assert await axil_read(ctx, dut.bus, 8) == (0x0066_0088, RESP_OKAY)
        ctx.set(dut.counter, 0x0000_0001_FFFF_FFFF)
        assert await axil_read(ctx, dut.bus, 12) == (0xFFFF_FFFF, RESP_OKAY)
        ctx.set(dut.counter, 0x0000_0002_0000_0000)  # carries after the low word was read
        assert await axil_read(ctx, dut.bus, 16) == (1, RESP_OKAY)  # the latched high word
        assert await axil_write(ctx, dut.bus, 20, 0xABCD) == RESP_OKAY
        assert ctx.get(dut.command) == 0xABCD and strobes[-1] == "command"
        assert await axil_read(ctx, dut.bus, 20) == (0, RESP_OKAY)  # write-only reads 0
        ctx.set(dut.status, 0b101)
        assert await axil_read(ctx, dut.bus, 24) == (0b101, RESP_OKAY)
        assert await axil_write(ctx, dut.bus, 24, 1) == RESP_SLVERR
        assert await axil_write(ctx, dut.bus, 28, 1) == RESP_DECERR
        assert await axil_read(ctx, dut.bus, 28) == (0, RESP_DECERR)
        assert ctx.get(dut.control) == 0x3C  # errors changed nothing

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(watch)
    sim.add_testbench(bench)
    sim.run()
    assert strobes.count("command") == 1


def test_bank_converts_to_verilog_with_axil_port_names() -> None:
    text = verilog.convert(RegisterBank(MAP), name="regs")
    for port in ("bus__awaddr", "bus__wstrb", "bus__bresp", "bus__rdata", "limit_stb",
                 "counter", "command_stb"):
        assert port in text
