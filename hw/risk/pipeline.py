"""The pre-trade risk pipeline: Order records in, Decision records out, one per cycle.

Stages (docs/hw-risk.md has the timing diagram):

* **take** (cycle 0): an update (priority) or an order is taken; the instrument and
  account *limit* tables are read at its locate / account.
* **S1** (cycle 1): limit-only checks (max_qty, max_notional, price_collar,
  restricted, halted); the notional is multiplied; the *state* tables (positions,
  exposure, token bucket) and the duplicate-id table are read.
* **S2** (cycle 2): state checks (credit, position, rate, duplicate_id, reduce_only)
  on the state read, or on the state the operation just before wrote (forwarded from
  the write register: a table read and the write of the previous operation happen at
  the same edge, so the read misses it); the new state is written back.
* **out** (cycle 3): the decision is offered.

Every stage moves together (``advance``): a decision not taken stops the pipeline, and
nothing is written while it is stopped, so back-pressure never reorders or loses.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from nanogate.hw.axil import AXILiteSignature, RegisterBank
from nanogate.hw.layouts import struct_layout
from nanogate.proto.risk import (
    ACCOUNT_FIELDS,
    BPS,
    COUNTERS,
    DECISION,
    DEFICIT_BITS,
    DUP_WINDOW,
    INSTRUMENT_FIELDS,
    NOTIONAL_BITS,
    ORDER,
    POSITION_BITS,
    REASON_NAMES,
    RISK_REGMAP,
    SEQ_BITS,
    TIMESTAMP_BITS,
    TOKEN,
    UPDATE,
    AccountFlags,
    InstrumentFlags,
    Reason,
    Side,
    UpdateKind,
    dup_hash,
    table_sizes_value,
)

__all__ = ["ACCT_STATE", "DUP_ENTRY", "INST_STATE", "RiskPipeline", "validate_sizes"]

ORDER_LAYOUT = struct_layout(ORDER)
UPDATE_LAYOUT = struct_layout(UPDATE)
DECISION_LAYOUT = struct_layout(DECISION)

#: Table rows. Limits come from the one list of fields in proto/risk.py.
INST_CFG = data.StructLayout({
    **{f.key: unsigned(f.bits) for f in INSTRUMENT_FIELDS if not f.flag}, "flags": unsigned(3)})
ACCT_CFG = data.StructLayout({
    **{f.key: unsigned(f.bits) for f in ACCOUNT_FIELDS if not f.flag}, "flags": unsigned(3)})
INST_STATE = data.StructLayout({
    "net_position": unsigned(POSITION_BITS),  # two's complement
    "open_buy": unsigned(POSITION_BITS),
    "open_sell": unsigned(POSITION_BITS),
})
ACCT_STATE = data.StructLayout({
    "open_notional": unsigned(NOTIONAL_BITS),
    "filled_notional": unsigned(NOTIONAL_BITS),
    "deficit": unsigned(DEFICIT_BITS),
    "last_ns": unsigned(TIMESTAMP_BITS),
    "seq": unsigned(SEQ_BITS),
})
DUP_ENTRY = data.StructLayout({
    "valid": unsigned(1),
    "account": unsigned(16),
    "client_order_id": unsigned(64),
    "seq": unsigned(SEQ_BITS),
})

#: What travels down the pipeline with each operation.
_OP = data.StructLayout({
    "valid": unsigned(1),
    "is_order": unsigned(1),
    "kind": unsigned(8),
    "client_order_id": unsigned(64),
    "account": unsigned(16),
    "stock_locate": unsigned(16),
    "side": unsigned(8),
    "quantity": unsigned(32),
    "price": unsigned(32),
    "timestamp_ns": unsigned(TIMESTAMP_BITS),
    "kill": unsigned(1),
})

_S2 = data.StructLayout({
    "op": _OP,
    "inst_listed": unsigned(1),
    "acct_listed": unsigned(1),
    "mask": unsigned(len(Reason)),  # the limit-only checks, from S1
    "notional": unsigned(64),
    "max_long": unsigned(32),
    "max_short": unsigned(32),
    "credit_limit": unsigned(64),
    "rate_per_s": unsigned(24),
    "burst": unsigned(16),
    "reduce_only": unsigned(1),
    "slot": unsigned(20),
})


def _bit(flag: int) -> int:
    """Bit position of a one-bit flag."""
    return int(flag).bit_length() - 1


def _log2(name: str, size: int) -> int:
    if size < 2 or size & (size - 1) or size > 1 << 16:
        raise ValueError(f"{name}={size}: table sizes are powers of two from 2 to 65536")
    return size.bit_length() - 1


def validate_sizes(instruments: int, accounts: int, dup_bits: int) -> tuple[int, int]:
    """log2 of the instrument and account tables; ``ValueError`` for sizes the design
    cannot have (call it before building one, which Amaranth would flag as unused)."""
    if not 1 <= dup_bits <= 20:
        raise ValueError(f"dup_bits={dup_bits}: 1 to 20")
    return _log2("instruments", instruments), _log2("accounts", accounts)


class _Forward:
    """The write of the previous cycle to one state table: (valid, address, row)."""

    def __init__(self, name: str, layout: data.StructLayout, addr_bits: int) -> None:
        self.valid = Signal(name=f"{name}_fwd_valid")
        self.addr = Signal(addr_bits, name=f"{name}_fwd_addr")
        self.row = Signal(layout, name=f"{name}_fwd_row")


class RiskPipeline(wiring.Component):  # type: ignore[misc]
    """The risk pipeline with its register bank and tables.

    Ports: ``bus`` (AXI4-Lite, :data:`~nanogate.proto.risk.RISK_REGMAP`), ``orders``
    (``In(stream.Signature(Order))``), ``updates`` (``In(stream.Signature(RiskUpdate))``,
    fills and cancels, taken before a waiting order), ``decisions``
    (``Out(stream.Signature(Decision))``, one per order, in order).

    Timing: latency 3 cycles (order taken at cycle c, decision offered at c + 3),
    throughput one operation per cycle; ``orders.ready`` is ``decisions.ready`` or an
    empty output register, and low while an update is offered or a state clear runs.
    """

    def __init__(self, instruments: int = 8192, accounts: int = 1024, dup_bits: int = 16,
                 dup_window: int = DUP_WINDOW) -> None:
        self.instruments, self.accounts = instruments, accounts
        self.instrument_bits, self.account_bits = validate_sizes(instruments, accounts,
                                                                 dup_bits)
        self.dup_bits, self.dup_window = dup_bits, dup_window
        super().__init__({
            "bus": In(AXILiteSignature(RISK_REGMAP.address_width)),
            "orders": In(stream.Signature(ORDER_LAYOUT)),
            "updates": In(stream.Signature(UPDATE_LAYOUT)),
            "decisions": Out(stream.Signature(DECISION_LAYOUT)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ib, ab, db = self.instrument_bits, self.account_bits, self.dup_bits

        m.submodules.regs = regs = RegisterBank(RISK_REGMAP)
        wiring.connect(m, wiring.flipped(self.bus), regs.bus)
        m.d.comb += regs.table_sizes.eq(table_sizes_value(ib, ab, db))

        # --- tables ------------------------------------------------------------
        m.submodules.inst_cfg = inst_cfg = Memory(shape=INST_CFG, depth=self.instruments,
                                                  init=[])
        m.submodules.acct_cfg = acct_cfg = Memory(shape=ACCT_CFG, depth=self.accounts,
                                                  init=[])
        m.submodules.inst_state = inst_state = Memory(shape=INST_STATE,
                                                      depth=self.instruments, init=[])
        m.submodules.acct_state = acct_state = Memory(shape=ACCT_STATE, depth=self.accounts,
                                                      init=[])
        m.submodules.dup_table = dup_table = Memory(shape=DUP_ENTRY, depth=1 << db, init=[])
        inst_cfg_w = inst_cfg.write_port()
        acct_cfg_w = acct_cfg.write_port()
        # A commit and an order taken at the edge it is written: the order sees it.
        inst_cfg_r = inst_cfg.read_port(transparent_for=(inst_cfg_w,))
        acct_cfg_r = acct_cfg.read_port(transparent_for=(acct_cfg_w,))
        inst_state_w, acct_state_w, dup_w = (inst_state.write_port(), acct_state.write_port(),
                                             dup_table.write_port())
        inst_state_r, acct_state_r, dup_r = (inst_state.read_port(), acct_state.read_port(),
                                             dup_table.read_port())

        # Limit writes: staged registers -> the entry named by the commit write.
        for w, prefix, fields, size in ((inst_cfg_w, "inst", INSTRUMENT_FIELDS,
                                         self.instruments),
                                        (acct_cfg_w, "acct", ACCOUNT_FIELDS, self.accounts)):
            commit = getattr(regs, f"{prefix}_commit")
            m.d.comb += [
                w.addr.eq(commit),
                w.en.eq(getattr(regs, f"{prefix}_commit_stb") & (commit < size)),
                w.data.flags.eq(getattr(regs, f"{prefix}_flags")),
            ]
            for f in fields:
                if not f.flag:
                    m.d.comb += getattr(w.data, f.key).eq(getattr(regs, f.register))

        # --- state clear (start of day) -------------------------------------------
        clear_pending = Signal()
        sweeping = Signal()
        sweep = Signal(max(ib, ab, db) + 1)
        with m.If(regs.state_clear_stb & regs.state_clear[0]):
            m.d.sync += clear_pending.eq(1)
        m.d.comb += regs.status.eq(clear_pending | sweeping)
        block = clear_pending | sweeping

        # --- take -------------------------------------------------------------------
        dec = self.decisions
        advance = Signal()
        m.d.comb += advance.eq(~dec.valid | dec.ready)
        take_update = self.updates.valid & advance & ~block
        take_order = self.orders.valid & advance & ~block & ~self.updates.valid
        m.d.comb += [
            self.updates.ready.eq(advance & ~block),
            self.orders.ready.eq(advance & ~block & ~self.updates.valid),
        ]
        incoming = Signal(_OP)
        o, u = self.orders.payload, self.updates.payload
        with m.If(self.updates.valid):
            m.d.comb += [incoming.kind.eq(u.kind), incoming.client_order_id.eq(u.client_order_id),
                         incoming.account.eq(u.account), incoming.stock_locate.eq(u.stock_locate),
                         incoming.side.eq(u.side), incoming.quantity.eq(u.quantity),
                         incoming.price.eq(u.price)]
        with m.Else():
            m.d.comb += [incoming.is_order.eq(1),
                         incoming.client_order_id.eq(o.client_order_id),
                         incoming.account.eq(o.account), incoming.stock_locate.eq(o.stock_locate),
                         incoming.side.eq(o.side), incoming.quantity.eq(o.quantity),
                         incoming.price.eq(o.price), incoming.timestamp_ns.eq(o.timestamp_ns)]
        m.d.comb += [
            incoming.valid.eq(take_update | take_order),
            incoming.kill.eq(regs.kill_switch),
            inst_cfg_r.addr.eq(incoming.stock_locate[:ib]),
            acct_cfg_r.addr.eq(incoming.account[:ab]),
            inst_cfg_r.en.eq(advance),
            acct_cfg_r.en.eq(advance),
        ]
        s1 = Signal(_OP)
        with m.If(advance):
            m.d.sync += s1.eq(incoming)

        # --- S1: limit-only checks ---------------------------------------------------
        icfg, acfg = inst_cfg_r.data, acct_cfg_r.data
        inst_listed = Signal()
        acct_listed = Signal()
        m.d.comb += [
            inst_listed.eq((s1.stock_locate >> ib == 0) & icfg.flags[0]),
            acct_listed.eq((s1.account >> ab == 0) & acfg.flags[0]),
        ]
        notional = Signal(64)
        distance = Signal(32)
        m.d.comb += [
            notional.eq(s1.quantity * s1.price),
            distance.eq(Mux(s1.price >= icfg.reference_price, s1.price - icfg.reference_price,
                            icfg.reference_price - s1.price)),
        ]
        limit_mask = Signal(len(Reason))
        checks1 = {
            Reason.MAX_QTY: inst_listed & (s1.quantity > icfg.max_qty),
            Reason.MAX_NOTIONAL: inst_listed & (notional > icfg.max_notional),
            Reason.PRICE_COLLAR: inst_listed & (distance * BPS
                                                > icfg.reference_price * icfg.collar_bps),
            Reason.RESTRICTED: ~inst_listed | icfg.flags[_bit(InstrumentFlags.RESTRICTED)],
            Reason.HALTED: s1.kill
            | (inst_listed & icfg.flags[_bit(InstrumentFlags.HALTED)])
            | ~acct_listed | acfg.flags[_bit(AccountFlags.HALTED)],
        }
        for reason, failed in checks1.items():
            m.d.comb += limit_mask[_bit(reason)].eq(failed)

        slot = Signal(db)
        m.d.comb += [
            slot.eq(dup_hash(s1.client_order_id, s1.account, db)),
            inst_state_r.addr.eq(s1.stock_locate[:ib]),
            acct_state_r.addr.eq(s1.account[:ab]),
            dup_r.addr.eq(slot),
            inst_state_r.en.eq(advance),
            acct_state_r.en.eq(advance),
            dup_r.en.eq(advance),
        ]
        s2 = Signal(_S2)
        with m.If(advance):
            m.d.sync += [
                s2.op.eq(s1), s2.inst_listed.eq(inst_listed), s2.acct_listed.eq(acct_listed),
                s2.mask.eq(limit_mask), s2.notional.eq(notional),
                s2.max_long.eq(icfg.max_long), s2.max_short.eq(icfg.max_short),
                s2.credit_limit.eq(acfg.credit_limit), s2.rate_per_s.eq(acfg.rate_per_s),
                s2.burst.eq(acfg.burst),
                s2.reduce_only.eq(acfg.flags[_bit(AccountFlags.REDUCE_ONLY)]),
                s2.slot.eq(slot),
            ]

        # --- S2: state checks, with the previous write forwarded ---------------------
        op = s2.op
        fwd_inst = _Forward("inst", INST_STATE, ib)
        fwd_acct = _Forward("acct", ACCT_STATE, ab)
        fwd_dup = _Forward("dup", DUP_ENTRY, db)
        ist, ast, dent = Signal(INST_STATE), Signal(ACCT_STATE), Signal(DUP_ENTRY)
        for row, fwd, port, addr in ((ist, fwd_inst, inst_state_r, op.stock_locate[:ib]),
                                     (ast, fwd_acct, acct_state_r, op.account[:ab]),
                                     (dent, fwd_dup, dup_r, s2.slot[:db])):
            with m.If(fwd.valid & (fwd.addr == addr)):
                m.d.comb += row.eq(fwd.row)
            with m.Else():
                m.d.comb += row.eq(port.data)

        net = ist.net_position.as_signed()
        qty = op.quantity
        buy = op.side == Side.BUY
        short = op.side == Side.SELL_SHORT
        elapsed = Mux(op.timestamp_ns > ast.last_ns, op.timestamp_ns - ast.last_ns, 0)
        refill = Signal(TIMESTAMP_BITS + 24)
        deficit = Signal(DEFICIT_BITS)
        m.d.comb += [
            refill.eq(elapsed * s2.rate_per_s),
            deficit.eq(Mux(ast.deficit > refill, ast.deficit - refill, 0)),
        ]
        age = Signal(SEQ_BITS)
        m.d.comb += age.eq(ast.seq - dent.seq)
        grows = Mux(short, 1, Mux(buy, net + ist.open_buy + qty > 0,
                                  net - ist.open_sell - qty < 0))
        checks2 = {
            Reason.CREDIT: s2.acct_listed & (ast.open_notional + ast.filled_notional
                                             + s2.notional > s2.credit_limit),
            Reason.POSITION: s2.inst_listed & Mux(buy, net + ist.open_buy + qty > s2.max_long,
                                                  ist.open_sell + qty - net > s2.max_short),
            Reason.RATE: s2.acct_listed & (deficit + TOKEN > s2.burst * TOKEN),
            Reason.DUPLICATE_ID: s2.acct_listed & dent.valid & (dent.account == op.account)
            & (dent.client_order_id == op.client_order_id) & (age <= self.dup_window),
            Reason.REDUCE_ONLY: s2.acct_listed & s2.inst_listed & s2.reduce_only & grows,
        }
        mask = Signal(len(Reason))
        state_mask = Signal(len(Reason))
        for reason, failed in checks2.items():
            m.d.comb += state_mask[_bit(reason)].eq(failed)
        m.d.comb += mask.eq(s2.mask | state_mask)
        accepted = Signal()
        m.d.comb += accepted.eq(op.valid & op.is_order & (mask == 0))

        # New state rows and which tables this operation writes.
        new_ist, new_ast, new_dent = Signal(INST_STATE), Signal(ACCT_STATE), Signal(DUP_ENTRY)
        write_inst, write_acct, write_dup = Signal(), Signal(), Signal()
        is_update = op.valid & ~op.is_order
        update_known = (op.kind == UpdateKind.FILL) | (op.kind == UpdateKind.CANCEL)
        in_tables = (op.stock_locate >> ib == 0) & (op.account >> ab == 0)
        apply_update = is_update & update_known & in_tables
        dropped = is_update & ~(update_known & in_tables)
        fill = op.kind == UpdateKind.FILL
        m.d.comb += [new_ist.eq(ist), new_ast.eq(ast)]
        with m.If(op.is_order):
            m.d.comb += [
                write_acct.eq(op.valid & s2.acct_listed),
                write_inst.eq(accepted),
                write_dup.eq(accepted),
                new_ast.deficit.eq(deficit + Mux(accepted, TOKEN, 0)),
                new_ast.last_ns.eq(Mux(op.timestamp_ns > ast.last_ns, op.timestamp_ns,
                                       ast.last_ns)),
                new_ast.seq.eq(ast.seq + 1),
                new_dent.valid.eq(1), new_dent.account.eq(op.account),
                new_dent.client_order_id.eq(op.client_order_id), new_dent.seq.eq(ast.seq),
            ]
            with m.If(accepted):
                m.d.comb += new_ast.open_notional.eq(ast.open_notional + s2.notional)
                with m.If(buy):
                    m.d.comb += new_ist.open_buy.eq(ist.open_buy + qty)
                with m.Else():
                    m.d.comb += new_ist.open_sell.eq(ist.open_sell + qty)
        with m.Else():
            m.d.comb += [write_inst.eq(apply_update), write_acct.eq(apply_update)]
            with m.If(buy):
                m.d.comb += new_ist.open_buy.eq(Mux(ist.open_buy > qty, ist.open_buy - qty, 0))
            with m.Else():
                m.d.comb += new_ist.open_sell.eq(Mux(ist.open_sell > qty,
                                                     ist.open_sell - qty, 0))
            m.d.comb += new_ast.open_notional.eq(Mux(ast.open_notional > s2.notional,
                                                     ast.open_notional - s2.notional, 0))
            with m.If(fill):
                filled = ast.filled_notional + s2.notional
                m.d.comb += [
                    new_ist.net_position.eq(Mux(buy, net + qty, net - qty)),
                    new_ast.filled_notional.eq(
                        Mux(filled >> NOTIONAL_BITS == 0, filled, (1 << NOTIONAL_BITS) - 1)),
                ]

        # Write ports: the pipeline's write, or the clear sweep's zeros.
        for port, write, row, fwd, addr, depth in (
                (inst_state_w, write_inst, new_ist, fwd_inst, op.stock_locate[:ib],
                 self.instruments),
                (acct_state_w, write_acct, new_ast, fwd_acct, op.account[:ab], self.accounts),
                (dup_w, write_dup, new_dent, fwd_dup, s2.slot[:db], 1 << db)):
            with m.If(sweeping):
                m.d.comb += [port.addr.eq(sweep), port.en.eq(sweep < depth)]
                m.d.sync += fwd.valid.eq(0)
            with m.Else():
                m.d.comb += [port.addr.eq(addr), port.data.eq(row), port.en.eq(advance & write)]
                with m.If(advance):
                    m.d.sync += [fwd.valid.eq(write), fwd.addr.eq(addr), fwd.row.eq(row)]

        with m.If(clear_pending & ~s1.valid & ~op.valid):
            m.d.sync += [clear_pending.eq(0), sweeping.eq(1), sweep.eq(0)]
        with m.If(sweeping):
            m.d.sync += sweep.eq(sweep + 1)
            with m.If(sweep == max(self.instruments, self.accounts, 1 << db) - 1):
                m.d.sync += sweeping.eq(0)

        # --- out -------------------------------------------------------------------
        cycle = Signal(DECISION.field("cycle").bits)
        m.d.sync += cycle.eq(cycle + 1)
        with m.If(advance):
            m.d.sync += [
                dec.valid.eq(op.valid & op.is_order),
                dec.payload.client_order_id.eq(op.client_order_id),
                dec.payload.accepted.eq(accepted),
                dec.payload.reasons.eq(mask),
                dec.payload.cycle.eq(cycle),
            ]

        # --- counters ----------------------------------------------------------------
        is_order = op.valid & op.is_order
        events = {
            "orders": is_order, "accepted": accepted, "rejected": is_order & ~accepted,
            "fills": apply_update & fill, "cancels": apply_update & ~fill,
            "updates_dropped": dropped,
            **{f"reject_{name}": is_order & mask[bit] for bit, name in enumerate(REASON_NAMES)},
        }
        assert set(events) == set(COUNTERS)
        for name, event in events.items():
            counter = Signal(32, name=f"count_{name}")
            m.d.comb += getattr(regs, name).eq(counter)
            with m.If(advance & event):
                m.d.sync += counter.eq(counter + 1)
        return m
