"""The order router: intents -> device risk -> OUCH -> outcomes.

A :class:`NewOrder` or :class:`ReplaceOrder` is checked on the device's risk pipeline
(one Order record, one Decision); a rejected one becomes ``OrderRejected(source=RISK)``
with the reason names, an accepted one is sent to the venue on its account's session
with the next UserRefNum of that session. A :class:`CancelOrder` goes straight to the
venue (it only lowers exposure). What the venue answers becomes outcomes, dispatched
to every registered callback; fills and cancels are also applied to the risk
pipeline's exposure (Update records), and a replace releases the old order's open
shares. The venue's rejects and what a disconnect left unknown go to the dead-letter
store. docs/orders.md states the recovery rules.

Outcomes produced by :meth:`OrderRouter.submit` itself (risk rejects, a session that
is not live) are returned and dispatched on the caller's thread; the venue's answers
are dispatched on the session's thread. Callbacks run outside the router's lock, so
a callback may submit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from nanogate.gateway.device import RiskEngine
from nanogate.gateway.orders.deadletter import DeadLetter, DeadLetterStore
from nanogate.gateway.orders.session import OuchSession, SessionState
from nanogate.gateway.trading import (
    CancelOrder,
    Intent,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    Outcome,
    RejectSource,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from nanogate.proto import ouch
from nanogate.proto.ouch import CancelReason, Direction, OuchError, RejectCode
from nanogate.proto.risk import ORDER_DTYPE, UPDATE_DTYPE, UpdateKind, reason_names
from nanogate.proto.wire import Value

log = logging.getLogger(__name__)

OutcomeHandler = Callable[[Outcome], None]

_SIDE_LETTER = {Side.BUY: "B", Side.SELL: "S", Side.SELL_SHORT: "T"}
_CANCEL_REASON = {CancelReason.USER: "user", CancelReason.IOC: "ioc",
                  CancelReason.HALTED: "halt", CancelReason.SUPERVISORY: "supervisory",
                  CancelReason.SYSTEM: "system"}
_U32 = (1 << 32) - 1
_OUT_OF_RANGE = "out_of_range"
#: Latency samples kept per stage (the newest); enough for percentiles over a demo.
LATENCY_SAMPLES = 100_000


def _source(reasons: str) -> RejectSource:
    """Who refused an order :meth:`OrderRouter._check` did not pass."""
    return RejectSource.INVALID if reasons == _OUT_OF_RANGE else RejectSource.RISK


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str  # SoupBinTCP user name, up to 6 characters
    password: str


@dataclass(slots=True)
class _Pending:
    """A replace sent and not yet answered."""

    client_order_id: int
    user_ref_num: int
    quantity: int
    price: int
    sent_ns: int
    timestamp_ns: int
    epoch: int = 0  # the session epoch it was sent in


@dataclass(slots=True)
class _Order:
    intent: NewOrder
    client_order_id: int  # changes with each replace
    user_ref_num: int  # changes with each replace
    price: int
    leaves: int
    sent_ns: int  # perf_counter_ns when sent: the venue-ack latency starts here
    accepted: bool = False
    venue_order_id: int = 0
    epoch: int = 0  # the session epoch the Enter Order went out in
    replace: _Pending | None = None
    cancel_epoch: int = 0  # nonzero: a cancel is unanswered, sent in this epoch
    match_numbers: set[int] = field(default_factory=set)


class OrderRouter:
    """Routes one gateway's orders: ``accounts`` maps each account to its venue login."""

    def __init__(self, risk: RiskEngine, venue: tuple[str, int],
                 accounts: Mapping[int, Credentials],
                 deadletters: DeadLetterStore | None = None, *,
                 heartbeat_s: float = 1.0, timeout_s: float = 3.0,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.risk = risk
        self.deadletters = deadletters if deadletters is not None else DeadLetterStore()
        self.counters: Counter[str] = Counter()
        self.latency: dict[str, deque[int]] = {
            "risk_ns": deque(maxlen=LATENCY_SAMPLES), "venue_ack_ns": deque(maxlen=LATENCY_SAMPLES)}
        self._clock = clock
        self._lock = threading.Lock()
        self._handlers: list[OutcomeHandler] = []
        self._orders: dict[tuple[int, int], _Order] = {}  # (account, client order id)
        self._by_ref: dict[tuple[int, int], _Order] = {}  # (account, UserRefNum)
        self._next_ref: dict[int, int] = dict.fromkeys(accounts, 1)
        self._connected_once: set[int] = set()
        self.sessions: dict[int, OuchSession] = {
            account: OuchSession(
                venue, login.username, login.password,
                on_message=self._message_handler(account),
                on_state=self._state_handler(account),
                heartbeat_s=heartbeat_s, timeout_s=timeout_s)
            for account, login in accounts.items()}

    # --- life cycle ------------------------------------------------------------------------

    def start(self, wait_s: float = 5.0) -> None:
        """Log every session in; raises LoginRejected / ConnectionError for the first failing."""
        for session in self.sessions.values():
            session.start(wait_s)
            session.wait_live(wait_s)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()

    def __enter__(self) -> OrderRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_outcome(self, handler: OutcomeHandler) -> None:
        """Call ``handler`` with every outcome from now on."""
        self._handlers.append(handler)

    def _dispatch(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            for handler in self._handlers:
                try:
                    handler(outcome)
                except Exception:  # one bad subscriber must not stop the session thread
                    self.counters["handler_errors"] += 1
                    log.exception("outcome handler failed on %r", outcome)

    # --- intents ---------------------------------------------------------------------------

    def submit(self, intent: Intent) -> list[Outcome]:
        """Route one intent; returns (and dispatches) the outcomes decided at once."""
        with self._lock:
            if isinstance(intent, NewOrder):
                outcomes = self._new(intent)
            elif isinstance(intent, ReplaceOrder):
                outcomes = self._replace(intent)
            else:
                outcomes = self._cancel(intent)
        self._dispatch(outcomes)
        return outcomes

    def _reject(self, coid: int, account: int, strategy: str, source: RejectSource,
                reason: str) -> OrderRejected:
        self.counters["rejected"] += 1
        self.counters[f"rejected_{source}"] += 1
        for name in reason.split(","):
            self.counters[f"rejected_{source}_{name.split(':')[0].replace(' ', '_')}"] += 1
        return OrderRejected(coid, account, source, reason, self._clock(), strategy)

    def _check(self, coid: int, account: int, locate: int, side: Side, quantity: int,
               price: int, timestamp_ns: int) -> str:
        """Run one order through the risk pipeline: '' when accepted, else the reasons."""
        if not (0 <= quantity <= _U32 and 0 <= price <= _U32 and 0 <= locate <= 0xFFFF
                and 0 <= coid < 1 << 64 and 0 <= account <= 0xFFFF):
            return _OUT_OF_RANGE  # does not fit the Order record: never reaches the device
        record = np.zeros(1, ORDER_DTYPE)
        record[0] = (coid, account, locate, int(side), 0, quantity, price,
                     timestamp_ns or self._clock())
        started = time.perf_counter_ns()
        decision = self.risk.submit(record)[0]
        self.latency["risk_ns"].append(time.perf_counter_ns() - started)
        if decision["accepted"]:
            return ""
        return ",".join(reason_names(int(decision["reasons"])))

    def _release(self, account: int, order: _Order, quantity: int, price: int,
                 kind: UpdateKind = UpdateKind.CANCEL) -> None:
        """Give exposure back to the risk pipeline (a fill, or shares that will not trade)."""
        if quantity <= 0:
            return
        update = np.zeros(1, UPDATE_DTYPE)
        update[0] = (order.client_order_id, account, order.intent.locate,
                     int(order.intent.side), int(kind), quantity, price)
        self.risk.apply_updates(update)

    def _new(self, intent: NewOrder) -> list[Outcome]:
        account, coid = intent.account, intent.client_order_id
        session = self.sessions.get(account)
        if session is None:
            return [self._reject(coid, account, intent.strategy, RejectSource.DISCONNECT,
                                 f"no venue session for account {account}")]
        if (account, coid) in self._orders:
            return [self._reject(coid, account, intent.strategy, RejectSource.INVALID,
                                 "duplicate_id")]
        reasons = self._check(coid, account, intent.locate, intent.side, intent.quantity,
                              intent.price, intent.timestamp_ns)
        if reasons:
            return [self._reject(coid, account, intent.strategy, _source(reasons), reasons)]
        user_ref_num = self._take_ref(account)
        order = _Order(intent, coid, user_ref_num, intent.price, intent.quantity,
                       time.perf_counter_ns())
        message = ouch.encode_inbound(
            type="O", user_ref_num=user_ref_num, side=_SIDE_LETTER[intent.side],
            quantity=intent.quantity, symbol=intent.symbol, price=intent.price,
            time_in_force=(ouch.TIME_IN_FORCE_IOC if intent.time_in_force is TimeInForce.IOC
                           else ouch.TIME_IN_FORCE_DAY),
            display="Y", capacity="P", intermarket_sweep_eligibility="N", cross_type="N",
            cl_ord_id=str(coid)[-14:])
        self._orders[account, coid] = order
        self._by_ref[account, user_ref_num] = order
        self.counters["sent"] += 1
        order.epoch = session.send(message)
        if order.epoch:
            return []
        return [self._lost_new(account, order, "session not live")]

    def _take_ref(self, account: int) -> int:
        ref = self._next_ref[account]
        self._next_ref[account] = ref + 1
        return ref

    def _replace(self, intent: ReplaceOrder) -> list[Outcome]:
        account = intent.account
        order = self._orders.get((account, intent.client_order_id))
        if order is None or order.replace is not None or not order.accepted:
            return [self._reject(intent.new_client_order_id, account, intent.strategy,
                                 RejectSource.INVALID, "unknown_order")]
        if (account, intent.new_client_order_id) in self._orders:
            return [self._reject(intent.new_client_order_id, account, intent.strategy,
                                 RejectSource.INVALID, "duplicate_id")]
        reasons = self._check(intent.new_client_order_id, account, order.intent.locate,
                              order.intent.side, intent.quantity, intent.price,
                              intent.timestamp_ns)
        if reasons:
            return [self._reject(intent.new_client_order_id, account, intent.strategy,
                                 _source(reasons), reasons)]
        user_ref_num = self._take_ref(account)
        order.replace = _Pending(intent.new_client_order_id, user_ref_num, intent.quantity,
                                 intent.price, time.perf_counter_ns(), intent.timestamp_ns)
        self._by_ref[account, user_ref_num] = order
        self.counters["sent"] += 1
        self.counters["replaces_sent"] += 1
        message = ouch.encode_inbound(
            type="U", orig_user_ref_num=order.user_ref_num, user_ref_num=user_ref_num,
            quantity=intent.quantity, price=intent.price, time_in_force=ouch.TIME_IN_FORCE_DAY,
            display="Y", intermarket_sweep_eligibility="N",
            cl_ord_id=str(intent.new_client_order_id)[-14:])
        order.replace.epoch = self.sessions[account].send(message)
        if order.replace.epoch:
            return []
        return [self._lost_replace(account, order, "session not live")]

    def _cancel(self, intent: CancelOrder) -> list[Outcome]:
        order = self._orders.get((intent.account, intent.client_order_id))
        if order is None:  # the new id of a replace the venue has not answered yet
            order = next((o for (account, _), o in self._orders.items()
                          if account == intent.account and o.replace is not None
                          and o.replace.client_order_id == intent.client_order_id), None)
        if order is None:
            self.counters["cancel_unknown"] += 1
            return []
        # The venue reads the session in order: after a replace it sent, the order goes by
        # the replacement's UserRefNum, so the cancel names that one.
        ref = order.user_ref_num if order.replace is None else order.replace.user_ref_num
        message = ouch.encode_inbound(type="X", user_ref_num=ref,
                                      quantity=max(intent.remaining, 0))
        self.counters["cancels_sent"] += 1
        epoch = self.sessions[intent.account].send(message)
        if epoch:
            order.cancel_epoch = epoch
        else:
            self._dead_letter(intent.account, order, "cancel", order.leaves, order.price,
                              RejectSource.DISCONNECT, "session not live")
        return []

    # --- what a disconnect leaves unknown ---------------------------------------------------

    def _dead_letter(self, account: int, order: _Order, kind: str, quantity: int, price: int,
                     source: RejectSource, reason: str,
                     coid: int | None = None) -> None:
        self.counters["dead_lettered"] += 1
        self.deadletters.add(DeadLetter(
            self._clock(), account, order.client_order_id if coid is None else coid,
            order.intent.strategy, kind, order.intent.symbol, int(order.intent.side),
            quantity, price, str(source), reason))

    def _forget(self, account: int, order: _Order) -> None:
        self._orders.pop((account, order.client_order_id), None)
        self._by_ref.pop((account, order.user_ref_num), None)
        if order.replace is not None:
            self._by_ref.pop((account, order.replace.user_ref_num), None)

    def _lost_new(self, account: int, order: _Order, why: str) -> OrderRejected:
        self._release(account, order, order.leaves, order.price)
        self._dead_letter(account, order, "new", order.leaves, order.price,
                          RejectSource.DISCONNECT, why)
        self._forget(account, order)
        return self._reject(order.client_order_id, account, order.intent.strategy,
                            RejectSource.DISCONNECT, why)

    def _lost_replace(self, account: int, order: _Order, why: str) -> OrderRejected:
        pending = order.replace
        assert pending is not None
        order.replace = None
        self._by_ref.pop((account, pending.user_ref_num), None)
        self._release_pending(account, order, pending)
        self._dead_letter(account, order, "replace", pending.quantity, pending.price,
                          RejectSource.DISCONNECT, why, pending.client_order_id)
        return self._reject(pending.client_order_id, account, order.intent.strategy,
                            RejectSource.DISCONNECT, why)

    def _release_pending(self, account: int, order: _Order, pending: _Pending) -> None:
        update = np.zeros(1, UPDATE_DTYPE)
        update[0] = (pending.client_order_id, account, order.intent.locate,
                     int(order.intent.side), int(UpdateKind.CANCEL), pending.quantity,
                     pending.price)
        self.risk.apply_updates(update)

    def _state_handler(self, account: int) -> Callable[[SessionState], None]:
        def on_state(state: SessionState) -> None:
            outcomes: list[Outcome] = []
            with self._lock:
                if state is SessionState.DISCONNECTED:
                    self.counters["disconnects"] += 1
                elif state is SessionState.LIVE:
                    if account in self._connected_once:
                        self.counters["reconnects"] += 1
                    self._connected_once.add(account)
                    # the replay is over: what earlier connections sent and the venue
                    # never answered was lost with them
                    outcomes = self._settle_unknown(account, self.sessions[account].epoch)
                elif state is SessionState.ENDED:
                    outcomes = self._settle_unknown(account, self.sessions[account].epoch + 1)
            self._dispatch(outcomes)
        return on_state

    def _settle_unknown(self, account: int, before_epoch: int) -> list[Outcome]:
        """Unanswered intents sent before ``before_epoch`` were lost with their connection.

        The epoch test matters: a strategy may already send on the new connection
        between the session going live and this call."""
        outcomes: list[Outcome] = []
        for (acct, _coid), order in list(self._orders.items()):
            if acct != account:
                continue
            if not order.accepted:
                if order.epoch < before_epoch:
                    outcomes.append(self._lost_new(account, order, "disconnect"))
                continue
            if order.replace is not None and order.replace.epoch < before_epoch:
                outcomes.append(self._lost_replace(account, order, "disconnect"))
            if order.cancel_epoch and order.cancel_epoch < before_epoch:
                order.cancel_epoch = 0
                self._dead_letter(account, order, "cancel", order.leaves, order.price,
                                  RejectSource.DISCONNECT, "disconnect")
        return outcomes

    # --- what the venue says ---------------------------------------------------------------

    def _message_handler(self, account: int) -> Callable[[int, bytes], None]:
        return lambda sequence, payload: self.on_venue_message(account, sequence, payload)

    def on_venue_message(self, account: int, sequence: int, payload: bytes) -> None:
        """One sequenced OUCH message of ``account``'s session (its session calls this)."""
        try:
            message = ouch.decode(Direction.OUTBOUND, payload)
        except OuchError as error:
            self.counters[f"venue_bad_message_{error.fault}"] += 1
            return
        with self._lock:
            outcomes = self._on_venue(account, message)
        self._dispatch(outcomes)

    def _on_venue(self, account: int, message: dict[str, Value]) -> list[Outcome]:
        kind = message["type"]
        if kind == "S":
            self.counters["system_events"] += 1
            return []
        order = self._by_ref.get((account, int(message["user_ref_num"])))
        if order is None:
            self.counters["venue_unknown_order"] += 1
            return []
        now = self._clock()
        strategy = order.intent.strategy
        if kind == "A":
            order.accepted = True
            order.venue_order_id = int(message["order_reference_number"])
            self.latency["venue_ack_ns"].append(time.perf_counter_ns() - order.sent_ns)
            self.counters["accepted"] += 1
            return [OrderAccepted(order.client_order_id, account, order.venue_order_id, now,
                                  strategy)]
        if kind == "E":
            return self._executed(account, order, message, now)
        if kind == "C":
            quantity = min(int(message["quantity"]), order.leaves)
            order.leaves -= quantity
            order.cancel_epoch = 0
            self._release(account, order, quantity, order.price)
            self.counters["cancels"] += 1
            coid = order.client_order_id
            if not order.leaves:
                self._forget(account, order)
            try:
                reason = _CANCEL_REASON[CancelReason(str(message["reason"]))]
            except ValueError:
                reason = "other"
            return [OrderCanceled(coid, account, quantity, reason, now, strategy)]
        if kind == "U":
            return self._replaced(account, order, message, now)
        return self._rejected(account, order, message, now)

    def _executed(self, account: int, order: _Order, message: dict[str, Value],
                  now: int) -> list[Outcome]:
        match_number = int(message["match_number"])
        if match_number in order.match_numbers:
            self.counters["duplicate_fills"] += 1  # a fill is applied once per match number
            return []
        order.match_numbers.add(match_number)
        quantity, price = int(message["quantity"]), int(message["price"])
        quantity = min(quantity, order.leaves)
        order.leaves -= quantity
        self._release(account, order, quantity, price, UpdateKind.FILL)
        self.counters["fills"] += 1
        self.counters["filled_shares"] += quantity
        intent = order.intent
        outcome = OrderFilled(
            order.client_order_id, account, intent.locate, intent.symbol, intent.side,
            quantity, price, match_number,
            Liquidity.ADDED if message["liquidity_flag"] == ouch.LIQUIDITY_ADDED
            else Liquidity.REMOVED, order.leaves, now, intent.strategy)
        if not order.leaves and order.replace is None:
            self._forget(account, order)
        return [outcome]

    def _replaced(self, account: int, order: _Order, message: dict[str, Value],
                  now: int) -> list[Outcome]:
        pending = order.replace
        if pending is None or pending.user_ref_num != int(message["user_ref_num"]):
            self.counters["venue_unknown_order"] += 1
            return []
        old_coid = order.client_order_id
        self._release(account, order, order.leaves, order.price)  # the old order's open part
        self._orders.pop((account, old_coid), None)
        self._by_ref.pop((account, order.user_ref_num), None)
        order.replace = None
        order.client_order_id, order.user_ref_num = pending.client_order_id, pending.user_ref_num
        order.price, order.leaves = pending.price, int(message["quantity"])
        order.venue_order_id = int(message["order_reference_number"])
        self._orders[account, order.client_order_id] = order
        self.latency["venue_ack_ns"].append(time.perf_counter_ns() - pending.sent_ns)
        self.counters["replaced"] += 1
        return [OrderReplaced(old_coid, order.client_order_id, account, order.leaves,
                              order.price, order.venue_order_id, now, order.intent.strategy)]

    def _rejected(self, account: int, order: _Order, message: dict[str, Value],
                  now: int) -> list[Outcome]:
        code = int(message["reason"])
        try:
            name = RejectCode(code).name.lower()
        except ValueError:
            name = "unknown"
        reason = f"{name}:{code}"
        user_ref_num = int(message["user_ref_num"])
        pending = order.replace
        if pending is not None and pending.user_ref_num == user_ref_num:
            order.replace = None
            self._by_ref.pop((account, user_ref_num), None)
            self._release_pending(account, order, pending)
            self._dead_letter(account, order, "replace", pending.quantity, pending.price,
                              RejectSource.VENUE, reason, pending.client_order_id)
            if not order.leaves:  # filled while the replace was on its way
                self._forget(account, order)
            return [self._reject(pending.client_order_id, account, order.intent.strategy,
                                 RejectSource.VENUE, reason)]
        self._release(account, order, order.leaves, order.price)
        self._dead_letter(account, order, "new", order.leaves, order.price,
                          RejectSource.VENUE, reason)
        self._forget(account, order)
        self.latency["venue_ack_ns"].append(time.perf_counter_ns() - order.sent_ns)
        return [self._reject(order.client_order_id, account, order.intent.strategy,
                             RejectSource.VENUE, reason)]

    # --- inspection ------------------------------------------------------------------------

    def open_orders(self, account: int | None = None) -> dict[tuple[int, int], int]:
        """(account, client order id) -> open shares, for orders not yet done."""
        with self._lock:
            return {key: order.leaves for key, order in self._orders.items()
                    if account is None or key[0] == account}

    def latency_summary(self) -> dict[str, dict[str, float]]:
        """Per stage: count, p50, p99 and max, in nanoseconds."""
        out: dict[str, dict[str, float]] = {}
        for stage, samples in self.latency.items():
            values = np.fromiter(samples, np.int64)
            if len(values):
                p50, p99 = np.percentile(values, [50, 99])
                out[stage] = {"count": float(len(values)), "p50": float(p50),
                              "p99": float(p99), "max": float(values.max())}
        return out
