"""The daily archive: every order, decision, outcome, position and control change, as Parquet.

``ARCHIVE_DIR/YYYY-MM-DD/TABLE-NNNNNN.parquet``, one folder per UTC day (the day of each
record's own timestamp, so a session that spans midnight splits where the records do).
The tables and their columns are defined once, in :data:`TABLES`; the Arrow schemas and
``docs/records.md`` (:func:`render_markdown`) are derived from that one definition.

Writing is cheap on the caller's thread: a ``record_*`` call turns its record into a
tuple and appends it to the buffer of its (table, day) under a lock. A writer thread
turns full buffers (``rows_per_file`` rows) and, every ``flush_interval_s``, all the
others into Parquet files. Each flush is a complete file written under a temporary name
and linked to its part name, because a Parquet file is only readable once its footer is
written: a crash therefore loses at most the rows still buffered (at most
``flush_interval_s`` of them, or ``rows_per_file`` per table), never a file already
written. Reopening a day continues its part numbers. :meth:`Archive.close` compacts each
day it wrote into one file per table; the compacted file names the parts it replaces, so
a crash between writing it and removing those parts never counts a row twice.

Control changes (halts, resumes, limit and strategy changes) are taken from the audit
log of :class:`~nanogate.control.store.Store` rather than accepted as records: the audit
row is the one the control plane committed before it acknowledged the change, with its
hash, so the archived copy can be checked against the chain (``sync_control``).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from nanogate.control.store import Store
from nanogate.gateway.trading import (
    CancelOrder,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    Outcome,
    ReplaceOrder,
    TimeInForce,
)
from nanogate.proto.risk import Side, reason_names

log = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * 1_000_000_000
ARCHIVE_FOLDER = "archive"  # beside the control database
#: Compacted files name the part numbers they replace under this metadata key.
REPLACES_KEY = b"nanogate.replaces"


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
_BY_NAME = {t.name: t for t in TABLES}


def _pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise ArchiveError("the archive needs pyarrow (pip install pyarrow)") \
            from None
    return pa


def arrow_schema(table: Table | str) -> Any:
    """The pyarrow schema of a table (by definition or name)."""
    pa = _pyarrow()
    t = _BY_NAME[table] if isinstance(table, str) else table
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


# --- records the archive accepts ----------------------------------------------------

class Position(Protocol):
    """What a positions snapshot needs; ``fees`` (0) and ``locate`` (null) are optional."""

    @property
    def account(self) -> int: ...
    @property
    def symbol(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def avg_cost(self) -> float | None: ...
    @property
    def realized(self) -> float: ...
    @property
    def unrealized(self) -> float: ...
    @property
    def timestamp_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    account: int
    symbol: str
    position: int  # shares, negative when short
    avg_cost: float | None  # price(4); None when flat
    realized: float  # dollars
    unrealized: float  # dollars
    timestamp_ns: int
    fees: float = 0.0  # dollars
    locate: int | None = None


def day_of(timestamp_ns: int) -> date:
    return datetime.fromtimestamp(timestamp_ns // NS_PER_DAY * 86_400, UTC).date()


#: Enum -> its spelling, looked up rather than computed: the record path is hot.
#: (Side and TimeInForce are IntEnums whose members compare equal: one table each.)
_SIDES: dict[Any, str] = {s: str(s.name).lower() for s in Side}
_TIFS: dict[Any, str] = {t: str(t.name).lower() for t in TimeInForce}
_REASONS: dict[int, str] = {}  # reason mask -> names joined by ","


def _reasons(mask: int) -> str:
    text = _REASONS.get(mask)
    if text is None:
        text = _REASONS[mask] = ",".join(reason_names(mask))
    return text


# --- writing ------------------------------------------------------------------------

_OUTCOMES = (OrderAccepted, OrderRejected, OrderCanceled, OrderFilled, OrderReplaced)
_PART = re.compile(r"^(?P<table>[a-z]+)-(?P<part>\d{6})\.parquet$")


@dataclass
class ArchiveStats:
    records: int = 0
    files: int = 0
    bad_rows: int = 0  # rows that could not be converted (counted and logged, not written)
    last_error: str = ""


class Archive:
    """Buffers records and writes them per UTC day as Parquet (see the module docstring).

    Thread-safe. Use as a context manager, or call :meth:`close`; :meth:`flush` writes
    everything buffered and returns when it is on disk.
    """

    def __init__(self, directory: Path | str, *, rows_per_file: int = 65_536,
                 flush_interval_s: float = 5.0, compact_on_close: bool = True,
                 store: Store | None = None) -> None:
        if rows_per_file < 1 or flush_interval_s <= 0:
            raise ArchiveError("rows_per_file must be >= 1 and flush_interval_s > 0")
        self.pa = _pyarrow()
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArchiveError(f"{self.directory}: cannot create the archive ({error})") \
                from None
        self.rows_per_file = rows_per_file
        self.flush_interval_s = flush_interval_s
        self.compact_on_close = compact_on_close
        self.store = store
        self.stats = ArchiveStats()
        self._failure = ""  # a write that failed: raised by the next flush() or close()
        self._schemas = {t.name: arrow_schema(t) for t in TABLES}
        self._lock = threading.Lock()
        self._control_lock = threading.Lock()
        self._buffers: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self._days_written: set[int] = set()
        self._next_part: dict[tuple[str, int], int] = {}
        self._control_after = self._last_control_id()
        self._work: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self._writer.start()

    @classmethod
    def beside(cls, db_path: Path | str, **options: Any) -> Archive:
        """The archive next to the control database (``DB_DIR/archive``)."""
        return cls(default_directory(db_path), **options)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the hot path: one tuple appended -----------------------------------------

    def _append(self, table: str, timestamp_ns: int, row: tuple[Any, ...],
                closing: bool = False) -> None:
        day = timestamp_ns // NS_PER_DAY
        key = (table, day)
        with self._lock:
            if self._closed and not closing:  # checked under the lock close() flushes with
                raise ArchiveError("the archive is closed")
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = []
            buffer.append(row)
            self.stats.records += 1
            if len(buffer) >= self.rows_per_file:
                self._buffers[key] = []
                self._work.put(("rows", (key, buffer)))

    @staticmethod
    def _time(timestamp_ns: Any) -> int:
        if type(timestamp_ns) is int and timestamp_ns > 0:
            return timestamp_ns
        try:
            ts = int(timestamp_ns)
        except (TypeError, ValueError):
            raise ArchiveError(f"timestamp_ns must be an integer, got {timestamp_ns!r}") \
                from None
        if ts < 0:
            raise ArchiveError(f"timestamp_ns must not be negative, got {ts}")
        return ts or time.time_ns()  # 0 means "not stamped": now

    def record_intent(self, intent: NewOrder | ReplaceOrder | CancelOrder,
                      timestamp_ns: int | None = None) -> None:
        """An intent as sent to the venue; ``timestamp_ns`` defaults to the intent's own
        time (a cancel has none: then now)."""
        ts = self._time(timestamp_ns if timestamp_ns is not None
                        else getattr(intent, "timestamp_ns", 0))
        row: tuple[Any, ...]
        if isinstance(intent, NewOrder):
            side, tif = intent.side, intent.time_in_force  # names looked up, not computed
            row = (ts, "new", intent.client_order_id, None, intent.account, intent.strategy,
                   intent.locate, intent.symbol, _SIDES.get(side) or str(side),
                   intent.quantity, intent.price, _TIFS.get(tif) or str(tif))
        elif isinstance(intent, ReplaceOrder):
            row = (ts, "replace", intent.client_order_id, intent.new_client_order_id,
                   intent.account, intent.strategy, None, None, None, intent.quantity,
                   intent.price, None)
        elif isinstance(intent, CancelOrder):
            row = (ts, "cancel", intent.client_order_id, None, intent.account,
                   intent.strategy, None, None, None, intent.remaining, None, None)
        else:
            raise ArchiveError(f"not an intent: {type(intent).__name__}")
        self._append("orders", ts, row)

    def record_decision(self, client_order_id: int, account: int, reasons: int,
                        timestamp_ns: int, cycle: int = 0, strategy: str = "") -> None:
        """A risk decision: ``reasons`` is the Decision's Reason bits (0: accepted)."""
        ts = self._time(timestamp_ns)
        mask = int(reasons)
        self._append("decisions", ts, (ts, int(client_order_id), int(account), strategy,
                                       mask == 0, _reasons(mask), mask, int(cycle)))

    def record_outcome(self, outcome: Outcome) -> None:
        if not isinstance(outcome, _OUTCOMES):
            raise ArchiveError(f"not an outcome: {type(outcome).__name__}")
        ts = self._time(outcome.timestamp_ns)
        o = outcome
        if isinstance(o, OrderFilled):
            self._append("fills", ts, (ts, o.client_order_id, o.account, o.strategy,
                                       o.locate, o.symbol, _SIDES.get(o.side) or str(o.side),
                                       o.quantity, o.price, o.match_number, str(o.liquidity),
                                       o.leaves))
            return
        row: tuple[Any, ...]
        if isinstance(o, OrderAccepted):
            row = (ts, "accepted", o.client_order_id, o.account, o.strategy,
                   o.venue_order_id, None, None, None, None, None)
        elif isinstance(o, OrderRejected):
            row = (ts, "rejected", o.client_order_id, o.account, o.strategy, None, None,
                   None, None, str(o.source), o.reason)
        elif isinstance(o, OrderCanceled):
            row = (ts, "canceled", o.client_order_id, o.account, o.strategy, None, None,
                   o.quantity, None, None, o.reason)
        else:
            row = (ts, "replaced", o.client_order_id, o.account, o.strategy,
                   o.venue_order_id, o.new_client_order_id, o.quantity, o.price, None, None)
        self._append("outcomes", ts, row)

    def record_position(self, snapshot: Position) -> None:
        s = snapshot
        try:
            ts = self._time(s.timestamp_ns)
            row = (ts, s.account, s.symbol, getattr(s, "locate", None), s.position,
                   s.avg_cost, s.realized, s.unrealized, getattr(s, "fees", 0.0))
        except AttributeError as error:
            raise ArchiveError(f"not a positions snapshot: {error}") from None
        self._append("positions", ts, row)

    # --- control changes, from the audit log --------------------------------------

    def _last_control_id(self) -> int:
        """The highest audit id already archived: resuming never copies a row twice.

        Rows are archived in id order into the day of their time, so the latest day that
        has control rows holds the highest id."""
        for day in reversed(days(self.directory)):
            table = read_table(self.directory, day, "control")
            if table.num_rows:
                return int(self.pa.compute.max(table["id"]).as_py())
        return 0

    def sync_control(self, store: Store | None = None) -> int:
        """Copy the audit rows written since the last call; returns how many."""
        store = store or self.store
        if store is None:
            return 0
        with self._control_lock:  # the writer thread syncs too: copy each row once
            return self._sync_control(store)

    def _sync_control(self, store: Store) -> int:
        rows = store.audit(after_id=self._control_after)
        if not rows:
            return 0
        # An event shares its audit row's time and actor (store.change writes both).
        notes: dict[tuple[str, str, str], str] = {}
        for event in store.events(types=set(_EVENT_OF.values())):
            if event.time >= rows[0].time:
                notes.setdefault((event.time, event.actor, event.type), event.summary)
        for r in rows:
            ts = _iso_ns(r.time)
            kind = _EVENT_OF.get(r.action.split(" ")[0], "")
            self._append("control", ts, (ts, r.id, r.time, r.actor, r.action, r.target,
                                         r.before, r.after, r.prev_hash, r.hash,
                                         notes.get((r.time, r.actor, kind), "")),
                         closing=True)
        self._control_after = rows[-1].id
        return len(rows)

    # --- the writer thread --------------------------------------------------------

    def flush(self) -> None:
        """Write every buffered row (and new audit rows); returns once they are on disk."""
        if not self._writer.is_alive():
            raise ArchiveError("the archive is closed")
        done = threading.Event()
        self._work.put(("flush", done))
        done.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, ""
        if failure:
            raise ArchiveError(failure)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # refuse new records first, so the last flush holds them all
        self._work.put(("flush", None))
        self._work.put(("stop", None))
        self._writer.join()
        if self.compact_on_close:
            for day in sorted(self._days_written):
                for name in TABLE_NAMES:
                    compact(self.directory, _date(day), name)
        self._raise_failure()

    def _run(self) -> None:
        while True:
            try:
                kind, payload = self._work.get(timeout=self.flush_interval_s)
            except queue.Empty:
                kind, payload = "flush", None
            try:
                if kind == "rows":
                    self._write(*payload)
                elif kind == "flush":
                    self._flush_all()
            finally:
                if kind == "flush" and payload is not None:
                    payload.set()
            if kind == "stop":
                return

    def _flush_all(self) -> None:
        try:
            self.sync_control()
        except Exception as error:  # the store can be closed before us: keep the rows
            self.stats.last_error = f"audit rows not copied: {error}"
            log.warning(self.stats.last_error)
        with self._lock:
            pending, self._buffers = self._buffers, {}
        for key, rows in pending.items():
            if rows:
                self._write(key, rows)

    def _write(self, key: tuple[str, int], rows: list[tuple[Any, ...]]) -> None:
        try:
            self._write_part(key, rows)
        except Exception as error:  # a full disk must not kill the writer, nor go unsaid
            self._failure = self.stats.last_error = (
                f"archive write failed, {len(rows)} {key[0]} rows of {_date(key[1])} lost: "
                f"{error}")
            log.error(self._failure)

    def _write_part(self, key: tuple[str, int], rows: list[tuple[Any, ...]]) -> None:
        name, day = key
        table = self._to_arrow(name, rows)
        if table.num_rows == 0:
            return
        folder = self.directory / _date(day).isoformat()
        folder.mkdir(exist_ok=True)
        part = self._next_part.get(key) or next_part(folder, name)
        self._next_part[key] = _write_file(self.pa, folder, name, part, table) + 1
        self._days_written.add(day)
        self.stats.files += 1

    def _array(self, values: Any, arrow_type: Any) -> Any:
        if self.pa.types.is_timestamp(arrow_type):  # 100x faster than from ints directly
            return self.pa.array(values, type=self.pa.int64()).cast(arrow_type)
        return self.pa.array(values, type=arrow_type)

    def _to_arrow(self, name: str, rows: list[tuple[Any, ...]]) -> Any:
        schema = self._schemas[name]
        try:
            columns = zip(*rows, strict=True)
            return self.pa.Table.from_arrays(
                [self._array(col, f.type) for col, f in zip(columns, schema, strict=True)],
                schema=schema)
        except (self.pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
        good = []  # one bad row must not cost the rest: find it, count it, keep the others
        for row in rows:
            try:
                self.pa.Table.from_arrays([self._array([v], f.type) for v, f
                                           in zip(row, schema, strict=True)], schema=schema)
                good.append(row)
            except (self.pa.ArrowException, TypeError, ValueError, OverflowError) as error:
                self.stats.bad_rows += 1
                self.stats.last_error = f"{name}: row {row!r} not archived: {error}"
                log.error(self.stats.last_error)
        if not good:
            return schema.empty_table()
        return self._to_arrow(name, good)


def _write_file(pa: Any, folder: Path, name: str, part: int, table: Any,
                metadata: dict[bytes, bytes] | None = None) -> int:
    """Write one part; returns its number (the next free one from ``part`` on).

    Written under a temporary name, then linked to its part name, which fails rather than
    overwrites when another writer took that number: a part name is always a complete
    file, and no file is ever replaced.
    """
    if metadata:
        table = table.replace_schema_metadata(metadata)
    tmp = folder / f".{name}-{part:06d}.{os.getpid()}.{threading.get_ident()}.tmp"
    pa.parquet.write_table(table, tmp, compression="zstd")
    try:
        while True:
            try:
                os.link(tmp, folder / f"{name}-{part:06d}.parquet")
                return part
            except FileExistsError:
                part += 1
    finally:
        tmp.unlink(missing_ok=True)


#: Audit action (its first word) -> the type of the event the control plane raises with it.
_EVENT_OF = {"halt": "halt", "resume": "resume", "reduce_only_on": "reduce_only",
             "reduce_only_off": "reduce_only", "set_instrument_limits": "limit_change",
             "set_account_limits": "limit_change", "apply_strategy": "strategy",
             "delete_strategy": "strategy", "set_symbols": "symbols", "mass_cancel": "cancel"}


def _date(day: int) -> date:
    return datetime.fromtimestamp(day * 86_400, UTC).date()


def _iso_ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _is_day(name: str) -> bool:
    try:
        return len(name) == 10 and date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def default_directory(db_path: Path | str) -> Path:
    return Path(db_path).resolve().parent / ARCHIVE_FOLDER


def parts(folder: Path, name: str) -> list[tuple[int, Path]]:
    """The part files of one table in a day folder, by part number."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _PART.match(path.name)
        if match and match["table"] == name:
            found.append((int(match["part"]), path))
    return sorted(found)


def next_part(folder: Path, name: str) -> int:
    existing = parts(folder, name)
    return existing[-1][0] + 1 if existing else 1


# --- reading ------------------------------------------------------------------------

def _read_file(path: Path, name: str) -> Any:
    pa = _pyarrow()
    try:
        table = pa.parquet.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise ArchiveError(f"{path}: not a readable Parquet file ({error})") from None
    expected = arrow_schema(name)
    if not table.schema.remove_metadata().equals(expected):
        raise ArchiveError(f"{path}: its columns do not match the {name} table "
                           f"(found {', '.join(table.schema.names)})")
    return table


def _replaced(table: Any) -> set[int]:
    meta = table.schema.metadata or {}
    raw = meta.get(REPLACES_KEY, b"")
    return {int(x) for x in raw.decode().split(",") if x}


def read_table(directory: Path | str, day: date, name: str) -> Any:
    """One table of one day, every part in order (an empty table when there is none).

    Raises :class:`ArchiveError` naming the file that cannot be read.
    """
    if name not in _BY_NAME:
        raise ArchiveError(f"unknown table {name!r} (known: {', '.join(TABLE_NAMES)})")
    pa = _pyarrow()
    loaded = [(n, _read_file(p, name)) for n, p in parts(Path(directory) / day.isoformat(),
                                                         name)]
    skip: set[int] = set()
    for _, table in loaded:
        skip |= _replaced(table)
    tables = [t.replace_schema_metadata(None) for n, t in loaded if n not in skip]
    if not tables:
        return arrow_schema(name).empty_table()
    return pa.concat_tables(tables)


def read_day(directory: Path | str, day: date) -> dict[str, Any]:
    """Every table of one day, by name (pyarrow Tables, empty where nothing was written)."""
    return {name: read_table(directory, day, name) for name in TABLE_NAMES}


def days(directory: Path | str) -> list[date]:
    """The days the archive holds."""
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(date.fromisoformat(p.name) for p in root.iterdir()
                  if _is_day(p.name) and p.is_dir())


def compact(directory: Path | str, day: date, name: str) -> None:
    """Merge one table's parts of one day into one file (no-op for one part or none)."""
    folder = Path(directory) / day.isoformat()
    existing = parts(folder, name)
    if len(existing) < 2:
        return
    table = read_table(directory, day, name)
    replaced = ",".join(str(n) for n, _ in existing).encode()
    _write_file(_pyarrow(), folder, name, existing[-1][0] + 1, table,
                {REPLACES_KEY: replaced})
    for _, path in existing:  # a crash here leaves parts the new file names: read skips them
        path.unlink(missing_ok=True)


def iter_rows(table: Any) -> Iterable[dict[str, Any]]:
    """Rows of a pyarrow table as dicts (timestamps as integer ns)."""
    pa = _pyarrow()
    columns = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.int64())
        columns[field.name] = column.to_pylist()
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        yield dict(zip(names, values, strict=True))
