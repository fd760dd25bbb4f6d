from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from nanogate.gateway.strategies.guard import Guard, _Window, capital, duration_ns
from nanogate.gateway.strategies.ledger import Ledger
from nanogate.gateway.strategies.params import StrategyConfigError
from nanogate.gateway.trading import Side

from .kit import make_spec, raw_fill

S = 1_000_000_000


def guard(risk_limit: str = "100%", **controls: Any) -> Guard:
    # capital $10M: 1% is $100,000
    return Guard(make_spec(riskLimit=risk_limit, riskControls=controls))


@pytest.mark.parametrize(("equity", "breached"), [(-49_999.99, False), (-50_000.0, True)])
def test_risk_limit_at_its_threshold(equity: float, breached: bool) -> None:
    g = guard("0.5%")
    found = g.check(S, equity)
    assert (found is not None) == breached
    if found:
        assert (found.rule, found.value, found.limit) == ("riskLimit", 50_000.0, 50_000.0)
        assert (found.strategy, found.account, found.timestamp_ns) == ("s1", 7, S)
        assert "riskLimit breached" in str(found)


@pytest.mark.parametrize(("equity", "breached"), [(100_000.01, False), (100_000.0, True)])
def test_stop_loss_over_its_window(equity: float, breached: bool) -> None:
    g = guard(stopLoss={"enabled": True, "threshold": "1%", "timeWindow": "1m"})
    assert g.check(0, 200_000.0) is None
    found = g.check(62 * S, equity)  # equity 60 s before: 200,000
    assert (found is not None) == breached
    if found:
        assert (found.rule, found.value, found.limit) == ("stopLoss", 100_000.0, 100_000.0)


def test_a_loss_slower_than_the_stop_loss_window_does_not_stop() -> None:
    g = guard(stopLoss={"enabled": True, "threshold": "1%", "timeWindow": "1m"})
    assert g.check(0, 200_000.0) is None
    assert g.check(50 * S, 150_000.0) is None
    assert g.check(120 * S, 100_000.0) is None  # 150,000 at 60 s: a 50,000 loss in the window


@pytest.mark.parametrize(("equity", "breached"), [(100_000.01, False), (100_000.0, True)])
def test_drawdown_from_the_peak_in_the_lookback(equity: float, breached: bool) -> None:
    g = guard(drawdownLimit={"enabled": True, "maxDrawdown": "5%", "lookbackPeriod": "1h"})
    assert g.check(0, 0.0) is None
    assert g.check(5 * S, 600_000.0) is None
    assert g.check(10 * S, 300_000.0) is None
    found = g.check(20 * S, equity)
    assert (found is not None) == breached
    if found:
        assert (found.rule, found.value) == ("drawdownLimit", 500_000.0)


def test_a_peak_older_than_the_lookback_is_forgotten() -> None:
    g = guard(drawdownLimit={"enabled": True, "maxDrawdown": "5%", "lookbackPeriod": "1m"})
    g.check(0, 600_000.0)
    for t in range(1, 200):
        assert g.check(t * S, 300_000.0) is None
    assert g.check(200 * S, 0.0) is None  # peak within the last minute: 300,000
    assert g._drawdown_window is not None and len(g._drawdown_window._samples) <= 60


def test_disabled_controls_do_not_stop() -> None:
    g = guard(stopLoss={"enabled": False, "threshold": "1%"},
              drawdownLimit={"enabled": False, "maxDrawdown": "1%"})
    assert g.stop_loss is None and g.drawdown is None
    assert g.check(0, 500_000.0) is None and g.check(S, -99_000.0) is None


def test_a_breach_is_reported_once_until_rearmed() -> None:
    g = guard("0.5%")
    assert g.check(S, -60_000.0) is not None
    assert g.check(2 * S, -70_000.0) is None and g.breach is not None
    g.rearm()
    assert g.check(3 * S, -70_000.0) is not None


def test_checks_the_ledger_equity_of_the_strategy() -> None:
    ledger = Ledger()
    ledger.apply(raw_fill(Side.BUY, 10_000, 1_000_000, 1))  # $1M of stock at $100
    ledger.mark(1, 950_000)  # down $5 a share: -$50,000
    assert guard("0.5%").check(S, ledger.equity_of("s1")) is not None


def test_capital_and_durations() -> None:
    assert capital(make_spec(maxPositionSize="2.5M")) == 2_500_000.0
    assert capital(make_spec(maxPositionSize=750)) == 750.0
    assert duration_ns("50us") == 50_000 and duration_ns("1.5h") == 5_400 * S
    with pytest.raises(ValueError, match="duration"):
        duration_ns("5 minutes")


def test_a_bad_control_is_a_clear_error() -> None:
    spec = SimpleNamespace(name="x", account=1, instruments=["AAPL"], spec={
        "riskLimit": "1%", "maxPositionSize": "1M",
        "riskControls": {"stopLoss": {"enabled": True, "threshold": "1%",
                                      "timeWindow": "soon"}}})
    with pytest.raises(StrategyConfigError, match=r"strategy x: risk controls: .*'soon'"):
        Guard(spec)


def test_the_trailing_window_matches_a_brute_force_scan() -> None:
    rng = random.Random(3)
    window, samples, now = _Window(10 * S), [], 0
    for _ in range(2_000):
        now += rng.choice((0, 1, 2, 5, 11)) * S
        equity = rng.uniform(-100.0, 100.0)
        window.push(now, equity)
        samples.append((now, equity))
        before = [v for t, v in samples if t <= now - 10 * S]
        start = before[-1] if before else 0.0
        assert window.start == start
        assert window.peak == max([start] + [v for t, v in samples if t > now - 10 * S])
