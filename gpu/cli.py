"""``nanogate analytics ...``: wiring for the top-level CLI.

Only argparse is imported here; NumPy, the kernels and CuPy load when a command runs,
so ``nanogate --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BACKEND_HELP = ("where the kernels run: auto (CUDA if CuPy reaches a device, else CPU), "
                "cuda, or cpu (default: auto)")
COLUMNS = ("underlying_price,strike,expiry_years,rate,dividend_yield,option_type(call/put),"
           "price[,style(european/american)]")


def register(subparsers: Any) -> None:
    """Add ``analytics`` and its subcommands to an argparse subparsers object."""
    an = subparsers.add_parser(
        "analytics", help="option prices, greeks, implied vol, American options, realized vol",
        description="Options analytics on chains from CSV or Parquet files. The kernels are "
                    "one CUDA C++ source run by CuPy on a GPU or compiled for the CPU.")
    sub = an.add_subparsers(dest="analytics_command", metavar="SUBCOMMAND", required=True)

    def job(name: str, help_: str, desc: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=desc)
        p.add_argument("--input", "-i", required=True, type=Path, metavar="FILE",
                       help=f"CSV or .parquet with columns {COLUMNS}")
        p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                       help="output file (.csv or .parquet): the input columns plus results")
        p.add_argument("--backend", choices=("auto", "cuda", "cpu"), default="auto",
                       help=BACKEND_HELP)
        return p

    for name, help_ in (("price", "implied vol, model price and greeks per option"),
                        ("iv", "implied vol and greeks per option")):
        p = job(name, help_, f"{help_.capitalize()} (Black-Scholes-Merton). Adds iv, iv_status "
                "(ok, below_intrinsic, above_max_price, invalid_input, not_converged), delta, "
                "gamma, vega (per 1.00 vol), theta (per year), rho (per 1.00 rate)"
                + (" and model_price." if name == "price" else "."))
        p.set_defaults(handler=_options, kind=name)
    p = job("american", "American implied vol on a Leisen-Reimer tree",
            "Rows with style american (every row when there is no style column) get the "
            "American implied vol from a Leisen-Reimer tree and its price; others as `iv`.")
    p.add_argument("--steps", type=int, default=201, help="tree steps (odd; default 201)")
    p.set_defaults(handler=_options, kind="american")

    p = sub.add_parser("realized", help="realized volatility per instrument",
                       description="Close-to-close, Parkinson, Garman-Klass and EWMA volatility "
                                   "per instrument, annualised. Columns: instrument, close "
                                   "[, open, high, low] in time order per instrument.")
    p.add_argument("--input", "-i", required=True, type=Path, metavar="FILE")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    p.add_argument("--lambda", dest="ewma_lambda", type=float, default=0.94,
                   help="EWMA decay (default 0.94, RiskMetrics)")
    p.add_argument("--periods-per-year", type=float, default=252.0,
                   help="annualisation (default 252 trading days)")
    p.set_defaults(handler=_realized)

    p = sub.add_parser(
        "surface", help="SVI / SSVI volatility surface with no-arbitrage checks",
        description="Fits raw SVI per expiry (quasi-explicit + Levenberg-Marquardt) and a "
                    "power-law SSVI surface, checks butterfly (g(k) >= 0) and calendar "
                    "(total variance non-decreasing in T) arbitrage per slice, and writes the "
                    "parameters as JSON plus a PNG of the surface (needs matplotlib). Columns: "
                    "expiry_years, strike, forward or underlying_price [rate, dividend_yield], "
                    "and iv or price + option_type; at least 5 quotes per expiry.")
    p.add_argument("--input", "-i", required=True, type=Path, metavar="FILE",
                   help="CSV or .parquet of quotes")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                   help="JSON file for the fitted parameters and checks")
    p.add_argument("--png", type=Path, default=None,
                   help="PNG of the surface (default: OUT with suffix .png)")
    p.add_argument("--no-png", action="store_true", help="do not draw the PNG")
    p.set_defaults(handler=_surface)

    p = sub.add_parser("bench", help="options/s for price+greeks and implied vol",
                       description="Throughput of price+greeks and IV at 1e5 and 1e6 options "
                                   "(1e7 with --large) on the chosen backend: through the API "
                                   "and for the kernel alone, with the memory traffic it "
                                   "achieves (GB/s; on a GPU against the device's peak), next "
                                   "to a NumPy baseline and fast-vollib's NumPy backend when "
                                   "installed. Best of --repeat runs.")
    p.add_argument("--backend", choices=("auto", "cuda", "cpu"), default="auto",
                   help=BACKEND_HELP)
    p.add_argument("--large", action="store_true", help="also run 1e7 options")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the NumPy and fast-vollib baselines")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (keys price_greeks_per_s, iv_per_s, iv_max_rel_error)")
    p.set_defaults(handler=_bench)


def _fail(msg: str) -> int:
    print(f"nanogate analytics: {msg}", file=sys.stderr)
    return 2


def _options(args: argparse.Namespace) -> int:
    from . import jobs

    try:
        table = jobs.read_table(args.input)
        out = jobs.options_job(table, kind=args.kind, backend=args.backend,
                               american_steps=getattr(args, "steps", 201))
        jobs.write_table(args.output, out)
    except (jobs.InputError, RuntimeError) as exc:
        return _fail(str(exc))
    bad = jobs.count_bad(out["iv_status"])
    print(f"{len(out['iv']):,} options -> {args.output}"
          + (f" ({bad:,} without an implied vol: see iv_status)" if bad else ""))
    return 0


def _realized(args: argparse.Namespace) -> int:
    from . import jobs

    try:
        table = jobs.read_table(args.input, required=("instrument", "close"))
        out = jobs.realized_job(table, ewma_lambda=args.ewma_lambda,
                                periods_per_year=args.periods_per_year)
        jobs.write_table(args.output, out)
    except (jobs.InputError, ValueError) as exc:
        return _fail(str(exc))
    print(f"{len(out['instrument']):,} instruments -> {args.output}")
    return 0


def _surface(args: argparse.Namespace) -> int:
    from . import jobs, surface

    try:
        table = jobs.read_table(args.input, required=())
        t, k, w = surface.quotes_from_table(table, args.input)
        surf = surface.fit_surface(t, k, w)
    except (jobs.InputError, surface.SurfaceInputError) as exc:
        return _fail(str(exc))
    png = None if args.no_png else (args.png or args.output.with_suffix(".png"))
    note = surface.plot_png(png, surf, t, k, w) if png is not None else None
    extra = {"png": None if (png is None or note) else str(png)}
    if note:
        extra["note"] = note
    surface.write_json(args.output, surf, extra)
    bad = [f"{s.expiry_years:g}" for s in surf.slices
           if not (s.butterfly["ok"] and s.calendar["ok"])]
    print(f"{len(surf.slices)} expiries -> {args.output}"
          + (f", {png}" if extra["png"] else "")
          + (f" (arbitrage in expiries {', '.join(bad)})" if bad else " (no arbitrage found)"))
    if note:
        print(note, file=sys.stderr)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    sizes = [100_000, 1_000_000] + ([10_000_000] if args.large else [])
    try:
        res = bench.run(sizes, backend=args.backend, baseline=not args.no_baseline,
                        repeat=max(1, args.repeat))
    except RuntimeError as exc:
        return _fail(str(exc))
    print(json.dumps(res, indent=2) if args.json else bench.format_table(res))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m nanogate.gpu.cli``) until nanogate.cli wires register()."""
    parser = argparse.ArgumentParser(prog="nanogate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
