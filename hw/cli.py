"""``nanogate hw verilog|bench TARGET``: the gateware as Verilog, and its cycle benchmarks.

Each target is a package under ``hw/`` with a ``tools`` module providing
``write_verilog(out_dir: Path) -> list[Path]`` (the Verilog and its register
map doc) and ``bench(as_json: bool) -> int`` (prints the figures, returns an
exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

TARGETS = {
    "feed": ("nanogate.hw.feed.tools", "ITCH 5.0 / MoldUDP64 feed parser"),
    "risk": ("nanogate.hw.risk.tools", "pre-trade risk pipeline"),
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hw = commands.add_parser("hw", help="generate Verilog and benchmark the FPGA designs",
                             description="The Amaranth designs: write them out as Verilog "
                                         "(with their register maps) or measure them in "
                                         "cycle-accurate simulation.")
    hw_commands = hw.add_subparsers(dest="hw_command", metavar="SUBCOMMAND", required=True)
    targets = "\n".join(f"  {name:<6} {doc}" for name, (_, doc) in TARGETS.items())

    verilog = hw_commands.add_parser(
        "verilog", help="write a design's Verilog and register map doc",
        description=f"Convert a design to Verilog.\n\ntargets:\n{targets}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    verilog.add_argument("target", choices=TARGETS, metavar="TARGET")
    verilog.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                         help="directory to write into (created if missing)")
    verilog.set_defaults(handler=_verilog)

    bench = hw_commands.add_parser(
        "bench", help="cycle latency and throughput of a design, in simulation",
        description=f"Run a design cycle-accurately and print latency and throughput.\n\n"
                    f"targets:\n{targets}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("target", choices=TARGETS, metavar="TARGET")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(handler=_bench)


def _tools(target: str) -> object:
    return importlib.import_module(TARGETS[target][0])


def _verilog(args: argparse.Namespace) -> int:
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"nanogate: cannot create {args.output}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    written: list[Path] = _tools(args.target).write_verilog(args.output)  # type: ignore[attr-defined]
    for path in written:
        print(path)
    return 0


def _bench(args: argparse.Namespace) -> int:
    code: int = _tools(args.target).bench(as_json=args.json)  # type: ignore[attr-defined]
    return code
