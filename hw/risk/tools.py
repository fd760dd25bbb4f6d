"""``nanogate hw verilog risk`` and ``nanogate hw bench risk``."""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog

from nanogate.hw.risk.pipeline import RiskPipeline
from nanogate.hw.risk.top import RiskTop
from nanogate.proto.risk import LATENCY_CYCLES, ORDER, RISK_REGMAP, UPDATE

#: Table sizes of the Verilog written and benchmarked: (instruments, accounts, dup_bits).
SIZES: tuple[int, int, int] = (8192, 1024, 16)

#: What the benchmark streams: a listed instrument and account with room for everything.
_BENCH_LIMITS = [
    ("inst_reference_price", 1_500_000), ("inst_collar_bps", 500), ("inst_max_qty", 10_000),
    ("inst_max_notional", 1 << 60), ("inst_max_long", 1 << 31), ("inst_max_short", 1 << 31),
    ("inst_flags", 1), ("inst_commit", 1),
    ("acct_credit_limit", 1 << 62), ("acct_rate_per_s", 1 << 20), ("acct_burst", 60_000),
    ("acct_flags", 1), ("acct_commit", 7),
]


def write_verilog(out_dir: Path) -> list[Path]:
    """The AXI top (default table sizes) as Verilog, and its register map."""
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / "risk_top.v"
    source.write_text(verilog.convert(RiskTop(*SIZES), name="risk_top"))
    regmap = out_dir / "risk_regmap.md"
    regmap.write_text(RISK_REGMAP.markdown() + "\n" + ORDER.markdown() + "\n"
                      + UPDATE.markdown())
    return [source, regmap]


def measure(orders: int = 400, ready_probability: float = 1.0) -> dict[str, float | int]:
    """Stream ``orders`` orders for one account and instrument (the worst case for
    hazards: every order depends on the one before) and time them cycle by cycle."""
    # hw may not import sim or gateway at module level (docs/DESIGN.md): only here
    from nanogate.gateway.risk.orders import Operation
    from nanogate.sim.cocotb.tb_risk_cases import Step
    from nanogate.sim.rtl_risk import run_program

    steps = [Step("order", Operation(0, n + 1, 7, 1, n % 2, 1, 1_500_000, n))
             for n in range(orders)]
    run = run_program(RiskPipeline(*SIZES), steps,
                      ready_probability=ready_probability, limits_writes=_BENCH_LIMITS)
    latencies = {d[3] + 1 - t for d, t in zip(run.decisions, run.taken, strict=True)}
    span = run.taken[-1] - run.taken[0] + 1
    return {
        "latency_cycles": max(latencies),
        "latency_cycles_min": min(latencies),
        "orders_per_cycle": round(orders / span, 4),
        "orders": orders,
        "accepted": sum(d[1] for d in run.decisions),
    }


def bench(as_json: bool = False) -> int:
    full = measure()
    pressured = measure(ready_probability=0.5)
    result = {"latency_cycles": full["latency_cycles"],
              "orders_per_cycle": full["orders_per_cycle"],
              "design_latency_cycles": LATENCY_CYCLES,
              "orders": full["orders"],
              "orders_per_cycle_at_50pct_ready": pressured["orders_per_cycle"],
              "tables": {"instruments": SIZES[0], "accounts": SIZES[1],
                         "dup_entries": 1 << SIZES[2]}}
    if as_json:
        print(json.dumps(result))
    else:
        print("risk pipeline, one account and instrument back to back (cycle-accurate)")
        print(f"  {'latency (order in -> decision out)':<40} {result['latency_cycles']} cycles")
        print(f"  {'throughput, output always ready':<40} {result['orders_per_cycle']} "
              "orders/cycle")
        print(f"  {'throughput, output ready 50 %':<40} "
              f"{result['orders_per_cycle_at_50pct_ready']} orders/cycle")
    ok = full["latency_cycles"] == LATENCY_CYCLES and full["orders_per_cycle"] == 1.0 \
        and full["accepted"] == full["orders"]
    return 0 if ok else 1
