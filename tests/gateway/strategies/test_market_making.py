from __future__ import annotations

import pytest

from nanogate.gateway.strategies.market_making import MarketMaking
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.trading import (
    CancelOrder,
    NewOrder,
    OrderRejected,
    OrderReplaced,
    RejectSource,
    ReplaceOrder,
    Side,
    TimeInForce,
)

from .kit import LOCATES, accept, canceled, fill, make_spec, top

MID = top(10000, 10010)  # $100.00 / $100.10: mid 1,000,500


def maker(**params: float) -> MarketMaking:
    return MarketMaking(make_spec("market-making", dict(params)), LOCATES)


def quotes(mm: MarketMaking, book: object = MID) -> tuple[NewOrder, NewOrder]:
    bid, ask = mm.on_book(1, book, 5)  # type: ignore[arg-type]
    assert isinstance(bid, NewOrder) and isinstance(ask, NewOrder)
    mm.on_outcome(accept(bid))
    mm.on_outcome(accept(ask))
    return bid, ask


def test_quotes_are_symmetric_around_the_mid_when_flat() -> None:
    bid, ask = quotes(maker(spread_bps=10))
    # 10 bps wide around 1,000,500: 999,999.75 down to the cent, 1,001,000.25 up to it
    assert (bid.side, bid.price, bid.quantity) == (Side.BUY, 999_900, 100)
    assert (ask.side, ask.price, ask.quantity) == (Side.SELL, 1_001_100, 100)
    assert 1_000_500 - bid.price == ask.price - 1_000_500
    assert bid.time_in_force == TimeInForce.DAY and bid.account == 7 and bid.strategy == "s1"
    assert bid.client_order_id != ask.client_order_id and bid.symbol == "AAPL"


def test_a_filled_bid_skews_both_quotes_down() -> None:
    mm = maker(spread_bps=10, skew_bps_per_share=0.1)
    bid, ask = quotes(mm)
    mm.on_outcome(fill(bid))  # long 100: fair = mid x (1 - 0.1 x 100 / 1e4) = 999,499.5
    assert mm.positions[1] == 100
    intents = mm.on_book(1, MID, 6)
    new_bid = next(i for i in intents if isinstance(i, NewOrder))
    moved = next(i for i in intents if isinstance(i, ReplaceOrder))
    assert (new_bid.side, new_bid.price) == (Side.BUY, 998_900)
    # the skewed ask, 1,000,000, would lock the best bid: it stays a tick above it
    assert (moved.client_order_id, moved.price, moved.quantity) == \
        (ask.client_order_id, 1_000_100, 100)
    assert 1_000_500 - new_bid.price > moved.price - 1_000_500  # leaning to sell


def test_small_moves_leave_quotes_alone() -> None:
    mm = maker(requote_bps=2)
    quotes(mm)
    assert mm.on_book(1, top(10001, 10010), 6) == []  # mid up 0.5 bp: under 2 bps


def test_a_move_past_the_threshold_replaces_and_waits_for_the_answer() -> None:
    mm = maker()
    bid, ask = quotes(mm)
    intents = mm.on_book(1, top(10050, 10060), 6)
    assert [type(i) for i in intents] == [ReplaceOrder, ReplaceOrder]
    # the new bid is above our ask: the ask moves first, so we never trade with ourselves
    assert [i.client_order_id for i in intents if isinstance(i, ReplaceOrder)] == \
        [ask.client_order_id, bid.client_order_id]
    assert mm.on_book(1, top(10100, 10110), 7) == []  # both replaces in flight
    first = intents[1]
    assert isinstance(first, ReplaceOrder)
    mm.on_outcome(OrderReplaced(bid.client_order_id, first.new_client_order_id, 7,
                                first.quantity, first.price, 9, 8))
    assert bid.client_order_id not in mm.orders
    assert mm.orders[first.new_client_order_id].acked


def test_a_refused_replace_leaves_the_old_quote_standing() -> None:
    mm = maker()
    bid, _ = quotes(mm)
    replace = next(i for i in mm.on_book(1, top(10050, 10060), 6)
                   if isinstance(i, ReplaceOrder) and i.client_order_id == bid.client_order_id)
    mm.on_outcome(OrderRejected(replace.new_client_order_id, 7, RejectSource.RISK, "rate", 7))
    assert replace.new_client_order_id not in mm.orders
    assert not mm.orders[bid.client_order_id].busy


@pytest.mark.parametrize("book", [top(10010, 10000), top(10000, 10000), top(10000, None),
                                  top(None, 10010)], ids=["crossed", "locked", "no-ask", "no-bid"])
def test_a_crossed_or_one_sided_book_cancels_both_quotes(book: object) -> None:
    mm = maker()
    bid, ask = quotes(mm)
    intents = mm.on_book(1, book, 6)  # type: ignore[arg-type]
    assert intents == [CancelOrder(bid.client_order_id, 7, "s1"),
                       CancelOrder(ask.client_order_id, 7, "s1")]
    assert mm.on_book(1, book, 7) == []  # not twice


def test_quotes_never_let_a_fill_pass_max_inventory() -> None:
    mm = maker(max_inventory=150, quote_size=100)
    bid, _ = quotes(mm)
    mm.on_outcome(fill(bid))
    second = next(i for i in mm.on_book(1, MID, 6) if isinstance(i, NewOrder))
    assert (second.side, second.quantity) == (Side.BUY, 50)
    mm.on_outcome(accept(second))
    mm.on_outcome(fill(second))
    assert mm.positions[1] == 150
    intents = mm.on_book(1, MID, 7)
    assert not any(getattr(i, "side", None) == Side.BUY for i in intents)  # no bid at the cap
    assert not mm.working(1, Side.BUY) and mm.working(1, Side.SELL)


def test_a_partial_fill_tops_the_quote_back_up() -> None:
    mm = maker()
    bid, _ = quotes(mm)
    mm.on_outcome(fill(bid, quantity=40, leaves=60))
    assert mm.orders[bid.client_order_id].open == 60
    replace = [i for i in mm.on_book(1, MID, 6) if isinstance(i, ReplaceOrder)]
    assert replace and replace[0].client_order_id == bid.client_order_id


def test_halt_cancels_open_quotes_then_stays_quiet_until_resumed() -> None:
    mm = maker()
    bid, ask = quotes(mm)
    assert {c.client_order_id for c in mm.halt()} == {bid.client_order_id, ask.client_order_id}
    assert mm.on_book(1, top(10050, 10060), 6) == []
    assert mm.halt() == []  # the cancels are in flight
    mm.resume()
    assert mm.on_book(1, top(10050, 10060), 7) == []  # still waiting for the cancels
    for order in (bid, ask):
        mm.on_outcome(canceled(order))
    assert len(mm.on_book(1, top(10050, 10060), 8)) == 2


def test_no_resend_while_a_new_order_waits_for_its_ack() -> None:
    mm = maker()
    assert len(mm.on_book(1, MID, 5)) == 2
    assert mm.on_book(1, top(10050, 10060), 6) == []


def test_other_instruments_and_unknown_orders_are_ignored() -> None:
    mm = maker()
    assert mm.on_book(2, MID, 5) == []  # MSFT is not in the spec
    mm.on_outcome(accept(12345))
    assert mm.ignored == 1


@pytest.mark.parametrize(("params", "field"), [({"spread_bps": -1}, "params.spread_bps"),
                                               ({"quote_size": 1.5}, "params.quote_size"),
                                               ({"quote_size": True}, "params.quote_size"),
                                               ({"sprad_bps": 3}, "params.sprad_bps")])
def test_bad_params_name_the_strategy_and_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(StrategyConfigError, match=rf"strategy s1 \(market-making\): {field}"):
        maker(**params)  # type: ignore[arg-type]


def test_a_quote_never_moves_through_our_own_quote_still_in_flight() -> None:
    mm = maker()
    bid, ask = mm.on_book(1, MID, 5)
    assert isinstance(bid, NewOrder) and isinstance(ask, NewOrder)
    mm.on_outcome(accept(bid))  # the ask has not been accepted yet
    # the new bid would be above our resting ask: it waits for the ask to be answered
    assert mm.on_book(1, top(10050, 10060), 6) == []
    mm.on_outcome(accept(ask))
    moved = mm.on_book(1, top(10050, 10061), 7)
    assert [i.client_order_id for i in moved if isinstance(i, ReplaceOrder)] == \
        [ask.client_order_id, bid.client_order_id]
