"""A live trading session on loopback: every part of nanogate, started and wired together.

``nanogate demo`` runs one: a synthetic ITCH 5.0 session published as MoldUDP64
on two multicast lines (with loss) and a rewinder; the gateway receiving,
arbitrating and recovering it into books; the example strategies trading through
the device's risk pipeline to the venue simulator (OUCH 5.0 over SoupBinTCP); the
control plane (gRPC) with a development token, whose halts reach the strategies
and the risk pipeline at once; telemetry on ``/metrics`` and ``/health``; every
order, decision and outcome archived as Parquet next to the audit log.

Threads: the publisher, the venue (accept, sessions, market flow), the rewinder,
the gateway worker (books -> strategies -> router), the router's sessions
(outcomes), the gRPC server, the telemetry server; the caller's thread draws the
dashboard and forwards events to the control plane (:class:`ControlBridge`).

For the report (:mod:`nanogate.demo_report`) the session also keeps a throughput
timeline (cumulative messages, orders, fills and rejects, sampled about once a second
by the caller's thread) and the depth of one instrument over time (its best
:data:`DEPTH_LEVELS` price levels a side, sampled by the gateway worker between
batches, where reading the books is safe): :meth:`LiveSession.record`.
"""

from __future__ import annotations

import json
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanogate.control.archive import Archive, PositionSnapshot
from nanogate.control.auth import create_tokens_file, load_tokens
from nanogate.control.errors import ControlError
from nanogate.control.plane import ControlPlane
from nanogate.control.server import build_server
from nanogate.control.spec import StrategySpec
from nanogate.control.store import NewEvent, Store
from nanogate.gateway.device import open_device
from nanogate.gateway.device.shared import SharedRiskEngine
from nanogate.gateway.engine import TradingEngine
from nanogate.gateway.feed import fast
from nanogate.gateway.feed.source import open_feed
from nanogate.gateway.net.addr import Endpoint
from nanogate.gateway.net.arbiter import GapLost
from nanogate.gateway.net.runner import Gateway, GatewayConfig
from nanogate.gateway.orders.deadletter import DeadLetterStore
from nanogate.gateway.orders.router import Credentials, OrderRouter
from nanogate.gateway.strategies.guard import Breach
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.telemetry import STAGES, Alert, Telemetry, TelemetryServer, Watchdog
from nanogate.gateway.trading import (
    CancelOrder,
    Intent,
    OrderFilled,
    OrderRejected,
    Outcome,
    ReplaceOrder,
)
from nanogate.proto.controlapi import control_pb2 as pb
from nanogate.proto.risk import DECISION_DTYPE, reason_names
from nanogate.sim.publisher import LineFaults, Publisher, PublisherConfig, store_from_file
from nanogate.sim.rewinder import Rewinder
from nanogate.sim.synth import fixed_overhead, write_synthetic
from nanogate.sim.venue.seed import load_session
from nanogate.sim.venue.server import VenueServer

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_STRATEGIES = REPO / "examples" / "strategies"
DEPTH_LEVELS = 10  # price levels a side in each depth sample
DEPTH_EVERY_S = 0.2  # a depth sample at most this often
DRAIN_S = 10.0  # at the end, how long the gateway may take to catch up with the feed
TIMELINE_EVERY_S = 1.0


@dataclass
class DepthSample:
    """One instrument's book at ``t_s`` seconds into the run: best levels first."""

    t_s: float
    bids: list[tuple[int, int]]  # (price(4), shares)
    asks: list[tuple[int, int]]


@dataclass
class RunRecord:
    """What the report draws, beyond the summary: kept in memory during the run."""

    #: (seconds into the run, messages applied, orders, fills, rejects), cumulative
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    depth_symbol: str | None = None
    depth: list[DepthSample] = field(default_factory=list)
    #: stage -> [(nanoseconds, count)] of its HdrHistogram's recorded buckets
    latency_ns: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


@dataclass
class LiveConfig:
    duration_s: float = 20.0
    device: str = "software"
    loss: float = 0.01  # per line, independently: both lines lose a packet now and then
    instruments: int = 8
    rate: float = 20_000.0  # ITCH messages per second on the wire
    seed: int = 7
    strategies: Path = EXAMPLE_STRATEGIES
    workdir: Path | None = None  # kept when given; a temporary folder otherwise
    control_listen: str = "127.0.0.1:50051"  # busy: any free port, said so
    metrics_port: int = 0
    depth_symbol: str | None = None  # the report's depth chart; default: the strategies' first
    line_a: Endpoint = field(default_factory=lambda: Endpoint("239.192.51.1", 0))
    line_b: Endpoint = field(default_factory=lambda: Endpoint("239.192.51.2", 0))


def _opening_prices(path: Path, symbols: dict[int, str], adds: int = 20_000) -> dict[str, int]:
    """Median limit price of each instrument's first adds: the risk collar's reference."""
    events = fast.decode(open_feed(path)).events[:adds]
    added = events[np.isin(events["msg_type"], (b"A", b"F"))]
    out = {}
    for locate, name in symbols.items():
        prices = added["price"][added["stock_locate"] == locate]
        if len(prices):
            out[name] = int(np.median(prices))
    return out


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ControlBridge:
    """Between the data path and the control plane, in both directions.

    The plane tells the engine of halts, resumes and strategy changes at once (its
    listeners run under the plane's lock, and the engine never waits on that lock).
    The other way goes through a queue the caller's thread drains: fills, alerts,
    gaps become events; a guard's breach halts the strategy's account through the
    plane (audited like an operator's halt).
    """

    def __init__(self, plane: ControlPlane, engine: TradingEngine) -> None:
        self.plane = plane
        self.engine = engine
        self.counters: Counter[str] = Counter()
        self._outbox: queue.SimpleQueue[NewEvent | Breach] = queue.SimpleQueue()
        plane.listeners.append(self.on_change)
        plane.order_entry = engine
        engine.outcome_sinks.append(self.on_outcome)
        engine.breach_sinks.append(self._outbox.put)
        engine.telemetry.alert_sinks.append(self.on_alert)

    def on_change(self, action: str, detail: dict[str, Any]) -> None:
        engine = self.engine
        if action in ("halt", "resume"):
            target = str(detail["target"])
            scope = target.partition("/")[0]
            account = int(detail["account"]) if scope == "account" else None
            locate = detail["stock_locate"] if scope == "instrument" else None
            (engine.halt if action == "halt" else engine.resume)(account, locate)
        elif action == "apply_strategy":
            try:
                engine.add(StrategySpec(str(detail["name"]), detail["document"]))
            except StrategyConfigError as error:
                self._outbox.put(NewEvent("alert", f"strategy {detail['name']} not started: "
                                          f"{error}", {"name": detail["name"]}))
        elif action == "delete_strategy":
            engine.remove(str(detail["name"]))

    def on_outcome(self, outcome: Outcome) -> None:
        if isinstance(outcome, OrderFilled):
            side = "bought" if outcome.side == 0 else "sold"
            self._outbox.put(NewEvent(
                "fill", f"{outcome.strategy or outcome.account} {side} {outcome.quantity} "
                f"{outcome.symbol} at {outcome.price / 10_000:.2f}",
                {"account": outcome.account, "client_order_id": outcome.client_order_id,
                 "symbol": outcome.symbol, "quantity": outcome.quantity,
                 "price": outcome.price, "match_number": outcome.match_number}))

    def on_alert(self, alert: Alert) -> None:
        more = f" (+{alert.suppressed} more)" if alert.suppressed else ""
        self._outbox.put(NewEvent("alert", f"{alert.kind}: {alert.message}{more}",
                                  {"kind": alert.kind, **alert.detail}))

    def drain(self) -> None:
        """Publish what the data path queued; halt the accounts of breached strategies."""
        events: list[NewEvent] = []
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, NewEvent):
                events.append(item)
                continue
            self.counters["breach_halts"] += 1
            try:
                self.plane.halt(f"guard/{item.strategy}", pb.HaltRequest(
                    target=pb.Target(scope=pb.SCOPE_ACCOUNT, account=item.account),
                    reason=str(item)), time.perf_counter_ns())
            except ControlError as error:
                events.append(NewEvent("alert", f"cannot halt account {item.account}: "
                                       f"{error}", {"account": item.account}))
        self.counters["events"] += len(events)
        self.plane.publish(events)


class LiveSession:
    """Build with a :class:`LiveConfig`, :meth:`start`, :meth:`run`, :meth:`close`."""

    def __init__(self, config: LiveConfig, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.say = say
        self._stack = ExitStack()
        self._own_workdir = config.workdir is None
        self.workdir = config.workdir or Path(tempfile.mkdtemp(prefix="nanogate-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.telemetry = Telemetry()
        self.watchdog = Watchdog(self.telemetry)
        self.stop = threading.Event()
        self.started_at = 0.0
        self.token = ""
        self.control_address = ""
        self._gaps_seen = 0
        self._threads: list[threading.Thread] = []
        self.publish_error: BaseException | None = None
        self.finished = False  # the end-of-day halt is done: the dashboard's last frame
        self.run_record = RunRecord()
        self._depth_locate: int | None = None
        self._next_depth = 0.0
        # client order ids: every order (new or replace) and every one that was decided,
        # by the risk pipeline or by a reject before it (set.add: atomic across threads)
        self._ordered: set[tuple[int, int]] = set()
        self._risk_decided: set[tuple[int, int]] = set()
        self._rejected: set[tuple[int, int]] = set()

    # --- assembly ----------------------------------------------------------------------

    def start(self) -> LiveSession:
        c, stack = self.config, self._stack
        messages = int(c.rate * c.duration_s) + fixed_overhead(c.instruments)
        feed_path = self.workdir / "session.itch"
        write_synthetic(feed_path, messages=messages, instruments=c.instruments, seed=c.seed)
        self.store = store_from_file(feed_path)
        # the venue starts from the directory only and plays the session's flow at the rate
        # the publisher sends it, so its book follows the one the gateway builds
        venue_feed = load_session(feed_path, fixed_overhead(c.instruments))
        self.symbols = {name: locate for locate, name in venue_feed.symbols.items()}
        if c.depth_symbol is not None and c.depth_symbol not in self.symbols:
            raise ValueError(f"depth_symbol {c.depth_symbol!r} is not in the session "
                             f"(its symbols: {', '.join(sorted(self.symbols))})")
        self.venue = stack.enter_context(VenueServer(venue_feed.orders,
                                                     symbols=self.symbols))
        self._venue_flow = venue_feed
        self.rewinder = stack.enter_context(Rewinder(self.store, Endpoint("127.0.0.1", 0)))

        db = self.workdir / "control.db"
        self.control_store = Store(db, synchronous="NORMAL")
        stack.callback(self.control_store.close)
        sizes = {"instruments": 1024, "accounts": 64}
        self.risk = SharedRiskEngine(open_device(c.device, **sizes).risk_engine())
        self.plane = ControlPlane(self.control_store, self.risk, c.device)
        tokens_path = self.workdir / "nanogate-tokens.yaml"
        self.token = create_tokens_file(tokens_path)
        self.server, port = self._serve(load_tokens(tokens_path))
        stack.callback(lambda: self.server.stop(None).wait())
        self.control_address = f"127.0.0.1:{port}"
        self.archive = Archive.beside(db, flush_interval_s=1.0, store=self.control_store)
        self.risk.decision_listeners.append(self._archive_decisions)
        self.risk.decision_listeners.append(self._note_decisions)

        self._set_limits(_opening_prices(feed_path, venue_feed.symbols))
        specs = self._apply_strategies()
        line_a = Endpoint(c.line_a.host, c.line_a.port or _free_udp_port())
        line_b = Endpoint(c.line_b.host, c.line_b.port or _free_udp_port())
        self.gateway = Gateway(GatewayConfig(line_a, line_b, rewinder=self.rewinder.address,
                                             device=c.device, state_file=None))
        accounts = sorted({spec.account for spec in specs})
        self.router = OrderRouter(self.risk, self.venue.address,
                                  {a: Credentials(f"NG{a:04d}", "demo") for a in accounts},
                                  DeadLetterStore(self.workdir / "deadletters.db"))
        self.engine = TradingEngine(self.gateway.books, self.router, self.telemetry,
                                    locates=self.symbols)
        self.engine.intent_sinks.append(self.archive.record_intent)
        self.engine.intent_sinks.append(self._note_intent)
        self.engine.outcome_sinks.append(self.archive.record_outcome)
        self.engine.outcome_sinks.append(self._note_outcome)
        self.bridge = ControlBridge(self.plane, self.engine)
        for spec in specs:
            self.engine.add(spec)
        self.gateway.batch_subscribers.append(self.engine.on_batch)
        self._choose_depth_instrument(specs)
        self.gateway.batch_subscribers.append(self._sample_depth)
        self.plane.status_sources.append(self._status)
        self._telemetry_sources()
        self.metrics = TelemetryServer(self.telemetry, c.metrics_port)
        stack.callback(self.metrics.close)
        self.router.start()
        stack.callback(self.router.close)
        self.gateway.start()
        stack.callback(self.gateway.close)
        self.publisher = stack.enter_context(Publisher(PublisherConfig(
            line_a, line_b, rate=c.rate, faults_a=LineFaults(c.loss), faults_b=LineFaults(c.loss),
            seed=c.seed), self.store))
        return self

    def _serve(self, tokens: Any) -> tuple[Any, int]:
        try:
            return build_server(self.plane, tokens, self.config.control_listen)
        except (RuntimeError, OSError):
            host = self.config.control_listen.rsplit(":", 1)[0]
            self.say(f"nanogate demo: {self.config.control_listen} is busy; "
                     "using a free port")
            return build_server(self.plane, tokens, f"{host}:0")

    def _set_limits(self, opening: dict[str, int]) -> None:
        plane = self.plane
        plane.set_symbols("demo", [pb.Symbol(symbol=s, stock_locate=n)
                                   for s, n in sorted(self.symbols.items())])
        for symbol in sorted(self.symbols):
            # collar around the opening price; the session's walk may leave it: a
            # `price_collar` reject then is the pipeline doing its job
            reference = opening.get(symbol, 1_000_000)
            plane.set_instrument_limits("demo", pb.SetInstrumentLimitsRequest(
                limits=pb.InstrumentLimits(
                    symbol=symbol, reference_price=reference, collar_bps=1_500, max_qty=5_000,
                    max_notional=5_000 * reference, max_long=20_000, max_short=20_000,
                    restricted=False)))

    def _apply_strategies(self) -> list[StrategySpec]:
        specs = []
        for path in sorted(self.config.strategies.glob("*.yaml")):
            response = self.plane.apply_strategy("demo", pb.ApplyStrategyRequest(
                spec_yaml=path.read_text()))
            value = self.control_store.get(f"strategy/{response.strategy.name}")
            specs.append(StrategySpec(value["name"], value["document"]))
        if not specs:
            raise ValueError(f"no strategy specs (*.yaml) in {self.config.strategies}")
        return specs

    def _choose_depth_instrument(self, specs: list[StrategySpec]) -> None:
        chosen = self.config.depth_symbol  # checked in start(): a symbol of the session
        wanted = [chosen] if chosen else []
        for spec in specs:
            wanted += spec.instruments
        wanted += sorted(self.symbols, key=self.symbols.__getitem__)
        for name in wanted:
            if name in self.symbols:
                self.run_record.depth_symbol = name
                self._depth_locate = self.symbols[name]
                return

    def _sample_depth(self, _batch: Any) -> None:
        """A gateway batch subscriber (the worker's thread: the books are not moving)."""
        if self._depth_locate is None or not self.started_at:
            return
        now = time.monotonic()
        if now < self._next_depth:
            return
        self._next_depth = now + DEPTH_EVERY_S
        book = self.gateway.books.books.get(self._depth_locate)
        if book is None:
            return
        bids, asks = book.depth(DEPTH_LEVELS)
        self.run_record.depth.append(DepthSample(
            round(now - self.started_at, 3), [(lv.price, lv.shares) for lv in bids],
            [(lv.price, lv.shares) for lv in asks]))

    def _note_intent(self, intent: Intent) -> None:
        if isinstance(intent, ReplaceOrder):
            self._ordered.add((intent.account, intent.new_client_order_id))
        elif not isinstance(intent, CancelOrder):
            self._ordered.add((intent.account, intent.client_order_id))

    def _note_decisions(self, orders: np.ndarray, _decisions: np.ndarray) -> None:
        for coid, account in zip(orders["client_order_id"].tolist(),
                                 orders["account"].tolist(), strict=True):
            self._risk_decided.add((account, coid))

    def _note_outcome(self, outcome: Outcome) -> None:
        if isinstance(outcome, OrderRejected):
            self._rejected.add((outcome.account, outcome.client_order_id))

    def _archive_decisions(self, orders: np.ndarray, decisions: np.ndarray) -> None:
        assert decisions.dtype == DECISION_DTYPE
        for order, decision in zip(orders.tolist(), decisions.tolist(), strict=True):
            coid, account, _, _, _, _, _, timestamp_ns = order
            _, _, reasons, cycle = decision
            self.archive.record_decision(coid, account, reasons, timestamp_ns or time.time_ns(),
                                         cycle)

    def _telemetry_sources(self) -> None:
        t = self.telemetry
        t.counters["gateway"] = self.gateway.counters
        t.counters["router"] = lambda: dict(self.router.counters)
        t.counters["engine"] = lambda: dict(self.engine.counters)
        t.counters["venue"] = lambda: dict(self.venue.counters)
        t.counters["risk"] = self.risk.counters
        names = {n: s for s, n in self.symbols.items()}
        t.gauges["position_shares"] = lambda: {
            (("account", str(a)), ("symbol", names.get(n, str(n)))): float(q)
            for a, n, q, _, _ in self.engine.positions()}
        t.gauges["pnl_dollars"] = lambda: {
            (("strategy", name),): self.engine.ledger.equity_of(name)
            for name in self.engine.strategies}
        t.health_checks["venue"] = lambda: None if all(
            s.state == "live" for s in self.router.sessions.values()) else "a venue session " \
            "is not live"
        t.health_checks["feed"] = self._feed_health

    def _feed_health(self) -> str | None:
        if self.gateway.ended or not self.started_at:
            return None
        quiet = time.monotonic() - self._last_feed_change
        return f"no market data for {quiet:.1f} s" if quiet > 2.0 else None

    def _status(self, status: pb.Status) -> None:
        stats = self.gateway.arbiter.stats
        elapsed = max(time.monotonic() - self.started_at, 1e-9) if self.started_at else 0.0
        for line, name in ((0, "A"), (1, "B")):
            status.feed_lines.add(name=name, packets=stats.packets[line],
                                  gaps=self.gateway.counters_.gap_events,
                                  messages_per_s=stats.messages / elapsed if elapsed else 0.0)
        for stage in STAGES:
            p = self.telemetry.percentiles_us(stage)
            if p["count"]:
                status.latencies.add(name=stage, count=int(p["count"]), p50_us=p["p50"],
                                     p99_us=p["p99"], max_us=p["max"])

    # --- running -------------------------------------------------------------------------

    def run(self, frame: Callable[[LiveSession], None] | None = None,
            interval_s: float = 1.0) -> dict[str, Any]:
        """Trade for the configured duration (or until :attr:`stop`); returns the summary."""
        self.started_at = time.monotonic()
        self._last_feed_change = self.started_at
        self._last_messages = 0
        worker = threading.Thread(target=self.gateway.run, args=(self.stop.is_set,),
                                  name="gateway", daemon=True)
        publisher = threading.Thread(target=self._publish, name="publisher", daemon=True)
        self.venue.follow(self._venue_flow.rest, self._venue_flow.symbols, self.config.rate)
        worker.start()
        publisher.start()
        deadline = self.started_at + self.config.duration_s
        next_frame = self.started_at
        self._sample_timeline()
        next_sample = self.started_at + TIMELINE_EVERY_S
        while not self.stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
            self._poll()
            now = time.monotonic()
            if now >= next_sample:
                next_sample += TIMELINE_EVERY_S
                self._sample_timeline()
            if frame is not None and now >= next_frame:
                next_frame += interval_s
                frame(self)
        self.engine.halt()  # end of the day: every strategy cancels what it has open
        if not self.stop.is_set():
            # the session's last packets and its end go out, and the gateway applies them
            # (on a loaded machine it runs behind the publisher): nothing left in flight
            publisher.join(timeout=DRAIN_S)
            drain_until = time.monotonic() + DRAIN_S
            while (not self.gateway.ended and worker.is_alive()
                   and time.monotonic() < drain_until):
                time.sleep(0.05)
        time.sleep(0.3)  # the venue's answers to the end-of-day cancels
        self._poll()
        self.stop.set()
        worker.join(timeout=10)
        publisher.join(timeout=10)
        self._poll()
        self._sample_timeline()
        self.finished = True
        if frame is not None:
            frame(self)  # the last frame: what the summary says, the halt included
        return self.summary()

    def _sample_timeline(self) -> None:
        rejects = self.router.counters.get("rejected", 0)  # every source, risk included
        self.run_record.timeline.append((
            round(time.monotonic() - self.started_at, 3), self.gateway.arbiter.stats.messages,
            self.engine.counters["orders"], self.engine.counters["fills"], rejects))

    def record(self) -> RunRecord:
        """The timeline, the depth samples and the stages' latency histograms so far."""
        record = self.run_record
        record.latency_ns = {
            stage: [(int(item.value_iterated_to), int(item.count_added_in_this_iter_step))
                    for item in self.telemetry.stages[stage].histogram.get_recorded_iterator()]
            for stage in STAGES}
        return record

    def _publish(self) -> None:
        try:
            self.publisher.run()
        except OSError as error:  # the session still ends; the summary says why
            self.publish_error = error

    def _poll(self) -> None:
        messages = self.gateway.arbiter.stats.messages
        if messages != self._last_messages:
            self._last_messages = messages
            self._last_feed_change = time.monotonic()
        log = self.gateway.events_log
        for event in log[self._gaps_seen:]:
            if isinstance(event, GapLost):
                self.telemetry.alert("feed_gap", f"{event.count} message(s) lost from "
                                     f"{event.first} (session {event.session})",
                                     {"first": event.first, "count": event.count})
        self._gaps_seen = len(log)
        for stage, key in (("risk", "risk_ns"), ("order_to_ack", "venue_ack_ns")):
            samples = self.router.latency[key]  # appended by the router's threads
            taken = [samples.popleft() for _ in range(len(samples))]
            for ns in taken:
                self.telemetry.record(stage, ns)
            if stage == "order_to_ack":
                self.watchdog.watch_acks(taken)
        packets = self.gateway.arbiter.stats.packets
        self.watchdog.watch_lines({"A": packets[0], "B": packets[1]}, time.monotonic_ns())
        self.watchdog.watch_sessions({str(a): str(s.state)
                                      for a, s in self.router.sessions.items()})
        self.engine.tick()
        self.bridge.drain()

    # --- results -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The run in numbers: the issue's top-level keys, then the details by part.

        Top level: ``messages`` (applied to the books), ``messages_lost`` (published and
        never applied: declared lost after the rewinder failed, or not arrived by the
        end), ``gaps_recovered`` (gap episodes closed without loss, by the other line or
        the rewinder), ``orders`` (new orders and replaces the strategies sent),
        ``orders_accepted`` / ``orders_rejected_risk`` (the risk pipeline's decisions),
        ``orders_rejected`` (rejects from every source: risk, venue, invalid, disconnect),
        ``orders_undecided`` (orders with neither a risk decision nor a reject: 0 when
        every order was decided), ``fills`` and ``tick_to_trade_p99_us``.
        """
        stats = self.gateway.arbiter.stats
        router = self.router.counters
        names = {n: s for s, n in self.symbols.items()}
        risk = self.risk.counters()
        published = self.publisher.stats.messages
        declared_lost = sum(e.count for e in self.gateway.events_log if isinstance(e, GapLost))
        ordered, decided = set(self._ordered), self._risk_decided | self._rejected
        before_risk = self._rejected - self._risk_decided
        tick_to_trade = self.telemetry.percentiles_us("tick_to_trade")
        return {
            "messages": stats.messages,
            "messages_published": published,
            "messages_lost": max(published - stats.messages, declared_lost, 0),
            "messages_recovered": stats.recovered,
            "gaps": stats.gaps,
            "gaps_recovered": max(stats.gaps - self.gateway.counters_.gap_events, 0),
            "orders": self.engine.counters["orders"],
            "orders_accepted": risk.get("accepted", 0),
            "orders_rejected_risk": risk.get("rejected", 0),
            "orders_rejected_before_risk": len(before_risk & ordered),
            "orders_rejected": router.get("rejected", 0),
            "orders_undecided": len(ordered - decided),
            "fills": self.engine.counters["fills"],
            "filled_shares": router.get("filled_shares", 0),
            "tick_to_trade_p99_us": tick_to_trade["p99"],
            "tick_to_trade_p50_us": tick_to_trade["p50"],
            "rejects_by_reason": {k.removeprefix("rejected_"): v for k, v in router.items()
                                  if k.startswith("rejected_") and k.count("_") >= 2},
            "depth_symbol": self.run_record.depth_symbol,
            "duration_s": round(time.monotonic() - self.started_at, 3),
            "device": self.config.device,
            "feed": {"messages": stats.messages, "recovered": stats.recovered,
                     "packets_a": stats.packets[0], "packets_b": stats.packets[1],
                     "duplicates": sum(stats.duplicates), "gaps_lost":
                     self.gateway.counters_.gap_events, "messages_declared_lost": declared_lost,
                     "published": self.publisher.stats.messages},
            "latency_us": {stage: self.telemetry.percentiles_us(stage) for stage in STAGES},
            "order_flow": {"sent": self.engine.counters["orders"],
                           "cancels": self.engine.counters["cancels"],
                           "fills": self.engine.counters["fills"],
                           "rejects": {k.removeprefix("rejected_"): v for k, v in router.items()
                                       if k.startswith("rejected_")},
                           "dead_letters": router.get("dead_lettered", 0)},
            "risk": {k: v for k, v in self.risk.counters().items() if v},
            "positions": [{"account": a, "symbol": names.get(n, str(n)), "shares": q,
                           "realized": round(r, 2), "unrealized": round(u, 2)}
                          for a, n, q, r, u in self.engine.positions()],
            "pnl": {name: round(self.engine.ledger.equity_of(name), 2)
                    for name in self.engine.strategies},
            "breaches": [str(b) for b in self.engine.breaches],
            "alerts": dict(self.telemetry.alert_counts),
            "halts": [h.target.scope for h in self.plane.trading_state().halts],
        }

    def record_positions(self) -> None:
        """Snapshot every position of the ledger into the archive (end of day)."""
        now = time.time_ns()
        names = {n: s for s, n in self.symbols.items()}
        ledger = self.engine.ledger
        for (account, locate), p in sorted(ledger.accounts.items()):
            mark = ledger.marks.get(locate, p.average_price)
            self.archive.record_position(PositionSnapshot(
                account, names.get(locate, str(locate)), p.quantity, p.average_price,
                p.realized, p.unrealized(mark), now, p.fees, locate))

    def close(self) -> None:
        if hasattr(self, "engine"):
            self.record_positions()
        if hasattr(self, "archive"):
            self.archive.close()
        self._stack.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def reject_text(mask: int) -> str:
    return ",".join(reason_names(mask)) or "accepted"


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
