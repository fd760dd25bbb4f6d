"""The risk pipeline as Verilog under Icarus, driven by cocotbext-axi, against the model.

Each cocotb test gets its own simulation: cocotbext-axi's drivers and the clock of one
test must not linger on the signals the next test drives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.hw.risk.top import RiskTop
from nanogate.sim.cocotb import tb_risk_cases as cases
from nanogate.sim.cocotb.runner import have_icarus, run_cocotb

pytestmark = [
    pytest.mark.sim,
    pytest.mark.slow,
    pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not on PATH"),
]


@pytest.mark.parametrize("testcase", ["test_hand_cases", "test_random_programs_against_the_model",
                                      "test_full_rate_hazards_and_halt_mid_stream"])
def test_risk_pipeline_with_cocotbext_axi(tmp_path: Path, testcase: str) -> None:
    top = RiskTop(cases.INSTRUMENTS, cases.ACCOUNTS, cases.DUP_BITS, cases.DUP_WINDOW)
    result = run_cocotb(top, toplevel="risk_top", test_module="nanogate.sim.cocotb.tb_risk",
                        build_dir=tmp_path, testcase=testcase)
    assert result.passed == (testcase,)
