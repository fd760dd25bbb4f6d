"""``nanogate demo``: the whole gateway live (:func:`run_live_demo`), or the feed alone.

``--feed-only`` (:func:`run_demo`) runs the feed pipeline end to end, on the sample
and on a synthetic day:

1. Decode the public sample (a BinaryFILE with zero length prefixes) with both
   decoders and insist they agree.
2. Carry it as MoldUDP64 over UDP: packetize, write a pcap, read it back,
   decode again: the events must be the same ones.
3. Build the order book of every instrument and show the tops and one depth.
4. Do the same with a synthetic session (default 1,000,000 messages), timing
   each stage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nanogate.gateway.book import BookSet, OrderBook
from nanogate.gateway.feed import fast, reference
from nanogate.gateway.feed.capture import Datagram, write_datagrams
from nanogate.gateway.feed.source import FeedFile, FeedFormatError, open_feed
from nanogate.proto import binaryfile, moldudp64

if TYPE_CHECKING:
    from nanogate.live import RunRecord

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SAMPLE = REPO.parent / "shared" / "data" / "ex20101224.TEST_ITCH_50"
LINE_A = (("127.0.0.1", 40000), ("239.1.1.1", 5001))


def _price(value: int) -> str:
    return f"{value / 10_000:,.4f}"


def _to_pcap(feed: FeedFile, path: Path) -> int:
    """Reframe a BinaryFILE into MoldUDP64 packets in a pcap; returns the packet count."""
    data = feed.data
    messages = [data[o:o + n] for o, n in binaryfile.frame(data).messages]
    packets = moldudp64.packetize("NANOGATE01", messages, first_sequence=1)
    payloads = [p.encode() for p in packets]
    payloads.append(moldudp64.encode_packet("NANOGATE01", len(messages) + 1,
                                            end_of_session=True))
    start = time.time()
    write_datagrams(path, (Datagram(start + i * 1e-6, *LINE_A, payload)
                           for i, payload in enumerate(payloads)))
    return len(payloads)


def _books_table(books: BookSet, events: int) -> None:
    print(f"  {'symbol':<8} {'orders':>7} {'best bid':>20} {'best ask':>20} {'spread':>9}")
    for symbol in sorted(books.symbols()):
        book = books.book_by_symbol(symbol)
        bid, ask = book.best_bid(), book.best_ask()
        bid_text = f"{bid.shares:,} @ {_price(bid.price)}" if bid else "-"
        ask_text = f"{ask.shares:,} @ {_price(ask.price)}" if ask else "-"
        spread = _price(ask.price - bid.price) if bid and ask else "-"
        print(f"  {symbol:<8} {book.orders:>7,} {bid_text:>20} {ask_text:>20} {spread:>9}")
    dropped = {reason: n for reason, n in books.counters.items() if n}
    print(f"  {events:,} events applied; not applied: {dropped or 'none'}")
    crossed = [symbol for symbol in sorted(books.symbols())
               if _is_crossed(books.book_by_symbol(symbol))]
    if crossed:
        print(f"  note: {', '.join(crossed)} end crossed (bid >= ask): the data has no "
              "matching engine behind it (a test excerpt, or a synthetic walk), so resting "
              "orders are never traded away when prices move")


def _is_crossed(book: OrderBook) -> bool:
    bid, ask = book.best_bid(), book.best_ask()
    return bid is not None and ask is not None and bid.price >= ask.price


def _section(title: str) -> None:
    print(f"\n== {title}")


def run_demo(sample: str | None, synthetic_messages: int, seed: int) -> int:
    sample_path = Path(sample) if sample else DEFAULT_SAMPLE
    with tempfile.TemporaryDirectory(prefix="nanogate-demo-") as scratch:
        work = Path(scratch)
        if sample_path.exists():
            code = _sample_stage(sample_path, work)
            if code:
                return code
        else:
            print(f"nanogate: {sample_path} not found; running the synthetic session only",
                  file=sys.stderr)
        if synthetic_messages > 0:
            _synthetic_stage(work, synthetic_messages, seed)
    print("\nnanogate demo: done. Next: `nanogate feed stats FILE`, "
          "`nanogate book FILE --stock SYMBOL`, `nanogate feed synth --help`.")
    return 0


def _sample_stage(path: Path, work: Path) -> int:
    _section(f"sample session: {path.name}")
    try:
        feed = open_feed(path)
    except FeedFormatError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 2
    for note in feed.notes():
        print(f"  note: {note}")
    fast.decode(feed)  # the first call loads (or, in a new checkout, compiles) the kernel
    started = time.perf_counter()
    decoded = fast.decode(feed)
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    ref_events, ref = reference.book_events(feed)
    ref_s = time.perf_counter() - started
    agree = decoded.events.tolist() == ref_events.tolist()
    n = len(decoded.events)
    print(f"  {n:,} messages, faults: {dict(decoded.faults) or 'none'}")
    print(f"  fast decoder {fast_s * 1e3:.1f} ms, reference decoder {ref_s * 1e3:.0f} ms, "
          f"records identical: {'yes' if agree else 'NO'}")
    if not agree or ref.faults != decoded.faults:
        print("nanogate: the two decoders disagree on the sample", file=sys.stderr)
        return 1

    pcap = work / "sample.pcap"
    packets = _to_pcap(feed, pcap)
    over_udp = fast.decode(open_feed(pcap))
    same = over_udp.events.tolist() == decoded.events.tolist()
    print(f"  as MoldUDP64/UDP: {packets:,} datagrams ({pcap.stat().st_size:,} bytes of pcap), "
          f"gaps {over_udp.gaps}, end of session {over_udp.end_of_session}, "
          f"events identical: {'yes' if same else 'NO'}")
    if not same:
        return 1

    books = BookSet()
    books.apply(decoded.events)
    _books_table(books, n)
    first = sorted(books.symbols())[0] if books.symbols() else None
    if first:
        print(f"\n  depth of {first}:")
        for line in books.book_by_symbol(first).format_depth(5).splitlines():
            print(f"    {line}")
    return 0


def _synthetic_stage(work: Path, messages: int, seed: int) -> None:
    from nanogate.sim.synth import write_synthetic

    _section(f"synthetic session: {messages:,} messages, seed {seed}")
    path = work / "synthetic.itch"
    started = time.perf_counter()
    write_synthetic(path, messages=messages, instruments=16, seed=seed)
    synth_s = time.perf_counter() - started
    feed = open_feed(path)
    started = time.perf_counter()
    decoded = fast.decode(feed)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    books = BookSet()
    books.apply(decoded.events)
    book_s = time.perf_counter() - started
    types, counts = np.unique(decoded.events["msg_type"], return_counts=True)
    mix = ", ".join(f"{t.decode()} {c:,}" for t, c in sorted(zip(types, counts, strict=True),
                                                          key=lambda tc: -int(tc[1])))
    print(f"  generated {path.stat().st_size:,} bytes in {synth_s:.2f} s")
    print(f"  decoded {len(decoded.events):,} messages in {decode_s:.3f} s "
          f"({len(decoded.events) / decode_s / 1e6:.1f} M msg/s), faults: "
          f"{dict(decoded.faults) or 'none'}")
    print(f"  books built in {book_s:.2f} s ({len(decoded.events) / book_s / 1e6:.2f} M events/s)")
    print(f"  message mix: {mix}")
    _books_table(books, len(decoded.events))


# --- the live demo: every part on loopback ------------------------------------------------

def run_live_demo(args: argparse.Namespace) -> int:
    """``nanogate demo``: trade live for ``--duration`` seconds; print and write the results.

    On exit it writes the report directory (``--report DIR``; default ``WORKDIR/report``
    with ``--workdir``, else ``./nanogate-demo-report``): summary.json, the latency
    histogram, the throughput timeline and a depth chart (:mod:`nanogate.demo_report`),
    and the day's compliance report (:mod:`nanogate.control.report`).
    """
    from nanogate.dashboard import Dashboard
    from nanogate.live import EXAMPLE_STRATEGIES, LiveConfig, LiveSession

    problems = [text for bad, text in (
        (args.duration <= 0, "--duration must be > 0 seconds"),
        (not 0.0 <= args.loss < 1.0, "--loss must be a probability in [0, 1)"),
        (not 1 <= args.instruments <= 1000, "--instruments must be 1..1000"),
        (args.rate <= 0, "--rate must be > 0 messages/s")) if bad]
    if problems:
        print(f"nanogate demo: {'; '.join(problems)}", file=sys.stderr)
        return 2
    # the compliance report reads the session's archive after it closes: a temporary
    # workdir lives until the report is written
    scratch = None if args.workdir else tempfile.TemporaryDirectory(prefix="nanogate-demo-")
    workdir = Path(args.workdir) if args.workdir else Path(scratch.name)  # type: ignore[union-attr]
    report_dir = Path(args.report) if args.report else (
        workdir / "report" if args.workdir else Path("nanogate-demo-report"))
    config = LiveConfig(duration_s=args.duration, device=args.device, loss=args.loss,
                        instruments=args.instruments, rate=args.rate, seed=args.seed,
                        strategies=Path(args.strategies) if args.strategies
                        else EXAMPLE_STRATEGIES, workdir=workdir, control_listen=args.listen)
    session = LiveSession(config, say=lambda text: print(text, file=sys.stderr))
    try:
        try:
            print(f"nanogate demo: generating a {config.rate * config.duration_s:,.0f}-message "
                  f"session over {config.instruments} instruments and starting every part...",
                  file=sys.stderr)
            session.start()
            print(f"nanogate demo: control plane on {session.control_address}, development "
                  f"token:\n  export NANOGATE_ADDR={session.control_address} "
                  f"NANOGATE_TOKEN={session.token}\n  then e.g. `ngctl status`, "
                  "`ngctl halt --all --reason drill --yes`, `ngctl events --follow`\n"
                  f"  telemetry: http://127.0.0.1:{session.metrics.port}/metrics and /health",
                  file=sys.stderr, flush=True)
            if sys.stdout.isatty():
                time.sleep(2.0)  # time to read the address before the dashboard takes the screen
            summary = session.run(Dashboard())
        except (OSError, ValueError, RuntimeError) as error:
            print(f"nanogate demo: {error}", file=sys.stderr)
            session.close()
            return 1
        except KeyboardInterrupt:
            summary = session.summary()
            print("nanogate demo: interrupted; summary so far", file=sys.stderr)
        finally:
            session.stop.set()
        record = session.record()
        session.close()
        _print_summary(summary)
        return _write_results(args, summary, record, report_dir, workdir)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _write_results(args: argparse.Namespace, summary: dict[str, Any], record: RunRecord,
                   report_dir: Path, workdir: Path) -> int:
    """The report directory, the compliance report beside it, --json; the paths printed."""
    from nanogate.control.report import ReportError, compliance
    from nanogate.demo_report import write_report
    from nanogate.live import write_json

    code = 0
    try:
        written = write_report(report_dir, summary, record)
    except OSError as error:
        print(f"nanogate demo: report: {report_dir}: {error}", file=sys.stderr)
        return 1
    try:
        result = compliance(date.today(), workdir / "archive", workdir / "control.db",
                            report_dir)
        if result.code:
            print(f"nanogate demo: compliance report: {result.message}", file=sys.stderr)
            code = 1
    except ReportError as error:
        print(f"nanogate demo: compliance report: {error}", file=sys.stderr)
        code = 1
    if args.json:
        write_json(Path(args.json), summary)
        print(f"nanogate demo: summary written to {args.json}")
    where = report_dir.resolve()
    _section(f"report: {where}")
    today = sorted(report_dir.glob(f"compliance-{date.today().isoformat()}*"))
    for path in [*written.values(), *today]:
        print(f"  {where / path.name}")
    return code


def _print_summary(summary: dict[str, Any]) -> None:
    feed, orders = summary["feed"], summary["order_flow"]
    _section(f"summary ({summary['duration_s']:.1f} s, device {summary['device']})")
    print(f"  feed: {feed['messages']:,} of {feed['published']:,} messages applied, "
          f"{feed['recovered']:,} recovered from the rewinder, {feed['duplicates']:,} "
          f"duplicate packets dropped, {feed['gaps_lost']} gap(s) lost")
    print(f"  {summary['messages_lost']:,} messages lost, {summary['gaps_recovered']:,} of "
          f"{summary['gaps']:,} gaps recovered")
    print(f"  orders: {orders['sent']:,} sent ({summary['orders_accepted']:,} accepted and "
          f"{summary['orders_rejected_risk']:,} rejected by risk, "
          f"{summary['orders_undecided']} undecided), {orders['cancels']:,} cancels, "
          f"{orders['fills']:,} fills, rejects {orders['rejects'] or 'none'}")
    print(f"  {'stage':<15}{'count':>9}{'p50 us':>10}{'p99 us':>10}{'p99.9 us':>10}")
    for stage, p in summary["latency_us"].items():
        print(f"  {stage:<15}{int(p['count']):>9,}{p['p50']:>10.1f}{p['p99']:>10.1f}"
              f"{p['p99.9']:>10.1f}")
    for name, pnl in summary["pnl"].items():
        print(f"  strategy {name}: PnL ${pnl:,.2f}")
    for line in summary["breaches"]:
        print(f"  breach: {line}")
