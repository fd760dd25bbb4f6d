"""``nanogate report compliance``: one day of the archive as Markdown with PNG charts.

Reads the day's tables (:mod:`nanogate.control.archive_read`) and the control database's
audit log, and writes ``DIR/compliance-D.md`` beside its charts ``DIR/compliance-D-*.png``.
Control changes come from the archived audit rows, completed by the database's rows of
that day that the archive has not copied yet; the whole chain is verified, and every
archived row is checked against its hash and against the database's row of the same id.

Exit status: 0 written, 1 no data for the day or an audit chain that fails (the report is
still written), 2 bad usage or an unreadable archive file or database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from nanogate.control import archive_read
from nanogate.control.archive_read import iter_rows
from nanogate.control.archive_schema import NS_PER_DAY, ArchiveError
from nanogate.control.store import AuditRow, Store, StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_DB = "nanogate-control.db"  # as `nanogate serve`
HALT_ACTIONS = ("halt", "resume", "reduce_only_on", "reduce_only_off", "mass_cancel")


class ReportError(RuntimeError):
    """Input the report cannot use (an unreadable archive file or database)."""


@dataclass
class Chain:
    """What the audit check found: ``status`` is PASSED, FAILED or NOT VERIFIED."""

    status: str
    detail: str
    problems: list[str] = field(default_factory=list)


# --- gathering ----------------------------------------------------------------------

def _control_rows(tables: dict[str, Any], day: date, db: Path) -> tuple[list[AuditRow], Chain]:
    """The day's audit rows (archive first, then the database's) and the chain verdict."""
    archived = [AuditRow(r["id"], r["time"], r["actor"], r["action"], r["target"],
                         r["before"], r["after"], r["prev_hash"], r["hash"])
                for r in iter_rows(tables["control"])]
    rows = {r.id: r for r in archived}
    problems = [f"archived row {r.id}: content does not match its hash"
                for r in archived if r.computed_hash() != r.hash]
    if not db.exists():
        chain = Chain("NOT VERIFIED", f"no database at {db}; archived rows checked "
                      f"against their own hashes only")
        if problems:
            chain = Chain("FAILED", chain.detail)
        chain.problems = problems
        return sorted(rows.values(), key=lambda r: r.id), chain
    try:
        store = Store(db)
    except StoreError as error:
        raise ReportError(f"{db}: cannot open the control database ({error})") from None
    try:
        verdict = store.verify()
        stored = {r.id: r for r in store.audit()}
    finally:
        store.close()
    for row in archived:
        twin = stored.get(row.id)
        if twin is None:
            problems.append(f"archived row {row.id} is missing from the database")
        elif twin != row:
            problems.append(f"archived row {row.id} differs from the database's row {row.id}")
    for row_id, row in stored.items():
        if row.time.startswith(day.isoformat()):  # not archived yet: the database has it
            rows.setdefault(row_id, row)
    if verdict.ok and not problems:
        chain = Chain("PASSED", f"{verdict.rows} audit rows in {db}, head {verdict.head[:16]}…")
    else:
        chain = Chain("FAILED", verdict.problem if not verdict.ok else
                      f"{verdict.rows} rows chain correctly in {db}, but the archive differs")
    chain.problems = problems
    return sorted(rows.values(), key=lambda r: r.id), chain


def _counts(table: Any, column: str) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    return {str(v["values"]): int(v["counts"])
            for v in table[column].value_counts().to_pylist()}


def _rejects(outcomes: Any) -> Counter[tuple[str, str]]:
    """(source, reason) -> count; a risk reject counts once under each failing check."""
    counts: Counter[tuple[str, str]] = Counter()
    rejected = outcomes.filter(_eq(outcomes["kind"], "rejected"))
    for row in rejected.select(["source", "reason"]).to_pylist():
        source, reason = row["source"] or "", row["reason"] or ""
        for name in (reason.split(",") if source == "risk" and reason else [reason]):
            counts[source, name or "(none)"] += 1
    return counts


def _eq(column: Any, value: str) -> Any:
    import pyarrow.compute as pc  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return pc.equal(column, value)


def _minutes(table: Any) -> list[int]:
    """Minute of the day of each row."""
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    stamps = table["timestamp_ns"].cast(pa.int64()).to_pylist()
    return [(ts % NS_PER_DAY) // 60_000_000_000 for ts in stamps]


# --- formatting ---------------------------------------------------------------------

def _price(value: float | None) -> str:
    """price(4) as dollars."""
    return "" if value is None else f"{value / 10_000:,.4f}"


def _money(dollars: float) -> str:
    return f"{dollars:,.2f}"


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return [*out, ""]


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _changes(row: AuditRow) -> str:
    """Field by field, before -> after, of an audit row's values."""
    before, after = _json(row.before), _json(row.after)
    parts = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if isinstance(b, dict) or isinstance(a, dict):
            b, a = b or {}, a or {}
            fields = sorted(f for f in set(b) | set(a) if b.get(f) != a.get(f))
            diff = ", ".join(f"{f}: {b.get(f, '–')} → {a.get(f, '–')}" for f in fields)
            parts.append(f"{key}: {diff or 'unchanged'}")
        else:
            parts.append(f"{key}: {b if b is not None else '–'} → "
                         f"{a if a is not None else '–'}")
    return "; ".join(parts)


def _halt_reason(row: AuditRow, note: str) -> str:
    for value in _json(row.after).values():
        if isinstance(value, dict) and value.get("reason"):
            return str(value["reason"])
    return note


# --- charts -------------------------------------------------------------------------

def pyplot() -> Any:
    """matplotlib's pyplot drawing to files (Agg): reports run on servers with no display."""
    import matplotlib  # type: ignore[import-untyped,import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return plt


def _charts(out: Path, stem: str, tables: dict[str, Any],
            rejects: Counter[tuple[str, str]]) -> dict[str, str]:
    """PNG files by section; a chart without data is not drawn."""
    import matplotlib.ticker  # type: ignore[import-untyped,import-not-found,unused-ignore]

    plt = pyplot()

    drawn: dict[str, str] = {}

    def hhmm(minute: float, _: object) -> str:
        seconds = round(minute * 60)
        text = f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}"
        return text + (f":{seconds % 60:02d}" if seconds % 60 else "")

    def clock(ax: Any) -> None:  # x is the minute of the day: label it as a time
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(hhmm))
        ax.set_xlabel("time (UTC)")

    def save(fig: Any, name: str) -> None:
        path = out / f"{stem}-{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        drawn[name] = path.name

    orders, outcomes = tables["orders"], tables["outcomes"]
    if orders.num_rows or outcomes.num_rows:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        for label, minutes in (
                ("orders sent", _minutes(orders)),
                ("rejects", _minutes(outcomes.filter(_eq(outcomes["kind"], "rejected"))))):
            per = Counter(minutes)
            ax.plot(sorted(per), [per[m] for m in sorted(per)], marker=".", label=label)
        clock(ax)
        ax.set_ylabel("per minute")
        ax.set_title("Orders and rejects per minute")
        ax.legend()
        save(fig, "activity")
    positions = tables["positions"]
    if positions.num_rows:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        latest: dict[int, dict[str, float]] = defaultdict(dict)
        series: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for r in sorted(iter_rows(positions), key=lambda r: r["timestamp_ns"]):
            latest[r["account"]][r["symbol"]] = _pnl(r)
            xs, ys = series[r["account"]]
            xs.append((r["timestamp_ns"] % NS_PER_DAY) / 6e10)
            ys.append(sum(latest[r["account"]].values()))
        for account, (xs, ys) in sorted(series.items()):
            ax.step(xs, ys, where="post", label=f"account {account}")
        clock(ax)
        ax.set_ylabel("PnL ($)")
        ax.set_title("PnL (realized + unrealized - fees) over the day")
        ax.legend()
        save(fig, "pnl")
    if rejects:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        items = rejects.most_common()
        ax.barh([f"{s}: {r}" for (s, r), _ in items][::-1], [n for _, n in items][::-1])
        ax.set_xlabel("rejects")
        ax.set_title("Rejects by source and reason")
        save(fig, "rejects")
    return drawn


# --- the report ---------------------------------------------------------------------

@dataclass
class Result:
    code: int
    message: str
    path: Path | None = None


def compliance(day: date, archive_dir: Path, db: Path, out: Path) -> Result:
    """Write the compliance report of ``day``; :class:`ReportError` for unreadable input."""
    try:
        tables = archive_read.read_day(archive_dir, day)
    except ArchiveError as error:
        raise ReportError(str(error)) from None
    control, chain = _control_rows(tables, day, db)
    if not control and not any(t.num_rows for t in tables.values()):
        held = ", ".join(d.isoformat() for d in archive_read.days(archive_dir)[-5:]) or "none"
        return Result(EXIT_FAILED, f"no records for {day} in {archive_dir} and no control "
                                   f"changes in {db} (last days archived: {held})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{out}: cannot create the output folder ({error})") from None
    stem = f"compliance-{day.isoformat()}"
    rejects = _rejects(tables["outcomes"])
    notes = {r["id"]: r["note"] for r in iter_rows(tables["control"])}
    path = out / f"{stem}.md"
    try:
        try:
            charts = _charts(out, stem, tables, rejects)
        except ImportError:  # matplotlib is optional: the tables are the report
            charts = {}
        lines = _markdown(day, archive_dir, tables, rejects, control, notes, chain, charts)
        path.write_text("\n".join(lines))
    except OSError as error:
        raise ReportError(f"{out}: cannot write the report ({error})") from None
    if chain.status == "FAILED":
        return Result(EXIT_FAILED, f"{path}: written; audit chain FAILED: {chain.detail}", path)
    return Result(EXIT_OK, f"{path}: written", path)


def _markdown(day: date, archive_dir: Path, tables: dict[str, Any],
              rejects: Counter[tuple[str, str]], control: list[AuditRow],
              notes: dict[int, str], chain: Chain, charts: dict[str, str]) -> list[str]:
    orders, decisions, outcomes = tables["orders"], tables["decisions"], tables["outcomes"]
    fills, positions = tables["fills"], tables["positions"]
    sent, answered = _counts(orders, "kind"), _counts(outcomes, "kind")
    accepted = _counts(decisions, "accepted")
    lines = [f"# Compliance report, {day.isoformat()} (UTC)", "",
             f"Archive `{archive_dir}`; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
             "## Orders", ""]
    lines += _table(["what", "count"], [
        ["orders sent (new)", sent.get("new", 0)], ["replaces sent", sent.get("replace", 0)],
        ["cancels sent", sent.get("cancel", 0)],
        ["risk decisions: accepted", accepted.get("True", 0)],
        ["risk decisions: rejected", accepted.get("False", 0)],
        ["venue accepted", answered.get("accepted", 0)],
        ["rejected (all sources)", answered.get("rejected", 0)],
        ["canceled", answered.get("canceled", 0)], ["replaced", answered.get("replaced", 0)],
        ["fills", fills.num_rows]])
    if "activity" in charts:
        lines += [f"![orders and rejects per minute]({charts['activity']})", ""]
    lines += ["## Rejects by source and reason", "",
              "A risk reject counts once under each check that failed.", ""]
    lines += _table(["source", "reason", "count"],
                    [[s, r, n] for (s, r), n in sorted(rejects.items())])
    if "rejects" in charts:
        lines += [f"![rejects by reason]({charts['rejects']})", ""]
    lines += ["## Halts and resumes", ""]
    lines += _table(["time (UTC)", "action", "target", "by", "reason"], [
        [r.time, r.action, r.target, r.actor, _halt_reason(r, notes.get(r.id, ""))]
        for r in control if r.action in HALT_ACTIONS])
    lines += ["## Limit, strategy and symbol changes", ""]
    lines += _table(["time (UTC)", "action", "by", "before → after"], [
        [r.time, r.action, r.actor, _changes(r)]
        for r in control if r.action not in HALT_ACTIONS])
    lines += ["## Fills", ""]
    lines += _table(["account", "symbol", "fills", "bought", "sold", "notional ($)"],
                    _fill_rows(fills))
    lines += ["## Positions and PnL at end of day", "",
              "The last snapshot of each account and symbol; money in dollars, "
              "PnL = realized + unrealized - fees.", ""]
    lines += _table(["account", "symbol", "position", "avg cost", "realized", "unrealized",
                     "fees", "PnL", "as of (UTC)"], _position_rows(positions))
    if "pnl" in charts:
        lines += [f"![PnL over the day]({charts['pnl']})", ""]
    lines += ["## Audit chain", "", f"**{chain.status}**: {chain.detail}", ""]
    lines += [f"- {p}" for p in chain.problems]
    return [*lines, ""]


def _fill_rows(fills: Any) -> list[list[Any]]:
    per: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in iter_rows(fills.select(["account", "symbol", "side", "quantity", "price"])):
        entry = per[r["account"], r["symbol"]]
        entry[0] += 1
        entry[1 if r["side"] == "buy" else 2] += r["quantity"]
        entry[3] += r["quantity"] * r["price"]
    return [[a, s, n, b, sold, _money(notional / 10_000)]
            for (a, s), (n, b, sold, notional) in sorted(per.items())]


def _pnl(row: dict[str, Any]) -> float:
    return float(row["realized"] + row["unrealized"] - (row["fees"] or 0.0))


def _position_rows(positions: Any) -> list[list[Any]]:
    last: dict[tuple[int, str], dict[str, Any]] = {}
    for r in iter_rows(positions):
        key = (r["account"], r["symbol"])
        if key not in last or r["timestamp_ns"] >= last[key]["timestamp_ns"]:
            last[key] = r
    return [[a, s, r["position"], _price(r["avg_cost"]), _money(r["realized"]),
             _money(r["unrealized"]), _money(r["fees"] or 0.0), _money(_pnl(r)),
             _when(r["timestamp_ns"])] for (a, s), r in sorted(last.items())]


# --- the command --------------------------------------------------------------------

def _parse_date(text: str) -> date:
    if text == "today":
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or 'today', found {text!r}") \
            from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report", help="reports over the daily archive (compliance)",
        description="Reports built from the daily Parquet archive (docs/records.md) and the "
                    "control plane's audit log.")
    kinds = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    comp = kinds.add_parser(
        "compliance", help="one day: orders, rejects, halts, limits, fills, PnL, audit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write DIR/compliance-DATE.md with PNG charts beside it: orders sent "
                    "and their risk\ndecisions, rejects by source and reason, halts and "
                    "resumes (who, when, why), limit\nchanges (before → after), fills, "
                    "positions and PnL at end of day, and a verification\nof the audit "
                    "chain. Days are UTC.",
        epilog="examples:\n"
               "  nanogate report compliance --date 2026-11-21\n"
               "  nanogate report compliance --date today --db run/control.db -o reports/\n"
               "\nexit status: 0 written; 1 nothing recorded that day, or the audit chain "
               "FAILED\n(the report is still written); 2 bad usage or an unreadable archive "
               "file or database.")
    comp.add_argument("--date", required=True, type=_parse_date, metavar="YYYY-MM-DD",
                      help="the UTC day to report ('today' works too)")
    comp.add_argument("-o", "--output", type=Path, default=Path("."), metavar="DIR",
                      help="where the Markdown and PNGs go (default: current folder)")
    comp.add_argument("--db", type=Path, default=Path(DEFAULT_DB), metavar="PATH",
                      help=f"control database with the audit log (default ./{DEFAULT_DB}, "
                           "as `nanogate serve`)")
    comp.add_argument("--archive", type=Path, metavar="DIR",
                      help="archive folder (default: 'archive' beside --db)")
    comp.set_defaults(handler=run_compliance)


def run_compliance(args: argparse.Namespace) -> int:
    archive_dir = args.archive or archive_read.default_directory(args.db)
    try:
        result = compliance(args.date, archive_dir, args.db, args.output)
    except ReportError as error:
        print(f"nanogate report: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"nanogate report: {result.message}", file=sys.stderr)
    if result.path is not None:
        print(result.path)
    return result.code


def main(argv: list[str] | None = None) -> int:
    """``python -m nanogate.control.report compliance ...`` (and the tests)."""
    parser = argparse.ArgumentParser(prog="nanogate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
