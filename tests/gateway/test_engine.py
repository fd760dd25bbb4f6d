"""The trading engine with its real parts: books -> strategies -> router -> venue, and back.

Every test builds a venue on 127.0.0.1 (sim/venue), a router through the software risk
engine with limits loaded, a BookSet fed BookEvent rows, and specs parsed from YAML;
nothing is mocked. Outcomes arrive on the router's session threads, so a test waits for
them with bounded polling (``wait_for``), never a fixed sleep.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import numpy as np
import pytest
import yaml

from nanogate.control.spec import StrategySpec, parse_spec
from nanogate.gateway.book import BookSet
from nanogate.gateway.device import open_device
from nanogate.gateway.engine import TradingEngine
from nanogate.gateway.net.runner import AppliedBatch
from nanogate.gateway.orders.router import Credentials, OrderRouter
from nanogate.gateway.risk.limits import apply_limits, parse_limits
from nanogate.gateway.strategies.base import Strategy
from nanogate.gateway.strategies.guard import Breach
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.telemetry import Telemetry
from nanogate.gateway.trading import (
    CancelOrder,
    Intent,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Outcome,
    RejectSource,
    ReplaceOrder,
    Side,
)
from nanogate.proto.records import BOOK_EVENT_DTYPE
from nanogate.sim.venue.seed import SeedOrder
from nanogate.sim.venue.server import VenueServer

from .orders.helpers import USERS, wait_for

AAPL, MSFT = 1, 2
SYMBOLS = {"AAPL": AAPL, "MSFT": MSFT}
BID, ASK = 999_000, 1_001_000  # the feed's first top: $99.90 / $100.10, mid $100.00


def moved(k: int) -> tuple[int, int]:
    """The feed's top after ``k`` steps up of 4 bps: more than requote_bps (2), less than
    the quotes' spread, so a strategy's bid never moves through its own resting ask."""
    return BID + 400 * k, ASK + 400 * k


# The venue's own resting liquidity, far from any quote a test makes.
SEED = [SeedOrder(symbol, is_buy, price, 500) for symbol in SYMBOLS
        for is_buy, price in ((True, 990_000), (False, 1_010_000))]
LIMITS = """
instruments:
  - {stock_locate: default, reference_price: 1000000, collar_bps: 1000, max_qty: 10000,
     max_notional: 10000000000000, max_long: 100000, max_short: 100000, restricted: false,
     halted: false}
accounts:
  - {account: 7, credit_limit: 1000000000000000, rate_per_s: 100000, burst: 10000,
     halted: false, reduce_only: false}
  - {account: 8, credit_limit: 1000000000000000, rate_per_s: 100000, burst: 10000,
     halted: false, reduce_only: false}
"""


def spec(name: str = "mm7", account: int = 7, instruments: tuple[str, ...] = ("AAPL",),
         params: dict[str, Any] | None = None, kind: str = "market-making",
         risk_limit: str = "0.5%", capital: str = "10M") -> StrategySpec:
    """A spec through the control plane's parser, written as an examples/ file would be."""
    return parse_spec(f"""
apiVersion: nanogate/v1
kind: Strategy
metadata: {{name: {name}}}
spec:
  type: {kind}
  account: {account}
  instruments: {json.dumps(list(instruments))}
  riskLimit: "{risk_limit}"
  maxPositionSize: "{capital}"
  frequency: ultra-high
  riskControls:
    stopLoss: {{enabled: false}}
  params: {json.dumps(params or {})}
""")


def unchecked(document: StrategySpec, **changes: Any) -> StrategySpec:
    """A spec the schema would refuse (as a stored document might be): the engine's check."""
    raw = copy.deepcopy(document.document)
    raw["spec"].update(changes)
    return StrategySpec(document.name, raw)


class Feed:
    """The gateway's side: BookEvent rows applied to the books, then handed to the engine."""

    def __init__(self, books: BookSet) -> None:
        self.books = books
        self._ref = 0
        self._live: dict[int, list[int]] = {}  # locate -> refs of the feed's resting orders
        self._seq = 0

    def _rows(self, n: int) -> np.ndarray:
        rows = np.zeros(n, BOOK_EVENT_DTYPE)
        rows["seq"] = np.arange(self._seq + 1, self._seq + 1 + n)
        self._seq += n
        return rows

    def directory(self, locate: int, symbol: str) -> np.ndarray:
        """An R message: the symbol is listed, no order (and so no book) yet."""
        rows = self._rows(1)
        rows["msg_type"], rows["stock_locate"] = b"R", locate
        rows["stock"] = symbol.ljust(8).encode()
        self.books.apply(rows)
        return rows

    def add(self, locate: int, side: bytes, price: int, shares: int = 500) -> np.ndarray:
        self._ref += 1
        rows = self._rows(1)
        rows["msg_type"], rows["stock_locate"], rows["side"] = b"A", locate, side
        rows["order_ref"], rows["shares"], rows["price"] = self._ref, shares, price
        rows["stock"] = {v: k for k, v in SYMBOLS.items()}[locate].ljust(8).encode()
        self._live.setdefault(locate, []).append(self._ref)
        self.books.apply(rows)
        return rows

    def top(self, locate: int, bid: int | None, ask: int | None) -> np.ndarray:
        """Replace the instrument's book with one bid and one ask (None: that side empty)."""
        old = self._live.pop(locate, [])
        deletes = self._rows(len(old))
        deletes["msg_type"], deletes["stock_locate"], deletes["order_ref"] = b"D", locate, old
        self.books.apply(deletes)
        parts = [deletes]
        if bid is not None:
            parts.append(self.add(locate, b"B", bid))
        if ask is not None:
            parts.append(self.add(locate, b"S", ask))
        return np.concatenate(parts)


def batch(events: np.ndarray, rx_ns: int = 0) -> AppliedBatch:
    return AppliedBatch(events, np.unique(events["stock_locate"]), "TEST", int(events["seq"][0]),
                        int(events["seq"][-1]) + 1, rx_ns or time.time_ns())


class Rig:
    """Venue, risk, router, books and engine, wired as nanogate/live.py wires them."""

    def __init__(self, stack: ExitStack, seed: list[SeedOrder], check_interval_ns: int) -> None:
        self.venue = stack.enter_context(VenueServer(seed, users=USERS, heartbeat_s=0.1,
                                                     idle_timeout_s=2.0))
        self.risk = open_device("software", instruments=64, accounts=16).risk_engine()
        apply_limits(self.risk, parse_limits(yaml.safe_load(LIMITS)))
        self.router = OrderRouter(self.risk, self.venue.address,
                                  {7: Credentials("U7", "pw7"), 8: Credentials("U8", "pw8")},
                                  heartbeat_s=0.1, timeout_s=1.0)
        stack.callback(self.router.close)
        self.books = BookSet()
        self.feed = Feed(self.books)
        self.engine = TradingEngine(self.books, self.router, Telemetry(), locates=SYMBOLS,
                                    check_interval_ns=check_interval_ns)
        self.intents: list[Intent] = []
        self.outcomes: list[Outcome] = []  # what the engine's outcome sinks saw
        self.engine.intent_sinks.append(self.intents.append)
        self.engine.outcome_sinks.append(self.outcomes.append)
        self.router.start(wait_s=3)

    def top(self, locate: int, bid: int | None, ask: int | None) -> None:
        self.engine.on_book_events(self.feed.top(locate, bid, ask))

    def open(self, account: int) -> dict[int, int]:
        """Client order id -> open shares of the account's orders, as the router has them."""
        return {coid: n for (_, coid), n in self.router.open_orders(account).items()}

    def settled(self) -> bool:
        """Every strategy order answered by the venue: no new order, replace or cancel of a
        strategy is still on its way."""
        with self.engine._lock:  # the session threads change the strategies' orders
            return all(not o.busy for s in self.engine.strategies.values()
                       for o in s.orders.values())

    def wait_quotes(self, name: str, n: int = 2) -> dict[int, int]:
        """Wait until strategy ``name`` has ``n`` acknowledged orders, open at the router."""
        strategy = self.engine.strategies[name]
        wait_for(lambda: self.settled() and len(strategy.orders) == n
                 and set(strategy.orders) <= set(self.open(strategy.account)))
        return {coid: o.open for coid, o in strategy.orders.items()}

    def sent(self, account: int, kind: type = NewOrder) -> list[Intent]:
        return [i for i in self.intents if isinstance(i, kind) and i.account == account]

    def of(self, kind: type) -> list[Outcome]:
        return [o for o in self.outcomes if isinstance(o, kind)]


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    with ExitStack() as stack:
        # guards run on the first book batch, then only on tick(), unless a test asks for
        # the data path's cadence
        def make(seed: list[SeedOrder] = SEED, check_interval_ns: int = 10**18) -> Rig:
            return Rig(stack, seed, check_interval_ns)
        yield make


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()


def sides(strategy: Strategy, locate: int = AAPL) -> dict[Side, tuple[int, int]]:
    """Side -> (price, open shares) of the strategy's orders in one instrument."""
    return {o.side: (o.price, o.open) for o in strategy.orders.values() if o.locate == locate}


# --- quoting ---------------------------------------------------------------------------------


def test_market_maker_quotes_both_sides_once_the_book_is_two_sided(rig: Rig) -> None:
    mm = rig.engine.add(spec())
    rig.top(AAPL, BID, None)  # one-sided: no mid, no quote
    assert rig.intents == [] and rig.venue.counters["orders"] == 0
    rig.top(AAPL, BID, ASK)
    quotes = rig.wait_quotes("mm7")
    assert quotes == dict.fromkeys(quotes, 100)  # quote_size on each side
    (bid, _), (ask, _) = sides(mm)[Side.BUY], sides(mm)[Side.SELL]
    assert BID < bid < 1_000_000 < ask < ASK  # around the mid, inside the feed's spread
    assert rig.open(7) == quotes
    assert rig.venue.counters["orders"] == 2
    book = rig.venue.engine.book("AAPL")  # our quotes are the venue's best prices now
    assert (book.best_bid(), book.best_ask()) == (bid, ask)
    assert rig.engine.counters["orders"] == 2
    wait_for(lambda: [type(o) for o in rig.outcomes] == [OrderAccepted, OrderAccepted])


def test_fills_reach_the_ledger_and_the_strategy(make_rig: Callable[..., Rig]) -> None:
    # a resting sell under our bid: the bid takes 50 of it at $99.50 (liquidity removed)
    rig = make_rig([*SEED, SeedOrder("AAPL", False, 995_000, 50)])
    mm = rig.engine.add(spec())
    rig.top(AAPL, BID, ASK)
    wait_for(lambda: len(rig.of(OrderFilled)) == 1)
    (fill,) = rig.of(OrderFilled)
    assert isinstance(fill, OrderFilled)
    assert (fill.account, fill.side, fill.quantity, fill.price, fill.liquidity) == (
        7, Side.BUY, 50, 995_000, Liquidity.REMOVED)
    wait_for(lambda: mm.positions[AAPL] == 50)
    assert rig.engine.ledger.position(7, AAPL).quantity == 50
    assert rig.engine.ledger.strategy_position("mm7", AAPL).quantity == 50
    # marked to the feed's mid ($100.00): 50 x $0.50 unrealized
    assert rig.engine.ledger.equity_of("mm7") == pytest.approx(25.0)
    ((account, locate, shares, realized, unrealized),) = rig.engine.positions()
    assert (account, locate, shares, realized) == (7, AAPL, 50, 0.0)
    assert unrealized == pytest.approx(25.0)
    assert rig.engine.counters["fills"] == 1

    # another account sells into our resting bid: a passive fill (liquidity added)
    rig.wait_quotes("mm7")
    bid_price, bid_open = sides(mm)[Side.BUY]
    assert bid_open == 50
    rig.router.submit(NewOrder(1, 8, AAPL, "AAPL", Side.SELL, 30, bid_price))
    wait_for(lambda: mm.positions[AAPL] == 80)
    ours = [f for f in rig.of(OrderFilled) if isinstance(f, OrderFilled) and f.account == 7]
    assert ours[-1].liquidity is Liquidity.ADDED and ours[-1].price == bid_price
    wait_for(lambda: rig.engine.counters["fills"] == 3)  # ours twice, account 8's once
    assert rig.engine.ledger.position(7, AAPL).quantity == 80
    assert rig.engine.ledger.position(8, AAPL).quantity == -30
    assert [(a, n, q) for a, n, q, _, _ in rig.engine.positions()] == [(7, AAPL, 80),
                                                                      (8, AAPL, -30)]
    assert rig.engine.counters["outcomes_unowned"] >= 1  # account 8's order has no strategy


# --- halts -------------------------------------------------------------------------------------


def test_halt_of_an_account_cancels_its_orders_and_others_keep_trading(rig: Rig) -> None:
    rig.engine.add(spec("mm7", 7))
    rig.engine.add(spec("mm8", 8))
    rig.top(AAPL, BID, ASK)
    rig.wait_quotes("mm7")
    rig.wait_quotes("mm8")
    before8 = rig.open(8)

    rig.engine.halt(7)
    wait_for(lambda: rig.open(7) == {} and len(rig.of(OrderCanceled)) == 2)
    assert rig.open(8) == before8
    assert rig.engine.strategies["mm7"].halted and not rig.engine.strategies["mm8"].halted
    late = rig.engine.add(spec("late7", 7))  # a strategy started in a halted account
    assert late.halted

    sent7 = len(rig.sent(7, NewOrder)) + len(rig.sent(7, ReplaceOrder))
    rig.top(AAPL, *moved(1))  # the mid moves: mm8 moves its quotes
    wait_for(lambda: len(rig.sent(8, ReplaceOrder)) == 2)
    rig.wait_quotes("mm8")
    assert rig.open(8).keys().isdisjoint(before8)
    assert len(rig.sent(7, NewOrder)) + len(rig.sent(7, ReplaceOrder)) == sent7
    assert rig.open(7) == {}

    rig.engine.resume(7)
    # an order behind the best bid: the top is the one the engine last decided on, but
    # the resumed strategies have not decided on it
    rig.engine.on_book_events(rig.feed.add(AAPL, b"B", BID - 1_000))
    rig.wait_quotes("mm7")
    rig.wait_quotes("late7")
    assert len(rig.open(7)) == 4


def test_global_halt_and_resume(rig: Rig) -> None:
    rig.engine.add(spec("mm7", 7))
    rig.engine.add(spec("mm8", 8))
    rig.top(AAPL, BID, ASK)
    rig.wait_quotes("mm7")
    rig.wait_quotes("mm8")
    rig.engine.halt()
    wait_for(lambda: rig.router.open_orders() == {})
    rig.engine.resume(8)  # the whole gateway is still halted
    count = len(rig.intents)
    rig.top(AAPL, *moved(1))
    assert len(rig.intents) == count
    rig.engine.resume()
    rig.top(AAPL, *moved(2))
    rig.wait_quotes("mm7")
    rig.wait_quotes("mm8")


def test_halt_of_an_instrument_cancels_only_its_orders(rig: Rig) -> None:
    mm = rig.engine.add(spec("mm7", 7, ("AAPL", "MSFT")))
    rig.engine.add(spec("mm8", 8))
    rig.top(AAPL, BID, ASK)
    rig.top(MSFT, BID, ASK)
    rig.wait_quotes("mm7", 4)
    rig.wait_quotes("mm8")
    msft = {coid for coid, o in mm.orders.items() if o.locate == MSFT}

    rig.engine.halt(locate=AAPL)
    wait_for(lambda: rig.open(8) == {} and set(rig.open(7)) == msft)
    assert not mm.halted  # the strategy trades its other instrument on
    count = len(rig.intents)
    rig.top(AAPL, *moved(1))  # nothing for the halted instrument
    assert len(rig.intents) == count
    rig.top(MSFT, *moved(1))
    wait_for(lambda: len(rig.sent(7, ReplaceOrder)) == 2)
    rig.wait_quotes("mm7", 2)

    rig.engine.resume(locate=AAPL)
    rig.top(AAPL, *moved(2))
    rig.wait_quotes("mm7", 4)
    rig.wait_quotes("mm8")


def test_cancel_orders_cancels_exactly_the_matching_ones(rig: Rig) -> None:
    mm7 = rig.engine.add(spec("mm7", 7, ("AAPL", "MSFT")))
    mm8 = rig.engine.add(spec("mm8", 8))
    rig.top(AAPL, BID, ASK)
    rig.top(MSFT, BID, ASK)
    rig.wait_quotes("mm7", 4)
    rig.wait_quotes("mm8")

    def ids(strategy: Strategy, locate: int | None, side: Side | None) -> list[int]:
        return [c for c, o in strategy.orders.items()
                if (locate is None or o.locate == locate) and (side is None or o.side == side)]

    aapl_bid = ids(mm7, AAPL, Side.BUY)
    assert len(aapl_bid) == 1
    assert rig.engine.cancel_orders(7, AAPL, Side.BUY, "test") == aapl_bid
    wait_for(lambda: aapl_bid[0] not in rig.open(7) and len(rig.of(OrderCanceled)) == 1)
    assert len(rig.open(7)) == 3 and len(rig.open(8)) == 2
    (canceled,) = rig.of(OrderCanceled)
    assert isinstance(canceled, OrderCanceled) and canceled.client_order_id == aapl_bid[0]

    asks = ids(mm7, None, Side.SELL) + ids(mm8, None, Side.SELL)
    assert sorted(rig.engine.cancel_orders(None, None, Side.SELL, "test")) == sorted(asks)
    wait_for(lambda: rig.settled() and not set(asks) & (set(rig.open(7)) | set(rig.open(8))))
    assert set(rig.open(7)) == set(ids(mm7, MSFT, Side.BUY))
    assert set(rig.open(8)) == set(ids(mm8, AAPL, Side.BUY))
    assert rig.engine.cancel_orders(8, MSFT, None, "test") == []  # nothing matches
    assert rig.engine.counters["mass_cancelled"] == 1 + len(asks)


def test_a_halt_reaches_quotes_whose_replace_is_in_flight(rig: Rig) -> None:
    mm = rig.engine.add(spec("mm7", 7))
    rig.top(AAPL, BID, ASK)
    rig.wait_quotes("mm7")
    # While the venue's lock is held it answers nothing: the replaces stay in flight, and
    # the router does not know their new ids yet when the cancels come.
    with rig.venue._lock:
        rig.top(AAPL, *moved(1))
        pending = {o.side: c for c, o in mm.orders.items() if o.replaces}
        assert len(pending) == 2
        assert rig.engine.cancel_orders(7, AAPL, Side.BUY, "test") == [pending[Side.BUY]]
        rig.engine.halt(7)
    wait_for(lambda: rig.open(7) == {} and rig.settled() and not mm.orders)
    book = rig.venue.engine.book("AAPL")  # only the venue's own liquidity is left
    assert (book.best_bid(), book.best_ask()) == (990_000, 1_010_000)
    assert {o.client_order_id for o in rig.of(OrderCanceled)} == set(pending.values())


# --- strategies come and go -------------------------------------------------------------------


def test_remove_cancels_and_stops(rig: Rig) -> None:
    removed = rig.engine.add(spec("mm7", 7))
    rig.engine.add(spec("mm8", 8))
    rig.top(AAPL, BID, ASK)
    rig.wait_quotes("mm7")
    rig.wait_quotes("mm8")
    rig.engine.remove("mm7")
    assert set(rig.engine.strategies) == {"mm8"}
    wait_for(lambda: rig.open(7) == {})
    wait_for(lambda: not removed.orders)  # the cancels' outcomes still reach it
    assert removed.halted and rig.engine.counters["outcomes_unowned"] == 0
    # the engine keeps the owners of open orders only (mm8's two quotes)
    assert set(rig.engine._owner) == {(8, coid) for coid in rig.open(8)}
    count = len(rig.sent(7))
    rig.top(AAPL, *moved(1))
    wait_for(lambda: len(rig.sent(8, ReplaceOrder)) == 2)
    assert len(rig.sent(7)) == count and rig.open(7) == {}
    rig.engine.remove("mm7")  # gone already: nothing happens
    assert rig.engine.counters["strategies_stopped"] == 1


@pytest.mark.parametrize("bad", [
    pytest.param(lambda s: unchecked(s, type="market-taking"), id="unknown-type"),
    pytest.param(lambda s: unchecked(s, type="arbitrage"), id="unimplemented-type"),
    pytest.param(lambda s: unchecked(s, params={"spread_bps": -1}), id="bad-param"),
    pytest.param(lambda s: unchecked(s, params={"no_such": 1}), id="unknown-param"),
    pytest.param(lambda s: spec(s.name, instruments=("TSLA",)), id="instrument-not-in-feed"),
    pytest.param(lambda s: unchecked(s, riskLimit="lots"), id="bad-risk-limit"),
])
def test_a_bad_spec_is_refused_and_changes_nothing(rig: Rig,
                                                   bad: Callable[[StrategySpec], StrategySpec]
                                                   ) -> None:
    good = rig.engine.add(spec("mm7", params={"spread_bps": 10}))
    rig.top(AAPL, BID, ASK)
    quotes = rig.wait_quotes("mm7")
    counters = dict(rig.engine.counters)
    intents = len(rig.intents)
    with pytest.raises(StrategyConfigError, match="mm7"):
        rig.engine.add(bad(spec("mm7", params={"spread_bps": 10})))
    assert rig.engine.strategies == {"mm7": good}  # the running one goes on, untouched
    assert dict(rig.engine.counters) == counters and len(rig.intents) == intents
    assert rig.open(7) == quotes and not good.halted
    with pytest.raises(StrategyConfigError):
        rig.engine.add(bad(spec("other")))
    assert set(rig.engine.strategies) == {"mm7"}
    rig.top(AAPL, *moved(1))  # and it still trades
    wait_for(lambda: len(rig.sent(7, ReplaceOrder)) == 2)


def test_a_restarted_strategy_never_reuses_client_order_ids(rig: Rig) -> None:
    first = rig.engine.add(spec("mm7"))
    rig.top(AAPL, BID, ASK)
    old = set(rig.wait_quotes("mm7"))
    second = rig.engine.add(spec("mm7", params={"spread_bps": 20}))  # a new spec: restart
    assert second is not first and rig.engine.strategies == {"mm7": second}
    rig.top(AAPL, *moved(1))
    new = set(rig.wait_quotes("mm7"))
    wait_for(lambda: rig.open(7).keys() == new)
    assert old.isdisjoint(new)  # ids are unique per account for the whole day
    assert not rig.of(OrderRejected)
    # the old orders' cancels went to the strategy that sent them, not to its successor
    wait_for(lambda: not first.orders)
    assert first.ignored == 0 and second.ignored == 0
    rig.engine.remove("mm7")
    third = rig.engine.add(spec("other7"))  # a new name in the same account: new ids too
    rig.top(AAPL, BID, ASK)
    newest = set(rig.wait_quotes("other7"))
    assert newest.isdisjoint(old | new)
    assert len({s.next_id.slot for s in (first, second, third)}) == 3
    assert not rig.of(OrderRejected)


def test_a_strategy_added_to_a_running_book_decides_on_its_next_update(rig: Rig) -> None:
    rig.engine.add(spec("mm7", 7))
    rig.top(AAPL, BID, ASK)
    rig.wait_quotes("mm7")
    rig.engine.add(spec("mm8", 8))
    # an order behind the best bid: the top does not change, the newcomer has not seen it
    rig.engine.on_book_events(rig.feed.add(AAPL, b"B", BID - 1_000))
    rig.wait_quotes("mm8")
    assert len(rig.open(8)) == 2


# --- guards ---------------------------------------------------------------------------------


def test_a_guard_breach_halts_the_strategy_once_and_alerts(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig([*SEED, SeedOrder("AAPL", False, 995_000, 50)])
    breaches: list[Breach] = []
    rig.engine.breach_sinks.append(breaches.append)
    # capital $1,000, riskLimit 1%: a loss of $10 halts it
    mm = rig.engine.add(spec("mm7", 7, risk_limit="1%", capital="1000"))
    rig.engine.add(spec("mm8", 8, ("MSFT",)))
    rig.top(AAPL, BID, ASK)
    rig.top(MSFT, BID, ASK)
    wait_for(lambda: mm.positions[AAPL] == 50)  # bought 50 at $99.50
    rig.wait_quotes("mm7")
    rig.wait_quotes("mm8")
    rig.engine.tick()
    assert breaches == [] and not rig.engine.strategies["mm7"].halted  # +$25 at $100.00
    rig.top(AAPL, 989_000, 991_000)  # the mid falls to $99.00: 50 x -$0.50
    rig.wait_quotes("mm7")  # its quotes moved with the book
    rig.engine.tick()
    assert [(b.strategy, b.account, b.rule) for b in breaches] == [("mm7", 7, "riskLimit")]
    assert breaches[0].value == pytest.approx(25.0) and breaches[0].limit == pytest.approx(10.0)
    assert rig.engine.breaches == breaches and rig.engine.counters["breaches"] == 1
    assert mm.halted
    wait_for(lambda: rig.open(7) == {})
    assert len(rig.open(8)) == 2  # the other account trades on
    alerts = [a for a in rig.engine.telemetry.alerts if a.kind == "risk_breach"]
    assert len(alerts) == 1 and alerts[0].detail["strategy"] == "mm7"
    assert rig.engine.telemetry.alert_counts["risk_breach"] == 1

    rig.engine.tick()  # the breach is told once
    rig.top(AAPL, 988_000, 990_000)
    assert len(breaches) == 1 and rig.open(7) == {}
    # resuming something else does not resume the breached strategy
    rig.engine.resume(8)
    rig.engine.resume(locate=MSFT)
    assert mm.halted
    rig.top(AAPL, 987_000, 989_000)
    rig.engine.tick()
    assert rig.open(7) == {} and len(breaches) == 1


def test_a_small_position_limit_breaches_on_a_small_loss(make_rig: Callable[..., Rig]) -> None:
    """The same rule through the data path: the guard runs on a book batch when due."""
    rig = make_rig([*SEED, SeedOrder("AAPL", False, 995_000, 50)], check_interval_ns=0)
    breaches: list[Breach] = []
    rig.engine.breach_sinks.append(breaches.append)
    mm = rig.engine.add(spec("mm7", 7, risk_limit="0.1%", capital="1000"))  # $1 of loss
    rig.top(AAPL, BID, ASK)
    wait_for(lambda: mm.positions[AAPL] == 50)
    rig.wait_quotes("mm7")
    rig.top(AAPL, 993_000, 995_000)  # mid $99.40: -$5
    assert [b.rule for b in breaches] == ["riskLimit"] and mm.halted
    wait_for(lambda: rig.open(7) == {})


# --- failures stay inside -------------------------------------------------------------------


def test_a_failing_strategy_is_counted_and_the_others_trade(rig: Rig,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    rig.engine.add(spec("good", 8))
    bad = rig.engine.add(spec("bad", 7))

    def broken(*args: object) -> list[Intent]:
        raise RuntimeError("a bug in a strategy")

    monkeypatch.setattr(bad, "decide", broken)
    rig.engine.on_batch(batch(rig.feed.top(AAPL, BID, ASK)))  # raises nothing
    assert rig.engine.counters["engine_errors"] == 1
    rig.wait_quotes("good")  # the good one's quotes went out all the same
    assert rig.open(7) == {}
    rig.engine.on_batch(batch(rig.feed.top(AAPL, *moved(1))))
    assert rig.engine.counters["engine_errors"] == 2
    wait_for(lambda: len(rig.sent(8, ReplaceOrder)) == 2)


def test_a_strategy_failing_on_an_outcome_hides_it_from_no_sink(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = rig.engine.add(spec("bad", 7))
    seen: list[Outcome] = []
    rig.router.on_outcome(seen.append)

    def broken(outcome: Outcome) -> None:
        raise RuntimeError("a bug in a strategy")

    monkeypatch.setattr(bad, "on_outcome", broken)
    rig.top(AAPL, BID, ASK)
    wait_for(lambda: len(seen) == 2)
    wait_for(lambda: len(rig.outcomes) == 2)
    assert rig.outcomes == seen
    assert rig.engine.counters["engine_errors"] == 2
    assert rig.router.counters["handler_errors"] == 0


def test_book_events_for_a_locate_without_a_book_are_ignored(rig: Rig) -> None:
    rig.engine.add(spec("mm7", 7, ("MSFT",)))
    events = np.concatenate([rig.feed.directory(MSFT, "MSFT"), rig.feed.directory(9, "XYZ")])
    with pytest.raises(KeyError):
        rig.books.book(MSFT)  # listed, no order yet
    rig.engine.on_book_events(events)
    rig.engine.on_book_events(events, instruments=np.array([MSFT, 9, 10]))
    rig.engine.on_batch(batch(events))
    assert rig.engine.counters["engine_errors"] == 0 and rig.intents == []
    rig.top(MSFT, BID, ASK)  # its first orders make the book: now it quotes
    rig.wait_quotes("mm7")


# --- what the engine tells others ---------------------------------------------------------


def test_sinks_see_every_intent_and_outcome(rig: Rig) -> None:
    seen: list[Outcome] = []
    rig.router.on_outcome(seen.append)  # after the engine's own handler
    rig.engine.add(spec("mm7", 7))
    # quotes of 20,000 shares: over the instrument's max_qty, refused by the risk pipeline
    rig.engine.add(spec("big8", 8, params={"quote_size": 20_000, "max_inventory": 100_000}))
    rig.top(AAPL, BID, ASK)
    rig.wait_quotes("mm7")
    rejects = [o for o in rig.of(OrderRejected) if isinstance(o, OrderRejected)]
    assert [(r.account, r.source, r.reason) for r in rejects] == [(8, RejectSource.RISK,
                                                                   "max_qty")] * 2
    assert rig.engine.counters["risk_rejects"] == 2
    assert rig.engine.counters["rejects_risk"] == 2
    rig.engine.remove("mm7")
    wait_for(lambda: rig.open(7) == {} and len(seen) == 6)
    wait_for(lambda: len(rig.outcomes) == 6)
    assert rig.outcomes == seen
    assert [type(o) for o in seen].count(OrderCanceled) == 2
    news = [i for i in rig.intents if isinstance(i, NewOrder)]
    cancels = [i for i in rig.intents if isinstance(i, CancelOrder)]
    assert len(news) == 4 and len(cancels) == 2
    assert {(i.account, i.client_order_id) for i in news} == {
        (o.account, o.client_order_id) for o in seen
        if isinstance(o, OrderAccepted | OrderRejected)}
    assert rig.engine.counters["orders"] == 4 and rig.engine.counters["cancels"] == 2
    assert rig.venue.counters["orders"] == 2 and rig.venue.counters["cancels"] == 2


def test_latency_stages_get_samples_when_the_receive_time_is_known(rig: Rig) -> None:
    stages = rig.engine.telemetry.stages
    rig.engine.add(spec("mm7"))
    rig.engine.on_batch(batch(rig.feed.top(AAPL, BID, ASK), rx_ns=time.time_ns() - 10_000))
    assert stages["wire_to_book"].count == 1
    assert stages["book_to_order"].count == 2
    assert stages["tick_to_trade"].count == 2
    assert stages["tick_to_trade"].percentile_us(50) >= 10.0  # from the receive time
    rig.wait_quotes("mm7")
    rig.top(AAPL, *moved(1))  # no receive time: no tick-to-trade
    wait_for(lambda: len(rig.sent(7, ReplaceOrder)) == 2)
    assert stages["tick_to_trade"].count == 2 and stages["wire_to_book"].count == 1
    assert stages["book_to_order"].count == 4
