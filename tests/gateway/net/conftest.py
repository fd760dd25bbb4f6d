"""Loopback endpoints that parallel workers never share."""

from __future__ import annotations

import os
import random

import pytest

from nanogate.gateway.net.addr import Endpoint


def _group_port() -> tuple[str, int]:
    rng = random.Random(os.getpid() ^ random.getrandbits(32))
    return f"239.255.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}", rng.randrange(20000, 60000)


@pytest.fixture
def lines() -> tuple[Endpoint, Endpoint]:
    """Two multicast lines (distinct random groups and ports)."""
    (ga, pa), (gb, pb) = _group_port(), _group_port()
    return Endpoint(ga, pa), Endpoint(gb, pb if pb != pa else pa + 1)
