"""``nanogate feed decode|stats`` and ``nanogate book``: read feed files from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TextIO

from nanogate.gateway import argtypes
from nanogate.gateway.device.options import add_device_arguments
from nanogate.gateway.feed.source import FeedFile, FeedFormatError, open_feed
from nanogate.proto.faults import Fault
from nanogate.proto.itch import MESSAGES
from nanogate.proto.wire import Value

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_FILE_HELP = ("a NASDAQ BinaryFILE ([u16 length][message] blocks, zero prefixes accepted) "
              "or a pcap/pcapng capture of MoldUDP64 over UDP; the format is read from "
              "the content, not the name")


def register_feed(feed: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decode = feed.add_parser(
        "decode", help="print every message with all its fields",
        description="Decode every ITCH 5.0 message of FILE with the reference decoder and "
                    "print it: one JSON object per line (seq, type, then the spec's fields in "
                    "snake_case; alpha fields without trailing spaces; prices as integers in "
                    "the spec's fixed-point units) or a table.",
        epilog="examples:\n  nanogate feed decode session.pcap --limit 5\n"
               "  nanogate feed decode ex.itch -o table | less\n\n"
               "seq is the MoldUDP64 sequence number, or the 1-based message index in a "
               "BinaryFILE. Dropped messages are counted on stderr by reason; with --strict "
               "any drop makes the exit status 1.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    decode.add_argument("file", metavar="FILE", help=_FILE_HELP)
    decode.add_argument("-o", "--output", choices=("jsonl", "table"), default="jsonl",
                        help="output format (default: jsonl)")
    decode.add_argument("--limit", type=argtypes.non_negative_int, metavar="N",
                        help="stop after N messages")
    decode.add_argument("--type", dest="types", metavar="T", action="append",
                        help="only messages of this type character (repeatable)")
    decode.add_argument("--strict", action="store_true",
                        help="exit 1 when any message or packet was dropped")
    add_device_arguments(
        decode, help="software (default): decode in Python. rtl-sim, aws, pynq: also run the "
                     "MoldUDP64 payloads (a BinaryFILE is first cut into packets) through "
                     "that device's feed parser (rtl-sim: the FPGA design in simulation, slow: "
                     "about 12 kB of feed a second) and compare its BookEvents and counters "
                     "with the software model's, record for record; any difference is an "
                     "error (exit 1)")
    decode.set_defaults(handler=_decode)

    stats = feed.add_parser(
        "stats", help="counts per type, sequence range, gaps, faults",
        description="Summarise FILE with the fast decoder: messages per type, sequence "
                    "range, gaps and duplicates, and every dropped message or packet by reason.")
    stats.add_argument("file", metavar="FILE", help=_FILE_HELP)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=_stats)


def register_book(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    book = commands.add_parser(
        "book", help="the order book of one instrument at the end of a feed file",
        description="Replay FILE into order books (A F E C X D U; P and Q leave the book "
                    "alone) and print the book of SYMBOL as it stands after the last message.",
        epilog="example:\n  nanogate book ex20101224.TEST_ITCH_50 --stock ALC --depth 10",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    book.add_argument("file", metavar="FILE", help=_FILE_HELP)
    book.add_argument("--stock", required=True, metavar="SYMBOL",
                      help="the instrument, as named in the Stock Directory (R) messages")
    book.add_argument("--depth", type=argtypes.positive_int, default=5, metavar="N",
                      help="price levels per side (default: 5)")
    book.add_argument("--json", action="store_true", help="print one JSON object")
    book.set_defaults(handler=_book)




def _open(path: str) -> FeedFile | None:
    try:
        feed = open_feed(path)
    except FeedFormatError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return None
    for note in feed.notes():
        print(f"nanogate: note: {note}", file=sys.stderr)
    return feed


def _report_faults(faults: Counter[Fault], details: list[str], shown: int = 5) -> None:
    for fault, count in sorted(faults.items()):
        print(f"nanogate: dropped {count} ({fault.label})", file=sys.stderr)
    for line in details[:shown]:
        print(f"nanogate:   {line}", file=sys.stderr)
    if len(details) > shown:
        print(f"nanogate:   ... {len(details) - shown} more", file=sys.stderr)


def _decode(args: argparse.Namespace) -> int:
    from nanogate.gateway.feed.reference import ReferenceDecoder

    feed = _open(args.file)
    if feed is None:
        return EXIT_USAGE
    unknown = [t for t in args.types or () if t not in MESSAGES]
    if unknown:
        print(f"nanogate: unknown message type(s) {unknown}; known: {''.join(MESSAGES)}",
              file=sys.stderr)
        return EXIT_USAGE
    if args.device != "software":
        problem = _cross_check(feed, args.device, args.device_options)
        if problem:
            print(f"nanogate: {args.device}: {problem}", file=sys.stderr)
            return EXIT_FAILED
    decoder = ReferenceDecoder(feed)
    objects: Iterator[dict[str, Value]] = (
        d.as_json() for d in decoder.messages()
        if not args.types or d.message["type"] in args.types)
    try:
        _write(objects, args.output, args.limit, sys.stdout)
    except BrokenPipeError:  # `| head`: the reader left, which is not an error
        sys.stderr.close()
        return EXIT_OK
    _report_faults(decoder.faults, decoder.fault_details)
    return EXIT_FAILED if args.strict and decoder.faults else EXIT_OK


def device_payloads(feed: FeedFile) -> list[bytes]:
    """The MoldUDP64 payloads a device is given for ``feed``.

    A capture's datagrams as they are; a BinaryFILE's messages cut into
    1400-byte packets of session ``NANOGATE`` numbered from 1, so each keeps
    the sequence number the software path gives it (its 1-based index).
    """
    from nanogate.proto import binaryfile, moldudp64

    if feed.is_capture:
        return [feed.data[start:end] for start, end in feed.datagram_bounds]
    framing = binaryfile.frame(feed.data)
    messages = [feed.data[o:o + n] for o, n in framing.messages]
    return [p.encode() for p in moldudp64.packetize("NANOGATE", messages, 1)]


def _cross_check(feed: FeedFile, backend: str,
                 option_pairs: Sequence[tuple[str, str]] = ()) -> str | None:
    """Run ``feed`` through ``backend`` (with its ``--device-option`` pairs) and the software
    model; the first difference, if any."""
    from nanogate.gateway.device import DeviceError, open_device
    from nanogate.gateway.device.options import checked_options
    from nanogate.proto.feed_regs import TIMING_COUNTERS

    payloads = device_payloads(feed)
    golden = open_device("software").feed_parser()
    try:
        device = open_device(backend, **checked_options(backend, option_pairs)).feed_parser()
        got = device.push(payloads)
    except DeviceError as error:
        return str(error)
    want = golden.push(payloads)
    names = want.dtype.names or ()
    for index, (a, b) in enumerate(zip(got.tolist(), want.tolist(), strict=False)):
        if a != b:
            fields = ", ".join(f"{n}: {x!r} != {y!r}" for n, x, y in zip(names, a, b, strict=True)
                               if x != y)
            return f"record {index} (seq {b[0]}) differs from the software model: {fields}"
    if len(got) != len(want):
        return f"{len(got)} records, the software model has {len(want)}"
    device_counters, golden_counters = device.counters(), golden.counters()
    for name, value in golden_counters.items():
        if name not in TIMING_COUNTERS and device_counters.get(name) != value:
            return (f"counter {name} is {device_counters.get(name)}, "
                    f"the software model's is {value}")
    return None


def _write(objects: Iterator[dict[str, Value]], form: str, limit: int | None,
           out: TextIO) -> None:
    for count, obj in enumerate(objects):
        if limit is not None and count >= limit:
            break
        if form == "jsonl":
            out.write(json.dumps(obj, separators=(",", ":")))
        else:
            rest = " ".join(f"{k}={v}" for k, v in obj.items()
                            if k not in ("seq", "type", "stock_locate", "timestamp",
                                         "tracking_number"))
            out.write(f"{obj['seq']:>10} {obj['type']} {obj['stock_locate']:>5} "
                      f"{_clock(int(obj['timestamp']))}  {rest}")
        out.write("\n")


def _clock(nanoseconds: int) -> str:
    seconds, ns = divmod(nanoseconds, 1_000_000_000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ns:09d}"


def feed_summary(feed: FeedFile) -> dict[str, object]:
    """What ``nanogate feed stats`` prints, as data."""
    from nanogate.gateway.feed import fast

    decoded = fast.decode(feed)
    events = decoded.events
    types = Counter(events["msg_type"].tobytes().decode("ascii")) if len(events) else Counter()
    return {
        "file": str(feed.path),
        "format": feed.format,
        "bytes": len(feed.data) if not feed.is_capture else feed.path.stat().st_size,
        "messages": len(events),
        "types": {t: types[t] for t in MESSAGES if types[t]},
        "first_seq": int(events["seq"].min()) if len(events) else None,
        "last_seq": int(events["seq"].max()) if len(events) else None,
        "gaps": decoded.gaps,
        "missing": decoded.missing,
        "duplicates": decoded.duplicates,
        "faults": {f.label: decoded.faults[f] for f in Fault},
        "datagrams": decoded.datagrams,
        "heartbeats": decoded.heartbeats,
        "end_of_session": decoded.end_of_session,
        "sessions": decoded.sessions,
        "zero_length_prefixes": feed.zero_length_prefixes,
        "fault_examples": [f"{e.fault.label} at "
                           f"{'datagram ' + str(e.datagram) + ' ' if e.datagram >= 0 else ''}"
                           f"byte {e.offset}: {e.detail}" for e in decoded.examples[:20]],
    }


def _stats(args: argparse.Namespace) -> int:
    feed = _open(args.file)
    if feed is None:
        return EXIT_USAGE
    summary = feed_summary(feed)
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(f"{summary['file']}: {summary['format']}, {summary['bytes']:,} bytes")
    print(f"messages      {summary['messages']:,}")
    print(f"sequence      {summary['first_seq']} .. {summary['last_seq']}")
    print(f"gaps          {summary['gaps']} ({summary['missing']} missing)")
    print(f"duplicates    {summary['duplicates']}")
    if feed.is_capture:
        print(f"datagrams     {summary['datagrams']:,} ({summary['heartbeats']} heartbeats, "
              f"{summary['end_of_session']} end of session)")
        print(f"sessions      {', '.join(map(str, summary['sessions']))}")  # type: ignore[call-overload]
    faults = summary["faults"]
    assert isinstance(faults, dict)
    print("faults        " + (", ".join(f"{k} {v}" for k, v in faults.items() if v) or "none"))
    types = summary["types"]
    assert isinstance(types, dict)
    print("\ntype  message                                       count")
    for type_char, count in types.items():
        print(f"  {type_char}   {MESSAGES[type_char].name:<44} {count:>8,}")
    examples = summary["fault_examples"]
    assert isinstance(examples, list)
    for line in examples[:5]:
        print(f"nanogate:   {line}", file=sys.stderr)
    return EXIT_OK


def _book(args: argparse.Namespace) -> int:
    from nanogate.gateway.book import BookSet
    from nanogate.gateway.feed import fast

    feed = _open(args.file)
    if feed is None:
        return EXIT_USAGE
    decoded = fast.decode(feed)
    books = BookSet()
    books.apply(decoded.events)
    try:
        book = books.book_by_symbol(args.stock)
    except KeyError:
        known = ", ".join(sorted(books.symbols())) or "none"
        print(f"nanogate: no instrument {args.stock!r} in {args.file} (instruments: {known})",
              file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        bids, asks = book.depth(args.depth)
        print(json.dumps({
            "stock": args.stock, "orders": book.orders,
            "bids": [{"price": lv.price, "shares": lv.shares, "orders": lv.orders} for lv in bids],
            "asks": [{"price": lv.price, "shares": lv.shares, "orders": lv.orders} for lv in asks],
        }, indent=2))
    else:
        print(f"{args.stock}: {book.orders} live orders after {len(decoded.events):,} messages")
        print(book.format_depth(args.depth))
    for reason, count in sorted(books.counters.items()):
        if count:
            print(f"nanogate: book: {count} event(s) not applied: {reason}", file=sys.stderr)
    return EXIT_OK
