"""Cost of one archive record call: ``python benchmarks/bench_archive.py [N]``.

Records N orders, decisions and fills (3N records) twice: once with the writer thread
idle until the end (the call alone: a tuple appended under a lock), once with it writing
a file every 65,536 rows meanwhile (it shares the GIL with the caller). Prints records/s
of the calls and of the whole run including the last flush and the compaction.
"""

from __future__ import annotations

import sys
import tempfile
import time

from nanogate.control.archive import Archive
from nanogate.gateway.trading import Liquidity, NewOrder, OrderFilled, Side


def run(n: int, rows_per_file: int, label: str) -> None:
    t0 = time.time_ns()
    orders = [NewOrder(i, i % 8, 1 + i % 50, "AAPL", Side(i % 3), 100, 1_000_000 + i,
                       "mm", timestamp_ns=t0 + i * 1000) for i in range(n)]
    fills = [OrderFilled(i, i % 8, 1 + i % 50, "AAPL", Side.BUY, 100, 1_000_000, i,
                         Liquidity.ADDED, 0, t0 + i * 1000) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive(tmp, rows_per_file=rows_per_file, flush_interval_s=3600)
        start = time.perf_counter()
        for order, fill in zip(orders, fills, strict=True):
            archive.record_intent(order)
            archive.record_decision(order.client_order_id, order.account, 0,
                                    order.timestamp_ns)
            archive.record_outcome(fill)
        recorded = time.perf_counter() - start
        start = time.perf_counter()
        archive.close()
        closed = time.perf_counter() - start
    total = 3 * n
    print(f"{label:<22} {total / recorded:>10,.0f} records/s "
          f"({recorded / total * 1e6:5.2f} us/record)   end to end "
          f"{total / (recorded + closed):>9,.0f} records/s (close {closed:.2f} s)")


def main(n: int = 200_000) -> None:
    print(f"{3 * n:,} records (orders, decisions, fills)")
    run(n, 10 * n, "calls, writer idle")
    run(n, 65_536, "calls, writer busy")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
