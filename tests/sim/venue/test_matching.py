from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanogate.proto.records import BOOK_EVENT_DTYPE
from nanogate.sim.venue.matching import MatchingEngine
from nanogate.sim.venue.seed import FeedFollower, SeedOrder, seed_engine, seed_orders


def engine_with_asks() -> MatchingEngine:
    engine = MatchingEngine()
    engine.add("ABC", False, 101, 100, "m1", 1)
    engine.add("ABC", False, 101, 100, "m2", 2)  # same price, later: behind m1
    engine.add("ABC", False, 102, 100, "m3", 3)
    return engine


def test_a_limit_order_rests_when_it_does_not_cross() -> None:
    engine = engine_with_asks()
    result = engine.add("ABC", True, 100, 50, "t", 9)
    assert result.fills == [] and result.resting is not None
    book = engine.book("ABC")
    assert book.best_bid() == 100 and book.best_ask() == 101
    assert book.bids.depth() == [(100, 50, 1)]
    assert book.asks.depth() == [(101, 200, 2), (102, 100, 1)]


def test_price_then_time_priority_and_partial_fill_at_the_makers_price() -> None:
    engine = engine_with_asks()
    result = engine.add("ABC", True, 102, 250, "t", 9)
    assert [(f.maker.owner, f.price, f.quantity, f.maker_leaves) for f in result.fills] == [
        ("m1", 101, 100, 0), ("m2", 101, 100, 0), ("m3", 102, 50, 50)]
    assert [f.match_number for f in result.fills] == [1, 2, 3]
    assert result.resting is None and result.fills[-1].taker_leaves == 0
    assert engine.book("ABC").asks.depth() == [(102, 50, 1)]


def test_ioc_remainder_is_cancelled_not_rested() -> None:
    engine = engine_with_asks()
    result = engine.add("ABC", True, 101, 300, "t", 9, ioc=True)
    assert sum(f.quantity for f in result.fills) == 200
    assert result.canceled == 100 and result.resting is None
    assert engine.book("ABC").best_bid() is None


def test_cancel_partial_keeps_priority_full_removes() -> None:
    engine = engine_with_asks()
    first = next(o for o in engine.orders.values() if o.owner == "m1")
    assert engine.cancel(first.ref, remaining=40) == 60
    result = engine.add("ABC", True, 101, 50, "t", 9)
    assert [(f.maker.owner, f.quantity) for f in result.fills] == [("m1", 40), ("m2", 10)]
    assert engine.cancel(first.ref) == 0  # gone: filled
    second = next(o for o in engine.orders.values() if o.owner == "m2")
    assert engine.cancel(second.ref, remaining=500) == 0  # not a reduction
    assert engine.cancel(second.ref) == 90
    assert engine.book("ABC").asks.depth() == [(102, 100, 1)]
    assert engine.cancel(12345) == 0


def test_replace_keeps_priority_only_for_a_smaller_quantity_at_the_same_price() -> None:
    engine = engine_with_asks()
    m1 = next(o for o in engine.orders.values() if o.owner == "m1")
    kept = engine.replace(m1.ref, 101, 60, tag=11)
    assert kept.kept_priority and kept.order.ref == m1.ref and kept.order.tag == 11
    fills = engine.add("ABC", True, 101, 10, "t", 9).fills
    assert fills[0].maker.owner == "m1"

    grown = engine.replace(m1.ref, 101, 500, tag=12)
    assert not grown.kept_priority and grown.order.ref != m1.ref
    fills = engine.add("ABC", True, 101, 10, "t", 9).fills
    assert fills[0].maker.owner == "m2"  # m1 went behind m2


def test_replace_to_a_crossing_price_trades_at_once() -> None:
    engine = engine_with_asks()
    bid = engine.add("ABC", True, 100, 150, "t", 9).resting
    assert bid is not None
    result = engine.replace(bid.ref, 101, 150, tag=10)
    assert not result.kept_priority
    assert sum(f.quantity for f in result.fills) == 150
    assert result.order.leaves == 0 and result.order.ref not in engine.orders
    with pytest.raises(KeyError):
        engine.replace(bid.ref, 100, 10)


def test_self_trade_is_allowed() -> None:
    engine = MatchingEngine()
    engine.add("ABC", True, 100, 10, "same", 1)
    result = engine.add("ABC", False, 100, 10, "same", 2)
    assert result.fills[0].maker.owner == "same" and result.fills[0].quantity == 10


def test_bad_orders_are_refused() -> None:
    engine = MatchingEngine()
    with pytest.raises(ValueError, match="positive"):
        engine.add("ABC", True, 100, 0)
    with pytest.raises(ValueError, match="positive"):
        engine.add("ABC", True, 0, 10)


def test_seeded_from_an_itch_session(sample_path: Path) -> None:
    orders = seed_orders(sample_path, messages=5000)
    assert orders and all(o.shares > 0 and o.price > 0 for o in orders)
    engine = MatchingEngine()
    crossed = seed_engine(engine, orders)  # the sample's books cross now and then
    assert crossed >= 0
    assert sum(len(b.bids.levels) + len(b.asks.levels) for b in engine.books.values()) > 0
    for book in engine.books.values():  # what crossed traded away: no book is left crossed
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask
    with pytest.raises(ValueError, match="cannot seed"):
        seed_orders(sample_path.parent / "missing.itch")


def events(*rows: tuple[bytes, int, bytes, int, int, int, int]) -> np.ndarray:
    out = np.zeros(len(rows), BOOK_EVENT_DTYPE)
    for i, (kind, locate, side, ref, new_ref, shares, price) in enumerate(rows):
        out[i]["msg_type"], out[i]["stock_locate"], out[i]["side"] = kind, locate, side
        out[i]["order_ref"], out[i]["new_order_ref"] = ref, new_ref
        out[i]["shares"], out[i]["price"] = shares, price
    return out


def test_the_feed_follower_plays_the_market_against_our_orders() -> None:
    engine = MatchingEngine()
    refs: dict[int, int] = {}
    seed_engine(engine, [SeedOrder("ABC", False, 101, 100, ref=5),
                         SeedOrder("ABC", True, 98, 100, ref=6)], refs)
    ours = engine.add("ABC", False, 100, 30, "me", 1).resting  # inside the spread
    bid = engine.add("ABC", True, 99, 40, "me", 2).resting
    assert ours is not None and bid is not None
    follower = FeedFollower(engine, events(
        (b"E", 1, b"S", 5, 0, 50, 0),  # the feed's ask executed: a buyer came, hits us first
        (b"A", 1, b"S", 7, 0, 10, 99),  # a seller crossing our bid
        (b"X", 1, b"B", 6, 0, 60, 0),  # partial cancel of the seeded bid
        (b"U", 1, b"B", 6, 8, 20, 97),  # replaced: new ref 8
        (b"D", 1, b"S", 5, 0, 0, 0),
        (b"D", 1, b"S", 99, 0, 0, 0),  # unknown reference: ignored
        (b"A", 2, b"B", 9, 0, 10, 50),  # a locate with no symbol: ignored
    ), {1: "ABC"}, refs)
    first = follower.step(1)
    assert [(f.maker.owner, f.quantity, f.price) for f in first] == [("me", 30, 100)]
    book = engine.book("ABC")
    assert book.asks.depth() == [(101, 80, 1)]  # the other 20 came out of the feed's order
    second = follower.step(1)
    assert [(f.maker.owner, f.quantity, f.price) for f in second] == [("me", 10, 99)]
    assert follower.step(10) == [] and follower.remaining == 0 and follower.applied == 7
    assert book.bids.depth() == [(99, 30, 1), (97, 20, 1)]
    assert book.asks.depth() == []
