"""The trading vocabulary shared by strategies, order entry, the ledger and the archive.

Strategies emit *intents* (:class:`NewOrder`, :class:`CancelOrder`,
:class:`ReplaceOrder`); the order router checks new orders on the device's risk
pipeline and sends what passes to the venue; what comes back is an *outcome*
(:class:`OrderAccepted`, :class:`OrderRejected`, :class:`OrderFilled`,
:class:`OrderCanceled`, :class:`OrderReplaced`), delivered to the strategy that
sent the order, the positions ledger and the archive alike.

Prices are price(4) integers (1 = $0.0001), quantities whole shares, times
nanoseconds since the epoch (``time.time_ns()``), as everywhere in the project.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from nanogate.proto.risk import Side

__all__ = ["CancelOrder", "Intent", "Liquidity", "NewOrder", "OrderAccepted", "OrderCanceled",
           "OrderFilled", "OrderRejected", "OrderReplaced", "Outcome", "RejectSource", "Side",
           "TimeInForce"]


class TimeInForce(enum.IntEnum):
    DAY = 0  # rests on the venue's book until filled or cancelled
    IOC = 1  # immediate or cancel: what does not match at once is cancelled


class RejectSource(enum.StrEnum):
    RISK = "risk"  # the pre-trade risk pipeline refused it (reason: its reject reasons)
    VENUE = "venue"  # the venue sent a Rejected message (reason: its reject code)
    DISCONNECT = "disconnect"  # the session was lost before the venue answered
    HALTED = "halted"  # the control plane halted the strategy before it was sent
    INVALID = "invalid"  # the router refused it: out of range, unknown order, id in use


class Liquidity(enum.StrEnum):
    ADDED = "added"  # our resting order was hit
    REMOVED = "removed"  # our order crossed a resting one


# --- intents: strategy -> router ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewOrder:
    client_order_id: int  # unique per account for the whole day
    account: int
    locate: int
    symbol: str
    side: Side
    quantity: int
    price: int
    strategy: str = ""
    time_in_force: TimeInForce = TimeInForce.DAY
    timestamp_ns: int = 0  # when the strategy decided (tick-to-trade starts at the tick)


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: int
    account: int
    strategy: str = ""
    remaining: int = 0  # shares to leave open; 0 cancels the whole order


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    client_order_id: int  # the live order replaced
    new_client_order_id: int
    account: int
    quantity: int
    price: int
    strategy: str = ""
    timestamp_ns: int = 0


Intent = NewOrder | CancelOrder | ReplaceOrder


# --- outcomes: router -> strategies, ledger, archive ------------------------------------

@dataclass(frozen=True, slots=True)
class OrderAccepted:
    client_order_id: int
    account: int
    venue_order_id: int  # the venue's order reference number
    timestamp_ns: int
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class OrderRejected:
    client_order_id: int
    account: int
    source: RejectSource
    reason: str  # risk: reason names joined by ','; venue: its code and text
    timestamp_ns: int
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class OrderFilled:
    client_order_id: int
    account: int
    locate: int
    symbol: str
    side: Side
    quantity: int
    price: int
    match_number: int  # the venue's execution id: a fill is applied once per match number
    liquidity: Liquidity
    leaves: int  # shares still open after this fill
    timestamp_ns: int
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    client_order_id: int
    account: int
    quantity: int  # shares cancelled by this message
    reason: str  # e.g. "user", "ioc", "halt", "mass-cancel", "disconnect"
    timestamp_ns: int
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class OrderReplaced:
    client_order_id: int  # the order that was replaced
    new_client_order_id: int
    account: int
    quantity: int
    price: int
    venue_order_id: int
    timestamp_ns: int
    strategy: str = ""


Outcome = OrderAccepted | OrderRejected | OrderFilled | OrderCanceled | OrderReplaced
