"""Fixtures: a venue on 127.0.0.1 and a started router (see helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nanogate.sim.venue.server import VenueServer

from .helpers import SEED, USERS, Harness


@pytest.fixture
def venue() -> Iterator[VenueServer]:
    with VenueServer(SEED, users=USERS, heartbeat_s=0.1, idle_timeout_s=2.0) as server:
        yield server


@pytest.fixture
def harness(venue: VenueServer) -> Iterator[Harness]:
    h = Harness(venue)
    h.router.start(wait_s=3)
    yield h
    h.router.close()
