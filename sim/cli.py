"""``nanogate feed synth``: write a synthetic ITCH 5.0 session."""

from __future__ import annotations

import argparse
import sys
import time


def register_feed(feed: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    synth = feed.add_parser(
        "synth", help="write a synthetic, book-consistent ITCH 5.0 session",
        description="Generate a seeded session over K instruments: system events, stock "
                    "directory, then adds, executions, cancels, replaces, deletes and trades "
                    "that always name live orders. The same seed gives the same bytes.",
        epilog="examples:\n  nanogate feed synth --messages 1000000 --instruments 50 --seed 1 "
               "-o day.itch\n  nanogate feed synth --messages 20000 -o day.pcap   "
               "# MoldUDP64 over UDP, to 239.1.1.1:5001",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    synth.add_argument("--messages", type=int, required=True, metavar="N",
                       help="total number of messages, system messages included")
    synth.add_argument("--instruments", type=int, default=8, metavar="K",
                       help="number of instruments (default: 8)")
    synth.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: 1)")
    synth.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="OUT.pcap writes MoldUDP64/UDP/IPv4/Ethernet packets; "
                            "any other name writes a BinaryFILE")
    synth.set_defaults(handler=_synth)


def _synth(args: argparse.Namespace) -> int:
    from nanogate.sim.synth import write_synthetic

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rnanogate: {done:,}/{total:,} messages", end="", file=sys.stderr)

    started = time.perf_counter()
    try:
        write_synthetic(args.output, messages=args.messages, instruments=args.instruments,
                        seed=args.seed, progress=progress)
    except ValueError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"nanogate: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"wrote {args.messages:,} messages over {args.instruments} instruments to "
          f"{args.output} in {elapsed:.2f} s", file=sys.stderr)
    return 0
