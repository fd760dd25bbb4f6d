"""cocotb testbench of :class:`nanogate.hw.axil.RegisterBank` driven by cocotbext-axi.

:data:`TEST_MAP` is the map under test, shared with the Amaranth-simulator test
(``tests/hw/test_axil.py``); offsets below come from it.
"""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from cocotbext.axi.constants import AxiResp

from nanogate.proto.regmap import Access, Register, register_map

TEST_MAP = register_map("test", [
    Register("control", Access.RW, 8, "control bits", reset=0x5),
    Register("limit", Access.RW, 64, "a 64-bit limit"),
    Register("counter", Access.RO, 64, "a 64-bit counter"),
    Register("command", Access.WO, 16, "a command"),
    Register("status", Access.RO, 3, "status bits"),
])
OFFSETS = TEST_MAP.offsets()
UNMAPPED = TEST_MAP.size


async def _setup(dut: Any) -> AxiLiteMaster:
    Clock(dut.clk, 4, unit="ns").start()
    dut.rst.value = 1
    dut.counter.value = 0
    dut.status.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    return AxiLiteMaster(AxiLiteBus.from_prefix(dut, "bus_"), dut.clk, dut.rst)


@cocotb.test()
async def test_registers_through_cocotbext_axi(dut: Any) -> None:
    master = await _setup(dut)
    assert (await master.read_dword(OFFSETS["control"])) == 0x5
    await master.write_dword(OFFSETS["control"], 0xA7)
    assert int(dut.control.value) == 0xA7
    await master.write_qword(OFFSETS["limit"], 0x0102_0304_0506_0708)
    assert int(dut.limit.value) == 0x0102_0304_0506_0708
    assert (await master.read_qword(OFFSETS["limit"])) == 0x0102_0304_0506_0708
    dut.counter.value = 0x0000_0007_FFFF_FFFE
    await RisingEdge(dut.clk)
    assert (await master.read_qword(OFFSETS["counter"])) == 0x0000_0007_FFFF_FFFE
    dut.status.value = 0b110
    await RisingEdge(dut.clk)
    assert (await master.read_dword(OFFSETS["status"])) == 0b110


@cocotb.test()
async def test_error_responses(dut: Any) -> None:
    master = await _setup(dut)
    write = await master.write(OFFSETS["status"], b"\x01\x00\x00\x00")
    assert write.resp == AxiResp.SLVERR
    write = await master.write(UNMAPPED, b"\x01\x00\x00\x00")
    assert write.resp == AxiResp.DECERR
    read = await master.read(UNMAPPED, 4)
    assert read.resp == AxiResp.DECERR
