"""Mutation check of the feed parser: `python scripts/mutate_feed.py [MUTANT ...] [--list]`."""

from __future__ import annotations

import sys

from nanogate.hw.feed.mutants import main

if __name__ == "__main__":
    sys.exit(main())
