"""The strategy interface: book tops in, intents out, outcomes back.

A strategy is built from a validated strategy spec (the control plane's
``StrategySpec``, read through :class:`SpecLike` so that ``gateway`` does not
import ``control``) and a symbol -> stock locate map. The engine calls
:meth:`Strategy.on_book` when an instrument's top of book changes and
:meth:`Strategy.on_outcome` for every outcome of the strategy's orders.

Client order ids are unique per account for the day: each strategy draws them
from its own :class:`OrderIds`, whose ``slot`` (1..65535) the engine assigns
so that no two strategies of one account share one (``registry.build`` does);
an id is ``slot << 40 | sequence``, so two slots never meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from nanogate.gateway.book import OrderBook
from nanogate.gateway.strategies.params import (
    Param,
    StrategyConfigError,
    check_params,
    resolve_params,
)
from nanogate.gateway.trading import (
    CancelOrder,
    Intent,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    Outcome,
    ReplaceOrder,
    Side,
    TimeInForce,
)

__all__ = ["TICK", "BookTop", "LiveOrder", "OrderIds", "SpecLike", "Strategy", "book_top"]

TICK = 100  # one cent in price(4): the price grid of every order a strategy sends
_SEQUENCE_BITS = 40


@dataclass(frozen=True, slots=True)
class BookTop:
    """The best bid and ask of one book (price(4), shares); a missing side is None / 0."""

    bid: int | None
    bid_size: int
    ask: int | None
    ask_size: int

    @property
    def two_sided(self) -> bool:
        """Both sides present and not crossed or locked: a mid means something."""
        return self.bid is not None and self.ask is not None and self.bid < self.ask

    @property
    def mid(self) -> float | None:
        """(bid + ask) / 2 in price(4), or None when the book is one-sided, crossed or locked."""
        if self.bid is None or self.ask is None or self.bid >= self.ask:
            return None
        return (self.bid + self.ask) / 2


def book_top(book: OrderBook) -> BookTop:
    bid, ask = book.best_bid(), book.best_ask()
    return BookTop(None if bid is None else bid.price, 0 if bid is None else bid.shares,
                   None if ask is None else ask.price, 0 if ask is None else ask.shares)


class SpecLike(Protocol):
    """What a strategy reads of a validated spec (control.spec.StrategySpec has it)."""

    @property
    def name(self) -> str: ...

    @property
    def account(self) -> int: ...

    @property
    def instruments(self) -> list[str]: ...

    @property
    def spec(self) -> dict[str, Any]: ...


class OrderIds:
    """Client order ids of one strategy: ``slot << 40 | n`` for n = 1, 2, ..."""

    __slots__ = ("_next", "slot")

    def __init__(self, slot: int) -> None:
        if not 1 <= slot <= 0xFFFF:
            raise ValueError(f"order id slot must be 1..65535, got {slot}")
        self.slot = slot
        self._next = slot << _SEQUENCE_BITS

    def __call__(self) -> int:
        self._next += 1
        if self._next >> _SEQUENCE_BITS != self.slot:
            raise OverflowError(f"order id slot {self.slot} used up its 2**40 ids")
        return self._next


@dataclass(slots=True)
class LiveOrder:
    """One of the strategy's open orders, as far as it knows."""

    client_order_id: int
    locate: int
    side: Side
    price: int
    open: int  # shares not yet filled or cancelled
    acked: bool = False  # the venue accepted it (or the replace that made it)
    replaces: int = 0  # a replace in flight: the id it replaces (0: none)
    cancelling: bool = False  # a cancel is in flight

    @property
    def busy(self) -> bool:
        """Waiting for the venue: nothing more may be asked of it yet."""
        return not self.acked or self.cancelling


class Strategy:
    """The common part of every strategy: orders, positions, halts, ids, params.

    Subclasses set ``TYPE`` and ``PARAMS`` and implement :meth:`decide`.
    """

    TYPE: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, spec: SpecLike, locates: Mapping[str, int], slot: int = 1) -> None:
        self.name = spec.name
        self.account = spec.account
        errors = self.check(spec.spec.get("params"))
        missing = [s for s in spec.instruments if s not in locates]
        errors += [f"instruments: {s} has no stock locate in this feed" for s in missing]
        if errors:
            raise StrategyConfigError(f"strategy {self.name} ({self.TYPE}): " + "; ".join(errors))
        self.params = resolve_params(self.PARAMS, spec.spec.get("params"))
        self.symbols: dict[int, str] = {locates[s]: s for s in spec.instruments}
        self.next_id = OrderIds(slot)
        self.orders: dict[int, LiveOrder] = {}  # by client order id
        self.positions: dict[int, int] = dict.fromkeys(self.symbols, 0)  # locate -> shares
        self.halted = False
        self.ignored = 0  # outcomes for orders this strategy does not know (counted, dropped)
        self.setup()

    @classmethod
    def check(cls, params: object) -> list[str]:
        """Every problem with a spec's ``params`` for this type ('params.FIELD: ...')."""
        return check_params(cls.PARAMS, params)

    # --- what the engine calls -----------------------------------------------------------

    def on_book(self, locate: int, top: BookTop, timestamp_ns: int) -> list[Intent]:
        if self.halted or locate not in self.symbols:
            return []
        return self.decide(locate, top, timestamp_ns)

    def on_outcome(self, outcome: Outcome) -> None:
        order = self.orders.get(outcome.client_order_id)
        if isinstance(outcome, OrderReplaced):
            self._replaced(outcome)
        elif order is None:
            self.ignored += 1
        elif isinstance(outcome, OrderAccepted):
            order.acked = True
        elif isinstance(outcome, OrderRejected):
            self._forget(order, restore=True)
        elif isinstance(outcome, OrderFilled):
            signed = outcome.quantity if outcome.side == Side.BUY else -outcome.quantity
            self.positions[order.locate] = self.positions.get(order.locate, 0) + signed
            order.open = outcome.leaves
            if order.open <= 0:
                self._forget(order)
            self.filled(outcome)
        elif isinstance(outcome, OrderCanceled):
            order.open -= outcome.quantity
            order.cancelling = False
            if order.open <= 0:
                self._forget(order)

    def halt(self) -> list[Intent]:
        """Stop trading: cancels of every open order, then nothing until :meth:`resume`."""
        self.halted = True
        return [self.cancel(order) for order in list(self.orders.values())
                if not order.cancelling]

    def resume(self) -> None:
        self.halted = False

    # --- for subclasses ------------------------------------------------------------------

    def setup(self) -> None:
        """Per-type state, once ``params`` and ``symbols`` are set."""

    def decide(self, locate: int, top: BookTop, timestamp_ns: int) -> list[Intent]:
        raise NotImplementedError

    def filled(self, fill: OrderFilled) -> None:
        """Called after a fill of one of the strategy's orders updated its position."""

    def new_order(self, locate: int, side: Side, quantity: int, price: int, timestamp_ns: int,
                  time_in_force: TimeInForce = TimeInForce.DAY) -> NewOrder:
        order = NewOrder(self.next_id(), self.account, locate, self.symbols[locate], side,
                         quantity, price, self.name, time_in_force, timestamp_ns)
        self.orders[order.client_order_id] = LiveOrder(order.client_order_id, locate, side,
                                                       price, quantity)
        return order

    def replace(self, order: LiveOrder, quantity: int, price: int, timestamp_ns: int
                ) -> ReplaceOrder:
        new_id = self.next_id()
        self.orders[new_id] = LiveOrder(new_id, order.locate, order.side, price, quantity,
                                        replaces=order.client_order_id)
        order.cancelling = True  # busy until the replace is answered
        return ReplaceOrder(order.client_order_id, new_id, self.account, quantity, price,
                            self.name, timestamp_ns)

    def cancel(self, order: LiveOrder) -> CancelOrder:
        order.cancelling = True
        return CancelOrder(order.client_order_id, self.account, self.name)

    def working(self, locate: int, side: Side) -> list[LiveOrder]:
        """The open orders on one side of one instrument (new ones last)."""
        return [o for o in self.orders.values() if o.locate == locate and o.side == side]

    # --- bookkeeping ---------------------------------------------------------------------

    def _forget(self, order: LiveOrder, restore: bool = False) -> None:
        del self.orders[order.client_order_id]
        old = self.orders.get(order.replaces)
        if restore and old is not None:  # a refused replace: the old order still stands
            old.cancelling = False

    def _replaced(self, outcome: OrderReplaced) -> None:
        old = self.orders.pop(outcome.client_order_id, None)
        new = self.orders.get(outcome.new_client_order_id)
        if new is None and old is None:
            self.ignored += 1
            return
        if new is None:
            assert old is not None
            new = LiveOrder(outcome.new_client_order_id, old.locate, old.side, outcome.price,
                            outcome.quantity)
            self.orders[new.client_order_id] = new
        new.price, new.open, new.acked, new.replaces = outcome.price, outcome.quantity, True, 0
