"""The verification stimulus produces every reason alone and every pair of reasons."""

from __future__ import annotations

from nanogate.proto.risk import REASON_NAMES
from nanogate.sim.cocotb import tb_risk_coverage as coverage


def test_every_reason_and_every_pair_is_produced() -> None:
    masks = coverage.stimulus_masks()
    table = coverage.matrix(masks)
    assert coverage.uncovered(table) == []
    assert all(table[name][name] > 0 for name in REASON_NAMES)  # each one alone
    assert sum(m == 0 for m in masks) > 100  # and plenty accepted


def test_matrix_counts_and_markdown() -> None:
    table = coverage.matrix([0b1, 0b11, 0b11, 0])
    assert table["max_qty"]["max_qty"] == 1
    assert table["max_qty"]["max_notional"] == table["max_notional"]["max_qty"] == 2
    assert ("rate", "rate") in coverage.uncovered(table)
    text = coverage.markdown([0b1, 0])
    assert text.startswith("2 orders: 1 accepted, 1 rejected")
    assert "| **max qty** | 1 |" in text
