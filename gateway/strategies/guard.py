"""The spec's loss limits, checked against a strategy's equity (realized + unrealized - fees).

Capital is the spec's ``maxPositionSize``, in dollars: the notional the
strategy may hold, and the credit limit its account gets on the risk pipeline.
Every limit below is a percentage of it, and every loss is measured on the
strategy's own equity from the ledger (:meth:`Ledger.equity_of`), which starts
the day at 0; equity is a step function of the samples given to :meth:`Guard.check`.

- ``riskLimit``: loss since the start of the day, -equity, reaching
  riskLimit% of capital.
- ``riskControls.stopLoss``: loss over the trailing ``timeWindow``, equity at
  (now - timeWindow) minus equity now, reaching threshold% of capital.
- ``riskControls.drawdownLimit``: the highest equity within the trailing
  ``lookbackPeriod`` minus equity now, reaching maxDrawdown% of capital.

A loss equal to the limit breaches; a cent under does not. The first breach is
returned once (and kept in ``breach``); :meth:`Guard.rearm` checks again, e.g.
after the control plane resumes the strategy.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from nanogate.gateway.strategies.base import SpecLike
from nanogate.gateway.strategies.params import StrategyConfigError

__all__ = ["Breach", "Guard", "capital", "duration_ns"]

_UNITS_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9, "d": 86_400 * 10**9}
_SUFFIX = {"K": 10**3, "M": 10**6, "B": 10**9}


@dataclass(frozen=True, slots=True)
class Breach:
    strategy: str
    account: int
    rule: str  # "riskLimit", "stopLoss" or "drawdownLimit"
    value: float  # the loss measured, dollars
    limit: float  # the loss allowed, dollars
    timestamp_ns: int

    def __str__(self) -> str:
        return (f"{self.strategy} (account {self.account}): {self.rule} breached, "
                f"loss ${self.value:,.2f} >= limit ${self.limit:,.2f}")


def duration_ns(text: str) -> int:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h|d)", text)
    if not match:
        raise ValueError(f"expected a duration such as '50us' or '1m', found {text!r}")
    return int(Decimal(match[1]) * _UNITS_NS[match[2]])


def _percent(text: str) -> Decimal:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?%", text):
        raise ValueError(f"expected a percentage such as '0.5%', found {text!r}")
    return Decimal(text[:-1])


def capital(spec: SpecLike) -> float:
    """The spec's ``maxPositionSize`` in dollars (K, M, B suffixes)."""
    text = str(spec.spec["maxPositionSize"])
    scale = _SUFFIX.get(text[-1], 1)
    return float(Decimal(text.rstrip("KMB")) * scale)


class Guard:
    """One strategy's loss limits; :meth:`check` with its equity as often as it changes."""

    def __init__(self, spec: SpecLike) -> None:
        self.strategy, self.account = spec.name, spec.account
        body = spec.spec
        try:
            self.capital = capital(spec)
            self.risk_limit = self._dollars(str(body["riskLimit"]))
            controls = body.get("riskControls", {})
            stop, drawdown = controls.get("stopLoss", {}), controls.get("drawdownLimit", {})
            self.stop_loss = (self._dollars(stop["threshold"]),
                              duration_ns(stop.get("timeWindow", "1d"))) \
                if stop.get("enabled") else None
            self.drawdown = (self._dollars(drawdown["maxDrawdown"]),
                             duration_ns(drawdown.get("lookbackPeriod", "1d"))) \
                if drawdown.get("enabled") else None
        except (KeyError, ValueError, ArithmeticError) as error:
            raise StrategyConfigError(f"strategy {self.strategy}: risk controls: {error}") \
                from None
        self._stop_window = _Window(self.stop_loss[1]) if self.stop_loss else None
        self._drawdown_window = _Window(self.drawdown[1]) if self.drawdown else None
        self.breach: Breach | None = None

    def _dollars(self, percentage: str) -> float:
        return float(_percent(percentage) / 100 * Decimal(repr(self.capital)))

    def check(self, timestamp_ns: int, equity: float) -> Breach | None:
        """The first limit ``equity`` now breaches, once; None otherwise (and after)."""
        self._remember(timestamp_ns, equity)
        if self.breach is not None:
            return None
        found = self._find(timestamp_ns, equity)
        self.breach = found
        return found

    def rearm(self) -> None:
        self.breach = None

    def _find(self, now: int, equity: float) -> Breach | None:
        if -equity >= self.risk_limit:
            return self._breach("riskLimit", -equity, self.risk_limit, now)
        if self.stop_loss is not None and self._stop_window is not None:
            loss = self._stop_window.start - equity
            if loss >= self.stop_loss[0]:
                return self._breach("stopLoss", loss, self.stop_loss[0], now)
        if self.drawdown is not None and self._drawdown_window is not None:
            drawdown = self._drawdown_window.peak - equity
            if drawdown >= self.drawdown[0]:
                return self._breach("drawdownLimit", drawdown, self.drawdown[0], now)
        return None

    def _breach(self, rule: str, value: float, limit: float, now: int) -> Breach:
        return Breach(self.strategy, self.account, rule, value, limit, now)

    def _remember(self, now: int, equity: float) -> None:
        for window in (self._stop_window, self._drawdown_window):
            if window is not None:
                window.push(now, equity)


class _Window:
    """Equity over the trailing ``length`` ns, O(1) amortised per sample.

    ``start`` is the equity in force at (now - length): the latest sample at or
    before it, 0 before the first. ``peak`` is the highest equity in force at
    any time in the window: ``start`` or a sample inside it (a deque of samples
    with falling equity, newest last, gives it without a scan).
    """

    __slots__ = ("_falling", "_samples", "length", "start")

    def __init__(self, length: int) -> None:
        self.length = length
        self.start = 0.0
        self._samples: deque[tuple[int, float]] = deque()  # inside the window, oldest first
        self._falling: deque[tuple[int, float]] = deque()  # candidates for the peak

    def push(self, now: int, equity: float) -> None:
        edge = now - self.length
        samples, falling = self._samples, self._falling
        samples.append((now, equity))
        while falling and falling[-1][1] <= equity:
            falling.pop()
        falling.append((now, equity))
        while samples and samples[0][0] <= edge:
            self.start = samples.popleft()[1]
        while falling and falling[0][0] <= edge:
            falling.popleft()

    @property
    def peak(self) -> float:
        return max(self.start, self._falling[0][1]) if self._falling else self.start
