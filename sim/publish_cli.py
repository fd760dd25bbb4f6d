"""``nanogate feed publish``: the simulated exchange (publisher + rewinder) on two lines."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from nanogate.gateway import argtypes

if TYPE_CHECKING:
    from nanogate.sim.publisher import LineFaults


def register_feed(feed: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    publish = feed.add_parser(
        "publish", help="publish a feed on multicast lines A and B, with a rewinder",
        description="Send FILE (BinaryFILE, pcap or pcapng), or a synthetic session, as "
                    "MoldUDP64 on lines A and B with seeded per-line loss, duplication and "
                    "reordering, and serve retransmission requests unicast.",
        epilog="example:\n  nanogate feed publish day.itch --line-a 239.1.1.1:5001 "
               "--line-b 239.1.1.2:5002 \\\n      --rate 100000 --loss 0.05 "
               "--rewinder-listen 127.0.0.1:6000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    publish.add_argument("file", metavar="FILE", nargs="?",
                         help="feed to publish (leave out with --synthetic)")
    publish.add_argument("--synthetic", type=int, metavar="N",
                         help="publish a synthetic session of N messages instead of FILE")
    publish.add_argument("--instruments", type=int, default=8, metavar="K")
    publish.add_argument("--line-a", type=argtypes.endpoint, required=True, metavar="GROUP:PORT")
    publish.add_argument("--line-b", type=argtypes.endpoint, metavar="GROUP:PORT")
    publish.add_argument("--interface", default="127.0.0.1", metavar="ADDR",
                         help="address of the interface to send from (default: 127.0.0.1)")
    publish.add_argument("--rate", type=argtypes.positive_float, metavar="MSG_PER_S",
                         help="messages per second (default: as fast as possible)")
    publish.add_argument("--batch", type=int, default=0xFFFE, metavar="N",
                         help="messages per packet at most (default: as many as fit 1400 B)")
    publish.add_argument("--loss", type=argtypes.probability, default=0.0, metavar="P",
                         help="probability that a packet is not sent on a line (default: 0)")
    publish.add_argument("--dup", type=argtypes.probability, default=0.0, metavar="P",
                         help="probability that a packet is sent twice on a line (default: 0)")
    publish.add_argument("--reorder", type=argtypes.probability, default=0.0, metavar="P",
                         help="probability that a packet goes out after the next one "
                              "(default: 0)")
    publish.add_argument("--loss-b", type=argtypes.probability, metavar="P",
                         help="line B's loss when it differs from --loss")
    publish.add_argument("--dup-b", type=argtypes.probability, metavar="P",
                         help="line B's duplication when it differs from --dup")
    publish.add_argument("--reorder-b", type=argtypes.probability, metavar="P",
                         help="line B's reordering when it differs from --reorder")
    publish.add_argument("--seed", type=int, default=1)
    publish.add_argument("--session", metavar="NAME", help="MoldUDP64 session name")
    publish.add_argument("--rewinder-listen", type=argtypes.endpoint, metavar="HOST:PORT",
                         help="serve retransmission requests here")
    publish.add_argument("--rewinder-off", action="store_true",
                         help="read requests but never answer (to test the failure path)")
    publish.add_argument("--retention", type=int, default=1_000_000, metavar="N",
                         help="messages the rewinder keeps (default: 1,000,000)")
    publish.add_argument("--linger", type=float, default=2.0, metavar="S",
                         help="after the end of session, keep repeating it and serving "
                              "requests for S seconds (default: 2)")
    publish.set_defaults(handler=_publish)


def line_faults(args: argparse.Namespace) -> tuple[LineFaults, LineFaults]:
    """Lines A and B's faults: B takes A's unless its own ``--*-b`` option is given."""
    from nanogate.sim.publisher import LineFaults

    def b(own: float | None, shared: float) -> float:
        return shared if own is None else own

    return (LineFaults(args.loss, args.dup, args.reorder),
            LineFaults(b(args.loss_b, args.loss), b(args.dup_b, args.dup),
                       b(args.reorder_b, args.reorder)))


def _publish(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from nanogate.gateway.feed.source import FeedFormatError
    from nanogate.sim.publisher import (
        Publisher,
        PublisherConfig,
        store_from_file,
        store_from_synthetic,
    )
    from nanogate.sim.rewinder import Rewinder

    if (args.file is None) == (args.synthetic is None):
        print("nanogate: give FILE or --synthetic N (one of them)", file=sys.stderr)
        return 2
    try:
        if args.file is not None:
            store = store_from_file(args.file, args.session, args.retention)
        else:
            store = store_from_synthetic(args.synthetic, args.instruments, args.seed,
                                         args.session or "SYNTH00001", args.retention)
        faults_a, faults_b = line_faults(args)
        config = PublisherConfig(args.line_a, args.line_b, args.interface, args.rate,
                                 max_messages=args.batch, faults_a=faults_a,
                                 faults_b=faults_b, seed=args.seed)
    except (ValueError, FeedFormatError, OSError) as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        try:
            publisher = stack.enter_context(Publisher(config, store))
            if args.rewinder_listen is not None:
                rewinder = stack.enter_context(Rewinder(store, args.rewinder_listen,
                                                        enabled=not args.rewinder_off))
                print(f"nanogate: rewinder on {rewinder.address}", file=sys.stderr)
        except OSError as error:
            print(f"nanogate: cannot open sockets: {error}", file=sys.stderr)
            return 1
        stats = publisher.run()
        publisher.linger(lambda: False, args.linger)
    lines = " ".join(f"{name}: {s.packets} sent, {s.dropped} dropped, {s.duplicated} "
                     f"duplicated, {s.reordered} reordered;"
                     for name, s in zip("AB", stats.lines[:1 + (args.line_b is not None)],
                                        strict=False))
    print(f"nanogate: published {stats.messages:,} messages in {stats.packets:,} packets in "
          f"{stats.seconds:.2f} s ({stats.messages_per_second:,.0f} msg/s); {lines}",
          file=sys.stderr)
    return 0
