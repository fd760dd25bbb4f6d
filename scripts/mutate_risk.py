#!/usr/bin/env python3
"""Mutation check of the risk pipeline: every mutant must be caught by the test suite.

Each mutant is one small edit of ``hw/risk/pipeline.py`` (a boundary moved, a term
dropped, a forwarding path cut, a flag ignored, ...). The edited module is built in
memory and held to the checks of ``nanogate.sim.cocotb.tb_risk_checks``, the same
functions the pytest suite runs: hand cases with counters, back-to-back hazards and
latency, halts mid-stream, random programs against the golden model. A mutant is
*caught* when any check fails (an assertion, a hang, an exception). Exit status 0
when every mutant is caught.

    .venv/bin/python scripts/mutate_risk.py            # all mutants
    .venv/bin/python scripts/mutate_risk.py --list
    .venv/bin/python scripts/mutate_risk.py --only max_qty_boundary,no_inst_forwarding
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PIPELINE = Path(__file__).resolve().parent.parent / "hw" / "risk" / "pipeline.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    old: str
    new: str
    why: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant("max_qty_boundary", "(s1.quantity > icfg.max_qty)", "(s1.quantity >= icfg.max_qty)",
           "exactly max_qty must pass"),
    Mutant("max_notional_boundary", "(notional > icfg.max_notional)",
           "(notional >= icfg.max_notional)", "exactly max_notional must pass"),
    Mutant("collar_boundary", "> icfg.reference_price * icfg.collar_bps",
           ">= icfg.reference_price * icfg.collar_bps", "exactly at the collar must pass"),
    Mutant("collar_one_sided", "Mux(s1.price >= icfg.reference_price,",
           "Mux(s1.price <= icfg.reference_price,", "distance below the reference"),
    Mutant("credit_ignores_filled", "(ast.open_notional + ast.filled_notional",
           "(ast.open_notional", "filled notional counts against credit"),
    Mutant("credit_boundary", "+ s2.notional > s2.credit_limit",
           "+ s2.notional >= s2.credit_limit", "exactly the credit limit must pass"),
    Mutant("position_ignores_open_buys", "net + ist.open_buy + qty > s2.max_long",
           "net + qty > s2.max_long", "open buys count toward max_long"),
    Mutant("position_short_sign", "ist.open_sell + qty - net > s2.max_short",
           "ist.open_sell + qty + net > s2.max_short", "a long position offsets sells"),
    Mutant("rate_off_by_one_token", "(deficit + TOKEN > s2.burst * TOKEN)",
           "(deficit > s2.burst * TOKEN)", "an order needs a whole token"),
    Mutant("rate_time_runs_back",
           "Mux(op.timestamp_ns > ast.last_ns, op.timestamp_ns - ast.last_ns, 0)",
           "(op.timestamp_ns - ast.last_ns)", "an older timestamp refills nothing"),
    Mutant("rate_rejects_use_tokens", "deficit + Mux(accepted, TOKEN, 0)", "deficit + TOKEN",
           "only accepted orders take a token"),
    Mutant("dup_window_boundary", "(age <= self.dup_window)", "(age < self.dup_window)",
           "an id exactly dup_window orders back is a duplicate"),
    Mutant("dup_ignores_account", "& dent.valid & (dent.account == op.account)",
           "& dent.valid", "ids are per account"),
    Mutant("dup_never_ages", "new_ast.seq.eq(ast.seq + 1)", "new_ast.seq.eq(ast.seq)",
           "the window counts the account's orders"),
    Mutant("no_inst_forwarding", "(ist, fwd_inst, inst_state_r, op.stock_locate[:ib])",
           "(ist, fwd_inst, inst_state_r, op.stock_locate[:ib] ^ 1)",
           "back-to-back orders on one instrument"),
    Mutant("no_acct_forwarding", "(ast, fwd_acct, acct_state_r, op.account[:ab])",
           "(ast, fwd_acct, acct_state_r, op.account[:ab] ^ 1)",
           "back-to-back orders of one account"),
    Mutant("no_dup_forwarding", "(dent, fwd_dup, dup_r, s2.slot[:db])",
           "(dent, fwd_dup, dup_r, s2.slot[:db] ^ 1)", "the same id back to back"),
    Mutant("stall_loses_s1", "with m.If(advance):\n            m.d.sync += s1.eq(incoming)",
           "with m.If(1):\n            m.d.sync += s1.eq(incoming)",
           "a stalled pipeline keeps what it holds"),
    Mutant("dropped_update_applied",
           "in_tables = (op.stock_locate >> ib == 0) & (op.account >> ab == 0)",
           "in_tables = 1", "updates outside the tables are dropped, not aliased"),
    Mutant("kill_switch_ignored", "incoming.kill.eq(regs.kill_switch)", "incoming.kill.eq(0)",
           "the kill switch halts"),
    Mutant("unlisted_not_restricted",
           "Reason.RESTRICTED: ~inst_listed | icfg", "Reason.RESTRICTED: icfg",
           "an instrument never written is restricted"),
    Mutant("account_range_unchecked", "acct_listed.eq((s1.account >> ab == 0) & acfg.flags[0])",
           "acct_listed.eq(acfg.flags[0])", "an account outside the table is halted"),
    Mutant("short_sale_reduces", "grows = Mux(short, 1,", "grows = Mux(short, 0,",
           "reduce-only accounts may not sell short"),
    Mutant("reduce_only_ignores_open_sells", "net - ist.open_sell - qty < 0", "net - qty < 0",
           "open sells count toward reducing"),
    Mutant("fill_sign", "Mux(buy, net + qty, net - qty)", "Mux(buy, net - qty, net + qty)",
           "a buy fill adds to the position"),
    Mutant("cancel_wraps", "Mux(ist.open_buy > qty, ist.open_buy - qty, 0)",
           "(ist.open_buy - qty)", "releases saturate at zero"),
    Mutant("cancel_counts_as_fill", "with m.If(fill):", "with m.If(1):",
           "a cancel is not a fill"),
    Mutant("rejected_counter", '"rejected": is_order & ~accepted', '"rejected": is_order',
           "counters bit for bit"),
    Mutant("commit_not_transparent", "inst_cfg.read_port(transparent_for=(inst_cfg_w,))",
           "inst_cfg.read_port()", "an order taken as the commit lands sees it"),
    Mutant("partial_clear", "with m.If(sweep == max(self.instruments, self.accounts, 1 << db) - 1)",
           "with m.If(sweep == 3)", "a state clear clears every entry"),
    Mutant("decision_cycle", "dec.payload.cycle.eq(cycle)", "dec.payload.cycle.eq(cycle + 1)",
           "the cycle reported is the cycle decided"),
)


def build(mutant: Mutant | None) -> Any:
    """The RiskPipeline class of ``pipeline.py`` with ``mutant`` applied."""
    source = PIPELINE.read_text()
    if mutant is not None:
        count = source.count(mutant.old)
        if count != 1:
            raise SystemExit(f"mutant {mutant.name}: {mutant.old!r} occurs {count} times in "
                             f"{PIPELINE} (expected once): update the mutant")
        source = source.replace(mutant.old, mutant.new)
    name = f"nanogate.hw.risk._mutant_{mutant.name if mutant else 'original'}"
    module = types.ModuleType(name)
    module.__file__ = str(PIPELINE)
    sys.modules[name] = module
    exec(compile(source, f"{PIPELINE}[{mutant.name if mutant else 'original'}]", "exec"),
         module.__dict__)
    return module.RiskPipeline


def first_failure(pipeline_class: Any) -> tuple[str | None, str]:
    """(the check that failed or None, why)."""
    from nanogate.sim.cocotb import tb_risk_checks as checks

    for check_name, check in checks.suite(pipeline_class):
        try:
            check()
        except (AssertionError, TimeoutError) as error:
            return check_name, str(error).splitlines()[0] if str(error) else type(error).__name__
        except Exception as error:  # a mutant that breaks the design is caught too
            return check_name, f"{type(error).__name__}: {error}"
    return None, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated mutant names")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="do not first check that the unmutated design passes")
    args = parser.parse_args(argv)
    mutants = list(MUTANTS)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {m.name for m in MUTANTS})
        if unknown:
            parser.error(f"unknown mutants: {', '.join(unknown)}")
        mutants = [m for m in MUTANTS if m.name in wanted]
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name:<32} {mutant.why}")
        return 0

    started = time.monotonic()
    failed, why = (None, "") if args.skip_baseline else first_failure(build(None))
    if failed is not None:
        print(f"the unmutated design fails {failed}: {why}", file=sys.stderr)
        return 2
    rows = []
    for mutant in mutants:
        t0 = time.monotonic()
        caught_by, why = first_failure(build(mutant))
        rows.append({"mutant": mutant.name, "caught_by": caught_by, "why": why,
                     "seconds": round(time.monotonic() - t0, 1)})
        status = f"caught by {caught_by}" if caught_by else "SURVIVED"
        print(f"{mutant.name:<32} {status:<36} {rows[-1]['seconds']:>6.1f} s", flush=True)
    caught = sum(row["caught_by"] is not None for row in rows)
    total_s = round(time.monotonic() - started, 1)
    print(f"mutation score: {caught}/{len(rows)} mutants caught ({total_s} s)")
    if args.json:
        print(json.dumps({"caught": caught, "mutants": len(rows), "seconds": total_s,
                          "results": rows}))
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
