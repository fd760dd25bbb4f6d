from __future__ import annotations

import pytest

from nanogate.gateway.strategies.ledger import Exposure, Ledger
from nanogate.gateway.trading import Side

from .kit import raw_fill

BUY, SELL = Side.BUY, Side.SELL


def test_average_cost_realizes_on_reductions_and_flips() -> None:
    ledger = Ledger()
    for i, (side, qty, dollars) in enumerate([(BUY, 100, 10), (BUY, 100, 12), (SELL, 50, 13),
                                              (SELL, 250, 9)]):
        assert ledger.apply(raw_fill(side, qty, dollars * 10_000, match=i + 1))
    p = ledger.position(7, 1)
    # avg 11.00; 50 sold at 13: +100; 150 sold at 9: -300; short 100 opened at 9
    assert p.quantity == -100 and p.average_price == 90_000
    assert p.realized == pytest.approx(-200.0)
    ledger.mark(1, 80_000)  # short 100 from 9.00, now 8.00: +100
    assert p.unrealized(80_000) == pytest.approx(100.0)
    assert ledger.equity(7) == pytest.approx(-100.0)
    assert (p.bought, p.sold) == (200, 300)


def test_covering_a_short_below_its_price_gains() -> None:
    ledger = Ledger()
    ledger.apply(raw_fill(SELL, 100, 100_000, 1))
    ledger.apply(raw_fill(BUY, 40, 90_000, 2))
    ledger.apply(raw_fill(BUY, 60, 95_000, 3))
    p = ledger.position(7, 1)
    assert p.quantity == 0 and p.average_price is None
    assert p.realized == pytest.approx(40 * 1.0 + 60 * 0.5)


def test_partial_fills_count_and_a_replayed_fill_does_not() -> None:
    ledger = Ledger()
    assert ledger.apply(raw_fill(BUY, 30, 100_000, match=5, client_order_id=9))
    assert ledger.apply(raw_fill(BUY, 70, 100_000, match=6, client_order_id=9))
    assert not ledger.apply(raw_fill(BUY, 70, 100_000, match=6, client_order_id=9))
    assert ledger.position(7, 1).quantity == 100 and ledger.duplicates == 1
    # both sides of one match between two of our own orders count
    assert ledger.apply(raw_fill(SELL, 10, 100_000, match=6, client_order_id=10))
    assert ledger.position(7, 1).quantity == 90


@pytest.mark.parametrize(("qty", "price"), [(0, 100_000), (-5, 100_000), (10, 0)])
def test_an_invalid_fill_is_counted_and_dropped(qty: int, price: int) -> None:
    ledger = Ledger()
    assert not ledger.apply(raw_fill(BUY, qty, price, 1))
    assert ledger.invalid == 1 and ledger.position(7, 1).quantity == 0


def test_strategies_sharing_an_account_are_kept_apart() -> None:
    ledger = Ledger()
    ledger.apply(raw_fill(BUY, 100, 100_000, 1, strategy="mm"))
    ledger.apply(raw_fill(SELL, 40, 110_000, 2, strategy="mom", client_order_id=2))
    assert ledger.position(7, 1).quantity == 60
    assert ledger.strategy_position("mm", 1).quantity == 100
    assert ledger.strategy_position("mom", 1).quantity == -40
    ledger.mark(1, 120_000)
    assert ledger.equity_of("mm") == pytest.approx(200.0)
    assert ledger.equity_of("mom") == pytest.approx(-40.0)
    assert ledger.equity(7) == pytest.approx(160.0)


def test_exposure_gross_and_net_at_the_marks() -> None:
    ledger = Ledger()
    ledger.apply(raw_fill(BUY, 100, 95_000, 1, locate=1))
    ledger.apply(raw_fill(SELL, 50, 210_000, 2, locate=2))
    ledger.mark(1, 100_000)
    ledger.mark(2, 200_000)
    ledger.mark(2, None)  # a one-sided book keeps the last mark
    assert ledger.exposure(7) == Exposure(gross=2_000.0, net=0.0)
    assert ledger.exposure(8) == Exposure(0.0, 0.0)


def test_fees_and_equity_samples() -> None:
    ledger = Ledger(fee_per_share=0.001)
    ledger.apply(raw_fill(BUY, 100, 100_000, 1))
    ledger.sample(1_000)
    ledger.apply(raw_fill(SELL, 100, 101_000, 2))
    ledger.sample(2_000)
    assert ledger.equity(7) == pytest.approx(10.0 - 0.2)
    assert ledger.account_equity[7] == [(1_000, pytest.approx(-0.1)), (2_000, pytest.approx(9.8))]
    assert ledger.strategy_equity["s1"][-1] == (2_000, pytest.approx(9.8))


def test_unmarked_positions_are_worth_their_cost() -> None:
    ledger = Ledger()
    ledger.apply(raw_fill(BUY, 100, 100_000, 1))
    assert ledger.equity(7) == 0.0 and ledger.exposure(7).gross == 1_000.0
