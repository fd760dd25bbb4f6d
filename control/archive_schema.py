"""The one definition of the archive's records: its tables, their columns, their docs.

Every table of the daily archive and its columns are defined here, in :data:`TABLES`;
the Arrow schemas (:func:`arrow_schema`) and the schema section of ``docs/records.md``
(:func:`render_markdown`, :func:`render_doc`, which ``nanogate.codegen`` writes) are
derived from it. Kept apart from the writer (:mod:`nanogate.control.archive`) and the
reader (:mod:`nanogate.control.archive_read`), which both follow this definition, so
that the records can be read, or their doc generated, without the writer's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

NS_PER_DAY = 86_400 * 1_000_000_000


class ArchiveError(RuntimeError):
    """A record that cannot be archived, or an archive file that cannot be read."""


# --- the one definition of every table ----------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of _ARROW_TYPES
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]


#: Column type -> (Arrow type factory name, how the docs spell it).
_TYPE_DOCS = {"time": "timestamp[ns, UTC]", "u64": "uint64", "i64": "int64",
              "f64": "float64", "str": "string", "bool": "bool"}

_TIME = Column("timestamp_ns", "time", "when it happened (the record's own time, UTC)")

ORDERS = Table("orders", "Every intent the router sent: new orders, replaces, cancels.", (
    _TIME,
    Column("kind", "str", "`new`, `replace` or `cancel`"),
    Column("client_order_id", "u64", "the order (replace, cancel: the live order)"),
    Column("new_client_order_id", "u64", "replace: the id of the new order"),
    Column("account", "i64", "account index"),
    Column("strategy", "str", "strategy that sent it"),
    Column("locate", "i64", "new: stock locate"),
    Column("symbol", "str", "new: symbol"),
    Column("side", "str", "new: `buy`, `sell` or `sell_short`"),
    Column("quantity", "i64", "new, replace: shares; cancel: shares left open (0: all)"),
    Column("price", "i64", "new, replace: limit price, price(4)"),
    Column("time_in_force", "str", "new: `day` or `ioc`"),
))

DECISIONS = Table("decisions", "Every pre-trade risk decision.", (
    _TIME,
    Column("client_order_id", "u64", "the order decided"),
    Column("account", "i64", "account index"),
    Column("strategy", "str", "strategy that sent the order"),
    Column("accepted", "bool", "true when no check failed"),
    Column("reasons", "str", "names of the failing checks, joined by `,` (empty: accepted)"),
    Column("reason_mask", "i64", "the same as Reason bits (proto/risk.py)"),
    Column("cycle", "i64", "pipeline cycle of the decision (hardware counter)"),
))

OUTCOMES = Table("outcomes", "What the venue (or the router) answered, fills apart.", (
    _TIME,
    Column("kind", "str", "`accepted`, `rejected`, `canceled` or `replaced`"),
    Column("client_order_id", "u64", "the order"),
    Column("account", "i64", "account index"),
    Column("strategy", "str", "strategy of the order"),
    Column("venue_order_id", "u64", "accepted, replaced: the venue's order reference"),
    Column("new_client_order_id", "u64", "replaced: the new order's id"),
    Column("quantity", "i64", "canceled: shares cancelled; replaced: new quantity"),
    Column("price", "i64", "replaced: new price, price(4)"),
    Column("source", "str", "rejected: `risk`, `venue`, `disconnect` or `halted`"),
    Column("reason", "str", "rejected: reasons (risk: names joined by `,`); canceled: why"),
))

FILLS = Table("fills", "Every execution of one of our orders.", (
    _TIME,
    Column("client_order_id", "u64", "the order filled"),
    Column("account", "i64", "account index"),
    Column("strategy", "str", "strategy of the order"),
    Column("locate", "i64", "stock locate"),
    Column("symbol", "str", "symbol"),
    Column("side", "str", "`buy`, `sell` or `sell_short`"),
    Column("quantity", "i64", "shares filled"),
    Column("price", "i64", "execution price, price(4)"),
    Column("match_number", "u64", "the venue's execution id"),
    Column("liquidity", "str", "`added` or `removed`"),
    Column("leaves", "i64", "shares still open after this fill"),
))

POSITIONS = Table("positions", "Snapshots of the positions ledger (gateway/strategies/ledger.py "
                  "keeps money in dollars, as here).", (
    _TIME,
    Column("account", "i64", "account index"),
    Column("symbol", "str", "symbol"),
    Column("locate", "i64", "stock locate (null when the snapshot names none)"),
    Column("position", "i64", "net shares (negative: short)"),
    Column("avg_cost", "f64", "average price of the open position, price(4) (null: flat)"),
    Column("realized", "f64", "realized PnL, dollars"),
    Column("unrealized", "f64", "unrealized PnL at the snapshot's mark, dollars"),
    Column("fees", "f64", "fees paid, dollars (PnL = realized + unrealized - fees)"),
))

CONTROL = Table("control", "The control plane's audit rows (halts, resumes, limits, "
                "strategies), copied from the hash-chained audit log.", (
    _TIME,
    Column("id", "i64", "audit row id (the chain's position)"),
    Column("time", "str", "the row's time as the audit log wrote it (hashed)"),
    Column("actor", "str", "who made the change"),
    Column("action", "str", "`halt`, `resume`, `set_instrument_limits`, ..."),
    Column("target", "str", "state key changed (`halt/account/3`, `instrument/7`, ...)"),
    Column("before", "str", "JSON of the values before"),
    Column("after", "str", "JSON of the values after"),
    Column("prev_hash", "str", "hash of the row before"),
    Column("hash", "str", "SHA-256 of this row's other fields"),
    Column("note", "str", "the event the change raised (a resume's reason is only there)"),
))

TABLES: tuple[Table, ...] = (ORDERS, DECISIONS, OUTCOMES, FILLS, POSITIONS, CONTROL)
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)
TABLES_BY_NAME = {t.name: t for t in TABLES}


def load_pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise ArchiveError("the archive needs pyarrow (pip install pyarrow)") \
            from None
    return pa


def arrow_schema(table: Table | str) -> Any:
    """The pyarrow schema of a table (by definition or name)."""
    pa = load_pyarrow()
    t = TABLES_BY_NAME[table] if isinstance(table, str) else table
    types = {"time": pa.timestamp("ns", tz="UTC"), "u64": pa.uint64(), "i64": pa.int64(),
             "f64": pa.float64(), "str": pa.string(), "bool": pa.bool_()}
    return pa.schema([pa.field(c.name, types[c.type]) for c in t.columns])


DOC_PATH = "docs/records.md"
_BEGIN, _END = "<!-- schemas: generated by render_markdown() -->", "<!-- end of schemas -->"


def render_markdown() -> str:
    """The schema section of docs/records.md, from :data:`TABLES`."""
    lines: list[str] = []
    for t in TABLES:
        lines += [f"### `{t.name}`", "", t.doc, "", "| column | type | meaning |",
                  "| --- | --- | --- |"]
        lines += [f"| `{c.name}` | {_TYPE_DOCS[c.type]} | {c.doc} |" for c in t.columns]
        lines.append("")
    return "\n".join(lines)


def render_doc() -> str:
    """docs/records.md with its schema section regenerated (the prose is kept as written):
    the renderer ``nanogate.codegen`` writes and checks for staleness."""
    path = Path(__file__).resolve().parent.parent / DOC_PATH
    text = path.read_text()
    start, end = text.find(_BEGIN), text.find(_END)
    if start < 0 or end < start:
        raise ArchiveError(f"{path}: the markers {_BEGIN} ... {_END} are missing")
    return f"{text[:start]}{_BEGIN}\n\n{render_markdown()}\n{text[end:]}"
