"""``nanogate hw verilog feed``, ``nanogate hw bench feed`` and ``nanogate hw synth feed``.

The benchmark runs the design cycle-accurately (Amaranth simulator) over the
sample file reframed into MoldUDP64 packets and over a synthetic burst of
back-to-back packets, with the input always offered and the output always
ready, and reports latency (cycles from the beat carrying a message's last
byte to its record being valid on ``m_axis``) and throughput (payload bytes
per cycle while the stream flows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from amaranth.back import verilog

from nanogate.hw.feed.harness import FeedSim
from nanogate.hw.feed.stimulus import message_end_beats, messages_of, sample_packets
from nanogate.hw.feed.top import FeedParserTop
from nanogate.proto import moldudp64
from nanogate.proto.feed_regs import FEED_REGS

__all__ = ["bench", "measure", "measure_width", "top_for_synthesis", "write_verilog"]

TOPLEVEL = "feed_parser"
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "ex20101224.TEST_ITCH_50"
SYNTHETIC_MESSAGES = 3000


def top_for_synthesis() -> FeedParserTop:
    """What ``nanogate hw synth feed`` synthesises: the 64-bit top with the full
    65,536-entry filter table (two RAMB36) and the AXI-Lite register bank."""
    return FeedParserTop()


def write_verilog(out_dir: Path) -> list[Path]:
    """``feed_parser.v`` (64-bit, full filter table) and ``feed_regs.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / f"{TOPLEVEL}.v"
    source.write_text(verilog.convert(FeedParserTop(), name=TOPLEVEL))
    doc = out_dir / "feed_regs.md"
    doc.write_text(FEED_REGS.markdown())
    return [source, doc]


def measure(payloads: list[bytes], data_bytes: int = 8) -> dict[str, object]:
    """Latency and throughput of one run of ``payloads`` (well formed) at full rate."""
    sim = FeedSim(data_bytes)
    trace = sim.push(payloads)
    ends = message_end_beats(payloads, data_bytes)
    if len(ends) != len(trace.records):
        raise AssertionError(f"{len(trace.records)} records for {len(ends)} messages")
    by_type: dict[str, list[int]] = defaultdict(list)
    latencies = []
    for cycle, (beat, type_char) in zip(trace.record_cycles, ends, strict=True):
        latency = cycle - trace.beat_cycles[beat]
        latencies.append(latency)
        by_type[type_char].append(latency)
    cycles = trace.beat_cycles[-1] - trace.beat_cycles[0] + 1
    return {
        "packets": len(payloads),
        "messages": len(latencies),
        "bytes": sum(map(len, payloads)),
        "cycles": cycles,
        "bytes_per_cycle": sum(map(len, payloads)) / cycles,
        "latency_cycles_min": min(latencies),
        "latency_cycles_median": statistics.median(latencies),
        "latency_cycles_max": max(latencies),
        "latency_by_type": {t: {"messages": len(v), "min": min(v),
                                "median": statistics.median(v), "max": max(v)}
                            for t, v in sorted(by_type.items())},
    }


def bench(as_json: bool) -> int:
    started = time.perf_counter()
    runs: dict[str, dict[str, object]] = {}
    if SAMPLE.exists():
        runs["sample"] = measure(sample_packets(SAMPLE.read_bytes()))
    else:
        print(f"nanogate: {SAMPLE} not found: sample run skipped", file=sys.stderr)
    burst = [p.encode() for p in moldudp64.packetize("BURST", messages_of(SYNTHETIC_MESSAGES, 1))]
    runs["synthetic"] = measure(burst)
    latency_max = max(int(r["latency_cycles_max"]) for r in runs.values())  # type: ignore[call-overload]
    medians = [float(r["latency_cycles_median"]) for r in runs.values()]  # type: ignore[arg-type]
    total_bytes = sum(int(r["bytes"]) for r in runs.values())  # type: ignore[call-overload]
    total_cycles = sum(int(r["cycles"]) for r in runs.values())  # type: ignore[call-overload]
    summary: dict[str, object] = {
        "design": "hw/feed FeedParserTop, 64-bit AXI-Stream",
        "latency_cycles_max": latency_max,
        "latency_cycles_median": statistics.median(medians),
        "bytes_per_cycle": total_bytes / total_cycles,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"feed parser, 64-bit: cycle-accurate simulation ({summary['seconds']} s)")
    for name, run in runs.items():
        print(f"\n{name}: {run['packets']} packets, {run['messages']} messages, "
              f"{run['bytes']} bytes in {run['cycles']} cycles = "
              f"{float(run['bytes_per_cycle']):.3f} bytes/cycle")  # type: ignore[arg-type]
        print("  type  messages  latency min / median / max (cycles)")
        table = run["latency_by_type"]
        assert isinstance(table, dict)
        for type_char, row in table.items():
            print(f"  {type_char:<4} {row['messages']:>9}  {row['min']:>3} / {row['median']:>5} "
                  f"/ {row['max']:>3}")
    print(f"\nlatency max {latency_max} cycles, median {summary['latency_cycles_median']}; "
          f"{float(summary['bytes_per_cycle']):.3f} bytes/cycle")  # type: ignore[arg-type]
    return 0


def measure_width(data_bytes: int, messages: int = 1000, seed: int = 1) -> dict[str, object]:
    """The synthetic burst's figures at another beat width (``data_bytes`` per beat)."""
    burst = [p.encode() for p in moldudp64.packetize("BURST", messages_of(messages, seed))]
    run = measure(burst, data_bytes)
    run["data_bytes"] = data_bytes
    return run


def main(argv: list[str] | None = None) -> int:
    """``python -m nanogate.hw.feed.tools --data-bytes 64``: one width's figures as JSON
    (the widths besides 64 bits are not in ``nanogate hw bench feed``: slow to simulate)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data-bytes", type=int, default=8, metavar="N",
                        help="beat width in bytes (2..64)")
    parser.add_argument("--messages", type=int, default=1000, metavar="M",
                        help="messages in the synthetic burst")
    args = parser.parse_args(argv)
    run = measure_width(args.data_bytes, args.messages)
    run.pop("latency_by_type")
    print(json.dumps(run, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
