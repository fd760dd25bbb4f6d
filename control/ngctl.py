"""``ngctl``: the operator's CLI for the nanogate control plane (kubectl habits).

Data goes to stdout, messages (prompts included) to stderr. Exit status: 0 ok,
1 failed (an operator who answers "no" to a confirmation included), 2 usage, 3 not
authenticated or not permitted, 4 not found, 130 interrupted. Destructive commands
(halt, cancel-all, delete) ask first unless ``--yes``, and never ask without a terminal:
without one they refuse (exit 2) and read nothing from stdin.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import grpc

from nanogate.control.output import print_rows, render
from nanogate.proto.controlapi import control_pb2 as pb

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
_CODES = {grpc.StatusCode.UNAUTHENTICATED: EXIT_AUTH, grpc.StatusCode.PERMISSION_DENIED: EXIT_AUTH,
          grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND}
SIDES = {"buy": pb.SIDE_BUY, "sell": pb.SIDE_SELL, "sell_short": pb.SIDE_SELL_SHORT}
EXIT_INTERRUPTED = 130
EPILOG = """\
examples:
  ngctl get strategies -o yaml          ngctl apply -f examples/strategies/mm-aapl.yaml
  ngctl describe strategy mm-aapl       ngctl get audit strategy/mm-aapl
  ngctl halt --instrument AAPL --reason "news pending" --yes
  ngctl limits set --instrument AAPL --locate 1 --max-qty 1000 --collar-bps 500
  ngctl events --follow --type halt --type resume
  NANOGATE_ADDR=gw1:50051 NANOGATE_TOKEN=... ngctl status

connection: --server/--token/--ca/--cert/--key, else NANOGATE_ADDR, NANOGATE_TOKEN,
NANOGATE_CA, NANOGATE_CERT, NANOGATE_KEY, else the config file (--config, NGCTL_CONFIG,
~/.config/nanogate/ngctl.yaml: address, token, ca, cert, key).

data goes to stdout, messages and prompts to stderr. halt, cancel-all and delete ask
"[y/N]" on the terminal unless --yes; without a terminal they refuse (exit 2).

exit status: 0 ok, 1 failed (also: a confirmation answered no, a rejected check-order,
a broken audit chain), 2 usage, 3 not authenticated or not permitted, 4 not found,
130 interrupted (Ctrl-C, the way to stop events --follow)
"""


class Usage(Exception):
    """A command line that names no valid request (exit 2)."""


class Declined(Exception):
    """The operator answered no to a confirmation (exit 1: nothing was done)."""


class Missing(Exception):
    """A named object that does not exist, found out on this side (exit 4)."""


def err(message: str) -> None:
    print(f"ngctl: {message}", file=sys.stderr)


def confirm(question: str, yes: bool) -> None:
    """Ask on the terminal (prompt on stderr); never read stdin when it is not a terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Usage(f"{question}: refusing without --yes (no terminal to ask on)")
    sys.stderr.write(f"{question}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()  # "" at end of input: no
    if answer not in ("y", "yes"):
        raise Declined(f"{question}: not confirmed, nothing done")


def target(args: argparse.Namespace) -> pb.Target:
    chosen = [x for x in (args.all, args.account is not None, args.instrument) if x]
    if len(chosen) != 1:
        raise Usage("name exactly one of --all, --account N, --instrument SYM")
    if args.all:
        return pb.Target(scope=pb.SCOPE_GLOBAL)
    if args.account is not None:
        return pb.Target(scope=pb.SCOPE_ACCOUNT, account=args.account)
    return pb.Target(scope=pb.SCOPE_INSTRUMENT, symbol=args.instrument)


def describe_target(t: pb.Target) -> str:
    return {pb.SCOPE_GLOBAL: "ALL trading (kill switch)",
            pb.SCOPE_ACCOUNT: f"account {t.account}"}.get(t.scope, f"instrument {t.symbol}")


# --- commands ----------------------------------------------------------------------------

def cmd_get(c: Any, args: argparse.Namespace) -> int:
    kind, name, o = args.kind, args.name, c.options()
    if name and kind in ("halts", "symbols"):
        raise Usage(f"get {kind} takes no NAME (found {name!r})")
    if kind in ("strategies", "strategy"):
        items = [c.strategies.GetStrategy(pb.GetStrategyRequest(name=name), **o)] if name \
            else list(c.strategies.ListStrategies(pb.ListStrategiesRequest(), **o).strategies)
        print_rows("strategies", items, args.output, single=bool(name))
    elif kind == "limits":
        request = pb.GetLimitsRequest(symbol=name or "")
        if args.account is not None:
            request.account = args.account
        print_rows("limits", [c.risk.GetLimits(request, **o)], args.output, single=True)
    elif kind == "halts":
        print_rows("halts", [c.trading.GetTradingState(pb.GetTradingStateRequest(), **o)],
                   args.output, single=True)
    elif kind == "exposure":
        exposure = pb.GetExposureRequest(symbol=name or "")
        if args.account is not None:
            exposure.account = args.account
        print_rows("exposure", [c.risk.GetExposure(exposure, **o)], args.output, single=True)
    elif kind == "audit":
        rows = c.audit.ListAudit(pb.ListAuditRequest(limit=args.limit, target=name or ""), **o)
        if name and not rows.records:
            raise Missing(f"no audit rows for target {name!r} (targets look like "
                          "strategy/NAME, instrument/LOCATE, account/N, halt/..., symbols; "
                          "see `ngctl get audit`)")
        print_rows("audit", list(rows.records), args.output)
    elif kind == "symbols":
        print_rows("symbols", list(c.risk.ListSymbols(pb.ListSymbolsRequest(), **o).symbols),
                   args.output)
    return EXIT_OK


def cmd_describe(c: Any, args: argparse.Namespace) -> int:
    strategy = c.strategies.GetStrategy(pb.GetStrategyRequest(name=args.name), **c.options())
    history = c.audit.ListAudit(pb.ListAuditRequest(target=f"strategy/{args.name}"),
                                **c.options())
    document = {"name": strategy.name, "generation": strategy.generation,
                "updated": f"{strategy.updated_at} by {strategy.updated_by}",
                "account limits": {"credit_limit": strategy.limits.credit_limit,
                                   "rate_per_s": strategy.limits.rate_per_s,
                                   "burst": strategy.limits.burst},
                "spec": json.loads(strategy.spec_json),
                "history": [f"{r.time} {r.actor} {r.action}" for r in history.records]}
    sys.stdout.write(render(document, "json" if args.output == "json" else "yaml"))
    return EXIT_OK


def cmd_apply(c: Any, args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except OSError as error:
        err(f"{args.file}: cannot read: {error.strerror}")
        return EXIT_FAILED
    response = c.strategies.ApplyStrategy(
        pb.ApplyStrategyRequest(spec_yaml=text, dry_run=args.dry_run), **c.options())
    suffix = " (dry run)" if args.dry_run else ""
    print(f"strategy/{response.strategy.name} {response.result}{suffix}")
    return EXIT_OK


def cmd_delete(c: Any, args: argparse.Namespace) -> int:
    if args.kind not in ("strategy", "strategies"):
        raise Usage(f"cannot delete {args.kind!r} (only: strategy NAME)")
    confirm(f"delete strategy {args.name} (its account's orders will be halted)", args.yes)
    c.strategies.DeleteStrategy(pb.DeleteStrategyRequest(name=args.name), **c.options())
    print(f"strategy/{args.name} deleted")
    return EXIT_OK


def cmd_halt(c: Any, args: argparse.Namespace) -> int:
    t = target(args)
    if not args.reason.strip():
        raise Usage("--reason must say why")
    confirm(f"halt {describe_target(t)}", args.yes)
    response = c.trading.Halt(pb.HaltRequest(target=t, reason=args.reason), **c.options())
    state = "halted" if response.changed else "already halted"
    print(f"{describe_target(t)} {state}")
    return EXIT_OK


def cmd_resume(c: Any, args: argparse.Namespace) -> int:
    t = target(args)
    response = c.trading.Resume(pb.ResumeRequest(target=t, reason=args.reason or ""),
                                **c.options())
    print(f"{describe_target(t)} {'resumed' if response.changed else 'was not halted'}")
    return EXIT_OK


def cmd_reduce_only(c: Any, args: argparse.Namespace) -> int:
    response = c.trading.SetReduceOnly(pb.ReduceOnlyRequest(
        account=args.account, enabled=not args.off, reason=args.reason or ""), **c.options())
    state = "off" if args.off else "on"
    print(f"account {args.account} reduce-only {state}"
          + ("" if response.changed else " (unchanged)"))
    return EXIT_OK


def cmd_cancel_all(c: Any, args: argparse.Namespace) -> int:
    request = pb.MassCancelRequest(symbol=args.instrument or "",
                                   side=SIDES.get(args.side or "", pb.SIDE_UNSPECIFIED),
                                   reason=args.reason or "")
    scope = []
    if args.account is not None:
        request.account = args.account
        scope.append(f"account {args.account}")
    scope += [f"instrument {args.instrument}"] if args.instrument else []
    scope += [f"side {args.side}"] if args.side else []
    confirm(f"cancel every open order ({', '.join(scope) or 'all accounts and instruments'})",
            args.yes)
    response = c.trading.MassCancel(request, **c.options())
    print(f"{response.cancelled} order(s) cancelled")
    return EXIT_OK


def cmd_limits(c: Any, args: argparse.Namespace) -> int:
    if (args.instrument is None) == (args.account is None):
        raise Usage("limits set needs exactly one of --instrument SYM or --account N")
    if args.instrument is not None:
        limits = pb.InstrumentLimits(symbol=args.instrument)
        for key in ("reference_price", "collar_bps", "max_qty", "max_notional", "max_long",
                    "max_short", "restricted"):
            if getattr(args, key) is not None:
                setattr(limits, key, getattr(args, key))
        register = args.locate is not None
        if register:
            limits.stock_locate = args.locate
        result = c.risk.SetInstrumentLimits(pb.SetInstrumentLimitsRequest(
            limits=limits, register_symbol=register), **c.options())
        print_rows("instrument-limits", [result], args.output)
    else:
        account = pb.AccountLimits(account=args.account)
        for key in ("credit_limit", "rate_per_s", "burst"):
            if getattr(args, key) is not None:
                setattr(account, key, getattr(args, key))
        result = c.risk.SetAccountLimits(pb.SetAccountLimitsRequest(limits=account),
                                         **c.options())
        print_rows("account-limits", [result], args.output)
    return EXIT_OK


def cmd_symbols(c: Any, args: argparse.Namespace) -> int:
    symbols = []
    for item in args.pairs:
        symbol, _, locate = item.partition("=")
        if not locate.isdigit():
            raise Usage(f"{item!r}: expected SYMBOL=LOCATE")
        symbols.append(pb.Symbol(symbol=symbol, stock_locate=int(locate)))
    result = c.risk.SetSymbols(pb.SetSymbolsRequest(symbols=symbols), **c.options())
    print_rows("symbols", list(result.symbols), args.output)
    return EXIT_OK


def cmd_check_order(c: Any, args: argparse.Namespace) -> int:
    response = c.trading.CheckOrder(pb.CheckOrderRequest(
        client_order_id=args.id, account=args.account, symbol=args.instrument,
        side=SIDES[args.side], quantity=args.qty, price=args.price), **c.options())
    verdict = "accepted" if response.accepted else "rejected: " + ", ".join(response.reasons)
    print(f"order {args.id} {verdict}")
    return EXIT_OK if response.accepted else EXIT_FAILED


def cmd_events(c: Any, args: argparse.Namespace) -> int:
    # Ctrl-C cancels the stream instead of raising inside gRPC's iterator: a
    # KeyboardInterrupt there can leave the channel's lock held and the exit hang.
    interrupted = threading.Event()
    streams: list[Any] = []

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        interrupted.set()
        for stream in streams:  # from another thread: never inside gRPC's own locks
            threading.Thread(target=stream.cancel, daemon=True).start()

    previous = None
    if args.follow and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return _stream_events(c, args, interrupted, streams)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _stream_events(c: Any, args: argparse.Namespace, interrupted: threading.Event,
                   streams: list[Any]) -> int:
    after, printed = args.since, 0
    while True:
        if args.limit and printed >= args.limit:  # reopened right after the last one owed
            return EXIT_OK
        left = args.limit - printed if args.limit else 0
        request = pb.StreamEventsRequest(after_id=after, types=args.type or [],
                                         follow=args.follow, limit=left)
        # a follow stream is re-opened from the last id when its deadline ends
        timeout = 300.0 if args.follow else None
        stream = c.events.StreamEvents(request, **c.options(timeout))
        streams[:] = [stream]
        if interrupted.is_set():
            stream.cancel()
        try:
            for event in stream:
                after, printed = event.id, printed + 1
                print_rows("events", [event], args.output, stream=True)
                sys.stdout.flush()
        except grpc.RpcError as error:
            if interrupted.is_set():
                raise KeyboardInterrupt from None  # main() reports it: exit 130
            if not (args.follow and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            continue
        if interrupted.is_set():
            raise KeyboardInterrupt
        return EXIT_OK


def cmd_audit(c: Any, args: argparse.Namespace) -> int:
    verdict = c.audit.VerifyAudit(pb.VerifyAuditRequest(), **c.options())
    if verdict.ok:
        print(f"audit chain intact: {verdict.rows} row(s), head {verdict.head_hash[:16]}")
        return EXIT_OK
    print(f"audit chain BROKEN at row {verdict.bad_row}: {verdict.problem}")
    return EXIT_FAILED


def cmd_status(c: Any, args: argparse.Namespace) -> int:
    print_rows("status", [c.status.GetStatus(pb.GetStatusRequest(), **c.options())],
               args.output, single=True)
    return EXIT_OK


# --- the parser -------------------------------------------------------------------------

_CONFIRM = ("asks [y/N] on the terminal (prompt on stderr) unless --yes; answering no exits 1;\n"
            "without a terminal it refuses with exit 2 and reads nothing.")
EXAMPLES = {
    "get": "examples:\n  ngctl get strategies\n  ngctl get strategy mm-aapl -o yaml\n"
           "  ngctl get limits AAPL -o json      ngctl get limits --account 3\n"
           "  ngctl get halts                    ngctl get exposure AAPL\n"
           "  ngctl get audit --limit 20         ngctl get audit strategy/mm-aapl\n"
           "a NAME that does not exist exits 4 (audit: a target with no rows).",
    "describe": "example:\n  ngctl describe strategy mm-aapl -o json",
    "apply": "examples:\n  ngctl apply -f examples/strategies/mm-aapl.yaml --dry-run\n"
             "  cat spec.yaml | ngctl apply -f -\nan invalid spec exits 1 and names each field.",
    "delete": "example:\n  ngctl delete strategy mm-aapl --yes\n" + _CONFIRM,
    "halt": "examples:\n  ngctl halt --instrument AAPL --reason \"news pending\"\n"
            "  ngctl halt --all --reason \"kill switch drill\" --yes\n" + _CONFIRM,
    "resume": "example:\n  ngctl resume --instrument AAPL --reason \"news out\"",
    "reduce-only": "examples:\n  ngctl reduce-only --account 3 --reason \"over limit\"\n"
                   "  ngctl reduce-only --account 3 --off",
    "cancel-all": "examples:\n  ngctl cancel-all --account 3 --side buy --yes\n"
                  "  ngctl cancel-all --instrument AAPL\n" + _CONFIRM,
    "limits": "examples:\n  ngctl limits set --instrument AAPL --locate 1 --max-qty 1000 "
              "--collar-bps 500\n  ngctl limits set --account 3 --credit-limit 10000000000 "
              "--rate 1000 --burst 100\nout-of-range values exit 1 and name the field.",
    "symbols": "example:\n  ngctl symbols AAPL=1 MSFT=2",
    "check-order": "example:\n  ngctl check-order --id 1 --account 3 --instrument AAPL "
                   "--side buy --qty 100 --price 1500000\na rejected order exits 1.",
    "events": "examples:\n  ngctl events --type halt --limit 10\n"
              "  ngctl events --follow -o json       (one JSON object a line; Ctrl-C stops, "
              "exit 130)\n  ngctl events --follow --since 1200 --limit 1",
    "audit": "example:\n  ngctl audit verify\na broken chain exits 1 and names the first bad row.",
    "status": "example:\n  ngctl status -o json",
}


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")


def _scope(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="global (the kill switch)")
    p.add_argument("--account", type=int, metavar="N")
    p.add_argument("--instrument", metavar="SYM")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ngctl", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Control a nanogate gateway: strategies, risk limits, halts, events, audit.")
    parser.add_argument("-s", "--server", dest="address", metavar="HOST:PORT")
    parser.add_argument("--token")
    parser.add_argument("--ca", metavar="FILE", help="CA that signed the server's certificate")
    parser.add_argument("--cert", metavar="FILE", help="client certificate (mTLS)")
    parser.add_argument("--key", metavar="FILE", help="client key (mTLS)")
    parser.add_argument("--config", metavar="FILE",
                        help="config file (default $NGCTL_CONFIG, ~/.config/nanogate/ngctl.yaml)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="deadline of each call, seconds (default 10)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Callable[[Any, argparse.Namespace], int], help: str) \
            -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EXAMPLES.get(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(handler=handler)
        return p

    p = add("get", cmd_get, "list or show strategies, limits, halts, exposure, audit, symbols")
    p.add_argument("kind", choices=("strategies", "strategy", "limits", "halts", "exposure",
                                    "audit", "symbols"))
    p.add_argument("name", nargs="?", help="strategy name, symbol, or audit target")
    p.add_argument("--account", type=int, metavar="N", help="limits/exposure of one account")
    p.add_argument("--limit", type=int, default=0, help="audit: at most N rows")
    _output(p)
    p = add("describe", cmd_describe, "show one strategy in full, with its history")
    p.add_argument("kind", choices=("strategy",))
    p.add_argument("name")
    _output(p)
    p = add("apply", cmd_apply, "create or update a strategy from a spec file")
    p.add_argument("-f", "--filename", dest="file", required=True, metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="validate only")
    p = add("delete", cmd_delete, "delete a strategy")
    p.add_argument("kind")
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = add("halt", cmd_halt, "halt trading: globally, for an account or for an instrument")
    _scope(p)
    p.add_argument("--reason", required=True)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = add("resume", cmd_resume, "lift a halt")
    _scope(p)
    p.add_argument("--reason")
    p = add("reduce-only", cmd_reduce_only, "let an account only reduce its positions")
    p.add_argument("--account", type=int, required=True, metavar="N")
    p.add_argument("--off", action="store_true")
    p.add_argument("--reason")
    p = add("cancel-all", cmd_cancel_all, "cancel open orders (FIX OrderMassCancelRequest)")
    p.add_argument("--account", type=int, metavar="N")
    p.add_argument("--instrument", metavar="SYM")
    p.add_argument("--side", choices=("buy", "sell"))
    p.add_argument("--reason")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    limits = add("limits", cmd_limits, "set risk limits").add_subparsers(
        dest="limits_command", metavar="set", required=True)
    p = limits.add_parser("set", help="set instrument or account limits (others unchanged)",
                          description="Set instrument or account limits; fields not given "
                                      "are unchanged.", epilog=EXAMPLES["limits"],
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=cmd_limits)
    p.add_argument("--instrument", metavar="SYM")
    p.add_argument("--locate", type=int, metavar="N", help="map SYM to this stock locate")
    p.add_argument("--account", type=int, metavar="N")
    for flag, dest, what in (
            ("--reference-price", "reference_price", "price(4)"),
            ("--collar-bps", "collar_bps", "bps"), ("--max-qty", "max_qty", "shares"),
            ("--max-notional", "max_notional", "price(4) x shares"),
            ("--max-long", "max_long", "shares"), ("--max-short", "max_short", "shares"),
            ("--credit-limit", "credit_limit", "price(4) x shares"),
            ("--rate", "rate_per_s", "orders/s"), ("--burst", "burst", "orders")):
        p.add_argument(flag, dest=dest, type=int, metavar="N", help=what)
    p.add_argument("--restricted", action=argparse.BooleanOptionalAction, default=None)
    _output(p)
    p = add("symbols", cmd_symbols, "map symbols to stock locates: SYM=LOCATE ...")
    p.add_argument("pairs", nargs="+", metavar="SYM=LOCATE")
    _output(p)
    p = add("check-order", cmd_check_order, "send a test order through the risk pipeline")
    p.add_argument("--id", type=int, required=True, help="client order id")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--instrument", required=True, metavar="SYM")
    p.add_argument("--side", choices=tuple(SIDES), required=True)
    p.add_argument("--qty", type=int, required=True)
    p.add_argument("--price", type=int, required=True, help="price(4)")
    p = add("events", cmd_events, "print events; --follow keeps streaming")
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--type", action="append", metavar="TYPE")
    p.add_argument("--since", type=int, default=0, metavar="ID", help="events after this id")
    p.add_argument("--limit", type=int, default=0)
    _output(p)
    p = add("audit", cmd_audit, "verify the audit chain (`get audit` lists it)")
    p.add_argument("action", choices=("verify",))
    p = add("status", cmd_status, "device, counters, latencies")
    _output(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nanogate.control.client import Client, ConfigError, resolve

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        settings = resolve({"address": args.address, "token": args.token, "ca": args.ca,
                            "cert": args.cert, "key": args.key}, args.config, args.timeout)
        client = Client(settings)
    except ConfigError as error:
        err(str(error))
        return EXIT_USAGE
    try:
        code: int = args.handler(client, args)
        return code
    except Usage as error:
        err(str(error))
        return EXIT_USAGE
    except Declined as error:
        err(str(error))
        return EXIT_FAILED
    except Missing as error:
        err(str(error))
        return EXIT_NOT_FOUND
    except grpc.RpcError as error:
        return report(error)
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ngctl events --follow | head`: the reader is gone
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        client.close()


def report(error: grpc.RpcError) -> int:
    from google.rpc import error_details_pb2  # type: ignore[import-untyped, unused-ignore]
    from grpc_status import rpc_status

    code = error.code()
    err(f"{code.name.lower().replace('_', ' ')}: {error.details()}")
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            for violation in bad.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
    return _CODES.get(code, EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
