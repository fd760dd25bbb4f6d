"""The ``nanogate replay`` command: its arguments, the text summary and the progress line.

The replay itself (:mod:`nanogate.replay`) returns its summary as a dict and prints
nothing; this module is what a person sees of it: ``--help``, the summary rendered
as text (:func:`render`), the progress line on a terminal, and the exit status. Kept
apart so that the engine reads as the lockstep loop alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from nanogate.gateway.argtypes import non_negative_float, positive_int
from nanogate.replay import (
    DEFAULT_BATCH,
    DEFAULT_COLLAR_BPS,
    DEFAULT_WINDOW_US,
    MAX_GAP_S,
    SPEEDS,
    Replay,
    ReplayConfig,
    ReplayError,
)

__all__ = ["add_arguments", "main", "register", "render", "run_replay"]

_NS = 1_000_000_000

# --- output --------------------------------------------------------------------------------

def _fmt(value: float | None, spec: str, none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def _clock_text(ns: int) -> str:
    seconds, fraction = divmod(ns, _NS)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{fraction // 1_000_000:03d}"


def render(summary: Mapping[str, Any]) -> str:
    feed_time = summary["feed_time"]
    rate = summary["messages_per_s"]
    lines = [
        f"replay of {summary['file']} ({summary['format']}): {summary['messages']:,} "
        f"messages in {summary['batches']:,} batches, {summary['elapsed_s']:.2f} s"
        + (f" ({rate:,.0f} msg/s)" if rate else "") + f", speed {summary['speed']}",
        f"feed time {_clock_text(feed_time['first_ns'])} - {_clock_text(feed_time['last_ns'])}"
        f" ({feed_time['span_s']:,.1f} s)"
        + (f"; {summary['gaps_capped']} gaps over 1 s waited 1 s "
           f"({summary['gap_time_skipped_s']:,.1f} s skipped)"
           if summary["gaps_capped"] else ""),
    ]
    for s in summary["strategies"]:
        pnl, orders, fills = s["pnl"], s["orders"], s["fills"]
        sent = orders["sent_shares"]
        rate_pct = None if s["fill_rate"] is None else 100 * s["fill_rate"]
        lines += [
            "",
            f"strategy {s['name']} ({s['type']}, account {s['account']}: "
            f"{', '.join(s['instruments'])})",
            f"  PnL           ${pnl['total']:,.2f}  (realized {pnl['realized']:,.2f}, "
            f"unrealized {pnl['unrealized']:,.2f}, fees {pnl['fees']:,.2f})",
            f"  Sharpe        {_fmt(s['sharpe'], '.2f')}  (per-second returns on "
            f"${s['capital']:,.0f}, annualised)",
            f"  max drawdown  ${s['max_drawdown']:,.2f}",
            f"  fill rate     {_fmt(rate_pct, '.1f')}%  ({fills['shares']:,} of {sent:,} "
            "shares sent)",
            f"  slippage      {_fmt(s['slippage_bps'], '+.2f')} bps  (vs the mid at decision, "
            f"by filled share; {s['unmatched_fills']} fills without a mid)",
            f"  orders        {orders['new']:,} new, {orders['replaces']:,} replaces, "
            f"{orders['cancel_requests']:,} cancel requests",
            f"  fills         {fills['count']:,} ("
            + ", ".join(f"{k.removeprefix('liquidity_')} {v:,}" for k, v in fills.items()
                        if k.startswith("liquidity_")) + ")",
            "  cancels       " + (", ".join(f"{k} {v:,}" for k, v in s["cancels"].items())
                                  or "none"),
            "  rejects       " + ("; ".join(f"{source}: " + ", ".join(
                f"{reason} {n:,}" for reason, n in reasons.items())
                for source, reasons in s["rejects"]["by_source"].items()) or "none"),
            "  positions     " + (", ".join(
                f"{p['symbol']} {p['shares']:+,}" + (f" (mark {p['mark']:.4f})"
                                                     if p["shares"] and p["mark"] else "")
                for p in s["positions"]) or "none"),
        ]
        for breach in s["breaches"]:
            lines.append(f"  breach        {breach['text']} at "
                         f"{_clock_text(breach['timestamp_ns'])}: halted")
    total = summary["pnl"]
    if len(summary["strategies"]) > 1:
        lines += ["", f"total PnL ${total['total']:,.2f} (realized {total['realized']:,.2f}, "
                      f"unrealized {total['unrealized']:,.2f}, fees {total['fees']:,.2f})"]
    if summary["engine"].get("engine_errors"):
        lines += ["", f"warning: {summary['engine']['engine_errors']} strategy failures "
                      "(logged; the replay went on without their intents)"]
    if summary["settle_timeouts"]:
        lines += ["", f"warning: {summary['settle_timeouts']} waits for the venue ran out; "
                      "this run may not repeat exactly"]
    return "\n".join(lines)


class _TtyProgress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\rnanogate replay: {100 * done / max(total, 1):5.1f}%  "
                          f"{done:,}/{total:,} messages  {rate:,.0f} msg/s ")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")


# --- the command ---------------------------------------------------------------------------

_DESCRIPTION = """\
Replay a recorded or synthetic ITCH 5.0 session through strategies, the
pre-trade risk pipeline and the simulated venue, in-process and
deterministically, and print the run's PnL, Sharpe, max drawdown, fill rate
and slippage."""
_EPILOG = f"""\
what happens:
  The file is decoded once and replayed in batches (at most --batch events
  within --window-us of feed time). For each batch the venue (a real OUCH 5.0 /
  SoupBinTCP venue on 127.0.0.1, started from the file's directory only) plays
  the same events as the market's flow, the order books apply them, the
  strategies decide, and their orders go through the software risk pipeline
  (account limits from the spec, a collar of --collar-bps around each
  instrument's opening price) and the order router to the venue. Each batch
  waits for the venue's answers, and every clock is the feed's, so the same
  file and specs give the same results, at either speed (docs/replay.md).

speed:
  max   as fast as possible (the default)
  1x    batches paced by the ITCH timestamps; a quiet stretch longer than
        {MAX_GAP_S:.0f} s is waited {MAX_GAP_S:.0f} s (the summary says how much time that skipped)

prints, per strategy:
  PnL (realized, unrealized at the last mid, fees), Sharpe of per-second
  returns on the spec's maxPositionSize (annualised), max drawdown, fill rate
  (shares filled / sent), slippage (bps of the mid at decision, by filled share),
  orders, fills, cancels by reason, rejects by source and reason, positions.

examples:
  nanogate feed synth --messages 200000 --instruments 8 -o day.itch
  nanogate replay day.itch --strategy examples/strategies/mm-aapl.yaml
  nanogate replay day.itch --strategy examples/strategies/mm-aapl.yaml \\
      --strategy examples/strategies/momentum-msft.yaml --json run.json
  nanogate replay ../shared/data/ex20101224.TEST_ITCH_50 --strategy mm-bob.yaml --speed 1x

exit status: 0 ok, 1 the replay failed (the venue would not start), 2 bad usage
or unreadable input (a spec's errors are listed with their field paths; an
instrument the file lacks is named, with symbols the file has).
"""


def _collar(text: str) -> int:
    value = positive_int(text)
    if value > 0xFFFF:
        raise argparse.ArgumentTypeError(f"expected at most 65535 bps, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE",
                        help="ITCH 5.0 session: a BinaryFILE (e.g. from `nanogate feed synth`) "
                             "or a pcap/pcapng capture of MoldUDP64")
    parser.add_argument("--strategy", type=Path, action="append", required=True,
                        metavar="SPEC.yaml",
                        help="strategy spec (apiVersion nanogate/v1, kind Strategy); repeat "
                             "for several strategies")
    parser.add_argument("--speed", choices=SPEEDS, default="max",
                        help="max: as fast as possible (default); 1x: paced by the feed's "
                             "timestamps")
    parser.add_argument("--batch", type=positive_int, default=DEFAULT_BATCH, metavar="N",
                        help=f"events per batch, at most (default {DEFAULT_BATCH})")
    parser.add_argument("--window-us", type=positive_int, default=DEFAULT_WINDOW_US,
                        metavar="US", help="feed time one batch may span, microseconds "
                                           f"(default {DEFAULT_WINDOW_US})")
    parser.add_argument("--fee-per-share", type=non_negative_float, default=0.0,
                        metavar="DOLLARS", help="fee charged on every filled share (default 0)")
    parser.add_argument("--collar-bps", type=_collar, default=DEFAULT_COLLAR_BPS,
                        metavar="BPS", help="risk price collar around each instrument's "
                                            f"opening price (default {DEFAULT_COLLAR_BPS})")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the summary, with every fill, as JSON")
    parser.set_defaults(handler=run_replay)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` to the ``nanogate`` command's subcommands."""
    parser = commands.add_parser(
        "replay", help="replay a session through strategies, risk and the venue; PnL, Sharpe",
        description=_DESCRIPTION,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)


def run_replay(args: argparse.Namespace, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    config = ReplayConfig(args.file, list(args.strategy), speed=args.speed, batch=args.batch,
                          window_us=args.window_us, fee_per_share=args.fee_per_share,
                          collar_bps=args.collar_bps)
    if args.json is not None and not args.json.parent.is_dir():
        print(f"nanogate replay: --json {args.json}: no folder {args.json.parent}", file=err)
        return 2
    progress = _TtyProgress(err) if err.isatty() else None
    try:
        runner = Replay(config)
        for note in runner.feed.notes:
            print(f"nanogate replay: {note}", file=err)
        if runner.feed.faults:
            print(f"nanogate replay: {config.feed}: {runner.feed.faults:,} message(s) could "
                  "not be decoded (`nanogate feed stats` lists them); replaying the rest",
                  file=err)
        summary = runner.run(progress)
    except ReplayError as error:
        if progress is not None:
            progress.end()
        print(f"nanogate replay: {error}", file=err)
        return error.code
    if progress is not None:
        progress.end()
    code = 0
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
        except OSError as error:
            print(f"nanogate replay: cannot write {args.json}: {error.strerror or error}",
                  file=err)
            code = 1
    print(render(summary), file=out)
    return code


def main(argv: list[str] | None = None) -> int:
    """``nanogate replay`` on its own (tests, ``python -m nanogate.replay_cli``)."""
    parser = argparse.ArgumentParser(prog="nanogate replay", description=_DESCRIPTION,
                                     epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_replay(args)
    except KeyboardInterrupt:
        print("nanogate replay: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
