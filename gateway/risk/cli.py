"""``nanogate risk check``: run orders through the pre-trade risk checks of a device."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from nanogate.gateway.device import DeviceError
from nanogate.gateway.device.options import add_device_arguments, device_from_args
from nanogate.gateway.risk.limits import LimitsError, apply_limits, load_limits
from nanogate.gateway.risk.orders import OrdersError, load_orders, run_operations
from nanogate.proto.risk import REASON_NAMES, reason_names

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    risk = commands.add_parser(
        "risk", help="pre-trade risk checks (SEC Rule 15c3-5) on orders",
        description="The pre-trade risk pipeline: every order checked against per-instrument "
                    "and per-account limits.")
    risk_commands = risk.add_subparsers(dest="risk_command", metavar="SUBCOMMAND",
                                        required=True)
    check = risk_commands.add_parser(
        "check", help="decide a file of orders against a limits file",
        description="Run the orders (and fills/cancels) of FILE.csv, in order, through the "
                    "risk checks of a device loaded with LIMITS.yaml; print one decision "
                    "per order.",
        epilog="orders CSV columns: client_order_id,account,stock_locate,side,quantity,price "
               "[,timestamp_ns][,kind]; side buy|sell|sell_short; price in price(4) units; "
               "kind order (default)|fill|cancel.\n"
               f"reasons: {', '.join(REASON_NAMES)}.\n"
               "exit status: 0 decided (rejections included), 2 bad input or device.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--orders", required=True, metavar="FILE.csv", help="orders CSV")
    check.add_argument("--limits", required=True, metavar="LIMITS.yaml", help="limits file")
    add_device_arguments(check)
    check.add_argument("-o", "--output", choices=("jsonl", "table"), default="jsonl",
                       help="output format (default: jsonl)")
    check.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        limits = load_limits(args.limits)
        ops = load_orders(args.orders)
        engine = device_from_args(args).risk_engine()
        apply_limits(engine, limits)
        decisions = run_operations(engine, ops)
    except (LimitsError, OrdersError, DeviceError) as error:
        print(f"nanogate risk check: {error}", file=sys.stderr)
        return EXIT_USAGE
    rows = [(int(d["client_order_id"]), bool(d["accepted"]), reason_names(int(d["reasons"])))
            for d in decisions]
    if args.output == "jsonl":
        for coid, accepted, reasons in rows:
            out.write(json.dumps({"client_order_id": coid, "accepted": accepted,
                                  "reasons": reasons}) + "\n")
    else:
        out.write(f"{'client_order_id':>20}  {'accepted':<8}  reasons\n")
        for coid, accepted, reasons in rows:
            out.write(f"{coid:>20}  {'yes' if accepted else 'no':<8}  "
                      f"{','.join(reasons) or '-'}\n")
    return EXIT_OK
