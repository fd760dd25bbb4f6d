"""The golden model (``software`` risk backend): every reason, every boundary, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from nanogate.gateway.device import DeviceError, open_device
from nanogate.gateway.device.software_risk import SoftwareRiskEngine
from nanogate.gateway.risk.limits import apply_limits
from nanogate.gateway.risk.orders import run_operations
from nanogate.proto.risk import (
    COUNTERS,
    DECISION_DTYPE,
    LATENCY_CYCLES,
    ORDER_DTYPE,
    REASON_NAMES,
    Reason,
    dup_hash,
    reason_mask,
    reason_names,
)
from nanogate.sim.cocotb import tb_risk_cases as cases


def engine_for(case: cases.Case) -> SoftwareRiskEngine:
    engine = SoftwareRiskEngine(instruments=cases.INSTRUMENTS, accounts=cases.ACCOUNTS,
                                dup_bits=cases.DUP_BITS, dup_window=cases.DUP_WINDOW)
    apply_limits(engine, cases.base_limits(case.kill_switch))
    return engine


@pytest.mark.parametrize("case", cases.CASES, ids=[c.name for c in cases.CASES])
def test_hand_case(case: cases.Case) -> None:
    engine = engine_for(case)
    decisions = run_operations(engine, case.ops)
    got = [tuple(reason_names(int(d["reasons"]))) for d in decisions]
    assert got == list(case.expect)
    assert [bool(d["accepted"]) for d in decisions] == [not e for e in case.expect]
    counters = engine.counters()
    assert counters["orders"] == len(case.expect)
    assert counters["accepted"] == sum(not e for e in case.expect)
    for name in REASON_NAMES:
        assert counters[f"reject_{name}"] == sum(name in e for e in case.expect), name


def test_every_reason_has_a_hand_case() -> None:
    seen = {name for case in cases.CASES for e in case.expect for name in e}
    assert seen == set(REASON_NAMES)


def test_reason_bits_and_names() -> None:
    assert REASON_NAMES == ("max_qty", "max_notional", "price_collar", "credit", "position",
                            "rate", "restricted", "duplicate_id", "halted", "reduce_only")
    assert reason_names(Reason.CREDIT | Reason.HALTED) == ["credit", "halted"]
    assert reason_mask(["rate", "max_qty"]) == 0b100001
    with pytest.raises(ValueError, match="unknown reject reason 'fat_finger'"):
        reason_mask(["fat_finger"])


def test_bookkeeping_of_accept_fill_cancel() -> None:
    engine = engine_for(cases.CASES[0])
    run_operations(engine, [cases.order(7, 1, "buy", 300, coid=1),
                            cases.order(7, 1, "sell_short", 200, coid=2),
                            cases.fill(7, 1, "buy", 100, cases.REF - 10),
                            cases.cancel(7, 1, "sell_short", 50)])
    state = engine.instrument_state(1)
    assert (state.net_position, state.open_buy, state.open_sell) == (100, 200, 150)
    account = engine.account_state(7)
    assert account.open_notional == 500 * cases.REF - 100 * (cases.REF - 10) - 50 * cases.REF
    assert account.filled_notional == 100 * (cases.REF - 10)
    assert account.seq == 2
    counters = engine.counters()
    assert (counters["fills"], counters["cancels"]) == (1, 1)
    engine.write_register("state_clear", 1)
    assert engine.instrument_state(1).open_buy == 0
    assert engine.account_state(7).open_notional == 0


def test_release_saturates_and_bad_updates_are_counted() -> None:
    engine = engine_for(cases.CASES[0])
    run_operations(engine, [cases.order(7, 1, "buy", 10, coid=1),
                            cases.cancel(7, 1, "buy", 50),
                            cases.fill(7, 100, "buy", 1),  # locate outside the table
                            cases.fill(99, 1, "buy", 1)])  # account outside
    assert engine.instrument_state(1).open_buy == 0
    assert engine.account_state(7).open_notional == 0
    assert engine.counters()["updates_dropped"] == 2
    assert engine.counters()["cancels"] == 1


def test_limit_write_takes_effect_for_the_next_order() -> None:
    engine = engine_for(cases.CASES[0])
    first = run_operations(engine, [cases.order(7, 1, "buy", 1)])
    engine.write_register("kill_switch", 1)
    second = run_operations(engine, [cases.order(7, 1, "buy", 1)])
    engine.write_register("kill_switch", 0)
    engine.write_register("inst_flags", 0)  # staged entry: unlisted ...
    engine.write_register("inst_commit", 1)  # ... committed to locate 1
    third = run_operations(engine, [cases.order(7, 1, "buy", 1)])
    assert [int(d["reasons"]) for d in (*first, *second, *third)] == [
        0, Reason.HALTED, Reason.RESTRICTED]


def test_decision_records_and_counter_registers() -> None:
    engine = engine_for(cases.CASES[0])
    decisions = run_operations(engine, [cases.order(7, 1, "buy", 1, coid=5),
                                        cases.fill(7, 1, "buy", 1),
                                        cases.order(7, 1, "buy", 10_001, coid=6)])
    assert decisions.dtype == DECISION_DTYPE
    assert decisions["client_order_id"].tolist() == [5, 6]
    assert decisions["accepted"].tolist() == [1, 0]
    # at full rate op n is decided at cycle n + LATENCY - 1
    assert decisions["cycle"].tolist() == [LATENCY_CYCLES - 1, 2 + LATENCY_CYCLES - 1]
    assert {name: engine.read_register(name) for name in COUNTERS} == engine.counters()
    assert engine.read_register("inst_commit") == 0  # write-only
    with pytest.raises(DeviceError, match="read-only"):
        engine.write_register("orders", 1)


def test_backend_registry_opens_the_model() -> None:
    engine = open_device("software", instruments=16, accounts=16).risk_engine()
    assert isinstance(engine, SoftwareRiskEngine)
    assert engine.read_register("table_sizes") == 4 | 4 << 8 | 16 << 16
    with pytest.raises(DeviceError, match="powers of two"):
        SoftwareRiskEngine(instruments=100)
    assert len(engine.submit(np.zeros(0, dtype=ORDER_DTYPE))) == 0


def test_dup_hash_spreads_sequential_ids_and_accounts() -> None:
    bits = 10
    slots = {dup_hash(coid, 7, bits) for coid in range(1 << bits)}
    assert len(slots) == 1 << bits  # a run of ids of one account never collides
    assert dup_hash(1, 2, bits) != dup_hash(2, 1, bits)
    assert all(0 <= dup_hash(c * 0x1234567, a, bits) < 1 << bits
               for c in range(50) for a in range(50))
