"""Analytics jobs over option-chain files (CSV, or Parquet when pyarrow is installed).

Input columns: underlying_price, strike, expiry_years, rate, dividend_yield, option_type
(call/put), price; optional style (european/american). Output: the input plus iv,
iv_status, delta, gamma, vega, theta, rho (and model_price for ``price``).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import analytics
from .backend import get_backend
from .status import Status, status_names

REQUIRED = ("underlying_price", "strike", "expiry_years", "rate", "dividend_yield",
            "option_type", "price")
NUMERIC = ("underlying_price", "strike", "expiry_years", "rate", "dividend_yield", "price")
CHUNK = 1_000_000  # rows per kernel call: bounds memory and paces the progress line

Table = dict[str, npt.NDArray[Any]]


class InputError(ValueError):
    """Bad input file: missing columns or unparseable rows (the message names them)."""


def read_table(path: Path, required: tuple[str, ...] = REQUIRED) -> Table:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise InputError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)"
                             ) from None
        tbl = pq.read_table(path)
        cols: Table = {nm: np.asarray(tbl.column(nm).to_numpy(zero_copy_only=False))
                       for nm in tbl.column_names}
    else:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file")
            header = [h.strip() for h in header]
            rows = list(reader)
        bad = [i + 2 for i, row in enumerate(rows) if len(row) != len(header)]
        if bad:
            raise InputError(f"{path}: rows {_few(bad)} have a different number of fields "
                             f"than the header ({len(header)})")
        data = np.array(rows, dtype=object).reshape(len(rows), len(header))
        cols = {nm: data[:, j].astype(str) for j, nm in enumerate(header)}
    missing = [c for c in required if c not in cols]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(have: {', '.join(cols)})")
    for nm in NUMERIC:
        if nm in cols and nm in required:
            cols[nm] = _to_float(path, nm, cols[nm])
    return cols


def _few(rows: list[int]) -> str:
    return ", ".join(map(str, rows[:10])) + (f" (and {len(rows) - 10} more)" if len(rows) > 10
                                             else "")


def _to_float(path: Path, name: str, col: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    if col.dtype.kind in "fiu":
        return col.astype(np.float64)
    out = np.empty(len(col))
    bad: list[int] = []
    for i, v in enumerate(col):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            bad.append(i + 2)  # +2: 1-based and the header line
    if bad:
        raise InputError(f"{path}: column {name!r} is not numeric on line(s) {_few(bad)}")
    return out


def write_table(path: Path, table: Table) -> None:
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
            import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise InputError(f"{path}: writing Parquet needs pyarrow") from None
        pq.write_table(pa.table({k: np.asarray(v) for k, v in table.items()}), path)
        return
    names = list(table)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        cols = [np.asarray(table[nm]) for nm in names]
        for i in range(len(cols[0]) if cols else 0):
            w.writerow([_fmt(c[i]) for c in cols])


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v))
    return str(v)


class Progress:
    """A one-line progress indicator on stderr for jobs longer than a second."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.start = time.perf_counter()
        self.shown = False

    def update(self, done: int) -> None:
        el = time.perf_counter() - self.start
        if self.enabled and (el > 1.0 or self.shown) and sys.stderr.isatty():
            rate = done / el if el > 0 else 0.0
            print(f"\r{self.label}: {done:,}/{self.total:,} ({rate:,.0f}/s)", end="",
                  file=sys.stderr, flush=True)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _chunked(n: int, fn: Callable[[slice], None], label: str) -> None:
    prog = Progress(n, label)
    for lo in range(0, n, CHUNK):
        fn(slice(lo, min(n, lo + CHUNK)))
        prog.update(min(n, lo + CHUNK))
    prog.close()


def options_job(table: Table, *, kind: str, backend: str = "auto",
                american_steps: int = analytics.DEFAULT_AMERICAN_STEPS) -> Table:
    """``price``/``iv``: European IV from the price, then greeks (and model price) at that IV.
    ``american``: rows with style american (all rows if no style column) get the American IV
    from the tree and the tree price at it; others as ``iv``."""
    be = get_backend(backend)
    n = len(table["strike"])
    s, k, t = table["underlying_price"], table["strike"], table["expiry_years"]
    r, q, p = table["rate"], table["dividend_yield"], table["price"]
    flag = analytics.parse_option_type(table["option_type"])
    if np.any(flag < 0):
        bad = (np.nonzero(flag < 0)[0] + 2).tolist()
        raise InputError(f"column 'option_type' must be call or put: line(s) {_few(bad)}")
    iv = np.full(n, np.nan)
    status = np.zeros(n, np.int32)
    greeks = {nm: np.full(n, np.nan) for nm in ("delta", "gamma", "vega", "theta", "rho")}
    model_price = np.full(n, np.nan)

    def run(sl: slice) -> None:
        iv[sl], status[sl] = analytics.implied_vol(p[sl], s[sl], k[sl], t[sl], r[sl], q[sl],
                                                   flag[sl], backend=be)
        g = analytics.price_greeks(s[sl], k[sl], t[sl], r[sl], q[sl], iv[sl], flag[sl],
                                   greeks=("price", "delta", "gamma", "vega", "theta", "rho"),
                                   backend=be)
        for nm, arr in greeks.items():
            arr[sl] = g[nm]
        model_price[sl] = g["price"]

    _chunked(n, run, kind)
    if kind == "american":
        style = np.char.lower(table["style"].astype(str)) if "style" in table else None
        am = np.ones(n, bool) if style is None else style == "american"
        if style is not None:
            unknown = ~np.isin(style, ["american", "european"])
            if np.any(unknown):
                raise InputError("column 'style' must be european or american: line(s) "
                                 + _few((np.nonzero(unknown)[0] + 2).tolist()))
        idx = np.nonzero(am)[0]
        if len(idx):
            av, ast = analytics.american_implied_vol(p[idx], s[idx], k[idx], t[idx], r[idx],
                                                     q[idx], flag[idx], steps=american_steps)
            iv[idx], status[idx] = av, ast
            ap, _ = analytics.american_price(s[idx], k[idx], t[idx], r[idx], q[idx], av,
                                             flag[idx], steps=american_steps, backend=be)
            model_price[idx] = ap
            # greeks by bumping the tree would be costlier; European greeks at the American IV
            g = analytics.price_greeks(s[idx], k[idx], t[idx], r[idx], q[idx], av, flag[idx],
                                       greeks=("delta", "gamma", "vega", "theta", "rho"),
                                       backend=be)
            for nm, arr in greeks.items():
                arr[idx] = g[nm]
    out: Table = dict(table)
    if kind in ("price", "american"):
        out["model_price"] = model_price
    out["iv"] = iv
    out["iv_status"] = status_names(status)
    out.update(greeks)
    return out


def realized_job(table: Table, *, ewma_lambda: float = 0.94, periods_per_year: float = 252.0
                 ) -> Table:
    """Per instrument (rows grouped by ``instrument``, in file order): the four estimators."""
    inst = table["instrument"].astype(str)
    order = np.argsort(inst, kind="stable")
    names, starts = np.unique(inst[order], return_index=True)
    offsets = np.append(starts, len(inst)).astype(np.int64)
    path = Path("input")
    close = _to_float(path, "close", table["close"])[order]
    extra = {nm: _to_float(path, nm, table[nm])[order] if nm in table else None
             for nm in ("open", "high", "low")}
    res = analytics.realized_vol(close, offsets, open_=extra["open"], high=extra["high"],
                                 low=extra["low"], ewma_lambda=ewma_lambda,
                                 periods_per_year=periods_per_year)
    out: Table = {"instrument": names, "observations": np.diff(offsets)}
    for nm in analytics.REALIZED_NAMES:
        out[nm] = res[nm]
    out["status"] = status_names(res["status"])
    return out


def count_bad(status: npt.NDArray[Any]) -> int:
    return int(np.sum(status != Status.OK.name.lower()))
