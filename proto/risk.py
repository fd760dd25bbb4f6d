"""Pre-trade risk (SEC Rule 15c3-5): records, reason bits and the limits register map.

Everything the risk pipeline (``nanogate.hw.risk``), its golden model
(``nanogate.gateway.device.software_risk``), the limits loader and the drivers share is
defined here once: the :class:`RecordLayout` of an order, an update (fill or cancel) and
a decision; the reject reasons and their bits; the flag bits of a table entry; the
arithmetic constants of the checks; the register map through which limits are written.
docs/hw-risk.md states the semantics of every check.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from nanogate.proto.records import RecordField, RecordLayout
from nanogate.proto.regmap import Access, Register, RegisterMap, register_map


class Side(enum.IntEnum):
    BUY = 0
    SELL = 1
    SELL_SHORT = 2


#: CSV / CLI spelling of each side.
SIDE_NAMES: dict[str, Side] = {"buy": Side.BUY, "sell": Side.SELL, "sell_short": Side.SELL_SHORT}


class UpdateKind(enum.IntEnum):
    FILL = 1
    CANCEL = 2


class Reason(enum.IntFlag):
    """Reject reasons: bit ``n`` of ``Decision.reasons``. Names are the ones every
    interface (CLI, gRPC, docs) uses; the order is the bit order."""

    MAX_QTY = 1 << 0
    MAX_NOTIONAL = 1 << 1
    PRICE_COLLAR = 1 << 2
    CREDIT = 1 << 3
    POSITION = 1 << 4
    RATE = 1 << 5
    RESTRICTED = 1 << 6
    DUPLICATE_ID = 1 << 7
    HALTED = 1 << 8
    REDUCE_ONLY = 1 << 9


#: Reason names in bit order.
REASON_NAMES: tuple[str, ...] = tuple(str(r.name).lower() for r in Reason)
_REASON_BY_NAME: dict[str, Reason] = {str(r.name).lower(): r for r in Reason}


def reason_names(mask: int) -> list[str]:
    """The names of the reasons set in ``mask``, in bit order."""
    return [name for bit, name in enumerate(REASON_NAMES) if mask >> bit & 1]


def reason_mask(names: list[str] | tuple[str, ...]) -> int:
    mask = 0
    for name in names:
        try:
            mask |= _REASON_BY_NAME[name]
        except KeyError:
            raise ValueError(f"unknown reject reason {name!r} "
                             f"(known: {', '.join(REASON_NAMES)})") from None
    return mask


class InstrumentFlags(enum.IntFlag):
    LISTED = 1  # the entry was written: an unlisted instrument is `restricted`
    RESTRICTED = 2
    HALTED = 4


class AccountFlags(enum.IntFlag):
    LISTED = 1  # the entry was written: an unlisted account is `halted`
    HALTED = 2
    REDUCE_ONLY = 4


# --- arithmetic of the checks (both implementations use these) -----------------------

#: Basis points in one: the collar check is |price - ref| * BPS > ref * collar_bps.
BPS = 10_000
#: Token-bucket units per order: the bucket counts in order x 1e-9, so refill is
#: dt_ns x rate_per_s with no division (see docs/hw-risk.md, "rate").
TOKEN = 1_000_000_000
#: A duplicate is a client order id seen within this many orders of the same account.
DUP_WINDOW = 1 << 16
#: Widths of the state the pipeline keeps (model and hardware wrap or saturate alike).
POSITION_BITS = 48  # signed net position and the open quantities (shares)
NOTIONAL_BITS = 64  # open and filled notional, price(4) x shares, saturating
DEFICIT_BITS = 48  # tokens missing from a full bucket, in TOKEN units
SEQ_BITS = 32  # orders seen per account (duplicate window), wrapping
TIMESTAMP_BITS = 64
#: Pipeline latency: order taken at cycle c -> its decision offered at cycle c + 3.
LATENCY_CYCLES = 3


def dup_hash(client_order_id: int, account: int, bits: int) -> int:
    """Slot of (account, client order id) in the duplicate-id table of 2**bits entries.

    Written with ``>>``, ``^``, ``&`` and ``*`` by constants only, so the gateware calls
    this very function on Amaranth values: one definition for model and hardware.
    Sequential ids of one account land in distinct slots (XOR fold of the id); the
    account is spread by Fibonacci hashing so that equal ids of different accounts differ.
    """
    mask = (1 << bits) - 1
    slot = 0
    for shift in range(0, 64, bits):
        slot ^= (client_order_id >> shift) & mask
    return (slot ^ (((account * 0x9E3779B1) & 0xFFFF_FFFF) >> (32 - bits))) & mask


# --- records -------------------------------------------------------------------------

ORDER = RecordLayout("Order", (
    RecordField("client_order_id", 64, "client order id, unique per account"),
    RecordField("account", 16, "account index"),
    RecordField("stock_locate", 16, "instrument (stock locate code)"),
    RecordField("side", 8, "0 buy, 1 sell, 2 sell short"),
    RecordField("flags", 8, "reserved for the order-entry protocol; the checks ignore it"),
    RecordField("quantity", 32, "shares"),
    RecordField("price", 32, "limit price, price(4)"),
    RecordField("timestamp_ns", 64, "time the order was sent (ns); drives the token bucket"),
), doc="An order on its way to the venue: what the risk pipeline checks (30 bytes).")

UPDATE = RecordLayout("RiskUpdate", (
    RecordField("client_order_id", 64, "client order id of the order filled or cancelled"),
    RecordField("account", 16, "account index"),
    RecordField("stock_locate", 16, "instrument (stock locate code)"),
    RecordField("side", 8, "side of the order: 0 buy, 1 sell, 2 sell short"),
    RecordField("kind", 8, "1 fill, 2 cancel"),
    RecordField("quantity", 32, "shares filled or cancelled"),
    RecordField("price", 32, "fill: execution price; cancel: the order's limit price"),
), doc="A fill or a cancel of an accepted order: releases its open exposure (22 bytes).")

DECISION = RecordLayout("Decision", (
    RecordField("client_order_id", 64, "client order id of the order decided"),
    RecordField("accepted", 1, "1 when no check failed"),
    RecordField("reasons", 15, "Reason bits of every failing check (0 when accepted)"),
    RecordField("cycle", 48, "cycle the decision was made (hardware counter since reset)"),
), doc="The verdict on one order, in order (16 bytes).")

ORDER_DTYPE = ORDER.numpy_dtype()
UPDATE_DTYPE = UPDATE.numpy_dtype()
DECISION_DTYPE = DECISION.numpy_dtype()


# --- limits: one table entry's fields, and the register map ---------------------------

@dataclass(frozen=True)
class LimitField:
    """One limit of a table entry: its limits-file key, register and width."""

    key: str
    register: str
    bits: int
    doc: str
    flag: int = 0  # nonzero: a boolean stored as this bit of the entry's flags register


INSTRUMENT_FIELDS: tuple[LimitField, ...] = (
    LimitField("reference_price", "inst_reference_price", 32, "reference price, price(4)"),
    LimitField("collar_bps", "inst_collar_bps", 16, "price collar around the reference, bps"),
    LimitField("max_qty", "inst_max_qty", 32, "largest order quantity"),
    LimitField("max_notional", "inst_max_notional", 64,
               "largest order notional, price(4) x shares"),
    LimitField("max_long", "inst_max_long", 32, "largest net long position, shares"),
    LimitField("max_short", "inst_max_short", 32, "largest net short position, shares"),
    LimitField("restricted", "inst_flags", 1, "restricted list", InstrumentFlags.RESTRICTED),
    LimitField("halted", "inst_flags", 1, "trading halted", InstrumentFlags.HALTED),
)

ACCOUNT_FIELDS: tuple[LimitField, ...] = (
    LimitField("credit_limit", "acct_credit_limit", 64,
               "largest open + filled notional, price(4) x shares"),
    LimitField("rate_per_s", "acct_rate_per_s", 24, "orders per second (token refill)"),
    LimitField("burst", "acct_burst", 16, "token bucket size, orders"),
    LimitField("halted", "acct_flags", 1, "account halted", AccountFlags.HALTED),
    LimitField("reduce_only", "acct_flags", 1, "account may only reduce positions",
               AccountFlags.REDUCE_ONLY),
)

#: Counters, each a 32-bit read-only register (wrapping), in this order.
COUNTERS: tuple[str, ...] = (
    "orders", "accepted", "rejected", "fills", "cancels", "updates_dropped",
    *(f"reject_{name}" for name in REASON_NAMES),
)


_COUNTER_DOCS = {
    "orders": "orders decided", "accepted": "orders accepted", "rejected": "orders rejected",
    "fills": "fills applied", "cancels": "cancels applied",
    "updates_dropped": "updates dropped: unknown kind, locate or account outside the tables",
    **{f"reject_{name}": f"orders rejected with `{name}` among their reasons"
       for name in REASON_NAMES},
}


def _registers() -> list[Register]:
    regs = [
        Register("kill_switch", Access.RW, 1, "global kill switch: every order is `halted`"),
        Register("table_sizes", Access.RO, 24,
                 "log2 of the instrument [7:0], account [15:8] and duplicate-id [23:16] "
                 "table sizes"),
    ]
    for prefix, fields, flags, what in (
            ("inst", INSTRUMENT_FIELDS, InstrumentFlags, "a locate"),
            ("acct", ACCOUNT_FIELDS, AccountFlags, "an account")):
        for f in fields:
            if not f.flag:
                regs.append(Register(f.register, Access.RW, f.bits, f"staged: {f.doc}"))
        bits = ", ".join(f"{int(flag)} {str(flag.name).lower()}" for flag in flags)
        regs.append(Register(f"{prefix}_flags", Access.RW, 3, f"staged flags: {bits}"))
        regs.append(Register(f"{prefix}_commit", Access.WO, 16,
                             f"write {what}: the staged fields become its table entry"))
    regs += [
        Register("state_clear", Access.WO, 1,
                 "write 1: zero every position, open/filled notional, token bucket and "
                 "duplicate-id entry (start of day); orders wait until it is done"),
        Register("status", Access.RO, 1, "bit 0: a state clear is in progress"),
    ]
    regs += [Register(name, Access.RO, 32, _COUNTER_DOCS.get(name, "")) for name in COUNTERS]
    return regs


RISK_REGMAP: RegisterMap = register_map(
    "risk", _registers(),
    doc="Limits are staged in the `inst_*` / `acct_*` registers and written to the table "
        "entry named by a write to `inst_commit` / `acct_commit` (the staged values stay, "
        "so one staged entry can be committed to many indices). A write takes effect for "
        "every order taken after its response.")


def table_sizes_value(instrument_bits: int, account_bits: int, dup_bits: int) -> int:
    return instrument_bits | account_bits << 8 | dup_bits << 16


def entry_writes(fields: tuple[LimitField, ...], values: dict[str, int | bool],
                 listed_flag: int) -> list[tuple[str, int]]:
    """Register writes that stage one table entry (values by limits-file key)."""
    writes: list[tuple[str, int]] = []
    flags = listed_flag
    for f in fields:
        value = int(values[f.key])
        if f.flag:
            flags |= f.flag if value else 0
        else:
            writes.append((f.register, value))
    flag_register = fields[0].register.split("_")[0] + "_flags"
    writes.append((flag_register, flags))
    return writes
