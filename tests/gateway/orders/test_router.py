"""The router against the venue on 127.0.0.1: risk, venue answers, exposure, recovery."""

from __future__ import annotations

from nanogate.gateway.orders.session import SessionState
from nanogate.gateway.trading import (
    CancelOrder,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    RejectSource,
    ReplaceOrder,
    Side,
    TimeInForce,
)

from .helpers import ACCOUNT, ASK, BID, LOCATE, SYMBOL, Harness, wait_for


def order(coid: int, side: Side = Side.BUY, quantity: int = 100, price: int = 999_000,
          account: int = ACCOUNT, symbol: str = SYMBOL,
          tif: TimeInForce = TimeInForce.DAY) -> NewOrder:
    return NewOrder(coid, account, LOCATE, symbol, side, quantity, price, "test",
                    tif)


def test_risk_reject_never_reaches_the_venue(harness: Harness) -> None:
    (rejected,) = harness.router.submit(order(1, quantity=20_000, price=2_000_000))
    assert isinstance(rejected, OrderRejected) and rejected.source is RejectSource.RISK
    assert rejected.reason == "max_qty,price_collar"
    assert harness.venue.counters["orders"] == 0
    assert harness.router.counters["rejected_risk_max_qty"] == 1
    assert harness.outcomes == [rejected]
    (out,) = harness.router.submit(order(2, quantity=1 << 33))
    assert isinstance(out, OrderRejected) and out.reason == "out_of_range"
    assert out.source is RejectSource.INVALID  # refused before the device saw it
    assert len(harness.router.latency["risk_ns"]) == 1  # the out-of-range one skipped risk


def test_accept_partial_fills_release_exposure(harness: Harness) -> None:
    risk = harness.risk
    assert harness.router.submit(order(1, Side.BUY, 300, ASK)) == []  # crosses 300 of 500
    wait_for(lambda: len(harness.of(OrderFilled)) == 1)
    fill = harness.of(OrderFilled)[0]
    assert isinstance(fill, OrderFilled)
    assert (fill.quantity, fill.price, fill.leaves, fill.symbol) == (300, ASK, 0, SYMBOL)
    state = risk.instrument_state(LOCATE)  # type: ignore[attr-defined]
    assert (state.net_position, state.open_buy) == (300, 0)
    assert risk.account_state(ACCOUNT).open_notional == 0  # type: ignore[attr-defined]

    harness.router.submit(order(2, Side.BUY, 400, ASK))  # 200 left at the ask: 200 rest
    wait_for(lambda: len(harness.of(OrderFilled)) == 2)
    assert risk.instrument_state(LOCATE).open_buy == 200  # type: ignore[attr-defined]
    harness.router.submit(CancelOrder(2, ACCOUNT, "test", remaining=50))
    wait_for(lambda: len(harness.of(OrderCanceled)) == 1)
    assert risk.instrument_state(LOCATE).open_buy == 50  # type: ignore[attr-defined]
    assert harness.router.open_orders() == {(ACCOUNT, 2): 50}
    counters = harness.router.counters
    assert (counters["sent"], counters["accepted"], counters["fills"],
            counters["cancels"]) == (2, 2, 2, 1)
    assert harness.router.latency_summary()["venue_ack_ns"]["count"] == 2


def test_venue_reject_goes_to_the_dead_letters(harness: Harness) -> None:
    harness.router.submit(order(1, symbol="NOPE"))
    wait_for(lambda: len(harness.of(OrderRejected)) == 1)
    (rejected,) = harness.of(OrderRejected)
    assert isinstance(rejected, OrderRejected) and rejected.source is RejectSource.VENUE
    assert rejected.reason == "invalid_symbol:23"
    (dead,) = harness.router.deadletters.list()
    assert (dead.source, dead.reason, dead.client_order_id) == ("venue", "invalid_symbol:23", 1)
    assert harness.risk.instrument_state(LOCATE).open_buy == 0  # type: ignore[attr-defined]
    assert harness.router.counters["rejected_venue_invalid_symbol"] == 1


def test_replace_moves_exposure_to_the_new_order(harness: Harness) -> None:
    harness.router.submit(order(1, Side.BUY, 300, 999_000))
    wait_for(lambda: len(harness.of(OrderAccepted)) == 1)
    harness.router.submit(ReplaceOrder(1, 2, ACCOUNT, 100, 999_500, "test"))
    wait_for(lambda: len(harness.of(OrderReplaced)) == 1)
    (replaced,) = harness.of(OrderReplaced)
    assert isinstance(replaced, OrderReplaced)
    assert (replaced.new_client_order_id, replaced.quantity, replaced.price) == (2, 100, 999_500)
    assert harness.risk.instrument_state(LOCATE).open_buy == 100  # type: ignore[attr-defined]
    assert harness.router.open_orders() == {(ACCOUNT, 2): 100}
    (bad,) = harness.router.submit(ReplaceOrder(1, 3, ACCOUNT, 100, 999_500, "test"))
    assert isinstance(bad, OrderRejected) and bad.reason == "unknown_order"
    assert bad.source is RejectSource.INVALID


def test_a_cancel_right_after_a_replace_cancels_the_replacement(harness: Harness) -> None:
    harness.router.submit(order(1, Side.BUY, 300, 999_000))
    wait_for(lambda: len(harness.of(OrderAccepted)) == 1)
    with harness.venue._lock:  # the venue has not read the replace when the cancels go out
        harness.router.submit(ReplaceOrder(1, 2, ACCOUNT, 100, 999_500, "test"))
        harness.router.submit(CancelOrder(2, ACCOUNT, "test"))  # the new id, not yet known
    wait_for(lambda: len(harness.of(OrderCanceled)) == 1)
    (canceled,) = harness.of(OrderCanceled)
    assert (canceled.client_order_id, canceled.quantity) == (2, 100)
    assert harness.router.open_orders() == {}
    assert harness.router.counters["cancel_unknown"] == 0
    assert harness.risk.instrument_state(LOCATE).open_buy == 0  # type: ignore[attr-defined]


def test_ioc_remainder_is_canceled(harness: Harness) -> None:
    harness.router.submit(order(1, Side.SELL, 700, BID, tif=TimeInForce.IOC))
    wait_for(lambda: len(harness.of(OrderCanceled)) == 1)
    (canceled,) = harness.of(OrderCanceled)
    assert isinstance(canceled, OrderCanceled) and (canceled.quantity, canceled.reason) == (
        200, "ioc")
    state = harness.risk.instrument_state(LOCATE)  # type: ignore[attr-defined]
    assert (state.net_position, state.open_sell) == (-500, 0)


def test_fills_missed_while_disconnected_are_replayed_once(harness: Harness) -> None:
    router, venue = harness.router, harness.venue
    router.submit(order(1, Side.SELL, 100, 1_000_050))  # rests inside the spread
    wait_for(lambda: len(harness.of(OrderAccepted)) == 1)
    venue.disconnect("U7")
    wait_for(lambda: router.sessions[ACCOUNT].state is not SessionState.LIVE)
    router.submit(order(1, Side.BUY, 60, 1_000_050, account=8))  # fills U7 while away
    wait_for(lambda: router.counters["reconnects"] == 1)
    wait_for(lambda: len([f for f in harness.of(OrderFilled) if f.account == ACCOUNT]) == 1)
    mine = [f for f in harness.of(OrderFilled) if f.account == ACCOUNT]
    assert isinstance(mine[0], OrderFilled) and (mine[0].quantity, mine[0].leaves) == (60, 40)
    venue.disconnect("U7")  # again: nothing new to replay, nothing delivered twice
    wait_for(lambda: router.counters["reconnects"] == 2)
    assert len([f for f in harness.of(OrderFilled) if f.account == ACCOUNT]) == 1
    assert router.deadletters.count() == 0
    assert harness.risk.instrument_state(LOCATE).open_sell == 40  # type: ignore[attr-defined]


def test_an_order_lost_with_the_connection_is_dead_lettered_not_resent(
        harness: Harness) -> None:
    router, venue = harness.router, harness.venue
    venue.swallow_inbound(1)  # the Enter Order never arrives
    assert router.submit(order(1)) == []
    venue.disconnect("U7")
    wait_for(lambda: len(harness.of(OrderRejected)) == 1)
    (lost,) = harness.of(OrderRejected)
    assert isinstance(lost, OrderRejected) and lost.source is RejectSource.DISCONNECT
    (dead,) = router.deadletters.list(source="disconnect")
    assert (dead.client_order_id, dead.reason, dead.kind) == (1, "disconnect", "new")
    assert venue.counters["orders"] == 0  # not sent again after the reconnect
    assert harness.risk.instrument_state(LOCATE).open_buy == 0  # type: ignore[attr-defined]
    assert router.counters["dead_lettered"] == 1


def test_orders_while_disconnected_are_refused_at_once(harness: Harness) -> None:
    harness.router.close()
    (out,) = harness.router.submit(order(1))
    assert isinstance(out, OrderRejected) and out.source is RejectSource.DISCONNECT
    assert harness.router.deadletters.count(source="disconnect") == 1
    (out,) = harness.router.submit(order(2, account=99))
    assert isinstance(out, OrderRejected) and "no venue session" in out.reason


def test_an_unanswered_cancel_is_dead_lettered_and_the_order_stays_live(
        harness: Harness) -> None:
    router, venue = harness.router, harness.venue
    router.submit(order(1))
    wait_for(lambda: len(harness.of(OrderAccepted)) == 1)
    venue.swallow_inbound(1)  # the Cancel Order never arrives
    router.submit(CancelOrder(1, ACCOUNT, "test"))
    router.sessions[ACCOUNT].drop()  # the client's side of the connection fails
    wait_for(lambda: router.counters["reconnects"] == 1)
    (dead,) = router.deadletters.list()
    assert (dead.kind, dead.source, dead.client_order_id) == ("cancel", "disconnect", 1)
    assert router.open_orders() == {(ACCOUNT, 1): 100}
    assert harness.of(OrderCanceled) == [] and harness.of(OrderRejected) == []
    router.submit(CancelOrder(1, ACCOUNT, "test"))  # the strategy may cancel again
    wait_for(lambda: len(harness.of(OrderCanceled)) == 1)
    assert harness.risk.instrument_state(LOCATE).open_buy == 0  # type: ignore[attr-defined]


def test_a_replace_the_venue_refuses_leaves_the_order_as_it_was(harness: Harness) -> None:
    router = harness.router
    router.submit(order(1, quantity=100))
    wait_for(lambda: len(harness.of(OrderAccepted)) == 1)
    router.submit(ReplaceOrder(1, 2, ACCOUNT, 0, 999_000, "test"))  # venue: invalid quantity
    wait_for(lambda: len(harness.of(OrderRejected)) == 1)
    (rejected,) = harness.of(OrderRejected)
    assert isinstance(rejected, OrderRejected)
    assert (rejected.client_order_id, rejected.source, rejected.reason) == (
        2, RejectSource.VENUE, "invalid_quantity:19")
    assert router.open_orders() == {(ACCOUNT, 1): 100}
    assert harness.risk.instrument_state(LOCATE).open_buy == 100  # type: ignore[attr-defined]
    assert router.deadletters.list()[0].kind == "replace"


def test_a_fill_is_applied_once_per_match_number(harness: Harness) -> None:
    router = harness.router
    router.submit(order(1, Side.BUY, 300, 999_950))  # the best bid
    wait_for(lambda: len(harness.of(OrderAccepted)) == 1)
    router.submit(order(1, Side.SELL, 100, 999_950, account=8))  # trades with ours
    wait_for(lambda: len([f for f in harness.of(OrderFilled) if f.account == ACCOUNT]) == 1)
    executed = harness.venue.messages("U7")[-1]
    assert executed[:1] == b"E"
    router.on_venue_message(ACCOUNT, 99, executed)  # the same execution, delivered again
    router.on_venue_message(ACCOUNT, 100, b"Q")  # and garbage
    assert len([f for f in harness.of(OrderFilled) if f.account == ACCOUNT]) == 1
    assert router.counters["duplicate_fills"] == 1
    assert router.counters["venue_bad_message_unknown_type"] == 1
    state = harness.risk.instrument_state(LOCATE)  # type: ignore[attr-defined]
    assert state.open_buy == 200  # one account per side, one instrument state: 300 - 100
