"""The RTL path end to end: Amaranth -> Verilog -> Icarus, driven by cocotb."""

from __future__ import annotations

from pathlib import Path

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from nanogate.hw.smoke import PacketCounter
from nanogate.sim.cocotb.runner import CocotbFailure, have_icarus, run_cocotb

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not on PATH"),
]

TB = "nanogate.sim.cocotb.tb_smoke"


def test_packet_counter_cocotb(tmp_path: Path) -> None:
    result = run_cocotb(PacketCounter(), toplevel="packet_counter", test_module=TB,
                        build_dir=tmp_path)
    assert set(result.passed) == {"test_random_traffic", "test_full_rate"}
    assert result.seed is not None
    assert (tmp_path / "packet_counter.v").is_file()


class LosesLast(PacketCounter):
    """A PacketCounter whose output drops the ``last`` bit: a bug the testbench must see."""

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.inner = inner = PacketCounter()
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        m.d.comb += [
            self.o.valid.eq(inner.o.valid),
            self.o.payload.data.eq(inner.o.payload.data),
            self.o.payload.keep.eq(inner.o.payload.keep),
            inner.o.ready.eq(self.o.ready),
            self.beats.eq(inner.beats),
            self.packets.eq(inner.packets),
        ]
        return m


def test_failing_cocotb_test_fails_pytest(tmp_path: Path) -> None:
    with pytest.raises(CocotbFailure, match=r"1 of 1 cocotb tests failed.*\n.*test_full_rate"):
        run_cocotb(LosesLast(), toplevel="packet_counter", test_module=TB,
                   build_dir=tmp_path, testcase="test_full_rate")
    assert (tmp_path / "results.xml").is_file()
