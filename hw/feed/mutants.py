"""Mutation check of the feed parser's tests: inject a fault, run the checks, expect a failure.

Each mutant is one textual change to ``hw/feed/parser.py`` (the change must
match exactly once). The checks are the Amaranth-simulator suite's core
(:func:`check`): a faulty random stream under back-pressure, a full-rate
stream (no bubbles, fixed latency), the instrument filter, all against the
software model, records and counters. ``python -m nanogate.hw.feed.mutants``
(or ``scripts/mutate_feed.py``) prints one line per mutant and the score.
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
import time
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from nanogate.gateway.device.software_feed import SoftwareFeedParser
from nanogate.hw.feed import parser as parser_module
from nanogate.hw.feed import top as top_module
from nanogate.hw.feed.harness import FeedSim
from nanogate.hw.feed.stimulus import (
    message_end_beats,
    messages_of,
    records_to_array,
    stream_of_packets,
)
from nanogate.proto import moldudp64
from nanogate.proto.feed_regs import COUNTER_NAMES, TIMING_COUNTERS

#: name -> (text in parser.py, replacement)
MUTANTS: dict[str, tuple[str, str]] = {
    "first block offset +1": ("rel_start = HEADER_BYTES - header_beat * W",
                              "rel_start = HEADER_BYTES + 1 - header_beat * W"),
    "length prefix bytes swapped": ("length_k.eq(Cat(in_lanes[(k + 1) % W], hi))",
                                    "length_k.eq(Cat(hi, in_lanes[(k + 1) % W]))"),
    "length code from the wrong lane": ("Mux(hi_zero, low_code[(k + 1) % W], 0)",
                                        "Mux(hi_zero, low_code[k], 0)"),
    "length check dropped": ("right_length.eq(known & (ev.code == type_length))",
                             "right_length.eq(known)"),
    "type code not kept beside body[0]": ("m.d.sync += body_code.eq(cur_code_here)",
                                          "m.d.sync += body_code.eq(0)"),
    "stale block completes in the next packet": (
        "complete.eq(in_blocks & active & framing & rel_le_n)",
        "complete.eq(in_blocks & active & rel_le_n)"),
    "block length off by one": ("in_end[k].eq(r + 2 - W + length_k)",
                                "in_end[k].eq(r + 3 - W + length_k)"),
    "record valid stuck at 1": ("self.o.valid.eq(good & passes)", "self.o.valid.eq(1)"),
    "gap flag dropped": ("Mux(gap, int(EventFlags.GAP), 0)", "Mux(0, int(EventFlags.GAP), 0)"),
    "duplicate compare <=": ("(ev.seq < expected)", "(ev.seq <= expected)"),
    "no resync on a new session": ("synced & ~(ev.header & ev.new_session)", "synced"),
    "heartbeat leaves expected alone": (
        "with m.If(heartbeat_ev & (~synced_now | (ev.base > expected))):", "with m.If(0):"),
    "expected not advanced past a message": ("expected.eq(ev.seq + 1)", "expected.eq(ev.seq)"),
    "sequence numbers step by 2": ("next_seq.eq(seq_base + 1)", "next_seq.eq(seq_base + 2)"),
    "body bytes from the wrong lane": ("cur_sel[i].eq(by_lane([Const((v + 2 + i) % W",
                                       "cur_sel[i].eq(by_lane([Const((v + 3 + i) % W"),
    "first body bytes from the wrong lane": (
        "new_rot[i].eq(by_lane([lanes[(v + 2 + i) % W]",
        "new_rot[i].eq(by_lane([lanes[(v + 1 + i) % W]"),
    "lane wrap off by one": ("if (v + 2) % W + i >= W), W)", "if (v + 2) % W + i > W), W)"),
    "straddling prefix ignores the last beat": (
        "hi = in_lanes[k] if k < W - 1 else in_prev", "hi = in_lanes[k] if k < W - 1 else 0"),
    "truncation never counted": ("truncated.eq(ev.blocks_end & unfinished)",
                                 "truncated.eq(Const(0) & ev.blocks_end & unfinished)"),
    "trailing bytes off by one": ("_pick([pre.ge[v + 1] for v in range(W)], lane)",
                                  "_pick([pre.ge[v] for v in range(W)], lane)"),
    "zero length not a bad length": ("bad_length.eq(ev.block & (ev.zero | known",
                                     "bad_length.eq(ev.block & (Const(0) | known"),
    "short packet threshold off by one": ("pre.ge[(HEADER_BYTES - 1) % W + 1]",
                                          "pre.ge[(HEADER_BYTES - 1) % W]"),
    "end of session not recognised": ("count_end.eq(in_count == END_OF_SESSION_COUNT)",
                                      "count_end.eq(in_count == END_OF_SESSION_COUNT - 1)"),
    "filter inverted": ("(ev_in_table & read.data)", "(ev_in_table & ~read.data)"),
    "several blocks in a beat not held": ("if r + 2 + v <= W else 0",
                                          "if r + 2 + v < W else 0"),
    "field bytes swapped": ("value = _be(ev_body[offset:offset + width])",
                            "value = Cat(*ev_body[offset:offset + width])"),
    "missing counter off by one": ("missing_sum.eq(self.missing + jump)",
                                   "missing_sum.eq(self.missing + jump + (jump != 0))"),
    "back-pressure ignored": ("advance.eq(~self.o.valid | self.o.ready)", "advance.eq(1)"),
    "held beat not held": ("load.eq(~b_valid | advance & ~hold)", "load.eq(~b_valid | advance)"),
    "skid buffer loses its beat": ("m.d.sync += [skid_valid.eq(1), skid.eq(self.i.payload)]",
                                   "m.d.sync += [skid_valid.eq(0), skid.eq(self.i.payload)]"),
    "skid not drained first": ("incoming.eq(Mux(skid_valid, skid, self.i.payload))",
                               "incoming.eq(Mux(0, skid, self.i.payload))"),
    "prefix position not carried into the next beat": ("rel_neg1.eq(rel_zero)]",
                                                       "rel_neg1.eq(0)]"),
}


def _records_and_counters(sim: FeedSim, payloads: Sequence[bytes],
                          model: SoftwareFeedParser) -> str | None:
    got = records_to_array(sim.push(payloads).records).tolist()
    want = model.push(payloads).tolist()
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"record {index} differs"
    if len(got) != len(want):
        return f"{len(got)} records, software {len(want)}"
    for name in COUNTER_NAMES:
        if name not in TIMING_COUNTERS and sim.read_register(name) != model.read_register(name):
            return f"counter {name} differs"
    return None


def straddling_long_prefix() -> bytes:
    """A length prefix split over two beats whose high byte matters (256 + 12).

    The first block (an H, 25 bytes) puts the second prefix on lane 7; read
    whole, the length runs off the payload (truncated); with the high byte
    lost it would frame the S message after it.
    """
    halt = b"H" + bytes(24)
    system = b"S" + bytes(10) + b"O"
    header = moldudp64.HEADER.pack({"session": "STRADDLE", "sequence_number": 1,
                                    "message_count": 2})
    return header + (25).to_bytes(2, "big") + halt + (256 + 12).to_bytes(2, "big") + system


def corner_cases() -> list[bytes]:
    """A heartbeat ahead of the stream, then data from its number; a zero-length block
    ending exactly at the payload's last byte; short blocks ending on a full last beat."""
    system = b"S" + bytes(10) + b"O"
    return [
        moldudp64.encode_packet("CORNER", 1, [system, system]),
        moldudp64.encode_packet("CORNER", 6),  # 3..5 missing: one gap, here
        moldudp64.encode_packet("CORNER", 6, [system]),  # not a second gap
        moldudp64.HEADER.pack({"session": "CORNER", "sequence_number": 7, "message_count": 2})
        + (12).to_bytes(2, "big") + system + (0).to_bytes(2, "big"),
        # 40 bytes: a zero-length block, then a 2-byte one ending on the full last beat's
        # last lane (both framed in that beat: it is held once per block)
        moldudp64.HEADER.pack({"session": "CORNER", "sequence_number": 9, "message_count": 3})
        + (12).to_bytes(2, "big") + system + (0).to_bytes(2, "big")
        + (2).to_bytes(2, "big") + b"AB",
    ]


def check() -> str | None:
    """Run the checks on the design ``nanogate.hw.feed.top`` builds; the first failure."""
    faulty = [payload for seed in (20, 2)
              for payload in stream_of_packets(random.Random(seed), messages_of(250, seed))]
    faulty += [straddling_long_prefix(), *corner_cases()]
    problem = _records_and_counters(FeedSim(gap_probability=0.2, ready_probability=0.6, seed=1),
                                    faulty, SoftwareFeedParser())
    if problem:
        return f"faulty stream: {problem}"
    clean = [p.encode() for p in moldudp64.packetize("FULL", messages_of(120, 5), max_payload=300)]
    sim = FeedSim()
    trace = sim.push(clean)
    beats = trace.beat_cycles
    if beats != list(range(beats[0], beats[0] + len(beats))):
        return "full rate: bubbles in the input"
    ends = message_end_beats(clean)
    if len(ends) != len(trace.records):
        return "full rate: record count"
    if {c - beats[b] for c, (b, _) in zip(trace.record_cycles, ends, strict=True)} != {3}:
        return "full rate: latency"
    sim = FeedSim(filter_depth=16)
    model = SoftwareFeedParser()
    for device in (sim, model):
        device.write_register("filter_write", 1 << 16 | 3)
        device.write_register("filter_enable", 1)
    problem = _records_and_counters(sim, clean, model)
    return f"filter: {problem}" if problem else None


@contextmanager
def mutant(name: str) -> Iterator[None]:
    """Build ``FeedParserTop`` from parser.py with mutant ``name`` applied, inside the block."""
    old, new = MUTANTS[name]
    source = inspect.getsource(parser_module)
    if source.count(old) != 1:
        raise ValueError(f"mutant {name!r}: {old!r} occurs {source.count(old)} times")
    module = types.ModuleType("nanogate.hw.feed._mutant")
    exec(compile(source.replace(old, new), f"<mutant {name}>", "exec"),
         module.__dict__)
    # top.py builds the core by the name it imported: swap that name for the mutant's
    original = getattr(top_module, "FeedParser")  # noqa: B009
    setattr(top_module, "FeedParser", module.FeedParser)  # noqa: B010
    try:
        yield
    finally:
        setattr(top_module, "FeedParser", original)  # noqa: B010


def run(names: Sequence[str], out: TextIO | None = None) -> tuple[int, int]:
    """Check each mutant; returns (caught, total)."""
    out = out or sys.stdout
    caught = 0
    for name in names:
        started = time.perf_counter()
        with mutant(name):
            try:
                problem = check()
            except Exception as error:  # a mutant that breaks elaboration is caught too
                problem = f"{type(error).__name__}: {error}"
        caught += problem is not None
        verdict = f"caught ({problem})" if problem else "SURVIVED"
        print(f"{name:<42} {verdict}  [{time.perf_counter() - started:.1f} s]", file=out)
    print(f"mutation score: {caught}/{len(names)} caught", file=out)
    return caught, len(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="MUTANT",
                        help="mutants to run (default: all); --list names them")
    parser.add_argument("--list", action="store_true", help="print the mutant names")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(MUTANTS))
        return 0
    unknown = [n for n in args.names if n not in MUTANTS]
    if unknown:
        parser.error(f"unknown mutants {unknown}")
    if check() is not None:
        print(f"the unmutated design fails the checks: {check()}", file=sys.stderr)
        return 1
    caught, total = run(args.names or list(MUTANTS))
    return 0 if caught == total else 1


if __name__ == "__main__":
    sys.exit(main())
