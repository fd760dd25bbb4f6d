"""Platform tops: the AWS CL's ports against the transcribed shell port lists, Icarus lint
of every generated top (test-sized tables), the HDK build scripts, the Kria scripts, and
`nanogate hw build`."""

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
from nanogate.hw.platforms import aws, build, core, hdk, kria, pcis
from nanogate.hw.platforms.ports import Port, module_ports, shell_ports
from nanogate.proto import aws_map
from nanogate.proto.risk import DECISION, ORDER, RISK_REGMAP, UPDATE

IVERILOG = shutil.which("iverilog")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for platform in ("f2", "f1", "kv260", "kr260"):
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
    text = (build.cl_folder(built[shell]) / "design" / "cl_nanogate.sv").read_text()
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
    text = (build.cl_folder(built[shell]) / "design" / "cl_nanogate.sv").read_text()
    for name in pcis.AXI4Signature().members:
        master_drives = name in aws._PCIS_MASTER
        port = f"sh_cl_dma_pcis_{name}" if master_drives else f"cl_sh_dma_pcis_{name}"
        assert f".pcis__{name}({port})" in text, name
        assert f"assign {port} =" not in text, name
    core_text = (build.cl_folder(built[shell]) / "design" / "nanogate_core.v").read_text()
    high = aws.pcis_id_bits(shell) - 1
    assert f"input [{high}:0] pcis__awid;" in core_text  # the core built for this shell
    if shell == "f2":
        assert "assign cl_sh_dma_pcis_ruser = '0;" in text  # unused: reads 0


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_aws_top_lints(built: dict[str, Path], shell: str) -> None:
    design = build.cl_folder(built[shell]) / "design"
    _lint([design / "nanogate_core.v", design / "cl_nanogate.sv"])


_CL_PATH = re.compile(r"\$\{?CL_DIR\}?/([\w./${}]+)")
_OUTPUTS = ("build/checkpoints", "build/reports", "build/src_post_encryption")


def _copied(encrypt: str) -> set[str]:
    """The file names encrypt.tcl copies into src_post_encryption."""
    return {Path(m).name for m in re.findall(r"file copy -force (\S+) \$nanogate_target", encrypt)}


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_hdk_scripts_reference_only_files_we_write(built: dict[str, Path], shell: str) -> None:
    cl = build.cl_folder(built[shell])
    assert cl.name == aws.TOP  # aws_build_dcp_from_cl.py: the folder's name must be --cl
    scripts = cl / "build" / "scripts"
    texts = {path.name: path.read_text() for path in scripts.iterdir()}
    assert set(texts) == set(hdk.scripts(shell))  # what scripts() writes, nothing else
    # what the HDK's entry point sources from the scripts folder, by its file names
    assert {"encrypt.tcl", f"synth_{aws.TOP}.tcl"} <= set(texts)  # build_all.tcl: synth_${CL}
    if shell == "f1":
        assert "create_dcp_from_cl.tcl" in texts  # aws_build_dcp_from_cl.sh's default script
    constraints = {p.name for p in (cl / "build" / "constraints").iterdir()}
    assert set(hdk.CONSTRAINTS[shell]) == constraints
    if shell == "f2":  # build_level_1_cl.tcl reads ${SHELL_MODE}_cl_pnr_user.xdc
        assert "small_shell_cl_pnr_user.xdc" in constraints
    copied = _copied(texts["encrypt.tcl"])
    checked = 0
    for name, text in texts.items():
        for path in _CL_PATH.findall(text):
            if path.startswith(_OUTPUTS) or Path(path).name in hdk.GENERATED:
                continue  # written by the flow itself
            assert (cl / path).is_file(), f"{name} reads $CL_DIR/{path}, which we do not write"
            checked += 1
        for xdc in re.findall(r"\$\{constraints_dir\}/([\w.]+)", text):
            assert xdc in constraints, f"{name} reads {xdc}"
            checked += 1
        for source in re.findall(r"(?:\$\{?src_post_enc_dir\}?|\$nanogate_enc)/([\w.]+)", text):
            assert source in copied, f"{name} reads {source}, which encrypt.tcl does not copy"
            checked += 1
        for local in re.findall(r"^source (?:-notrace )?(?:\./)?([\w.]+\.tcl)$", text, re.M):
            assert local in texts, f"{name} sources {local}"
    assert checked >= 6
    # every design file is collected, and every file the top includes
    assert {p.name for p in (cl / "design").iterdir()} <= copied
    top = (cl / "design" / f"{aws.TOP}.sv").read_text()
    assert set(re.findall(r'`include "([\w.]+)"', top)) == set(hdk.TEMPLATES[shell])
    assert set(hdk.TEMPLATES[shell]) <= copied
    assert "`define NANOGATE_HDK" in (cl / "design" / hdk.DEFINES).read_text()


def test_pci_ids_parse_as_the_hdk_packagers_read_them(built: dict[str, Path]) -> None:
    text = (build.cl_folder(built["f2"]) / "design" / "cl_id_defines.vh").read_text()
    ids = {}
    for line in text.splitlines():  # as aws_build_dcp_from_cl.py get_pcie_ids() does
        if re.search(r"\s*`define\s*CL_SH_ID0", line):
            value = line.split()[2].lstrip("32'h").split("_")
            ids["device"], ids["vendor"] = value
        if re.search(r"\s*`define\s*CL_SH_ID1", line):
            value = line.split()[2].lstrip("32'h").split("_")
            ids["subsystem"], ids["subsystem_vendor"] = value
    assert ids == {"device": "F000", "vendor": "1D0F", "subsystem": "1D51",
                   "subsystem_vendor": "FEDD"}
    top = (build.cl_folder(built["f2"]) / "design" / "cl_nanogate.sv").read_text()
    assert f"assign cl_sh_id0 = 32'h{aws_map.CL_SH_ID0:08X};" in top
    assert f"assign cl_sh_id1 = 32'h{aws.CL_SH_ID1:08X};" in top


_STUB = """#!/bin/sh
# stands in for the HDK's {entry}: checks what the real one checks, records the call
case "$(pwd -P)" in "$(cd "$CL_DIR" && pwd -P)"*) ;; *) echo "CL_DIR not in cwd"; exit 3;; esac
for f in {needs}; do [ -f "$f" ] || {{ echo "missing $f"; exit 4; }}; done
[ -f "$CL_DIR/design/cl_id_defines.vh" ] || exit 5
echo "$(basename "$(cd "$CL_DIR" && pwd -P)") $*" > "$CL_DIR/../called"
"""


@pytest.mark.parametrize("shell", ["f2", "f1"])
def test_next_steps_run_the_hdk_entry_point(built: dict[str, Path], shell: str,
                                            tmp_path: Path) -> None:
    """next_steps.sh against a stand-in HDK whose entry point checks the folder it runs in."""
    scripts = tmp_path / "hdk" / "build" / "scripts"
    scripts.mkdir(parents=True)
    needs = " ".join([*hdk.scripts(shell), *hdk.LINKED[shell]])
    for name in hdk.LINKED[shell]:
        (scripts / name).write_text(_STUB.format(entry=name, needs=needs)
                                    if name == hdk.ENTRY[shell] else "# stand-in\n")
        (scripts / name).chmod(0o755)
    script = (built[shell] / "next_steps.sh").read_text()
    if shell == "f2":
        assert "python3 aws_build_dcp_from_cl.py --cl cl_nanogate --mode small_shell" in script
        script = script.replace("python3 aws_build_dcp_from_cl.py", "sh aws_build_dcp_from_cl.py")
    else:
        assert "bash ./aws_build_dcp_from_cl.sh -foreground" in script
        assert "cl_hello_world" not in script
    runnable = tmp_path / "next_steps.sh"
    runnable.write_text(script)
    called = build.cl_folder(built[shell]).parent / "called"
    called.unlink(missing_ok=True)
    done = subprocess.run(["sh", str(runnable)], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "HDK_SHELL_DIR": str(tmp_path / "hdk")})
    assert done.returncode == 0, done.stdout + done.stderr
    want = "--cl cl_nanogate --mode small_shell" if shell == "f2" else "-foreground"
    assert called.read_text().strip() == f"cl_nanogate {want}"
    done = subprocess.run(["sh", str(runnable)], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and "source hdk_setup.sh" in done.stderr


def test_kr260_builds_and_lints(built: dict[str, Path]) -> None:
    out = built["kr260"]
    _lint([out / "feed_parser.v", out / "nanogate_feed_ip.v", out / "risk_pipeline.v",
           out / "nanogate_risk_ip.v"])
    design = (out / "block_design.tcl").read_text()
    part, board = kria.BOARDS["kr260"]
    assert board in design and "kv260_som" not in design
    assert part in (out / "package_ip.tcl").read_text() or part in design
    # the same IP as the KV260's: only the board preset differs
    for name in ("nanogate_feed_ip.v", "nanogate_risk_ip.v"):
        assert (out / name).read_text() == (built["kv260"] / name).read_text()


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
