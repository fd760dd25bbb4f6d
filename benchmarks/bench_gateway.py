"""Gateway figures for docs/performance.md: throughput with loss, paced latency, raw drain.

    .venv/bin/python benchmarks/bench_gateway.py [--repeat N] [--messages N] [--json]

Best of N per row (the machine is shared: load average printed with the table).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from nanogate.gateway.net.bench import BenchConfig, raw_drain, run_bench


def best(config: BenchConfig, repeat: int, key: str, lower: bool = False) -> dict[str, Any]:
    runs = [run_bench(config) for _ in range(repeat)]
    clean = [r for r in runs if r["lost"] == 0] or runs
    return min(clean, key=lambda r: r[key]) if lower else max(clean, key=lambda r: r[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    drains = [raw_drain() for _ in range(args.repeat)]
    rows["raw drain"] = {k: max(d[k] for d in drains) for k in drains[0]}
    rows["unpaced, 5% loss/line, books"] = best(
        BenchConfig(args.messages, 0.05), args.repeat, "messages_per_s")
    rows["unpaced, 5% loss/line, no books"] = best(
        BenchConfig(args.messages, 0.05, books=False), args.repeat, "messages_per_s")
    rows["300k msg/s, 5% loss/line, books"] = best(
        BenchConfig(args.messages, 0.05, rate=300_000), args.repeat, "messages_per_s")
    rows["100k msg/s, no loss, books (latency)"] = best(
        BenchConfig(min(args.messages, 500_000), 0.0, rate=100_000), args.repeat, "p99_us",
        lower=True)
    rows["100k msg/s, 5% loss/line, books (latency)"] = best(
        BenchConfig(min(args.messages, 500_000), 0.05, rate=100_000), args.repeat, "p99_us",
        lower=True)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load": load, "rows": rows}, indent=2))
        return
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, row in rows.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
