"""The golden model of the pre-trade risk pipeline: the ``software`` device backend.

Bit-exact with ``nanogate.hw.risk``: the same register map, the same tables and
state widths, the same decisions and counters, processing one operation (order or
update) at a time in the order the pipeline takes them. Every formula below is the
one docs/hw-risk.md states; the hardware tests compare against this model record
for record. The one field that depends on timing is ``Decision.cycle``: here it is
the index of the operation plus :data:`LATENCY_CYCLES` - 1, which is what the
hardware reports when operations stream in one per cycle from cycle 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nanogate.gateway.device import DeviceError
from nanogate.proto.regmap import Access, RegisterMap
from nanogate.proto.risk import (
    BPS,
    COUNTERS,
    DECISION,
    DECISION_DTYPE,
    DEFICIT_BITS,
    DUP_WINDOW,
    LATENCY_CYCLES,
    NOTIONAL_BITS,
    POSITION_BITS,
    REASON_NAMES,
    RISK_REGMAP,
    SEQ_BITS,
    TOKEN,
    AccountFlags,
    InstrumentFlags,
    Reason,
    Side,
    UpdateKind,
    dup_hash,
    table_sizes_value,
)

_POS_MASK = (1 << POSITION_BITS) - 1
_NOTIONAL_MAX = (1 << NOTIONAL_BITS) - 1
_DEFICIT_MASK = (1 << DEFICIT_BITS) - 1
_SEQ_MASK = (1 << SEQ_BITS) - 1
_CYCLE_MASK = (1 << DECISION.field("cycle").bits) - 1


def wrap_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def sat_sub(a: int, b: int) -> int:
    return a - b if a > b else 0


def log2_size(name: str, size: int) -> int:
    """log2 of a table size, which must be a power of two (the address is its low bits)."""
    if size < 2 or size & (size - 1) or size > 1 << 16:
        raise DeviceError(f"{name}={size}: table sizes are powers of two from 2 to 65536")
    return size.bit_length() - 1


@dataclass
class InstrumentEntry:
    reference_price: int = 0
    collar_bps: int = 0
    max_qty: int = 0
    max_notional: int = 0
    max_long: int = 0
    max_short: int = 0
    flags: int = 0  # InstrumentFlags; 0 = never written, i.e. unlisted


@dataclass
class AccountEntry:
    credit_limit: int = 0
    rate_per_s: int = 0
    burst: int = 0
    flags: int = 0  # AccountFlags


@dataclass
class InstrumentState:
    net_position: int = 0  # signed, POSITION_BITS, wrapping
    open_buy: int = 0  # shares in accepted, not yet filled or cancelled buys
    open_sell: int = 0  # the same for sells and short sales


@dataclass
class AccountState:
    open_notional: int = 0
    filled_notional: int = 0  # saturating
    deficit: int = 0  # TOKEN units missing from a full bucket (0 = full)
    last_ns: int = 0  # latest order timestamp seen
    seq: int = 0  # orders checked for this account (wrapping)


@dataclass
class DupEntry:
    account: int
    client_order_id: int
    seq: int


@dataclass
class SoftwareRiskEngine:
    """The risk pipeline in Python. Table sizes are powers of two, as in the gateware."""

    instruments: int = 8192
    accounts: int = 1024
    dup_bits: int = 16
    dup_window: int = DUP_WINDOW
    regmap: RegisterMap = field(default=RISK_REGMAP, init=False)

    def __post_init__(self) -> None:
        self._instrument_bits = log2_size("instruments", self.instruments)
        self._account_bits = log2_size("accounts", self.accounts)
        if not 1 <= self.dup_bits <= 20:
            raise DeviceError(f"dup_bits={self.dup_bits}: 1 to 20")
        if not 1 <= self.dup_window < 1 << SEQ_BITS:
            raise DeviceError(f"dup_window={self.dup_window}: 1 to 2**{SEQ_BITS} - 1")
        self._regs: dict[str, int] = {r.name: r.reset for r in self.regmap.registers}
        self._regs["table_sizes"] = table_sizes_value(
            self._instrument_bits, self._account_bits, self.dup_bits)
        self._inst = [InstrumentEntry() for _ in range(self.instruments)]
        self._acct = [AccountEntry() for _ in range(self.accounts)]
        self._inst_state = [InstrumentState() for _ in range(self.instruments)]
        self._acct_state = [AccountState() for _ in range(self.accounts)]
        self._dup: dict[int, DupEntry] = {}
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._ops = 0

    # --- registers ---------------------------------------------------------------

    def read_register(self, name: str) -> int:
        register = self.regmap.register(name)
        if name in self._counters:
            return self._counters[name]
        return 0 if register.access is Access.WO else self._regs[name]

    def write_register(self, name: str, value: int) -> None:
        register = self.regmap.register(name)
        if register.access is Access.RO:
            raise DeviceError(f"register {name!r} is read-only")
        value &= (1 << register.width) - 1
        self._regs[name] = value
        if name == "inst_commit" and value < self.instruments:
            r = self._regs
            self._inst[value] = InstrumentEntry(
                r["inst_reference_price"], r["inst_collar_bps"], r["inst_max_qty"],
                r["inst_max_notional"], r["inst_max_long"], r["inst_max_short"],
                r["inst_flags"])
        elif name == "state_clear" and value & 1:
            self.clear_state()
        elif name == "acct_commit" and value < self.accounts:
            r = self._regs
            self._acct[value] = AccountEntry(
                r["acct_credit_limit"], r["acct_rate_per_s"], r["acct_burst"], r["acct_flags"])

    def clear_state(self) -> None:
        """Start of day: no positions, exposure, used tokens or remembered ids."""
        self._inst_state = [InstrumentState() for _ in range(self.instruments)]
        self._acct_state = [AccountState() for _ in range(self.accounts)]
        self._dup.clear()

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def _count(self, name: str) -> None:
        self._counters[name] = (self._counters[name] + 1) & 0xFFFF_FFFF

    # --- the checks ----------------------------------------------------------------

    def check(self, coid: int, account: int, locate: int, side: int, quantity: int,
              price: int, timestamp_ns: int = 0) -> tuple[bool, int]:
        """Check one order, book it when accepted; returns (accepted, reason mask)."""
        self._ops += 1
        inst_listed = locate < self.instruments and bool(self._inst[locate].flags
                                                         & InstrumentFlags.LISTED)
        acct_listed = account < self.accounts and bool(self._acct[account].flags
                                                       & AccountFlags.LISTED)
        notional = quantity * price
        buy = side == Side.BUY
        mask = Reason(0)
        if self._regs["kill_switch"]:
            mask |= Reason.HALTED

        if inst_listed:
            cfg = self._inst[locate]
            ist = self._inst_state[locate]
            if quantity > cfg.max_qty:
                mask |= Reason.MAX_QTY
            if notional > cfg.max_notional:
                mask |= Reason.MAX_NOTIONAL
            if abs(price - cfg.reference_price) * BPS > cfg.reference_price * cfg.collar_bps:
                mask |= Reason.PRICE_COLLAR
            if cfg.flags & InstrumentFlags.RESTRICTED:
                mask |= Reason.RESTRICTED
            if cfg.flags & InstrumentFlags.HALTED:
                mask |= Reason.HALTED
            if buy:
                if ist.net_position + ist.open_buy + quantity > cfg.max_long:
                    mask |= Reason.POSITION
            elif ist.open_sell + quantity - ist.net_position > cfg.max_short:
                mask |= Reason.POSITION
        else:
            mask |= Reason.RESTRICTED

        slot = dup_hash(coid, account, self.dup_bits)
        if acct_listed:
            acfg = self._acct[account]
            ast = self._acct_state[account]
            if ast.open_notional + ast.filled_notional + notional > acfg.credit_limit:
                mask |= Reason.CREDIT
            refill = (timestamp_ns - ast.last_ns if timestamp_ns > ast.last_ns else 0) \
                * acfg.rate_per_s
            deficit = sat_sub(ast.deficit, refill)
            if deficit + TOKEN > acfg.burst * TOKEN:
                mask |= Reason.RATE
            entry = self._dup.get(slot)
            if (entry is not None and entry.account == account
                    and entry.client_order_id == coid
                    and (ast.seq - entry.seq) & _SEQ_MASK <= self.dup_window):
                mask |= Reason.DUPLICATE_ID
            if acfg.flags & AccountFlags.HALTED:
                mask |= Reason.HALTED
            if inst_listed and acfg.flags & AccountFlags.REDUCE_ONLY:
                ist = self._inst_state[locate]
                if side == Side.SELL_SHORT:
                    grows = True  # a short sale never reduces a position
                elif buy:
                    grows = ist.net_position + ist.open_buy + quantity > 0
                else:
                    grows = ist.net_position - ist.open_sell - quantity < 0
                if grows:
                    mask |= Reason.REDUCE_ONLY
        else:
            mask |= Reason.HALTED

        accepted = not mask
        if acct_listed:
            ast = self._acct_state[account]
            if accepted:
                self._dup[slot] = DupEntry(account, coid, ast.seq)
                ast.open_notional = (ast.open_notional + notional) & _NOTIONAL_MAX
                deficit += TOKEN
            ast.deficit = deficit & _DEFICIT_MASK
            ast.last_ns = max(ast.last_ns, timestamp_ns)
            ast.seq = (ast.seq + 1) & _SEQ_MASK
        if accepted:
            ist = self._inst_state[locate]
            if buy:
                ist.open_buy = (ist.open_buy + quantity) & _POS_MASK
            else:
                ist.open_sell = (ist.open_sell + quantity) & _POS_MASK

        self._count("orders")
        self._count("accepted" if accepted else "rejected")
        for bit, name in enumerate(REASON_NAMES):
            if mask >> bit & 1:
                self._count(f"reject_{name}")
        return accepted, int(mask)

    def update(self, kind: int, account: int, locate: int, side: int, quantity: int,
               price: int) -> None:
        """Apply one fill or cancel to the exposure the checks use."""
        self._ops += 1
        if (locate >= self.instruments or account >= self.accounts
                or kind not in (UpdateKind.FILL, UpdateKind.CANCEL)):
            self._count("updates_dropped")
            return
        ist = self._inst_state[locate]
        ast = self._acct_state[account]
        notional = quantity * price
        if side == Side.BUY:
            ist.open_buy = sat_sub(ist.open_buy, quantity)
        else:
            ist.open_sell = sat_sub(ist.open_sell, quantity)
        ast.open_notional = sat_sub(ast.open_notional, notional)
        if kind == UpdateKind.FILL:
            signed = quantity if side == Side.BUY else -quantity
            ist.net_position = wrap_signed(ist.net_position + signed, POSITION_BITS)
            ast.filled_notional = min(ast.filled_notional + notional, _NOTIONAL_MAX)
            self._count("fills")
        else:
            self._count("cancels")

    # --- the RiskEngine interface ---------------------------------------------------

    def submit(self, orders: np.ndarray) -> np.ndarray:
        out = np.zeros(len(orders), dtype=DECISION_DTYPE)
        for index, row in enumerate(orders):
            accepted, mask = self.check(
                int(row["client_order_id"]), int(row["account"]), int(row["stock_locate"]),
                int(row["side"]), int(row["quantity"]), int(row["price"]),
                int(row["timestamp_ns"]))
            out[index] = (int(row["client_order_id"]), int(accepted), mask,
                          (self._ops - 1 + LATENCY_CYCLES - 1) & _CYCLE_MASK)
        return out

    def apply_updates(self, updates: np.ndarray) -> None:
        for row in updates:
            self.update(int(row["kind"]), int(row["account"]), int(row["stock_locate"]),
                        int(row["side"]), int(row["quantity"]), int(row["price"]))

    # --- inspection (tests, CLI) ------------------------------------------------------

    def instrument_state(self, locate: int) -> InstrumentState:
        return self._inst_state[locate]

    def account_state(self, account: int) -> AccountState:
        return self._acct_state[account]

