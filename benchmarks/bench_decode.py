"""Decoder throughput: the fast (numba) and the reference (Python) decoders, messages/s.

    .venv/bin/python benchmarks/bench_decode.py [--messages N] [--json]

Inputs: the public sample (shared/data, 12,012 messages) and a synthetic
session of N messages (default 5,000,000, written once under build/bench/).
"fast, one-shot" is `fast.decode` as the CLI calls it, allocation included;
"fast, reused buffer" decodes into a preallocated array, as a streaming
consumer does. The reference decoder runs over at most 200,000 messages.
Each figure is the best of several runs on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nanogate.gateway.feed import fast
from nanogate.gateway.feed.reference import ReferenceDecoder
from nanogate.gateway.feed.source import FeedFile, open_feed
from nanogate.proto import binaryfile
from nanogate.proto.records import BOOK_EVENT_DTYPE

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "data" / "ex20101224.TEST_ITCH_50"
REFERENCE_LIMIT = 200_000


def best_rate(run: Callable[[], int], repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        count = run()
        best = max(best, count / (time.perf_counter() - started))
    return best


def prefix(feed: FeedFile, messages: int) -> FeedFile:
    """The first ``messages`` messages of a BinaryFILE, as a feed of its own."""
    framing = binaryfile.frame(feed.data[: messages * 64])
    offset, length = framing.messages[min(messages, len(framing.messages)) - 1]
    return FeedFile(feed.path, "binaryfile", feed.data[: offset + length],
                    zero_length_prefixes=feed.zero_length_prefixes)


def measure(name: str, feed: FeedFile) -> dict[str, object]:
    fast.decode(feed)  # compile or load the cached kernel
    count = len(fast.decode(feed).events)
    reuse = np.empty(fast.capacity_for(len(feed.data)), BOOK_EVENT_DTYPE)
    reuse[:] = 0  # touch every page once, as a long-lived buffer would be
    repeats = 5 if count < 1_000_000 else 3
    one_shot = best_rate(lambda: len(fast.decode(feed).events), repeats)
    reused = best_rate(lambda: len(fast.decode(feed, out=reuse).events), repeats)
    small = feed if count <= REFERENCE_LIMIT else prefix(feed, REFERENCE_LIMIT)

    def reference() -> int:
        return sum(1 for _ in ReferenceDecoder(small).messages())

    reference_rate = best_rate(reference, 2)
    return {"input": name, "messages": count, "bytes": len(feed.data),
            "fast_one_shot_msgs_per_s": round(one_shot),
            "fast_reused_msgs_per_s": round(reused),
            "reference_msgs_per_s": round(reference_rate),
            "speedup": round(reused / reference_rate, 1)}


def synthetic(messages: int) -> FeedFile:
    from nanogate.sim.synth import write_synthetic

    path = REPO / "build" / "bench" / f"synthetic-{messages}.itch"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {path} ...", file=sys.stderr)
        write_synthetic(path, messages=messages, instruments=64, seed=1)
    return open_feed(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5_000_000,
                        help="size of the synthetic session (default 5,000,000)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    rows = []
    if SAMPLE.exists():
        rows.append(measure("sample (zero prefixes)", open_feed(SAMPLE)))
    rows.append(measure(f"synthetic {args.messages:,}", synthetic(args.messages)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'input':<26} {'messages':>11} {'fast one-shot':>15} {'fast reused':>13} "
          f"{'reference':>11} {'x':>6}")
    for row in rows:
        print(f"{row['input']:<26} {row['messages']:>11,} "
              f"{row['fast_one_shot_msgs_per_s'] / 1e6:>12.1f} M/s "
              f"{row['fast_reused_msgs_per_s'] / 1e6:>9.1f} M/s "
              f"{row['reference_msgs_per_s'] / 1e6:>7.2f} M/s {row['speedup']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
