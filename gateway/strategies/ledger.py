"""Positions and PnL per (account, instrument) and per (strategy, instrument), from fills.

Average-cost accounting: a fill that adds to a position (or opens one) adds its
cost; one that reduces it realizes (fill price - average price) x shares
closed, sign by the position's side; one that goes through zero closes the old
position and opens the rest at the fill price. Unrealized PnL marks the open
position to the instrument's last mid (:meth:`Ledger.mark`; the average price
until one is given). Money is in dollars (price(4) / 10,000).

A fill counts once: its key is (account, client order id, match number), so a
replayed fill is dropped and counted in ``duplicates``, while the two sides of
one match between two of our own orders both count. A fill with no shares or
no price is dropped and counted in ``invalid``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from nanogate.gateway.trading import OrderFilled, Side

__all__ = ["PRICE_SCALE", "Exposure", "Ledger", "Position"]

PRICE_SCALE = 10_000  # price(4) units per dollar


@dataclass(slots=True)
class Position:
    quantity: int = 0  # shares, negative when short
    cost: float = 0.0  # price(4) x shares of the open quantity at its average price (signed)
    realized: float = 0.0  # dollars
    fees: float = 0.0  # dollars
    bought: int = 0
    sold: int = 0

    @property
    def average_price(self) -> float | None:
        """Average entry price of the open quantity, price(4); None when flat."""
        return self.cost / self.quantity if self.quantity else None

    def unrealized(self, mark: float | None) -> float:
        """Dollars gained if the open quantity closed at ``mark`` (price(4)); 0 without one."""
        if not self.quantity or mark is None:
            return 0.0
        return (mark * self.quantity - self.cost) / PRICE_SCALE

    def apply(self, signed: int, price: int, fee: float) -> None:
        q = self.quantity
        self.fees += fee
        if signed > 0:
            self.bought += signed
        else:
            self.sold -= signed
        if q == 0 or (q > 0) == (signed > 0):  # opens or adds
            self.quantity += signed
            self.cost += signed * price
            return
        closed = min(abs(signed), abs(q))
        average = self.cost / q
        direction = 1 if q > 0 else -1
        self.realized += closed * (price - average) * direction / PRICE_SCALE
        self.quantity -= closed * direction
        self.cost = self.quantity * average
        rest = abs(signed) - closed
        if rest:  # through zero: the rest opens the other way at the fill price
            self.quantity = rest * -direction
            self.cost = self.quantity * price


@dataclass(frozen=True, slots=True)
class Exposure:
    gross: float  # dollars: sum of |shares| x mark
    net: float  # dollars: sum of shares x mark (long positive)


@dataclass
class Ledger:
    """Every fill of the day, applied once, with marks and equity samples."""

    fee_per_share: float = 0.0  # dollars a share, charged on every fill
    accounts: dict[tuple[int, int], Position] = field(
        default_factory=lambda: defaultdict(Position))  # (account, locate)
    strategies: dict[tuple[str, int], Position] = field(
        default_factory=lambda: defaultdict(Position))  # (strategy, locate)
    marks: dict[int, float] = field(default_factory=dict)  # locate -> mid, price(4)
    account_equity: dict[int, list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list))  # (timestamp ns, dollars)
    strategy_equity: dict[str, list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list))
    duplicates: int = 0
    invalid: int = 0
    _seen: set[tuple[int, int, int]] = field(default_factory=set)

    def apply(self, fill: OrderFilled) -> bool:
        """Count ``fill`` once; False (and counted) for a replay or an invalid fill."""
        if fill.quantity <= 0 or fill.price <= 0:
            self.invalid += 1
            return False
        key = (fill.account, fill.client_order_id, fill.match_number)
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(key)
        signed = fill.quantity if fill.side == Side.BUY else -fill.quantity
        fee = fill.quantity * self.fee_per_share
        self.accounts[fill.account, fill.locate].apply(signed, fill.price, fee)
        self.strategies[fill.strategy, fill.locate].apply(signed, fill.price, fee)
        return True

    def mark(self, locate: int, mid: float | None) -> None:
        """The price open positions in ``locate`` are worth (a one-sided book: keep the last)."""
        if mid is not None and mid > 0:
            self.marks[locate] = mid

    def position(self, account: int, locate: int) -> Position:
        return self.accounts.get((account, locate)) or Position()

    def strategy_position(self, strategy: str, locate: int) -> Position:
        return self.strategies.get((strategy, locate)) or Position()

    def _equity(self, positions: list[tuple[int, Position]]) -> float:
        return sum(p.realized - p.fees + p.unrealized(self._mark(locate, p))
                   for locate, p in positions)

    def _mark(self, locate: int, position: Position) -> float | None:
        return self.marks.get(locate, position.average_price)

    def equity(self, account: int) -> float:
        """Realized + unrealized - fees of ``account``, dollars."""
        return self._equity([(k[1], p) for k, p in self.accounts.items() if k[0] == account])

    def equity_of(self, strategy: str) -> float:
        return self._equity([(k[1], p) for k, p in self.strategies.items() if k[0] == strategy])

    def exposure(self, account: int) -> Exposure:
        gross = net = 0.0
        for (owner, locate), p in self.accounts.items():
            mark = self._mark(locate, p)
            if owner == account and p.quantity and mark is not None:
                gross += abs(p.quantity) * mark / PRICE_SCALE
                net += p.quantity * mark / PRICE_SCALE
        return Exposure(gross, net)

    def sample(self, timestamp_ns: int) -> None:
        """Append every account's and strategy's equity now to their series."""
        for account in {k[0] for k in self.accounts}:
            self.account_equity[account].append((timestamp_ns, self.equity(account)))
        for strategy in {k[0] for k in self.strategies}:
            self.strategy_equity[strategy].append((timestamp_ns, self.equity_of(strategy)))
