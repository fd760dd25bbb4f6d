"""Coverage of the risk checks: which reasons, and which combinations of them, the
verification stimulus produces.

The stimulus is what the suites run on the gateware (hand cases, the hazard run, the
random programs of the mutation suite and of the cocotb testbench's seeds), decided
here by the golden model, which the gateware matches decision for decision.
``python -m nanogate.sim.cocotb.tb_risk_coverage`` prints the matrix as Markdown:
cell (row, column) counts orders rejected for both reasons; the diagonal counts
orders rejected for that reason alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys

from nanogate.proto.risk import REASON_NAMES, reason_names
from nanogate.sim.cocotb import tb_risk_cases as cases
from nanogate.sim.cocotb.tb_risk_checks import model, steps_of

#: Random programs counted: the mutation suite's seeds and as many more as the CI runs.
RANDOM_SEEDS = tuple(range(1, 31))
RANDOM_LENGTH = 150


def stimulus_masks() -> list[int]:
    masks: list[int] = []
    for case in cases.CASES:
        masks += cases.run_program_on_model(model(case.kill_switch), steps_of(case.ops))
    masks += cases.run_program_on_model(model(), steps_of(cases.HAZARDS.ops))
    for seed in RANDOM_SEEDS:
        steps = cases.random_program(random.Random(seed), RANDOM_LENGTH)
        masks += cases.run_program_on_model(model(), steps)
    return masks


def matrix(masks: list[int]) -> dict[str, dict[str, int]]:
    table = {row: dict.fromkeys(REASON_NAMES, 0) for row in REASON_NAMES}
    for mask in masks:
        names = reason_names(mask)
        if len(names) == 1:
            table[names[0]][names[0]] += 1
        for a, b in itertools.permutations(names, 2):
            table[a][b] += 1
    return table


def uncovered(table: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    """Reason pairs (and single reasons, as (r, r)) never produced."""
    return [(a, b) for a, b in itertools.combinations_with_replacement(REASON_NAMES, 2)
            if not table[a][b]]


def markdown(masks: list[int]) -> str:
    table = matrix(masks)
    short = {name: name.replace("_", " ") for name in REASON_NAMES}
    lines = [f"{len(masks)} orders: {sum(m == 0 for m in masks)} accepted, "
             f"{sum(m != 0 for m in masks)} rejected, "
             f"{len({m for m in masks if m})} distinct reason sets.", "",
             "| | " + " | ".join(short[n] for n in REASON_NAMES) + " |",
             "| --- |" + " ---: |" * len(REASON_NAMES)]
    for row in REASON_NAMES:
        lines.append(f"| **{short[row]}** | " + " | ".join(
            str(table[row][col]) for col in REASON_NAMES) + " |")
    missing = uncovered(table)
    lines += ["", "never produced: " + (", ".join(
        f"{a}" if a == b else f"{a} + {b}" for a, b in missing) or "nothing")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="reasons x reasons coverage of the risk "
                                                 "verification stimulus")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    masks = stimulus_masks()
    if args.json:
        print(json.dumps({"orders": len(masks), "matrix": matrix(masks),
                          "uncovered": uncovered(matrix(masks))}))
    else:
        sys.stdout.write(markdown(masks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
