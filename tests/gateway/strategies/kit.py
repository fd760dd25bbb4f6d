"""Stubs for the strategy tests: specs through the real validator, tops, outcomes."""

from __future__ import annotations

from typing import Any

from nanogate.control.spec import StrategySpec, validate
from nanogate.gateway.strategies.base import BookTop
from nanogate.gateway.trading import (
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    Side,
)

LOCATES = {"AAPL": 1, "MSFT": 2}


def make_spec(type_name: str = "market-making", params: dict[str, Any] | None = None,
              name: str = "s1", account: int = 7, **spec: Any) -> StrategySpec:
    body: dict[str, Any] = {"type": type_name, "account": account, "instruments": ["AAPL"],
                            "riskLimit": "0.5%", "maxPositionSize": "10M",
                            "frequency": "high", "params": params or {}}
    body.update(spec)
    document = {"apiVersion": "nanogate/v1", "kind": "Strategy", "metadata": {"name": name},
                "spec": body}
    # The real validator checks everything but the parts these tests hand to the strategy
    # itself (its params, an unimplemented type), which it would refuse first.
    validate({**document, "spec": {**body, "params": {}, "type": "market-making"}})
    return StrategySpec(name, document)


def top(bid: int | None, ask: int | None, size: int = 500) -> BookTop:
    """A top of book in dollars x 100 (cents): top(10000, 10010) is $100.00 / $100.10."""
    return BookTop(None if bid is None else bid * 100, size if bid is not None else 0,
                   None if ask is None else ask * 100, size if ask is not None else 0)


def accept(order: NewOrder | int, account: int = 7) -> OrderAccepted:
    coid = order if isinstance(order, int) else order.client_order_id
    return OrderAccepted(coid, account, coid, 1)


_match = [1000]


def fill(order: NewOrder, quantity: int | None = None, price: int | None = None,
         leaves: int = 0, match: int | None = None) -> OrderFilled:
    if match is None:
        _match[0] += 1
        match = _match[0]
    return OrderFilled(order.client_order_id, order.account, order.locate, order.symbol,
                       order.side, order.quantity if quantity is None else quantity,
                       order.price if price is None else price, match, Liquidity.ADDED, leaves,
                       2, order.strategy)


def raw_fill(side: Side, quantity: int, price: int, match: int, account: int = 7,
             locate: int = 1, strategy: str = "s1", client_order_id: int = 1) -> OrderFilled:
    return OrderFilled(client_order_id, account, locate, "AAPL", side, quantity, price, match,
                       Liquidity.REMOVED, 0, 1, strategy)


def canceled(order: NewOrder, quantity: int | None = None) -> OrderCanceled:
    return OrderCanceled(order.client_order_id, order.account,
                         order.quantity if quantity is None else quantity, "user", 3)
