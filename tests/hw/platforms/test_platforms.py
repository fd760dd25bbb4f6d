"""Platform tops: the AWS CL's ports against the transcribed shell port lists, Icarus lint
of every generated top (test-sized tables), the Kria scripts, and `nanogate hw build`."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.hdl import Shape

from nanogate.gateway.device import aws as aws_backend
from nanogate.hw import cli as hw_cli
from nanogate.hw.axil import AXILiteSignature
from nanogate.hw.platforms import aws, build, core, kria, pcis
from nanogate.hw.platforms.ports import Port, module_ports, shell_ports
from nanogate.proto.risk import DECISION, ORDER, RISK_REGMAP, UPDATE

IVERILOG = shutil.which("iverilog")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for platform in ("f2", "f1", "kv260"):
        out[platform] = tmp_path_factory.mktemp(platform)
        build.build(platform, out[platform], small=True, say=lambda _: None)
    return out


def _lint(files: list[Path]) -> None:
    if IVERILOG is None:
        pytest.skip("iverilog not installed (make system-deps)")
    done = subprocess.run([IVERILOG, "-g2012", "-Wall", "-t", "null", *map(str, files)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    width_warnings = [line for line in done.stderr.splitlines() if "Padding" in line]
    assert not width_warnings, width_warnings


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_cl_ports_are_the_shells(built: dict[str, Path], shell: str) -> None:
    text = (built[shell] / "design" / "cl_nanogate.sv").read_text()
    assert module_ports(text, aws.TOP) == shell_ports(shell)


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_ocl_is_an_axi_lite_slave_in_the_shell_list(shell: str) -> None:
    """Independent of the generator: the register bus as hw/axil.py defines it must be
    on the shell's list, with the shell driving what an AXI-Lite master drives."""
    ports = {p.name: p for p in shell_ports(shell)}
    signature = AXILiteSignature(32)
    for name, member in signature.members.items():
        port = ports[aws.ocl_name(shell, name)]
        master_drives = member.flow.name == "Out"
        assert port.direction == ("input" if master_drives else "output"), name
        assert port.width == Shape.cast(member.shape).width, name
    assert ports["clk_main_a0"] == Port("input", 1, "clk_main_a0")
    assert ports["cl_sh_dma_pcis_wready"].direction == "output"
    assert ports["sh_cl_dma_pcis_wdata"].width == 512


@pytest.mark.parametrize(("shell", "id_bits"), [("f2", 16), ("f1", 6)])
def test_pcis_is_an_axi4_slave_in_the_shell_list(shell: str, id_bits: int) -> None:
    """Independent of the generator: every member of the adapter's AXI4 port is on the
    shell's list, the shell driving what a master drives, with the shell's widths."""
    ports = {p.name: p for p in shell_ports(shell)}
    assert aws.pcis_id_bits(shell) == id_bits
    for name, member in pcis.AXI4Signature(id_bits=id_bits).members.items():
        master_drives = member.flow.name == "Out"
        port = ports[f"sh_cl_dma_pcis_{name}" if master_drives else f"cl_sh_dma_pcis_{name}"]
        assert port.direction == ("input" if master_drives else "output"), name
        assert port.width == Shape.cast(member.shape).width, name


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_pcis_reaches_the_core_and_is_not_tied_off(built: dict[str, Path], shell: str) -> None:
    text = (built[shell] / "design" / "cl_nanogate.sv").read_text()
    for name in pcis.AXI4Signature().members:
        master_drives = name in aws._PCIS_MASTER
        port = f"sh_cl_dma_pcis_{name}" if master_drives else f"cl_sh_dma_pcis_{name}"
        assert f".pcis__{name}({port})" in text, name
        assert f"assign {port} =" not in text, name
    core_text = (built[shell] / "design" / "nanogate_core.v").read_text()
    high = aws.pcis_id_bits(shell) - 1
    assert f"input [{high}:0] pcis__awid;" in core_text  # the core built for this shell
    if shell == "f2":
        assert "assign cl_sh_dma_pcis_ruser = '0;" in text  # unused: reads 0


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_aws_top_lints(built: dict[str, Path], shell: str) -> None:
    design = built[shell] / "design"
    _lint([design / "nanogate_core.v", design / "cl_nanogate.sv"])


def test_kria_ip_lints_and_scripts_name_what_the_backend_uses(built: dict[str, Path]) -> None:
    out = built["kv260"]
    _lint([out / "feed_parser.v", out / "nanogate_feed_ip.v"])
    design = (out / "block_design.tcl").read_text()
    assert "nanogate_feed_0" in design and "axi_dma_feed" in design
    assert "kv260_som" in design and "nanogate.hwh" in design
    assert "ipx::package_project" in (out / "package_ip.tcl").read_text()
    assert "kr260_som" in kria.block_design_tcl("kr260")


def test_kria_risk_ip_lints_and_the_scripts_wire_what_it_has(built: dict[str, Path]) -> None:
    out = built["kv260"]
    _lint([out / "risk_pipeline.v", out / "nanogate_risk_ip.v"])
    ports = {p.name: p for p in module_ports((out / "nanogate_risk_ip.v").read_text(),
                                             kria.RISK_IP)}
    assert ports["s_axi_awaddr"].width == RISK_REGMAP.address_width
    for name, bits in (("s_axis_order", ORDER.bits), ("s_axis_update", UPDATE.bits),
                       ("m_axis_decision", DECISION.bits)):
        width = ports[f"{name}_tdata"].width
        assert bits <= width and width in (64, 128, 256, 512), name  # an AXI DMA width
        assert {f"{name}_{m}" for m in ("tvalid", "tready", "tlast")} <= set(ports), name
        incoming = name.startswith("s_")
        assert ports[f"{name}_tvalid"].direction == ("input" if incoming else "output")
    design = (out / "block_design.tcl").read_text()
    # every interface the block design names on the risk IP is one the wrapper has
    named = set(re.findall(r"nanogate_risk_0/(\w+)", design))
    assert named == {"s_axi", "s_axis_order", "s_axis_update", "m_axis_decision"}
    assert all(any(p.startswith(f"{bus}_") for p in ports) for bus in named)
    # DMA widths in the block design are the wrapper's beat widths
    assert f"c_m_axis_mm2s_tdata_width {{{ports['s_axis_order_tdata'].width}}}" in design
    assert f"c_s_axis_s2mm_tdata_width {{{ports['m_axis_decision_tdata'].width}}}" in design
    for cell in ("axi_dma_risk", "axi_dma_update", "decision_fifo"):
        assert len(re.findall(rf"create_bd_cell [^\n]* {cell}\]", design)) == 1, cell
    package = (out / "package_ip.tcl").read_text()
    assert package.count("ipx::package_project") == 2 and package.count("close_project") == 2
    for bus in named:
        assert f"-busif {bus} -clock aclk" in package, bus


def test_next_steps_are_printed_without_vivado(tmp_path: Path) -> None:
    said: list[str] = []
    build.build("f2", tmp_path, small=True, say=said.append)
    text = "\n".join(said)
    assert "vivado is not on PATH" not in text and "--run-vivado not given" in text
    assert "aws_build_dcp_from_cl.py --cl cl_nanogate --mode small_shell" in text
    said.clear()
    build.build("kv260", tmp_path / "k", small=True, run_vivado=True, say=said.append)
    assert any("vivado is not on PATH" in line for line in said)
    assert (tmp_path / "k" / "next_steps.sh").read_text().count("vivado -mode batch") == 2


def test_bank_decode_matches_the_address_map() -> None:
    # proto/aws_map.py defines the map once; the gateware decodes banks by address bits.
    assert 0 << core.BANK_SHIFT == aws_backend.OCL_FEED_BASE
    assert 1 << core.BANK_SHIFT == aws_backend.OCL_RISK_BASE
    assert 2 << core.BANK_SHIFT == aws_backend.OCL_PLATFORM_BASE


def test_build_errors(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match="unknown platform"):
        build.build("zcu104", tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(build.BuildError, match="cannot create"):
        build.build("f2", blocker / "out")


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="nanogate")
    hw_cli.register(parser.add_subparsers(dest="command", required=True))
    calls: list[tuple[str, Path, bool]] = []
    monkeypatch.setattr(build, "build", lambda p, o, run_vivado: calls.append((p, o, run_vivado)))
    args = parser.parse_args(["hw", "build", "--platform", "kr260", "-o", str(tmp_path),
                              "--run-vivado"])
    assert args.handler(args) == 0
    assert calls == [("kr260", tmp_path, True)]

    def fail(*_: object, **__: object) -> None:
        raise build.BuildError("boom")

    monkeypatch.setattr(build, "build", fail)
    assert args.handler(args) == 1
    assert "boom" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["hw", "build", "--platform", "zcu104", "-o", str(tmp_path)])
