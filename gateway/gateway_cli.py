"""``nanogate gateway run|bench``: the multicast gateway from the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType

from nanogate.gateway import argtypes
from nanogate.gateway.device.options import add_device_arguments, checked_options

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = commands.add_parser(
        "gateway", help="run or benchmark the multicast gateway (lines A/B, recovery, books)",
        description="Receive MoldUDP64 on lines A and B, arbitrate, recover gaps from a "
                    "rewinder, and feed the device and the order books.")
    sub = gateway.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND", required=True)
    run = sub.add_parser(
        "run", help="receive, arbitrate, recover and apply a live feed",
        description="Join lines A (and B) on --interface, keep the first copy of every "
                    "packet, ask --rewinder for what both lines lost, and apply every message "
                    "exactly once, in sequence order.",
        epilog="example:\n  nanogate gateway run --line-a 239.1.1.1:5001 --line-b 239.1.1.2:5002"
               " \\\n      --rewinder 127.0.0.1:6000 --dump out.jsonl --exit-on-end-of-session",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--line-a", type=argtypes.endpoint, required=True, metavar="GROUP:PORT")
    run.add_argument("--line-b", type=argtypes.endpoint, metavar="GROUP:PORT")
    run.add_argument("--rewinder", type=argtypes.endpoint, metavar="HOST:PORT",
                     help="MoldUDP64 retransmission server; without it gaps are declared lost")
    run.add_argument("--interface", default="127.0.0.1", metavar="ADDR",
                     help="address of the interface to join on (default: 127.0.0.1)")
    add_device_arguments(run)
    run.add_argument("--dump", type=Path, metavar="OUT.jsonl",
                     help="append every message, as `nanogate feed decode` prints it")
    run.add_argument("--exit-on-end-of-session", action="store_true",
                     help="exit once the end of session is reached and every message "
                          "applied; --duration running out first exits 1")
    run.add_argument("--metrics-port", type=argtypes.port, metavar="N",
                     help="serve Prometheus /metrics on --interface:N (0: any free port)")
    run.add_argument("--record", type=Path, metavar="DIR",
                     help="write what each line received to DIR/line-a.pcap, line-b.pcap, "
                          "recovery.pcap")
    run.add_argument("--state", type=Path, metavar="FILE",
                     help="keep the last applied sequence number here; a restart resumes")
    run.add_argument("--replay", type=Path, metavar="FILE",
                     help="put a capture or BinaryFILE through the gateway instead of the "
                          "network, then exit")
    run.add_argument("--gap-wait-ms", type=argtypes.non_negative_float, default=2.0,
                     help="how long the other line gets to fill a gap (default: 2)")
    run.add_argument("--request-timeout-ms", type=argtypes.non_negative_float, default=50.0,
                     help="retransmission request timeout (default: 50)")
    run.add_argument("--max-retries", type=int, default=3, metavar="N",
                     help="retries per gap before it is declared lost (default: 3)")
    run.add_argument("--max-request", type=argtypes.positive_int, default=1000, metavar="N",
                     help="messages per request at most (default: 1000)")
    run.add_argument("--duration", type=argtypes.non_negative_float, metavar="S",
                     help="stop after S seconds")
    run.add_argument("--busy-poll", action="store_true",
                     help="the receive process spins instead of sleeping (one core)")
    run.add_argument("--no-recvmmsg", action="store_true",
                     help="receive with recvmsg_into, one datagram per call")
    run.add_argument("--inline-rx", action="store_true",
                     help="receive in the worker itself, no receive process (one wake-up "
                          "per packet instead of two: lower latency on few cores)")
    run.add_argument("--spin-us", type=argtypes.non_negative_int, default=50, metavar="US",
                     help="keep looking this long after the last packet before sleeping "
                          "(default: 50). Lowest latency: --inline-rx --spin-us 100000, "
                          "the worker owning a core (p99 < 100 us at 100k msg/s here)")
    run.add_argument("--json", action="store_true", help="print the final summary as JSON")
    run.set_defaults(handler=_run)

    bench = sub.add_parser(
        "bench", help="publisher, rewinder and gateway on loopback, measured",
        description="Publish a synthetic session on two loopback multicast lines with LOSS "
                    "on each, recover from the rewinder, and report throughput, loss and "
                    "latency (kernel receive timestamp -> book applied).")
    bench.add_argument("--messages", type=argtypes.positive_int, default=1_000_000, metavar="N")
    bench.add_argument("--loss", type=argtypes.probability, default=0.05, metavar="P",
                       help="loss probability on each line (default: 0.05)")
    bench.add_argument("--rate", type=argtypes.non_negative_float, metavar="MSG_PER_S",
                       help="publish rate (default: as fast as the publisher goes)")
    bench.add_argument("--instruments", type=argtypes.positive_int, default=64, metavar="K")
    bench.add_argument("--seed", type=int, default=1)
    add_device_arguments(bench)
    bench.add_argument("--no-books", action="store_true",
                       help="stop at the device's BookEvents (measure the data path alone)")
    bench.add_argument("--busy-poll", action="store_true",
                       help="the receive process and the worker spin (two cores)")
    bench.add_argument("--inline-rx", action="store_true",
                       help="the worker receives itself (no receive process)")
    bench.add_argument("--spin-us", type=argtypes.non_negative_int, default=50, metavar="US",
                       help="the worker keeps looking this long before sleeping (default: 50)")
    bench.add_argument("--raw", action="store_true",
                       help="also measure the raw recvmmsg drain rate on this machine")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(handler=_bench)


def _run(args: argparse.Namespace) -> int:
    from nanogate.gateway.device import DeviceError
    from nanogate.gateway.net.arbiter import ArbiterConfig
    from nanogate.gateway.net.resume import ResumeError
    from nanogate.gateway.net.runner import Gateway, GatewayConfig, GatewayError

    try:
        arbiter = ArbiterConfig(gap_wait_ns=int(args.gap_wait_ms * 1e6),
                                request_timeout_ns=int(args.request_timeout_ms * 1e6),
                                max_retries=args.max_retries, max_request=args.max_request)
        config = GatewayConfig(args.line_a, args.line_b, args.rewinder, args.interface,
                               args.device, args.dump, args.exit_on_end_of_session,
                               args.metrics_port, args.record, args.state, arbiter,
                               use_recvmmsg=not args.no_recvmmsg, busy_poll=args.busy_poll,
                               max_seconds=args.duration, inline_receive=args.inline_rx,
                               spin_us=args.spin_us,
                               device_options=checked_options(args.device, args.device_options))
        gateway = Gateway(config)
    except (ValueError, ResumeError, DeviceError) as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return EXIT_USAGE
    stopping = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        if args.replay is not None:
            from nanogate.gateway.feed.source import FeedFormatError

            try:
                gateway.replay(args.replay)
            except FeedFormatError as error:
                print(f"nanogate: {error}", file=sys.stderr)
                return EXIT_USAGE
            finally:
                gateway.close()
        else:
            try:
                gateway.start()
            except (GatewayError, OSError) as error:
                print(f"nanogate: cannot start the gateway: {error}", file=sys.stderr)
                return EXIT_FAILED
            try:
                if args.metrics_port is not None:
                    print(f"nanogate: metrics on http://{args.interface}:"
                          f"{gateway.metrics_port}/metrics", file=sys.stderr)
                gateway.run(stop=lambda: bool(stopping))
                gateway.finish()
            except KeyboardInterrupt:
                stopping.append(signal.SIGINT)
            finally:
                gateway.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = gateway.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"nanogate: {summary['messages']:,} messages applied, {summary['lost']:,} lost, "
              f"{summary['recovered']:,} recovered, {summary['duplicates']:,} duplicates "
              f"dropped, state {summary['state']}", file=sys.stderr)
    # asked to run to the end of the session, it stopped short (--duration): a failure
    unfinished = (args.exit_on_end_of_session and args.replay is None and not gateway.ended
                  and not stopping)
    if unfinished:
        print(f"nanogate: no end of session within --duration {args.duration:g} s",
              file=sys.stderr)
    return EXIT_FAILED if summary["lost"] or unfinished else EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from nanogate.gateway.device import DeviceError
    from nanogate.gateway.net.bench import BenchConfig, raw_drain, run_bench

    try:
        config = BenchConfig(args.messages, args.loss, args.rate or None, args.instruments,
                             args.seed, args.device, books=not args.no_books,
                             busy_poll=args.busy_poll, inline_receive=args.inline_rx,
                             spin_us=args.spin_us,
                             device_options=checked_options(args.device, args.device_options))
        result = run_bench(config)
    except (ValueError, DeviceError) as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.raw:
        result.update(raw_drain())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"messages        {result['messages']:,} of {result['published']:,}\n"
              f"messages/s      {result['messages_per_s']:,}\n"
              f"packets/s       {result['packets_per_s']:,}\n"
              f"lost            {result['lost']:,}\n"
              f"recovered       {result['recovered']:,}\n"
              f"duplicates      {result['duplicates_dropped']:,} dropped\n"
              f"ring drops      {result['ring_drops']:,}\n"
              f"latency         p50 {result['p50_us']:.1f} us, p99 {result['p99_us']:.1f} us, "
              f"p99.9 {result['p999_us']:.1f} us")
        for key in ("raw_packets_per_s", "ring_packets_per_s", "fallback_packets_per_s"):
            if key in result:
                print(f"{key:<16}{result[key]:,}")
    return EXIT_FAILED if result["lost"] else EXIT_OK
