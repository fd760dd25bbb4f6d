"""The risk pipeline in the Amaranth simulator, against the golden model and by hand.

The checks live in :mod:`nanogate.sim.cocotb.tb_risk_checks`, so the mutation check
(scripts/mutate_risk.py) holds every mutant to exactly these tests.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanogate.hw.risk.pipeline import RiskPipeline, validate_sizes
from nanogate.proto.risk import dup_hash, reason_names
from nanogate.sim.cocotb import tb_risk_cases as cases
from nanogate.sim.cocotb import tb_risk_checks as checks
from nanogate.sim.rtl_risk import run_program


def pipeline() -> RiskPipeline:
    return RiskPipeline(*checks.SIZES)


def test_random_program_with_colliding_accounts_in_the_id_table() -> None:
    assert dup_hash(0, 4, 2) == dup_hash(0, 7, 2)  # the premise
    checks.check_tiny_id_table(RiskPipeline)
    checks.check_random_program(RiskPipeline, 5, 100, sizes=checks.TINY_DUP_SIZES)


@pytest.mark.parametrize("case", cases.CASES, ids=[c.name for c in cases.CASES])
def test_hand_case_on_gateware(case: cases.Case) -> None:
    run = run_program(pipeline(), checks.steps_of(case.ops),
                      limits_writes=checks.base_writes(case.kill_switch))
    assert [tuple(reason_names(d[2])) for d in run.decisions] == list(case.expect)
    assert [d[1] for d in run.decisions] == [int(not e) for e in case.expect]
    assert [d[0] for d in run.decisions] == [op.client_order_id for op in case.ops
                                             if op.kind == 0]


def test_all_hand_cases_in_one_run_with_state_clears_and_counters() -> None:
    checks.check_hand_cases(RiskPipeline)


def test_hazards_agree_with_the_model() -> None:
    steps = checks.steps_of(cases.HAZARDS.ops)
    assert [tuple(reason_names(m)) for m in cases.run_program_on_model(checks.model(), steps)] \
        == list(cases.HAZARDS.expect)


def test_back_to_back_hazards_at_full_rate() -> None:
    checks.check_hazards(RiskPipeline)


@pytest.mark.sim
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), length=st.integers(1, 120),
       gap=st.sampled_from([0.0, 0.0, 0.3]), ready=st.sampled_from([1.0, 1.0, 0.5]))
def test_random_programs_match_the_model(seed: int, length: int, gap: float,
                                         ready: float) -> None:
    checks.check_random_program(RiskPipeline, seed, length, gap, ready)


@pytest.mark.parametrize("which", sorted(checks.HALT_WRITES))
def test_halt_takes_effect_for_orders_after_the_write(which: str) -> None:
    checks.check_halt_mid_stream(RiskPipeline, which)


def test_a_hung_pipeline_is_reported() -> None:
    steps = checks.steps_of(cases.CASES[0].ops)
    with pytest.raises(TimeoutError, match="hung"):
        # decisions are never taken: nothing can finish
        run_program(pipeline(), steps, ready_probability=0.0, max_cycles=300)


def test_bad_table_sizes() -> None:
    with pytest.raises(ValueError, match="powers of two"):
        validate_sizes(1000, 16, 6)
    with pytest.raises(ValueError, match="dup_bits"):
        validate_sizes(16, 16, 0)
    assert validate_sizes(8192, 1024, 16) == (13, 10)
