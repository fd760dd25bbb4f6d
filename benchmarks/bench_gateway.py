"""Gateway figures for docs/performance.md: throughput with loss, paced latency, raw drain.

    .venv/bin/python benchmarks/bench_gateway.py [--repeat N] [--messages N] [--json]

Best of N per row, and the spread (worst) beside it: the machine is shared, so
each row carries the 1-minute load average measured when it finished. Rows
marked "inline" run the worker's own receive (``GatewayConfig.inline_receive``);
"spinning" keeps the worker looking for 100 ms before it sleeps (a core of its
own: the latency configuration).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from nanogate.gateway.net.bench import BenchConfig, raw_drain, run_bench, worker_cpu


def best(config: BenchConfig, repeat: int, key: str, lower: bool = False) -> dict[str, Any]:
    runs = [run_bench(config) for _ in range(repeat)]
    clean = [r for r in runs if r["lost"] == 0] or runs
    pick = min if lower else max
    worst = max if lower else min
    row = dict(pick(clean, key=lambda r: r[key]))
    row[f"worst_{key}"] = worst(clean, key=lambda r: r[key])[key]
    row["load"] = round(os.getloadavg()[0], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    drains = [raw_drain() for _ in range(args.repeat)]
    rows["raw drain"] = {k: max(d[k] for d in drains) for k in drains[0]}
    for books in (True, False):
        runs = [worker_cpu(args.messages, books=books) for _ in range(args.repeat)]
        row = dict(max(runs, key=lambda r: r["messages_per_cpu_s"]))
        row["worst_messages_per_cpu_s"] = min(r["messages_per_cpu_s"] for r in runs)
        row["load"] = round(os.getloadavg()[0], 2)
        rows[f"worker CPU, 5% loss/line (never both), {'books' if books else 'no books'}"] = row
    n, paced = args.messages, min(args.messages, 500_000)
    for inline in (False, True):
        tag = ", inline" if inline else ""
        rows[f"unpaced, 5% loss/line, books{tag}"] = best(
            BenchConfig(n, 0.05, inline_receive=inline), args.repeat, "messages_per_s")
        rows[f"unpaced, 5% loss/line, no books{tag}"] = best(
            BenchConfig(n, 0.05, books=False, inline_receive=inline), args.repeat,
            "messages_per_s")
        rows[f"100k msg/s, no loss, books (latency){tag}"] = best(
            BenchConfig(paced, 0.0, rate=100_000, inline_receive=inline), args.repeat,
            "p99_us", lower=True)
        rows[f"100k msg/s, 5% loss/line, books (latency){tag}"] = best(
            BenchConfig(paced, 0.05, rate=100_000, inline_receive=inline), args.repeat,
            "p99_us", lower=True)
    # the latency configuration: the worker receives and spins on a core of its own
    rows["100k msg/s, no loss, books (latency), inline, spinning"] = best(
        BenchConfig(paced, 0.0, rate=100_000, inline_receive=True, spin_us=100_000),
        args.repeat, "p99_us", lower=True)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load": load, "rows": rows}, indent=2))
        return
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, row in rows.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
