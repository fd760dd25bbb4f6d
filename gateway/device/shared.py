"""One risk engine shared by threads: the control plane writes limits and halts while the
order router submits orders.

Each call holds one lock, as each bus transaction holds the bus on the hardware: a
register write lands between two orders, never inside one. The simulated pipeline
(``rtl-sim``) is not thread-safe at all, so this is what makes it shareable too.
Decision listeners see every order with its decision (the archive records them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from nanogate.gateway.device import RiskEngine
from nanogate.proto.regmap import RegisterMap

#: (orders, decisions), one Decision row per Order row, in order.
DecisionListener = Callable[[np.ndarray, np.ndarray], None]


class SharedRiskEngine:
    def __init__(self, engine: RiskEngine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.decision_listeners: list[DecisionListener] = []

    @property
    def regmap(self) -> RegisterMap:
        return self.engine.regmap

    def read_register(self, name: str) -> int:
        with self.lock:
            return self.engine.read_register(name)

    def write_register(self, name: str, value: int) -> None:
        with self.lock:
            self.engine.write_register(name, value)

    def submit(self, orders: np.ndarray) -> np.ndarray:
        with self.lock:
            decisions = self.engine.submit(orders)
        for listener in self.decision_listeners:
            listener(orders, decisions)
        return decisions

    def apply_updates(self, updates: np.ndarray) -> None:
        with self.lock:
            self.engine.apply_updates(updates)

    def counters(self) -> dict[str, int]:
        with self.lock:
            return self.engine.counters()

    def __getattr__(self, name: str) -> Any:
        # state inspection some backends offer (instrument_state, account_state, ...)
        attribute = getattr(self.engine, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return attribute(*args, **kwargs)
        return locked
