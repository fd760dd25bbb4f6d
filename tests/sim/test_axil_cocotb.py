"""The generated AXI4-Lite register bank, as Verilog, against cocotbext-axi's master."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.hw.axil import RegisterBank
from nanogate.sim.cocotb import tb_axil
from nanogate.sim.cocotb.runner import have_icarus, run_cocotb

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not on PATH"),
]


def test_register_bank_with_cocotbext_axi(tmp_path: Path) -> None:
    result = run_cocotb(RegisterBank(tb_axil.TEST_MAP), toplevel="regs",
                        test_module="nanogate.sim.cocotb.tb_axil", build_dir=tmp_path)
    assert set(result.passed) == {"test_registers_through_cocotbext_axi", "test_error_responses"}
