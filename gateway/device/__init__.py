"""The device: one small interface to the feed parser and the risk pipeline, several backends.

A backend is chosen by name at run time (``--device software|rtl-sim|...``) and
imported only then, so the gateway never imports ``sim`` or ``hw`` unless a
user asks for ``rtl-sim`` or a board. Every backend speaks the same register
maps (``nanogate.proto``) and record layouts; the ``software`` backend is the
golden model the others are tested against, record for record.

Each backend supplies two parts, each behind a ``module:Class`` path below:

* a :class:`FeedParser`: MoldUDP64 payloads in, BookEvent records out;
* a :class:`RiskEngine`: Order records in, Decision records out.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nanogate.proto.regmap import RegisterMap


class DeviceError(RuntimeError):
    """A backend that cannot be opened or that reports a failure."""


class RegisterAccess(Protocol):
    """Registers by name, as the register map defines them."""

    @property
    def regmap(self) -> RegisterMap: ...

    def read_register(self, name: str) -> int: ...

    def write_register(self, name: str, value: int) -> None: ...


class FeedParser(RegisterAccess, Protocol):
    def push(self, payloads: Sequence[bytes]) -> np.ndarray:
        """Parse MoldUDP64 payloads, in arrival order; returns BOOK_EVENT_DTYPE rows."""
        ...

    def counters(self) -> dict[str, int]:
        """Every counter register of the parser by name (packets, messages, faults, ...)."""
        ...


class RiskEngine(RegisterAccess, Protocol):
    def submit(self, orders: np.ndarray) -> np.ndarray:
        """Check Order records in order; returns one Decision record per order."""
        ...

    def apply_updates(self, updates: np.ndarray) -> None:
        """Apply fills and cancels to the exposure the checks use."""
        ...

    def counters(self) -> dict[str, int]:
        """Every counter register of the risk pipeline by name (orders, rejects by reason)."""
        ...


#: backend name -> part -> "module:attribute" of a factory taking keyword options.
BACKENDS: dict[str, dict[str, str]] = {
    "software": {
        "feed": "nanogate.gateway.device.software_feed:SoftwareFeedParser",
        "risk": "nanogate.gateway.device.software_risk:SoftwareRiskEngine",
    },
    "rtl-sim": {
        "feed": "nanogate.sim.rtl_feed:RtlFeedParser",
        "risk": "nanogate.sim.rtl_risk:RtlRiskEngine",
    },
    "aws": {
        "feed": "nanogate.gateway.device.aws:AwsFeedParser",
        "risk": "nanogate.gateway.device.aws:AwsRiskEngine",
    },
    "pynq": {
        "feed": "nanogate.gateway.device.pynq:PynqFeedParser",
        "risk": "nanogate.gateway.device.pynq:PynqRiskEngine",
    },
}


def _load(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise DeviceError(f"cannot load {path}: {error}") from error
    return getattr(module, attribute)


@dataclass
class Device:
    backend: str
    options: dict[str, Any]

    def feed_parser(self) -> FeedParser:
        parser: FeedParser = _load(_part(self.backend, "feed"))(**self.options)
        return parser

    def risk_engine(self) -> RiskEngine:
        engine: RiskEngine = _load(_part(self.backend, "risk"))(**self.options)
        return engine


def _part(backend: str, part: str) -> str:
    try:
        return BACKENDS[backend][part]
    except KeyError:
        known = ", ".join(name for name, parts in BACKENDS.items() if part in parts)
        raise DeviceError(f"no {part} part in device backend {backend!r} (known: {known})") \
            from None


def open_device(backend: str = "software", **options: Any) -> Device:
    """A handle on a backend; its parts are imported when first asked for."""
    if backend not in BACKENDS:
        raise DeviceError(f"unknown device backend {backend!r} (known: {', '.join(BACKENDS)})")
    return Device(backend, dict(options))
