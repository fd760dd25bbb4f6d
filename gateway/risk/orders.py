"""Orders CSV: the operations ``nanogate risk check`` runs, and running them on an engine.

Columns (header required, any order): ``client_order_id,account,stock_locate,side,
quantity,price``; optional ``timestamp_ns`` (absent: 0) and ``kind`` (``order``, the
default, ``fill`` or ``cancel``). ``side`` is ``buy``, ``sell`` or ``sell_short``;
``price`` an integer in price(4) units. A bad row is an error naming its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from nanogate.proto.risk import (
    DECISION_DTYPE,
    ORDER,
    ORDER_DTYPE,
    SIDE_NAMES,
    UPDATE,
    UPDATE_DTYPE,
    UpdateKind,
)

REQUIRED = ("client_order_id", "account", "stock_locate", "side", "quantity", "price")
OPTIONAL = ("timestamp_ns", "kind")
KINDS = {"order": 0, "fill": int(UpdateKind.FILL), "cancel": int(UpdateKind.CANCEL)}
_BITS = {f.name: f.bits for f in (*ORDER.fields, *UPDATE.fields)}


class OrdersError(ValueError):
    """A bad orders file; the message names the file and line."""


@dataclass(frozen=True)
class Operation:
    """One row: an order (``kind`` 0) or an update (a :class:`UpdateKind`)."""

    kind: int
    client_order_id: int
    account: int
    stock_locate: int
    side: int
    quantity: int
    price: int
    timestamp_ns: int = 0


def parse_orders(text: str, source: str = "orders") -> list[Operation]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames
    if not header:
        raise OrdersError(f"{source}: empty file (expected a header line)")
    names = [name.strip() for name in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise OrdersError(f"{source}: line 1: missing column(s) {', '.join(missing)}")
    unknown = [name for name in names if name not in REQUIRED + OPTIONAL]
    if unknown:
        raise OrdersError(f"{source}: line 1: unknown column(s) {', '.join(unknown)} "
                          f"(known: {', '.join(REQUIRED + OPTIONAL)})")
    reader.fieldnames = names
    ops: list[Operation] = []
    for row in reader:
        line = reader.line_num
        where = f"{source}: line {line}"
        if None in row or any(value is None for value in row.values()):
            raise OrdersError(f"{where}: expected {len(names)} fields")
        values = {key: (value or "").strip() for key, value in row.items() if key is not None}
        kind_text = values.get("kind") or "order"
        if kind_text not in KINDS:
            raise OrdersError(f"{where}: kind: {kind_text!r} is not one of "
                              f"{', '.join(KINDS)}")
        side_text = values["side"]
        if side_text not in SIDE_NAMES:
            raise OrdersError(f"{where}: side: {side_text!r} is not one of "
                              f"{', '.join(SIDE_NAMES)}")
        numbers: dict[str, int] = {}
        for key in ("client_order_id", "account", "stock_locate", "quantity", "price",
                    "timestamp_ns"):
            text_value = values.get(key) or ("0" if key == "timestamp_ns" else "")
            try:
                number = int(text_value, 10)
            except ValueError:
                raise OrdersError(f"{where}: {key}: {text_value!r} is not an integer") \
                    from None
            if not 0 <= number < 1 << _BITS[key]:
                raise OrdersError(f"{where}: {key}: {number} is out of range "
                                  f"0..{(1 << _BITS[key]) - 1}")
            numbers[key] = number
        ops.append(Operation(KINDS[kind_text], numbers["client_order_id"], numbers["account"],
                             numbers["stock_locate"], int(SIDE_NAMES[side_text]),
                             numbers["quantity"], numbers["price"], numbers["timestamp_ns"]))
    return ops


def load_orders(path: Path | str) -> list[Operation]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise OrdersError(f"{path}: cannot read: {error.strerror or error}") from None
    return parse_orders(text, str(path))


class _Engine(Protocol):
    def submit(self, orders: np.ndarray) -> np.ndarray: ...

    def apply_updates(self, updates: np.ndarray) -> None: ...


def order_records(ops: Sequence[Operation]) -> np.ndarray:
    return np.array([(op.client_order_id, op.account, op.stock_locate, op.side, 0,
                      op.quantity, op.price, op.timestamp_ns) for op in ops], dtype=ORDER_DTYPE)


def update_records(ops: Sequence[Operation]) -> np.ndarray:
    return np.array([(op.client_order_id, op.account, op.stock_locate, op.side, op.kind,
                      op.quantity, op.price) for op in ops], dtype=UPDATE_DTYPE)


def run_operations(engine: _Engine, ops: Iterable[Operation]) -> np.ndarray:
    """Run ``ops`` in order (runs of orders in one ``submit``); returns the decisions."""
    decisions: list[np.ndarray] = []
    batch: list[Operation] = []

    def flush() -> None:
        if not batch:
            return
        if batch[0].kind == 0:
            decisions.append(engine.submit(order_records(batch)))
        else:
            engine.apply_updates(update_records(batch))
        batch.clear()

    for op in ops:
        if batch and (batch[0].kind == 0) != (op.kind == 0):
            flush()
        batch.append(op)
    flush()
    return np.concatenate(decisions) if decisions else np.zeros(0, dtype=DECISION_DTYPE)
