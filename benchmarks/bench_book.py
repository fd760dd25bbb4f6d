"""Order book figures: BookSet.apply events/s on whole arrays and cost per packet-sized batch.

    .venv/bin/python benchmarks/bench_book.py [--repeat N] [--messages N] [--batch N] [--json]

Rows: the shared ITCH sample (12,012 events) applied whole; ``--messages`` synthetic
events (``nanogate.sim.synth``, a BinaryFILE decoded by the fast decoder) applied whole;
the same stream applied ``--batch`` events at a time (one packet's worth), microseconds
per call. Best of N per row: the machine is shared, so the load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from nanogate.gateway.book import BookSet
from nanogate.gateway.feed import fast
from nanogate.gateway.feed.source import FeedFile, open_feed
from nanogate.sim.synth import generate_session

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ex20101224.TEST_ITCH_50"


def synthetic(messages: int, instruments: int = 64, seed: int = 7) -> np.ndarray:
    data = generate_session(messages, instruments, seed).binaryfile_bytes()
    return fast.decode(FeedFile(Path("<synth>"), "binaryfile", data)).events


def whole(events: np.ndarray, repeat: int) -> dict[str, Any]:
    best = float("inf")
    for _ in range(repeat):
        books = BookSet()
        t0 = time.perf_counter()
        books.apply(events)
        best = min(best, time.perf_counter() - t0)
    return {"events": len(events), "seconds": round(best, 4),
            "events_per_s": round(len(events) / best), "live_orders": len(books.orders)}


def batched(events: np.ndarray, batch: int, repeat: int, read_top: bool) -> dict[str, Any]:
    parts = [events[i:i + batch] for i in range(0, len(events), batch)]
    best = float("inf")
    for _ in range(repeat):
        books = BookSet()
        t0 = time.perf_counter()
        for part in parts:
            books.apply(part)
            if read_top:  # a reader looking at the top of the book touched last
                book = books.books.get(int(part["stock_locate"][-1]))
                if book is not None:
                    book.best_bid()
                    book.best_ask()
        best = min(best, time.perf_counter() - t0)
    return {"batches": len(parts), "batch": batch,
            "us_per_batch": round(best / len(parts) * 1e6, 2),
            "events_per_s": round(len(events) / best)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    warm = BookSet()  # compile / load the cached kernels outside the timings
    if SAMPLE.exists():
        sample = fast.decode(open_feed(SAMPLE)).events
        warm.apply(sample[:100])
        rows["sample, whole"] = whole(sample, args.repeat)
        rows[f"sample, {args.batch}/call"] = batched(sample, args.batch, args.repeat, False)
    synth = synthetic(args.messages)
    warm.apply(synth[:100])
    rows["synthetic, whole"] = whole(synth, args.repeat)
    head = synth[:200_000]
    rows[f"synthetic 200k, {args.batch}/call"] = batched(head, args.batch, args.repeat, False)
    rows[f"synthetic 200k, {args.batch}/call + top read"] = batched(head, args.batch,
                                                                   args.repeat, True)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load": load, "rows": rows}, indent=2))
        return
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, row in rows.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
