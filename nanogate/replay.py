"""``nanogate replay``: a recorded or synthetic session replayed through strategies and the venue.

Everything runs in this process, in lockstep, so that a replay is repeatable:

1. The feed file (BinaryFILE or pcap) is decoded once (``gateway/feed/fast``) and cut
   into batches: at most ``batch`` consecutive events within ``window_us`` of feed
   time of the batch's first one.
2. The venue (a real :class:`VenueServer` on 127.0.0.1, any free port) starts from the
   session's directory only: no resting orders, every symbol of the file accepted. It
   follows the same events as the market's flow, stepped synchronously
   (:meth:`VenueServer.step_flow`) with the same batches; fills of our resting
   orders go to their accounts on their sessions.
3. For each batch: the venue steps, the books apply it, the router's answers settle,
   :meth:`TradingEngine.on_book_events` lets the strategies decide, their intents go
   through the software risk pipeline (limits from the specs) and the order router
   over TCP to the venue, and the answers settle again before the next batch.
   *Settled*: the venue has read every message the router sent, and the router has
   handled every message the venue sequenced for each account (bounded wait;
   a wait that runs out is counted in ``settle_timeouts``); then the fills and
   cancels reported to the risk pipeline meanwhile are applied to it.
4. Clocks are the feed's: the engine, the router and the risk pipeline's rate check
   read the ITCH timestamp of the current batch (nanoseconds since midnight), so the
   loss guards' windows, the equity samples and the Sharpe are in feed time.

At the end every strategy is halted (its open orders cancelled), the answers settle,
and the statistics are taken (``gateway/strategies/performance.py`` defines them).
docs/replay.md says what is deterministic and what is not.

This module is the engine and its summary (a dict); the command around it (its
arguments, the text rendering of the summary, the progress line) is
:mod:`nanogate.replay_cli`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanogate.control.spec import SpecError, StrategySpec, notional, parse_spec
from nanogate.gateway.book import BookSet
from nanogate.gateway.device import DeviceError, RiskEngine, open_device
from nanogate.gateway.engine import TradingEngine
from nanogate.gateway.feed import fast
from nanogate.gateway.feed.source import FeedFormatError, open_feed
from nanogate.gateway.orders.router import Credentials, OrderRouter
from nanogate.gateway.risk.limits import Limits, LimitsError, apply_limits
from nanogate.gateway.strategies.base import book_top
from nanogate.gateway.strategies.guard import Breach
from nanogate.gateway.strategies.ledger import PRICE_SCALE
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.strategies.performance import RunRecorder
from nanogate.gateway.trading import (
    Intent,
    NewOrder,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Outcome,
    ReplaceOrder,
    Side,
)
from nanogate.proto.records import EventFlags
from nanogate.proto.regmap import RegisterMap
from nanogate.sim.venue.server import VenueServer

__all__ = ["Replay", "ReplayConfig", "ReplayError", "replay"]

_NS = 1_000_000_000
SPEEDS = ("max", "1x")
DEFAULT_BATCH = 64
DEFAULT_WINDOW_US = 1_000
DEFAULT_COLLAR_BPS = 1_500
MAX_GAP_S = 1.0  # --speed 1x: a longer quiet stretch of the feed is waited 1 s
_PROGRESS_S = 0.5
_OPENING_ADDS = 20_000  # the collar's reference: median limit price of the first adds


class ReplayError(Exception):
    """A replay that cannot run; ``code`` is the exit status (2: bad input, 1: failure)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ReplayConfig:
    feed: Path
    specs: list[Path]
    speed: str = "max"  # "max" or "1x"
    batch: int = DEFAULT_BATCH  # events per batch, at most
    window_us: int = DEFAULT_WINDOW_US  # feed time one batch may span
    fee_per_share: float = 0.0  # dollars
    collar_bps: int = DEFAULT_COLLAR_BPS
    settle_timeout_s: float = 5.0  # per wait for the venue's answers
    max_gap_s: float = MAX_GAP_S  # --speed 1x: the longest sleep for a gap in the feed


# --- input -------------------------------------------------------------------------------

def load_specs(paths: Sequence[Path]) -> list[StrategySpec]:
    """Every spec, validated; ReplayError (code 2) lists every problem with its field path."""
    specs: list[StrategySpec] = []
    problems: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as error:
            problems.append(f"{path}: cannot read: {error.strerror or error}")
            continue
        try:
            specs.append(parse_spec(text))
        except SpecError as error:
            problems += [f"{path}: {violation}" for violation in error.violations]
    names = [spec.name for spec in specs]
    problems += [f"metadata.name: {name!r} is used by more than one spec"
                 for name in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise ReplayError("invalid strategy spec:\n  " + "\n  ".join(problems))
    if not specs:
        raise ReplayError("no strategy spec given (--strategy SPEC.yaml)")
    return specs


@dataclass
class Feed:
    path: Path
    format: str
    events: np.ndarray  # BookEvents, every decodable message in file order
    symbols: dict[int, str]  # stock locate -> symbol (directory first, then adds)
    notes: list[str]
    faults: int


def load_feed(path: Path) -> Feed:
    """Decode a feed file; ReplayError (code 2) for one that is missing or unreadable."""
    try:
        feed_file = open_feed(path)
        decoded = fast.decode(feed_file)
    except (FeedFormatError, OSError) as error:
        raise ReplayError(f"cannot read the feed: {error}") from None
    events = decoded.events
    if not len(events):
        raise ReplayError(f"{path}: no ITCH 5.0 message could be decoded")
    symbols: dict[int, str] = {}
    for kinds in ((b"R",), (b"A", b"F")):  # the directory wins over what the adds say
        named = events[np.isin(events["msg_type"], kinds)]
        for locate, stock in zip(named["stock_locate"].tolist(), named["stock"].tolist(),
                                 strict=True):
            name = stock.rstrip(b" \x00").decode("ascii", "replace")
            if name and locate not in symbols:
                symbols[locate] = name
    return Feed(Path(path), feed_file.format, events, symbols, feed_file.notes(),
                decoded.fault_total)


def check_instruments(specs: Sequence[StrategySpec], feed: Feed) -> dict[str, int]:
    """symbol -> stock locate; ReplayError (2) naming any instrument the file lacks."""
    locates: dict[str, int] = {}
    for locate, name in sorted(feed.symbols.items()):
        locates.setdefault(name, locate)
    missing = [(spec.name, s) for spec in specs for s in spec.instruments if s not in locates]
    if missing:
        have = sorted(locates)
        shown = ", ".join(have[:12]) + (f", ... ({len(have)} in all)" if len(have) > 12 else "")
        lines = [f"strategy {name}: instrument {symbol} is not in {feed.path}"
                 for name, symbol in missing]
        raise ReplayError("\n".join(lines) + f"\n  symbols in the file: {shown or 'none'}")
    return locates


def batch_bounds(timestamps: np.ndarray, batch: int, window_ns: int) -> np.ndarray:
    """Start index of every batch, and the end: at most ``batch`` events, all within
    ``window_ns`` of the first one's timestamp (count only if time runs backwards)."""
    n = len(timestamps)
    stamps = timestamps.astype(np.int64)
    monotonic = bool(np.all(np.diff(stamps) >= 0)) if n > 1 else True
    bounds = [0]
    start = 0
    while start < n:
        end = min(start + batch, n)
        if monotonic and window_ns > 0:
            end = min(end, int(np.searchsorted(stamps, stamps[start] + window_ns, "right")))
        end = max(end, start + 1)
        bounds.append(end)
        start = end
    return np.array(bounds, np.int64)


def opening_prices(events: np.ndarray, locates: Mapping[str, int]) -> dict[str, int]:
    """Median limit price of each symbol's first adds: the risk collar's reference."""
    adds = events[np.isin(events["msg_type"], (b"A", b"F"))]
    out: dict[str, int] = {}
    for name, locate in locates.items():
        prices = adds["price"][adds["stock_locate"] == locate][:_OPENING_ADDS]
        prices = prices[prices > 0]
        if len(prices):
            out[name] = int(np.median(prices))
    return out


def risk_limits(specs: Sequence[StrategySpec], locates: Mapping[str, int],
                opening: Mapping[str, int], collar_bps: int) -> Limits:
    """Account limits from each spec (``account_limits``); per traded instrument a
    collar around the opening price and generous but real size limits."""
    instruments: dict[int, dict[str, int | bool]] = {}
    for symbol in sorted({s for spec in specs for s in spec.instruments}):
        reference = opening.get(symbol, 1_000_000)
        max_qty = 100_000
        instruments[locates[symbol]] = {
            "reference_price": reference, "collar_bps": collar_bps, "max_qty": max_qty,
            "max_notional": max_qty * reference * 2, "max_long": 1_000_000,
            "max_short": 1_000_000, "restricted": False, "halted": False}
    accounts: dict[int, dict[str, int | bool]] = {}
    for spec in specs:
        limits = spec.account_limits()
        entry = accounts.setdefault(spec.account, {"credit_limit": 0, "rate_per_s": 0,
                                                   "burst": 0, "halted": False,
                                                   "reduce_only": False})
        entry["credit_limit"] = min(int(entry["credit_limit"]) + limits["credit_limit"],
                                    (1 << 64) - 1)  # strategies sharing an account add up
        entry["rate_per_s"] = max(int(entry["rate_per_s"]), limits["rate_per_s"])
        entry["burst"] = max(int(entry["burst"]), limits["burst"])
    return Limits(False, instruments, accounts)


def _table_size(largest: int, least: int) -> int:
    return max(least, 1 << max(largest, 1).bit_length())


# --- the lockstep router and risk pipeline ---------------------------------------------------

class _DeferredRisk:
    """The risk pipeline as the replay drives it: orders are checked at once, on the
    replay's thread; the fills and cancels the router's session threads report are
    queued and applied at the next settle point (:meth:`flush`). So every check sees
    the answers of earlier batches, never a timing-dependent part of the current
    one's, and the pipeline is only ever touched by one thread."""

    def __init__(self, engine: RiskEngine) -> None:
        self.engine = engine
        self._updates: deque[np.ndarray] = deque()

    @property
    def regmap(self) -> RegisterMap:
        return self.engine.regmap

    def read_register(self, name: str) -> int:
        return self.engine.read_register(name)

    def write_register(self, name: str, value: int) -> None:
        self.engine.write_register(name, value)

    def submit(self, orders: np.ndarray) -> np.ndarray:
        return self.engine.submit(orders)

    def apply_updates(self, updates: np.ndarray) -> None:
        self._updates.append(updates.copy())

    def flush(self) -> None:
        while self._updates:
            self.engine.apply_updates(self._updates.popleft())

    def counters(self) -> dict[str, int]:
        return self.engine.counters()


class _LockstepRouter(OrderRouter):
    """An OrderRouter that says how far it has handled each account's sequenced messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.handled: dict[int, int] = {}
        self.answered = threading.Condition()
        self.serial_wait: Callable[[], None] | None = None
        super().__init__(*args, **kwargs)

    def on_venue_message(self, account: int, sequence: int, payload: bytes) -> None:
        super().on_venue_message(account, sequence, payload)
        with self.answered:
            self.handled[account] = sequence
            self.answered.notify_all()

    def submit(self, intent: Intent) -> list[Outcome]:
        outcomes = super().submit(intent)
        if self.serial_wait is not None:
            self.serial_wait()  # several accounts: the venue reads each intent in turn
        return outcomes


# --- statistics ----------------------------------------------------------------------------

@dataclass
class _Book:
    """What one strategy sent and got back."""

    recorder: RunRecorder
    fills: list[OrderFilled] = field(default_factory=list)
    cancels: Counter[str] = field(default_factory=Counter)  # reason -> OrderCanceled
    rejects: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    liquidity: Counter[str] = field(default_factory=Counter)
    end_cancels: int = 0


def _money(value: float) -> float:
    return round(value, 6)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


# --- the replay ----------------------------------------------------------------------------

Progress = Callable[[int, int, float], None]


class Replay:
    """Build with a config (inputs are checked here), then :meth:`run` once."""

    def __init__(self, config: ReplayConfig) -> None:
        if config.speed not in SPEEDS:
            raise ReplayError(f"--speed: {config.speed!r} is not one of {', '.join(SPEEDS)}")
        self.config = config
        self.specs = load_specs(config.specs)
        self.feed = load_feed(config.feed)
        self.locates = check_instruments(self.specs, self.feed)
        self.now = int(self.feed.events["timestamp"][0])  # feed time, ns since midnight
        self.settle_timeouts = 0
        self.capped_gaps = 0
        self.skipped_s = 0.0
        self._lock = threading.Lock()
        self._books: dict[str, _Book] = {}
        self._locate_of: dict[tuple[int, int], int] = {}  # (account, client order id)

    def clock(self) -> int:
        return self.now

    # --- assembly --------------------------------------------------------------------------

    def _start(self) -> None:
        specs, feed = self.specs, self.feed
        self.venue = VenueServer(symbols=sorted(self.locates))
        accounts = sorted({spec.account for spec in specs})
        sizes = {"instruments": _table_size(max(feed.symbols), 1024),
                 "accounts": _table_size(max(accounts), 64)}
        self.risk = _DeferredRisk(open_device("software", **sizes).risk_engine())
        opening = opening_prices(feed.events, self.locates)
        apply_limits(self.risk, risk_limits(specs, self.locates, opening,
                                            self.config.collar_bps))
        self.users = {account: f"RP{account:04d}" for account in accounts}
        self.router = _LockstepRouter(
            self.risk, self.venue.address,
            {a: Credentials(user, "replay") for a, user in self.users.items()},
            heartbeat_s=1.0, timeout_s=max(self.config.settle_timeout_s, 3.0),
            clock=self.clock)
        if len(accounts) > 1:
            self.router.serial_wait = self._wait_venue_read
        self.books = BookSet()
        self.engine = TradingEngine(self.books, self.router, locates=self.locates,
                                    clock=self.clock)
        self.engine.ledger.fee_per_share = self.config.fee_per_share
        self.engine.intent_sinks.append(self._on_intent)
        self.engine.outcome_sinks.append(self._on_outcome)
        self.engine.breach_sinks.append(self._on_breach)
        for spec in specs:
            capital = float(notional(spec.spec["maxPositionSize"]))
            self._books[spec.name] = _Book(RunRecorder(capital))
            self.engine.add(spec)
        self.router.start()

    def _close(self) -> None:
        for part in ("router", "venue"):
            closer = getattr(self, part, None)
            if closer is not None:
                closer.close()

    # --- settling ----------------------------------------------------------------------------

    def _venue_read(self) -> int:
        counters = self.venue.counters
        return (counters["orders"] + counters["replaces"] + counters["cancels"]
                + counters["swallowed"])

    def _sent(self) -> int:
        counters = self.router.counters
        return counters["sent"] + counters["cancels_sent"]

    def _settled(self) -> bool:
        if self._venue_read() < self._sent():
            return False
        handled = self.router.handled
        return all(handled.get(account, 0) >= self.venue.sequence(user)
                   for account, user in self.users.items())

    def settle(self) -> bool:
        """Wait (bounded) until every message each side sent has been handled."""
        router = self.router
        deadline = time.monotonic() + self.config.settle_timeout_s
        settled = True
        with router.answered:
            while not self._settled():
                left = deadline - time.monotonic()
                if left <= 0:
                    self.settle_timeouts += 1
                    settled = False
                    break
                router.answered.wait(min(left, 0.002))  # a Cancel may get no answer
        self.risk.flush()
        return settled

    def _wait_venue_read(self) -> None:
        deadline = time.monotonic() + self.config.settle_timeout_s
        while self._venue_read() < self._sent():
            if time.monotonic() > deadline:
                self.settle_timeouts += 1
                return
            time.sleep(20e-6)

    # --- sinks -------------------------------------------------------------------------------

    def _on_intent(self, intent: Intent) -> None:
        book = self._books.get(intent.strategy)
        if book is None:
            return
        mid: float | None = None
        if isinstance(intent, NewOrder | ReplaceOrder):
            if isinstance(intent, NewOrder):
                locate = intent.locate
                self._locate_of[intent.account, intent.client_order_id] = locate
            else:
                locate = self._locate_of.get((intent.account, intent.client_order_id), -1)
                self._locate_of[intent.account, intent.new_client_order_id] = locate
            if locate in self.books.books:
                mid = book_top(self.books.book(locate)).mid
        with self._lock:
            book.recorder.on_intent(intent, mid)

    def _on_outcome(self, outcome: Outcome) -> None:
        book = self._books.get(outcome.strategy)
        if book is None:
            return
        with self._lock:
            book.recorder.on_outcome(outcome)
            if isinstance(outcome, OrderFilled):
                book.fills.append(outcome)
                book.liquidity[str(outcome.liquidity)] += 1
            elif isinstance(outcome, OrderCanceled):
                book.cancels[outcome.reason] += 1
            elif isinstance(outcome, OrderRejected):
                book.rejects[str(outcome.source)][outcome.reason] += 1

    def _on_breach(self, breach: Breach) -> None:
        # as the control plane does with a breach: the whole account is halted, in the
        # engine (its other strategies too) and on the risk pipeline
        limits = risk_limits(self.specs, self.locates, {}, self.config.collar_bps)
        entry = dict(limits.accounts[breach.account], halted=True)
        apply_limits(self.risk, Limits(False, {}, {breach.account: entry}))
        self.engine.halt(account=breach.account)

    def _sample(self) -> None:
        ledger = self.engine.ledger
        for name, book in self._books.items():
            book.recorder.on_equity(self.now, ledger.equity_of(name))

    # --- running -----------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        try:
            try:
                self._start()
            except (OSError, ConnectionError) as error:
                raise ReplayError(f"the venue or the order router would not start: {error}",
                                  1) from None
            except (DeviceError, LimitsError) as error:
                raise ReplayError(f"the risk pipeline would not start: {error}", 1) from None
            except StrategyConfigError as error:
                raise ReplayError(f"invalid strategy spec: {error}") from None
            return self._run(progress)
        finally:
            self._close()

    def _run(self, progress: Progress | None) -> dict[str, Any]:
        config, events = self.config, self.feed.events
        bounds = batch_bounds(events["timestamp"], config.batch, config.window_us * 1_000)
        # the venue's flow skips what the books skip as seen already
        fresh = (events["flags"] & int(EventFlags.DUPLICATE)) == 0
        flow_at = np.concatenate(([0], np.cumsum(fresh)))[bounds]
        self.venue.follow_stepped(events[fresh], dict(self.feed.symbols))
        stamps = events["timestamp"]
        started = time.perf_counter()
        wall0, feed0 = time.monotonic(), int(stamps[0])
        previous = feed0
        last_report = started
        total = len(events)
        for k in range(len(bounds) - 1):
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            first = int(stamps[lo])
            if config.speed == "1x":
                gap = (first - previous) / _NS
                if gap > config.max_gap_s:
                    self.capped_gaps += 1
                    self.skipped_s += gap - config.max_gap_s
                    feed0 += int((gap - config.max_gap_s) * _NS)
                delay = wall0 + (first - feed0) / _NS - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            previous = first
            self.now = int(stamps[hi - 1])
            batch = events[lo:hi]
            if self.venue.step_flow(int(flow_at[k + 1] - flow_at[k])):
                self.settle()  # our quotes were hit: the fills arrive before the book moves
            self.books.apply(batch)
            self.engine.on_book_events(batch)
            self.settle()
            self._sample()
            if progress is not None and time.perf_counter() - last_report >= _PROGRESS_S:
                last_report = time.perf_counter()
                progress(hi, total, last_report - started)
        before = {name: book.recorder.cancels for name, book in self._books.items()}
        self.engine.halt()  # the end: every strategy cancels what it has open
        self.settle()
        for name, book in self._books.items():
            book.end_cancels = book.recorder.cancels - before[name]
        self.engine.tick()
        self._sample()
        elapsed = time.perf_counter() - started
        if progress is not None:
            progress(total, total, elapsed)
        return self.summary(len(bounds) - 1, elapsed)

    # --- results -----------------------------------------------------------------------------

    def summary(self, batches: int, elapsed: float) -> dict[str, Any]:
        feed, engine = self.feed, self.engine
        ledger = engine.ledger
        names = {locate: name for name, locate in self.locates.items()}
        stamps = feed.events["timestamp"]
        strategies = []
        totals = dict.fromkeys(("total", "realized", "unrealized", "fees"), 0.0)
        for spec in self.specs:
            book = self._books[spec.name]
            stats = book.recorder.stats()
            positions = []
            realized = unrealized = fees = 0.0
            for (strategy, locate), position in sorted(ledger.strategies.items()):
                if strategy != spec.name:
                    continue
                mark = ledger.marks.get(locate, position.average_price)
                gain = position.unrealized(mark)
                realized += position.realized
                unrealized += gain
                fees += position.fees
                positions.append({
                    "symbol": names.get(locate, str(locate)), "shares": position.quantity,
                    "bought": position.bought, "sold": position.sold,
                    "average_price": (None if position.average_price is None
                                      else round(position.average_price / PRICE_SCALE, 6)),
                    "mark": None if mark is None else round(mark / PRICE_SCALE, 6),
                    "realized": _money(position.realized), "unrealized": _money(gain),
                    "fees": _money(position.fees)})
            pnl = {"total": _money(realized + unrealized - fees), "realized": _money(realized),
                   "unrealized": _money(unrealized), "fees": _money(fees)}
            for key in totals:
                totals[key] += pnl[key]
            strategy_rejects = {source: dict(sorted(reasons.items()))
                                for source, reasons in sorted(book.rejects.items())}
            strategies.append({
                "name": spec.name, "type": spec.spec["type"], "account": spec.account,
                "instruments": spec.instruments,
                "capital": book.recorder.capital,
                "pnl": pnl,
                "sharpe": _finite(stats.sharpe),
                "max_drawdown": _money(stats.max_drawdown),
                "fill_rate": _finite(stats.fill_rate),
                "slippage_bps": _finite(stats.slippage_bps),
                "unmatched_fills": book.recorder.unmatched_fills,
                "orders": {"new": stats.orders, "replaces": stats.replaces,
                           "cancel_requests": stats.cancels,
                           "end_of_replay_cancel_requests": book.end_cancels,
                           "sent_shares": stats.sent_quantity},
                "fills": {"count": stats.fills, "shares": stats.filled_quantity,
                          **{f"liquidity_{k}": v for k, v in sorted(book.liquidity.items())}},
                "cancels": dict(sorted(book.cancels.items())),
                "rejects": {"count": stats.rejects, "by_source": strategy_rejects},
                "positions": positions,
                "breaches": [{"rule": b.rule, "loss": _money(b.value),
                              "limit": _money(b.limit), "timestamp_ns": b.timestamp_ns,
                              "text": str(b)}
                             for b in engine.breaches if b.strategy == spec.name],
                "equity_samples": len(book.recorder.equity),
            })
        fills = [{"strategy": f.strategy, "account": f.account, "symbol": f.symbol,
                  "side": Side(f.side).name.lower(), "quantity": f.quantity,
                  "price": f.price, "match_number": f.match_number,
                  "liquidity": str(f.liquidity), "client_order_id": f.client_order_id,
                  "timestamp_ns": f.timestamp_ns}
                 for book in self._books.values() for f in book.fills]
        return {
            "file": str(feed.path), "format": feed.format, "messages": len(feed.events),
            "faults": feed.faults,
            "speed": self.config.speed, "batch": self.config.batch,
            "window_us": self.config.window_us, "batches": batches,
            "elapsed_s": round(elapsed, 3),
            "messages_per_s": round(len(feed.events) / elapsed, 1) if elapsed > 0 else None,
            "feed_time": {"first_ns": int(stamps[0]), "last_ns": int(stamps[-1]),
                          "span_s": round((int(stamps[-1]) - int(stamps[0])) / _NS, 6)},
            "gaps_capped": self.capped_gaps, "gap_time_skipped_s": round(self.skipped_s, 3),
            "pnl": {k: _money(v) for k, v in totals.items()},
            "strategies": strategies,
            "marks": {names.get(locate, str(locate)): round(mid / PRICE_SCALE, 6)
                      for locate, mid in sorted(ledger.marks.items())},
            "fills": fills,
            "engine": dict(sorted(engine.counters.items())),
            "router": dict(sorted(self.router.counters.items())),
            "venue": {k: v for k, v in sorted(self.venue.counters.items())
                      if k not in ("connections", "logins")},
            "risk": {k: v for k, v in sorted(self.risk.counters().items()) if v},
            "settle_timeouts": self.settle_timeouts,
            "notes": feed.notes,
        }


def replay(config: ReplayConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run one replay; returns the summary (ReplayError for bad input or a failure)."""
    return Replay(config).run(progress)
