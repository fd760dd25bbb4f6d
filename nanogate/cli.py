"""The ``nanogate`` command: one entry point, a subcommand per capability."""

from __future__ import annotations

import argparse
import sys

from nanogate import __version__


def build_parser() -> argparse.ArgumentParser:
    from nanogate.control import serve as control_serve
    from nanogate.gateway import cli as gateway_cli
    from nanogate.gateway import gateway_cli as gateway_cli_net
    from nanogate.gateway.risk import cli as risk_cli
    from nanogate.gpu import cli as gpu_cli
    from nanogate.hw import cli as hw_cli
    from nanogate.hw.deploy import cli as deploy_cli
    from nanogate.sim import cli as sim_cli
    from nanogate.sim import publish_cli

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

    demo = commands.add_parser(
        "demo", help="run the feed pipeline end to end and print a summary",
        description="Decode the sample session (and a synthetic one), carry it through "
                    "MoldUDP64/UDP captures, build every order book, and print what came out.")
    demo.add_argument("--sample", metavar="FILE",
                      help="feed file to use (default: shared/data/ex20101224.TEST_ITCH_50 "
                           "beside the checkout)")
    demo.add_argument("--synthetic-messages", type=int, default=1_000_000, metavar="N",
                      help="size of the synthetic session (default: 1,000,000; 0 skips it)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the synthetic session")
    demo.set_defaults(handler=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from nanogate.demo import run_demo

    return run_demo(args.sample, args.synthetic_messages, args.seed)


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
