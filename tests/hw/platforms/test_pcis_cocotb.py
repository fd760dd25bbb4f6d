"""The PCIS adapter as Verilog under Icarus, driven by cocotbext-axi's AXI4 master."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanogate.hw.platforms.pcis import PcisAdapter
from nanogate.sim.cocotb.runner import have_icarus, run_cocotb

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not on PATH"),
]


def test_pcis_adapter_with_cocotbext_axi(tmp_path: Path) -> None:
    result = run_cocotb(PcisAdapter(id_bits=4, ring_records=64, sizes=True),
                        toplevel="pcis_adapter", test_module="nanogate.sim.cocotb.tb_pcis",
                        build_dir=tmp_path)
    assert set(result.passed) == {"test_packets_and_orders_through_axi_master",
                                  "test_rings_and_error_responses"}
