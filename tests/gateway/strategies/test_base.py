from __future__ import annotations

import numpy as np
import pytest

from nanogate.gateway.book import BookSet
from nanogate.gateway.strategies.base import BookTop, OrderIds, Strategy, book_top
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.strategies.registry import build_all
from nanogate.gateway.trading import CancelOrder, NewOrder, OrderRejected, RejectSource, Side
from nanogate.proto.records import BOOK_EVENT_DTYPE

from .kit import LOCATES, accept, canceled, fill, make_spec, top


def add(ref: int, side: bytes, shares: int, price: int) -> tuple[object, ...]:
    return (0, 0, b"A", 1, side, ref, 0, shares, price, 0, b"AAPL", 0)


def test_book_top_reads_the_best_levels() -> None:
    books = BookSet()
    books.apply(np.array([add(1, b"B", 100, 1_000_000), add(2, b"B", 50, 1_000_000),
                          add(3, b"B", 70, 999_900), add(4, b"S", 30, 1_000_200)],
                         BOOK_EVENT_DTYPE))
    t = book_top(books.book(1))
    assert t == BookTop(1_000_000, 150, 1_000_200, 30)
    assert t.mid == 1_000_100 and t.two_sided


def test_book_top_of_a_one_sided_book() -> None:
    books = BookSet()
    books.apply(np.array([add(1, b"S", 30, 1_000_200)], BOOK_EVENT_DTYPE))
    t = book_top(books.book(1))
    assert t == BookTop(None, 0, 1_000_200, 30) and t.mid is None and not t.two_sided


@pytest.mark.parametrize("t", [top(10010, 10000), top(10000, 10000), top(None, None)])
def test_no_mid_for_crossed_locked_or_empty(t: BookTop) -> None:
    assert t.mid is None and not t.two_sided


def test_order_ids_of_two_slots_never_meet() -> None:
    a, b = OrderIds(1), OrderIds(2)
    ids_a, ids_b = {a() for _ in range(1000)}, {b() for _ in range(1000)}
    assert len(ids_a) == 1000 and not ids_a & ids_b
    assert min(ids_b) > max(ids_a)
    with pytest.raises(ValueError, match="slot"):
        OrderIds(0)


def test_strategies_sharing_an_account_get_distinct_slots() -> None:
    specs = [make_spec("market-making", name="a"), make_spec("momentum", name="b"),
             make_spec("market-making", name="c", account=9)]
    built = build_all(specs, LOCATES)
    assert [s.next_id.slot for s in built] == [1, 2, 1]
    first = {o.client_order_id for o in built[0].on_book(1, top(10000, 10010), 1)}
    assert not first & {built[1].next_id() for _ in range(10)}


def test_a_spec_instrument_missing_from_the_feed_is_named() -> None:
    with pytest.raises(StrategyConfigError, match="instruments: MSFT has no stock locate"):
        build_all([make_spec(instruments=["AAPL", "MSFT"])], {"AAPL": 1})


class Echo(Strategy):
    """Sends one buy per book update: the plumbing without a rule."""

    TYPE = "echo"

    def decide(self, locate: int, t: BookTop, timestamp_ns: int) -> list[NewOrder]:  # type: ignore[override]
        assert t.bid is not None
        return [self.new_order(locate, Side.BUY, 10, t.bid, timestamp_ns)]


def echo() -> Echo:
    return Echo(make_spec(), LOCATES)


def test_outcomes_track_open_orders_and_position() -> None:
    s = echo()
    (order,) = s.on_book(1, top(10000, 10010), 1)
    assert isinstance(order, NewOrder) and s.orders[order.client_order_id].busy
    s.on_outcome(accept(order))
    assert not s.orders[order.client_order_id].busy
    s.on_outcome(fill(order, quantity=4, leaves=6))
    assert s.positions[1] == 4 and s.orders[order.client_order_id].open == 6
    s.on_outcome(canceled(order, quantity=6))
    assert not s.orders and s.positions[1] == 4


def test_a_rejected_order_is_forgotten() -> None:
    s = echo()
    (order,) = s.on_book(1, top(10000, 10010), 1)
    s.on_outcome(OrderRejected(order.client_order_id, 7, RejectSource.RISK, "credit", 2))
    assert not s.orders


def test_halt_cancels_only_its_open_orders_then_nothing() -> None:
    s = echo()
    orders = s.on_book(1, top(10000, 10010), 1) + s.on_book(1, top(10000, 10010), 2)
    done = orders[1]
    assert isinstance(done, NewOrder)
    s.on_outcome(fill(done))  # filled: nothing left to cancel
    assert s.halt() == [CancelOrder(orders[0].client_order_id, 7, "s1")]
    assert s.on_book(1, top(10000, 10010), 3) == []
    s.resume()
    assert len(s.on_book(1, top(10000, 10010), 4)) == 1


def test_a_slot_that_runs_out_of_ids_says_so() -> None:
    ids = OrderIds(3)
    ids._next = (4 << 40) - 2
    assert ids() == (4 << 40) - 1
    with pytest.raises(OverflowError, match="slot 3"):
        ids()
