"""Options analytics throughput: runs ``nanogate analytics bench`` (see docs/analytics.md).

    .venv/bin/python benchmarks/bench_analytics.py [--backend cpu|cuda|auto] [--large] [--json]
"""

from __future__ import annotations

import sys

from nanogate.gpu.cli import main

if __name__ == "__main__":
    sys.exit(main(["analytics", "bench", *sys.argv[1:]]))
