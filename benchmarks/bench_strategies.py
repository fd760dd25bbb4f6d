"""Strategy cost per book update: on_book calls per second, with a stub venue answering.

    .venv/bin/python benchmarks/bench_strategies.py [--updates N] [--repeat N]

The tops are a seeded random walk of a one-cent-wide book around $100 (a few
percent of them one-sided). The stub venue accepts every order at once, fills
IOC orders in full and confirms replaces and cancels, so every strategy keeps
trading; the time counts on_book and the strategy's on_outcome calls, not the stub
building the outcomes (timed apart and taken off). Best of N runs, per strategy.
Also times ``book_top`` on a real OrderBook, the other per-update cost.
"""

from __future__ import annotations

import argparse
import os
import random
import time

import numpy as np

from nanogate.control.spec import validate
from nanogate.gateway.book import BookSet
from nanogate.gateway.strategies.base import BookTop, Strategy, book_top
from nanogate.gateway.strategies.registry import STRATEGIES, build
from nanogate.gateway.trading import (
    CancelOrder,
    Intent,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReplaced,
    Outcome,
    ReplaceOrder,
    TimeInForce,
)
from nanogate.proto.records import BOOK_EVENT_DTYPE


def tops(n: int, seed: int = 1) -> list[BookTop]:
    rng = random.Random(seed)
    mid, out = 10_000, []
    for _ in range(n):
        mid += rng.choice((-1, 0, 0, 1))
        one_sided = rng.random() < 0.02
        out.append(BookTop(None if one_sided else mid * 100, 300, (mid + 1) * 100, 200))
    return out


def answer(strategy: Strategy, intents: list[Intent], match: list[int]) -> list[Outcome]:
    """What the stub venue says to ``intents``."""
    out: list[Outcome] = []
    for i in intents:
        if isinstance(i, NewOrder):
            out.append(OrderAccepted(i.client_order_id, i.account, 1, 0, i.strategy))
            if i.time_in_force == TimeInForce.IOC:
                match[0] += 1
                out.append(OrderFilled(i.client_order_id, i.account, i.locate, i.symbol, i.side,
                                       i.quantity, i.price, match[0], Liquidity.REMOVED, 0, 0,
                                       i.strategy))
        elif isinstance(i, ReplaceOrder):
            out.append(OrderReplaced(i.client_order_id, i.new_client_order_id, i.account,
                                     i.quantity, i.price, 1, 0, i.strategy))
        elif isinstance(i, CancelOrder):
            order = strategy.orders.get(i.client_order_id)
            if order is not None:
                out.append(OrderCanceled(i.client_order_id, i.account, order.open, "user", 0,
                                         i.strategy))
    return out


def run(type_name: str, updates: list[BookTop]) -> tuple[float, int]:
    spec = validate({"apiVersion": "nanogate/v1", "kind": "Strategy", "metadata": {"name": "b"},
                     "spec": {"type": type_name, "account": 1, "instruments": ["AAPL"],
                              "riskLimit": "1%", "maxPositionSize": "10M", "frequency": "high",
                              "params": {}}})
    strategy = build(spec, {"AAPL": 1})
    match, sent, venue = [0], 0, 0.0
    start = time.perf_counter()
    for t, top in enumerate(updates):
        intents = strategy.on_book(1, top, t)
        if intents:
            sent += len(intents)
            mark = time.perf_counter()
            outcomes = answer(strategy, intents, match)
            venue += time.perf_counter() - mark
            for outcome in outcomes:
                strategy.on_outcome(outcome)
    return len(updates) / (time.perf_counter() - start - venue), sent


def book_top_rate(n: int) -> float:
    books = BookSet()
    rows = [(0, 0, b"A", 1, b"B" if i % 2 else b"S", i + 1, 0, 100,
             1_000_000 + (-1 if i % 2 else 1) * (1 + i % 20) * 100, 0, b"AAPL", 0)
            for i in range(200)]
    books.apply(np.array(rows, BOOK_EVENT_DTYPE))
    book = books.book(1)
    start = time.perf_counter()
    for _ in range(n):
        book_top(book)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    updates = tops(args.updates)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.updates:,} book updates, "
          f"best of {args.repeat}")
    print(f"{'strategy':<16} {'calls/s':>12} {'us/call':>9} {'intents':>9}")
    for type_name in STRATEGIES:
        rate, sent = max(run(type_name, updates) for _ in range(args.repeat))
        print(f"{type_name:<16} {rate:>12,.0f} {1e6 / rate:>9.2f} {sent:>9,}")
    rate = max(book_top_rate(args.updates) for _ in range(args.repeat))
    print(f"{'book_top()':<16} {rate:>12,.0f} {1e6 / rate:>9.2f}")


if __name__ == "__main__":
    main()
