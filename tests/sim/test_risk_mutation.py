"""The mutation check script runs and catches the mutants it is given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutate_risk.py"


@pytest.mark.slow
@pytest.mark.sim
def test_two_mutants_are_caught() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "max_qty_boundary,no_acct_forwarding",
         "--skip-baseline"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mutation score: 2/2 mutants caught" in done.stdout
    assert "max_qty_boundary" in done.stdout and "SURVIVED" not in done.stdout


def test_mutant_list_has_at_least_twenty_distinct_edits() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True,
                          text=True, timeout=60, check=True)
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert len(names) >= 20 and len(set(names)) == len(names)
    bad = subprocess.run([sys.executable, str(SCRIPT), "--only", "no_such_mutant"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "unknown mutants: no_such_mutant" in bad.stderr
