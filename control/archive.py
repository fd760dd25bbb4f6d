"""The daily archive: every order, decision, outcome, position and control change, as Parquet.

``ARCHIVE_DIR/YYYY-MM-DD/TABLE-NNNNNN.parquet``, one folder per UTC day (the day of each
record's own timestamp, so a session that spans midnight splits where the records do).
The tables and their columns are defined once, in :mod:`nanogate.control.archive_schema`;
reading the files back, and compacting them, is :mod:`nanogate.control.archive_read`.
This module is the writer.

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
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from nanogate.control.archive_read import (
    compact,
    days,
    default_directory,
    next_part,
    read_table,
    write_part,
)
from nanogate.control.archive_schema import (
    NS_PER_DAY,
    TABLE_NAMES,
    TABLES,
    ArchiveError,
    arrow_schema,
    load_pyarrow,
)
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
        self.pa = load_pyarrow()
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
        self._next_part[key] = write_part(self.pa, folder, name, part, table) + 1
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
