"""The trading engine: books -> strategies -> order router; outcomes back to all who keep count.

The gateway calls :meth:`TradingEngine.on_book_events` after each batch of
BookEvents is applied to the books. For every instrument a strategy trades whose
top of book changed, the strategies decide; their intents go to the order router
(risk pipeline, then the venue). The router's outcomes come back on its session
threads and go to the strategy that sent the order, the positions ledger and every
outcome sink (the archive, the control plane's events).

Every ``check_interval_ns`` the ledger samples equity and each strategy's guard
checks its loss limits; a breach halts the strategy here at once (its orders are
cancelled) and goes to the breach sinks, which halt its account through the control
plane so that the risk pipeline refuses its orders too.

One re-entrant lock orders the strategies' work: the gateway thread (book
updates) and the router's session threads (outcomes) never run a strategy at the
same time. The router dispatches outside its own lock, so no lock order inverts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nanogate.gateway.book import BookSet
from nanogate.gateway.net.runner import AppliedBatch
from nanogate.gateway.strategies.base import BookTop, SpecLike, Strategy, book_top
from nanogate.gateway.strategies.guard import Breach, Guard
from nanogate.gateway.strategies.ledger import Ledger
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.strategies.registry import build
from nanogate.gateway.telemetry import Telemetry
from nanogate.gateway.trading import (
    Intent,
    NewOrder,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    Outcome,
    RejectSource,
    ReplaceOrder,
    Side,
)

__all__ = ["Router", "TradingEngine"]

log = logging.getLogger(__name__)

OutcomeSink = Callable[[Outcome], None]
IntentSink = Callable[[Intent], None]
BreachSink = Callable[[Breach], None]


class Router(Protocol):
    """What the engine needs of the order router (gateway.orders.router.OrderRouter)."""

    def submit(self, intent: Intent) -> list[Outcome]: ...

    def on_outcome(self, handler: Callable[[Outcome], None]) -> None: ...


@dataclass
class _Running:
    strategy: Strategy
    guard: Guard
    spec: SpecLike


class TradingEngine:
    def __init__(self, books: BookSet, router: Router, telemetry: Telemetry | None = None, *,
                 locates: Mapping[str, int] | None = None,
                 check_interval_ns: int = 100_000_000,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.books = books
        self.router = router
        self.telemetry = telemetry or Telemetry()
        self.ledger = Ledger()
        self.counters: Counter[str] = Counter()
        self.locates = dict(locates or {})  # symbol -> stock locate; the feed's R messages
        self.outcome_sinks: list[OutcomeSink] = []
        self.intent_sinks: list[IntentSink] = []
        self.breach_sinks: list[BreachSink] = []
        self.breaches: list[Breach] = []
        self._running: dict[str, _Running] = {}
        self._by_locate: dict[int, list[Strategy]] = {}
        self._owner: dict[tuple[int, int], Strategy] = {}  # (account, client order id)
        self._tops: dict[int, BookTop] = {}
        self._halted_accounts: set[int] = set()
        self._halted_locates: set[int] = set()
        self._global_halt = False
        self._check_interval_ns = check_interval_ns
        self._next_check = 0
        # Order-id slots handed out per account today. A slot is never handed out twice,
        # not even to a strategy restarted under the same name: its ids would start again
        # at ``slot << 40 | 1`` and meet its predecessor's (the router refuses an id still
        # open as duplicate_id, and the ids must be unique per account for the day anyway).
        self._slots: dict[int, int] = {}
        self._clock = clock
        self._lock = threading.RLock()
        router.on_outcome(self._on_outcome)

    # --- strategies ----------------------------------------------------------------------

    @property
    def strategies(self) -> dict[str, Strategy]:
        return {name: r.strategy for name, r in self._running.items()}

    def _known_locates(self) -> dict[str, int]:
        return {**self.books.symbols(), **self.locates}

    def add(self, spec: SpecLike) -> Strategy:
        """Start (or restart with a new spec) the strategy ``spec`` describes.

        Raises StrategyConfigError (naming the strategy and field) for a spec the
        strategy cannot run; nothing changes then.
        """
        with self._lock:
            slot = self._slots.get(spec.account, 0) + 1
            if slot > 0xFFFF:
                raise StrategyConfigError(f"strategy {spec.name}: account {spec.account} has "
                                          "started 65535 strategies today (no order-id slot left)")
            strategy = build(spec, self._known_locates(), slot)
            guard = Guard(spec)
            self._slots[spec.account] = slot  # taken only once the spec is known good
            if spec.name in self._running:
                self.remove(spec.name, reason="replaced by a new spec")
            self._running[spec.name] = _Running(strategy, guard, spec)
            for locate in strategy.symbols:
                self._by_locate.setdefault(locate, []).append(strategy)
                # the newcomer has seen no top yet: let the next update of the book reach it
                # even when the top is unchanged (the others ignore a top they have seen)
                self._tops.pop(locate, None)
            if self._stopped(strategy):
                strategy.halt()
            self.counters["strategies_started"] += 1
            return strategy

    def remove(self, name: str, reason: str = "deleted") -> None:
        """Stop a strategy: its open orders are cancelled."""
        with self._lock:
            running = self._running.pop(name, None)
            if running is None:
                return
            for locate in running.strategy.symbols:
                self._by_locate[locate].remove(running.strategy)
            self._send(running.strategy.halt(), self._clock(), None)
            self.counters["strategies_stopped"] += 1

    def _stopped(self, strategy: Strategy) -> bool:
        return self._global_halt or strategy.account in self._halted_accounts

    # --- halts from the control plane ------------------------------------------------

    def halt(self, account: int | None = None, locate: int | None = None) -> None:
        """Halt every strategy (no arguments), an account's, or trading in one instrument.

        A halted strategy cancels its open orders and sends nothing new. An instrument
        halt cancels the orders in that instrument; strategies keep trading the rest.
        """
        with self._lock:
            now = self._clock()
            if locate is not None:
                self._halted_locates.add(locate)
                for strategy in self._by_locate.get(locate, []):
                    self._send([strategy.cancel(o) for o in list(strategy.orders.values())
                                if o.locate == locate and not o.cancelling], now, None)
                return
            if account is None:
                self._global_halt = True
            else:
                self._halted_accounts.add(account)
            for running in self._running.values():
                if account is None or running.spec.account == account:
                    self._send(running.strategy.halt(), now, None)

    def resume(self, account: int | None = None, locate: int | None = None) -> None:
        """Undo the halt of the same scope. Only strategies in that scope resume: an
        instrument's resume resumes no strategy (its halt halted none), an account's only
        that account's, so that a strategy a guard halted stays halted when something else
        resumes."""
        with self._lock:
            if locate is not None:
                self._halted_locates.discard(locate)
            elif account is None:
                self._global_halt = False
            else:
                self._halted_accounts.discard(account)
            for running in self._running.values():
                strategy = running.strategy
                if locate is not None or (account is not None and strategy.account != account):
                    continue
                if strategy.halted and not self._stopped(strategy):
                    strategy.resume()
                    running.guard.rearm()
            self._tops.clear()  # decide afresh on the next update of each book

    def cancel_orders(self, account: int | None, locate: int | None, side: Side | None,
                      reason: str) -> list[int]:
        """Mass cancel (the control plane's OrderEntry): the strategies' matching open
        orders; returns their client order ids. ``side`` SELL also takes SELL_SHORT."""
        with self._lock:
            chosen: list[int] = []
            for running in self._running.values():
                strategy = running.strategy
                if account is not None and strategy.account != account:
                    continue
                orders = [o for o in strategy.orders.values() if not o.cancelling
                          and (locate is None or o.locate == locate)
                          and (side is None or o.side == side
                               or (side == Side.SELL and o.side == Side.SELL_SHORT))]
                chosen += [o.client_order_id for o in orders]
                self._send([strategy.cancel(o) for o in orders], self._clock(), None)
            self.counters["mass_cancelled"] += len(chosen)
            return chosen

    # --- the data path -----------------------------------------------------------------

    def on_batch(self, batch: AppliedBatch) -> None:
        """The gateway's batch subscriber: books applied, the instruments they touched.

        A failure here is counted and logged, never raised: the feed must go on."""
        try:
            self.on_book_events(batch.events, batch.rx_ns, batch.instruments)
        except Exception:
            self._failed("trading engine failed on a book batch")

    def _failed(self, what: str) -> None:
        """Count a failure in engine_errors; log the first one with its traceback."""
        self.counters["engine_errors"] += 1
        if self.counters["engine_errors"] == 1:
            log.exception("%s (further failures are counted in engine_errors)", what)

    def on_book_events(self, events: np.ndarray, rx_ns: int | None = None,
                       instruments: np.ndarray | None = None) -> None:
        """After a batch of BookEvents is applied: let the strategies decide.

        ``rx_ns`` is the kernel receive time of the batch's oldest packet; with it the
        tick-to-trade latency of each order is recorded. ``instruments``: the stock
        locates the batch touched, when the caller knows them.
        """
        if not len(events) or not self._by_locate:
            return
        decided = self._clock()
        if rx_ns is not None:
            self.telemetry.record("wire_to_book", decided - rx_ns)
        touched = (np.unique(events["stock_locate"]) if instruments is None
                   else instruments).tolist()
        with self._lock:
            intents: list[Intent] = []
            for locate in touched:
                strategies = self._by_locate.get(locate)
                if not strategies or locate in self._halted_locates:
                    continue
                try:
                    top = book_top(self.books.book(locate))
                except KeyError:  # the directory named it; no order has come yet
                    continue
                if self._tops.get(locate) == top:
                    continue
                self._tops[locate] = top
                self.ledger.mark(locate, top.mid)
                for strategy in strategies:
                    # one failing strategy must not cost the others their intents (nor leave
                    # their new orders registered as sent and never sent): count it, go on
                    try:
                        intents += strategy.on_book(locate, top, decided)
                    except Exception:
                        self._failed(f"strategy {strategy.name} failed on a book update")
            self._send(intents, decided, rx_ns)
            if decided >= self._next_check:
                self._next_check = decided + self._check_interval_ns
                self._check_guards(decided)

    def tick(self) -> None:
        """Check the guards now (the demo calls this when the feed is quiet)."""
        with self._lock:
            self._check_guards(self._clock())

    def _send(self, intents: Iterable[Intent], decided_ns: int, rx_ns: int | None) -> None:
        telemetry = self.telemetry
        for intent in intents:
            if isinstance(intent, NewOrder | ReplaceOrder):
                coid = intent.client_order_id if isinstance(intent, NewOrder) \
                    else intent.new_client_order_id
                owner = self._owner_of(intent.account, intent.strategy)
                if owner is not None:
                    self._owner[intent.account, coid] = owner
            for sink in self.intent_sinks:
                sink(intent)
            handed = self._clock()
            telemetry.record("book_to_order", handed - decided_ns)
            self.router.submit(intent)  # risk check, then written to the venue session
            if isinstance(intent, NewOrder | ReplaceOrder):
                self.counters["orders"] += 1
                if rx_ns is not None:
                    telemetry.record("tick_to_trade", self._clock() - rx_ns)
            else:
                self.counters["cancels"] += 1

    def _owner_of(self, account: int, name: str) -> Strategy | None:
        running = self._running.get(name)
        return running.strategy if running is not None and running.spec.account == account \
            else None

    def _on_outcome(self, outcome: Outcome) -> None:
        with self._lock:
            strategy = self._owner.get((outcome.account, outcome.client_order_id))
            if strategy is None and outcome.strategy:
                strategy = self._owner_of(outcome.account, outcome.strategy)
            if isinstance(outcome, OrderFilled):
                if self.ledger.apply(outcome):
                    self.counters["fills"] += 1
            elif isinstance(outcome, OrderRejected):
                self.counters[f"rejects_{outcome.source}"] += 1
                if outcome.source == RejectSource.RISK:
                    self.counters["risk_rejects"] += 1
            if strategy is not None:
                # a strategy's failure must not keep the outcome from the sinks (the archive)
                try:
                    strategy.on_outcome(outcome)
                    if outcome.client_order_id not in strategy.orders:
                        # done with (or never known): the owner map would otherwise keep
                        # every order of the day; a late outcome still finds its strategy
                        # by name
                        self._owner.pop((outcome.account, outcome.client_order_id), None)
                    self._cancel_stragglers(strategy, outcome)
                except Exception:
                    self._failed(f"strategy {strategy.name} failed on an outcome")
            else:
                self.counters["outcomes_unowned"] += 1
        for sink in self.outcome_sinks:
            sink(outcome)

    def _cancel_stragglers(self, strategy: Strategy, outcome: Outcome) -> None:
        """Cancel what a halt (or a mass cancel) could not reach when it was sent.

        The new order of a replace in flight is unknown to the router until the venue
        answers the replace, so a cancel of it sent before then is dropped
        (``cancel_unknown``) and the order would stay live once replaced: cancel it again
        now. A replace the venue refuses gives the old order back to the strategy; if the
        strategy or its instrument is halted meanwhile, that one is cancelled too. (When the
        first cancel did get through, the second is one the venue ignores.)"""
        orders = []
        if isinstance(outcome, OrderReplaced):
            new = strategy.orders.get(outcome.new_client_order_id)
            if new is not None and new.cancelling:
                orders.append(new)
        if strategy.halted or self._halted_locates:
            orders += [o for o in strategy.orders.values() if not o.cancelling
                       and (strategy.halted or o.locate in self._halted_locates)]
        if orders:
            self._send([strategy.cancel(o) for o in orders], self._clock(), None)

    def _check_guards(self, now: int) -> None:
        self.ledger.sample(now)
        for running in list(self._running.values()):
            equity = self.ledger.equity_of(running.spec.name)
            breach = running.guard.check(now, equity)
            if breach is None:
                continue
            self.breaches.append(breach)
            self.counters["breaches"] += 1
            self._send(running.strategy.halt(), now, None)
            self.telemetry.alert("risk_breach", str(breach),
                                 {"strategy": breach.strategy, "account": breach.account,
                                  "rule": breach.rule})
            for sink in self.breach_sinks:
                sink(breach)

    # --- reading -----------------------------------------------------------------------

    def positions(self) -> list[tuple[int, int, int, float, float]]:
        """(account, locate, shares, realized $, unrealized $) of every open or traded line."""
        with self._lock:
            return [(account, locate, p.quantity, p.realized - p.fees,
                     p.unrealized(self.ledger.marks.get(locate, p.average_price)))
                    for (account, locate), p in sorted(self.ledger.accounts.items())]
