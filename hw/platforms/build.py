"""``nanogate hw build --platform f2|f1|kv260|kr260 -o DIR [--run-vivado]``.

Writes the platform's Verilog, constraints and Vivado scripts into DIR, then runs
Vivado when asked and on PATH; otherwise prints the exact command to run next.
AWS: ``cl_nanogate.sv`` + ``nanogate_core.v`` go into the HDK's CL folder layout
(``design/``, ``build/constraints/``, ``build/scripts/``: :mod:`.hdk` writes the scripts
the HDK sources) in ``DIR/cl_nanogate`` (or DIR itself when so named), built with the
HDK's own ``aws_build_dcp_from_cl.py`` (F2) or ``aws_build_dcp_from_cl.sh`` (F1);
Kria: ``package_ip.tcl`` then ``block_design.tcl``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog

from nanogate.hw.platforms import aws, hdk, kria
from nanogate.hw.platforms.core import SMALL_RISK, PlatformCore
from nanogate.hw.risk.top import RiskTop

PLATFORMS = {
    "f2": "AWS F2, small shell (CL top on the shell's cl_ports)",
    "f1": "AWS F1 shell v04261818 (retired 2025-12-20, kept as a build option)",
    "kv260": "Kria KV260 with PYNQ (IP + block design)",
    "kr260": "Kria KR260 with PYNQ (IP + block design)",
}


class BuildError(RuntimeError):
    pass


def cl_folder(out: Path) -> Path:
    """The CL folder in ``out``: ``out`` itself when it is named ``cl_nanogate``, else
    ``out/cl_nanogate`` (the F2 HDK requires the folder's name to be the CL's)."""
    return out if out.name == aws.TOP else out / aws.TOP


def write_aws(shell: str, out: Path, *, small: bool = False) -> tuple[list[Path], list[str]]:
    cl = cl_folder(out)
    design = cl / "design"
    constraints = cl / "build" / "constraints"
    scripts = cl / "build" / "scripts"
    for folder in (design, constraints, scripts):
        folder.mkdir(parents=True, exist_ok=True)
    core = design / f"{aws.CORE}.v"
    platform_core = PlatformCore(small=small, id_bits=aws.pcis_id_bits(shell))
    core.write_text(verilog.convert(platform_core, name=aws.CORE))
    top = design / f"{aws.TOP}.sv"
    top.write_text(aws.top_verilog(shell))
    defines = design / hdk.DEFINES
    defines.write_text("`define NANOGATE_HDK\n")
    ids = design / hdk.ID_DEFINES
    ids.write_text(hdk.id_defines())
    synth_xdc, timing_xdc, pnr_xdc = (constraints / name for name in hdk.CONSTRAINTS[shell])
    synth_xdc.write_text(hdk.synth_user_xdc(shell))
    timing_xdc.write_text(aws.constraints(shell))
    pnr_xdc.write_text(hdk.pnr_user_xdc(shell))
    written = [core, top, defines, ids, synth_xdc, timing_xdc, pnr_xdc]
    for name, text in hdk.scripts(shell).items():
        path = scripts / name
        path.write_text(text)
        written.append(path)
    return written, hdk.next_steps(shell, shlex.quote(str(cl.resolve())))


def write_kria(board: str, out: Path, *, small: bool = False) -> tuple[list[Path], list[str]]:
    from nanogate.hw.feed.top import FeedParserTop

    out.mkdir(parents=True, exist_ok=True)
    core = out / f"{kria.CORE}.v"
    top = FeedParserTop(filter_depth=256) if small else FeedParserTop()
    core.write_text(verilog.convert(top, name=kria.CORE))
    wrapper = out / f"{kria.IP}.v"
    wrapper.write_text(kria.ip_wrapper())
    risk_core = out / f"{kria.RISK_CORE}.v"
    risk = RiskTop(*SMALL_RISK) if small else RiskTop()
    risk_core.write_text(verilog.convert(risk, name=kria.RISK_CORE))
    risk_wrapper = out / f"{kria.RISK_IP}.v"
    risk_wrapper.write_text(kria.risk_ip_wrapper())
    package = out / "package_ip.tcl"
    package.write_text(kria.package_ip_tcl(board))
    design = out / "block_design.tcl"
    design.write_text(kria.block_design_tcl(board))
    quoted = shlex.quote(str(out.resolve()))
    steps = [f"cd {quoted}",
             "vivado -mode batch -source package_ip.tcl",
             "vivado -mode batch -source block_design.tcl"]
    return [core, wrapper, risk_core, risk_wrapper, package, design], steps


def build(platform: str, out: Path, *, run_vivado: bool = False, small: bool = False,
          say: Callable[[str], None] = print) -> list[Path]:
    if platform not in PLATFORMS:
        raise BuildError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"cannot create {out}: {error.strerror or error}") from None
    if platform in ("f2", "f1"):
        written, steps = write_aws(platform, out, small=small)
        tool = hdk.ENTRY[platform]
    else:
        written, steps = write_kria(platform, out, small=small)
        tool = "vivado"
    for path in written:
        say(str(path))
    script = out / "next_steps.sh"
    script.write_text("#!/bin/sh\nset -e\n" + "\n".join(steps) + "\n")
    script.chmod(0o755)
    if run_vivado and shutil.which("vivado") is not None:
        say(f"running: sh {script}")
        done = subprocess.run(["sh", str(script)], check=False)
        if done.returncode != 0:
            raise BuildError(f"{tool} failed (exit status {done.returncode}); see the log above")
        return written
    reason = "--run-vivado not given" if not run_vivado else "vivado is not on PATH"
    say(f"\n{reason}: to build the bitstream, run (with Vivado and, for AWS, the aws-fpga "
        f"HDK set up: `source hdk_setup.sh`):\n  sh {script}\nwhich runs:")
    for step in steps:
        say(f"  {step}")
    return written
