"""The ``nanogate`` command: one entry point, a subcommand per capability."""

from __future__ import annotations

import argparse
import sys

from nanogate import __version__


def build_parser() -> argparse.ArgumentParser:
    from nanogate import replay_cli
    from nanogate.control import report as report_cli
    from nanogate.control import serve as control_serve
    from nanogate.gateway import cli as gateway_cli
    from nanogate.gateway import gateway_cli as gateway_cli_net
    from nanogate.gateway.risk import cli as risk_cli
    from nanogate.gpu import cli as gpu_cli
    from nanogate.hw import cli as hw_cli
    from nanogate.hw.deploy import cli as deploy_cli
    from nanogate.sim import cli as sim_cli
    from nanogate.sim import publish_cli
    from nanogate.sim.venue import cli as venue_cli

    parser = argparse.ArgumentParser(
        prog="nanogate",
        description="nanogate: ITCH 5.0 / MoldUDP64 market data through FPGA-style "
                    "pipelines, with a host gateway, GPU analytics and a control plane.",
        epilog="Run `nanogate COMMAND --help` for the options of each command. "
               "Exit status: 0 ok, 1 failed, 2 bad usage or unreadable input.")
    parser.add_argument("--version", action="version", version=f"nanogate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    feed = commands.add_parser(
        "feed", help="decode, summarise and synthesise ITCH 5.0 feed files",
        description="Work with TotalView-ITCH 5.0 feeds: BinaryFILE files and pcap/pcapng "
                    "captures of MoldUDP64 over UDP.")
    feed_commands = feed.add_subparsers(dest="feed_command", metavar="SUBCOMMAND",
                                        required=True)
    gateway_cli.register_feed(feed_commands)
    sim_cli.register_feed(feed_commands)
    publish_cli.register_feed(feed_commands)
    gateway_cli.register_book(commands)
    gateway_cli_net.register(commands)
    risk_cli.register(commands)
    hw_cli.register(commands)
    deploy_cli.register(commands)
    gpu_cli.register(commands)
    control_serve.register(commands)
    venue_cli.register(commands)
    report_cli.register(commands)
    replay_cli.register(commands)

    demo = commands.add_parser(
        "demo", help="run the whole gateway live on loopback: feed, strategies, risk, venue",
        description="Start every part on this machine and trade for a while: a synthetic "
                    "ITCH 5.0 session published as MoldUDP64 on two multicast lines (with "
                    "loss) and a rewinder; the gateway receiving, arbitrating and "
                    "recovering it into order books; the strategies in examples/strategies "
                    "trading through the device's pre-trade risk pipeline to a simulated "
                    "venue (OUCH 5.0 over SoupBinTCP); the gRPC control plane, with a "
                    "development token, so `ngctl halt --all` from another terminal stops "
                    "new orders at once; Prometheus /metrics and /health. A live dashboard "
                    "shows throughput, per-stage latency percentiles, gaps, rejects by "
                    "reason, positions and PnL. On exit it writes a report directory: "
                    "summary.json, a latency histogram, a throughput timeline, a depth "
                    "heatmap of one instrument (PNG) and the day's compliance report.",
        epilog="examples:\n"
               "  nanogate demo                              # 20 s; ./nanogate-demo-report\n"
               "  nanogate demo --duration 60 --loss 0.05 --json run.json --report out/\n"
               "  nanogate demo --device rtl-sim --rate 2000  # the Amaranth designs, simulated\n"
               "  nanogate demo --feed-only                  # decoders and books, no trading\n"
               "\nwhile it runs, from another terminal (address and token are printed):\n"
               "  NANOGATE_TOKEN=... ngctl -s 127.0.0.1:50051 halt --all --reason drill --yes",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--duration", type=float, default=20.0, metavar="S",
                      help="seconds of trading (default 20)")
    demo.add_argument("--device", default="software", choices=("software", "rtl-sim"),
                      help="feed parser and risk pipeline: the golden model (default) or the "
                           "Amaranth designs in a simulator (slow: lower --rate)")
    demo.add_argument("--loss", type=float, default=0.01, metavar="P",
                      help="probability that a line loses a packet, per line (default 0.01)")
    demo.add_argument("--instruments", type=int, default=8, metavar="K",
                      help="instruments in the synthetic session (default 8)")
    demo.add_argument("--rate", type=float, default=20_000.0, metavar="MSG_PER_S",
                      help="ITCH messages per second on the wire (default 20,000)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the synthetic session")
    demo.add_argument("--strategies", metavar="DIR",
                      help="folder of strategy specs (*.yaml; default examples/strategies)")
    demo.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                      help="control plane address (default 127.0.0.1:50051; busy: any port)")
    demo.add_argument("--workdir", metavar="DIR",
                      help="keep the session's files here (control db, audit, archive, "
                           "dead letters); default: a temporary folder, removed at the end")
    demo.add_argument("--json", metavar="FILE",
                      help="also write the summary (the report's summary.json) here")
    demo.add_argument("--report", metavar="DIR",
                      help="the report directory written on exit: summary.json, latency "
                           "histogram, throughput timeline, depth heatmap (PNG) and the day's "
                           "compliance report (default: WORKDIR/report with --workdir, else "
                           "./nanogate-demo-report)")
    demo.add_argument("--feed-only", action="store_true",
                      help="the feed pipeline alone: decode the sample and a synthetic "
                           "session with both decoders, carry them over MoldUDP64, build books")
    demo.add_argument("--sample", metavar="FILE",
                      help="--feed-only: feed file to use (default: "
                           "shared/data/ex20101224.TEST_ITCH_50 beside the checkout)")
    demo.add_argument("--synthetic-messages", type=int, default=1_000_000, metavar="N",
                      help="--feed-only: size of the synthetic session (default 1,000,000)")
    demo.set_defaults(handler=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    if args.feed_only:
        from nanogate.demo import run_demo

        return run_demo(args.sample, args.synthetic_messages, args.seed)
    from nanogate.demo import run_live_demo

    return run_live_demo(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("nanogate: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
