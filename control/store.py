"""The control plane's state: SQLite (WAL), a versioned schema, a hash-chained audit log.

State is a table of JSON values by key (``strategy/NAME``, ``instrument/LOCATE``,
``account/N``, ``halt/global``, ``halt/account/N``, ``halt/instrument/LOCATE``,
``reduce_only/N``, ``symbol/SYM``). Every change is one transaction that writes the new
values, appends the audit row (who, what, when, before, after, chained by SHA-256) and
the events it raises; the caller acknowledges only after it commits.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
SCHEMA_VERSION = 1
_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, target TEXT NOT NULL, before TEXT NOT NULL,
            after TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE events (id INTEGER PRIMARY KEY, type TEXT NOT NULL, time TEXT NOT NULL,
            actor TEXT NOT NULL, summary TEXT NOT NULL, detail TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
}


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, unreadable file)."""


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AuditRow:
    id: int
    time: str
    actor: str
    action: str
    target: str
    before: str
    after: str
    prev_hash: str
    hash: str

    def content(self) -> str:
        """What the hash covers: every field but the hash, canonically."""
        return canonical({"id": self.id, "time": self.time, "actor": self.actor,
                          "action": self.action, "target": self.target,
                          "before": self.before, "after": self.after,
                          "prev_hash": self.prev_hash})

    def computed_hash(self) -> str:
        return hashlib.sha256(self.content().encode()).hexdigest()


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    time: str
    actor: str
    summary: str
    detail: str


@dataclass(frozen=True)
class NewEvent:
    type: str
    summary: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: int
    bad_row: int = 0
    problem: str = ""
    head: str = GENESIS


class Store:
    """One SQLite file; methods are thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path | str, synchronous: str = "FULL") -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._migrate()
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from None
        self._lock = threading.RLock()
        self._listeners: list[threading.Condition] = []
        # The state table mirrored in memory: reads on the halt path cost no query. One
        # process owns a store file (the server), so the mirror cannot go stale.
        self._state: dict[str, str] = dict(self._db.execute("SELECT key, value FROM state"))

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(f"schema version {version} is newer than this build "
                             f"({SCHEMA_VERSION}): upgrade nanogate")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self._db.executescript(f"BEGIN; {_MIGRATIONS[target]} "
                                   f"PRAGMA user_version={target}; COMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- state ----------------------------------------------------------------------

    def get(self, key: str) -> Any:
        text = self._state.get(key)
        return None if text is None else json.loads(text)

    def items(self, prefix: str) -> dict[str, Any]:
        with self._lock:
            rows = sorted((k, v) for k, v in self._state.items() if k.startswith(prefix))
        return {key: json.loads(value) for key, value in rows}

    def change(self, actor: str, action: str, target: str, changes: dict[str, Any],
               events: Iterable[NewEvent] = ()) -> AuditRow | None:
        """Write ``changes`` (None deletes a key) with their audit row and events, atomically.

        Returns the audit row, or None when nothing would change (no row is written).
        """
        with self._lock:
            before = {key: self.get(key) for key in changes}
            if all(canonical(before[k]) == canonical(v) for k, v in changes.items()):
                return None
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for key, value in changes.items():
                    if value is None:
                        self._db.execute("DELETE FROM state WHERE key=?", (key,))
                    else:
                        self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)",
                                         (key, canonical(value)))
                row = self._append_audit(actor, action, target, before, changes)
                for event in events:
                    self._insert_event(event, actor, row.time)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            for key, value in changes.items():  # committed: the mirror follows
                if value is None:
                    self._state.pop(key, None)
                else:
                    self._state[key] = canonical(value)
        self._notify()
        return row

    def record(self, actor: str, action: str, target: str, before: dict[str, Any],
               after: dict[str, Any], events: Iterable[NewEvent] = ()) -> AuditRow:
        """An audited action that changes no stored state (a mass cancel)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._append_audit(actor, action, target, before, after)
                for event in events:
                    self._insert_event(event, actor, row.time)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        self._notify()
        return row

    # --- audit ----------------------------------------------------------------------

    def _head(self) -> tuple[int, str]:
        row = self._db.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()
        if row is None:
            return 0, GENESIS
        count, digest = json.loads(row[0])
        return int(count), str(digest)

    def _append_audit(self, actor: str, action: str, target: str, before: dict[str, Any],
                      after: dict[str, Any]) -> AuditRow:
        count, prev = self._head()
        row = AuditRow(count + 1, now(), actor, action, target, canonical(before),
                       canonical(after), prev, "")
        row = AuditRow(**{**row.__dict__, "hash": row.computed_hash()})
        self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (row.id, row.time, row.actor, row.action, row.target, row.before,
                          row.after, row.prev_hash, row.hash))
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('audit_head', ?)",
                         (json.dumps([row.id, row.hash]),))
        return row

    def audit(self, after_id: int = 0, limit: int = 0, target: str = "") -> list[AuditRow]:
        query = "SELECT * FROM audit WHERE id > ?"
        args: list[Any] = [after_id]
        if target:
            query += " AND target = ?"
            args.append(target)
        query += " ORDER BY id" + (" LIMIT ?" if limit else "")
        if limit:
            args.append(limit)
        with self._lock:
            return [AuditRow(*r) for r in self._db.execute(query, args).fetchall()]

    def audit_count(self) -> int:
        with self._lock:
            return self._head()[0]

    def verify(self) -> Verdict:
        """Walk the chain; the first row whose link or content does not hold is named."""
        with self._lock:
            rows = [AuditRow(*r) for r in
                    self._db.execute("SELECT * FROM audit ORDER BY id").fetchall()]
            count, head = self._head()
        prev, expected_id = GENESIS, 1
        for row in rows:
            if row.id != expected_id:
                return Verdict(False, len(rows), row.id,
                               f"row {row.id}: rows {expected_id}..{row.id - 1} are missing")
            if row.prev_hash != prev:
                return Verdict(False, len(rows), row.id,
                               f"row {row.id}: its previous-row hash does not match row "
                               f"{row.id - 1}" if row.id > 1 else
                               f"row {row.id}: the first row does not start the chain")
            if row.computed_hash() != row.hash:
                return Verdict(False, len(rows), row.id,
                               f"row {row.id}: content does not match its hash (edited)")
            prev, expected_id = row.hash, row.id + 1
        if (len(rows), prev) != (count, head):
            bad = max(count, len(rows)) or 1
            return Verdict(False, len(rows), bad,
                           f"row {bad}: the chain ends at row {len(rows)} but the recorded "
                           f"head is row {count} (rows removed or rewritten at the end)")
        return Verdict(True, len(rows), 0, "", prev)

    # --- events ---------------------------------------------------------------------

    def _insert_event(self, event: NewEvent, actor: str, time: str) -> None:
        self._db.execute("INSERT INTO events (type, time, actor, summary, detail) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (event.type, time, actor, event.summary, canonical(event.detail)))

    def add_events(self, events: Iterable[NewEvent], actor: str) -> None:
        """Events that are no state change (risk rejects, alerts): no audit row."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for event in events:
                self._insert_event(event, actor, now())
            self._db.execute("COMMIT")
        self._notify()

    def events(self, after_id: int = 0, types: Iterable[str] = (), limit: int = 0) \
            -> list[Event]:
        wanted = sorted(set(types))
        query = "SELECT * FROM events WHERE id > ?"
        args: list[Any] = [after_id]
        if wanted:
            query += f" AND type IN ({', '.join('?' * len(wanted))})"
            args += wanted
        query += " ORDER BY id" + (" LIMIT ?" if limit else "")
        if limit:
            args.append(limit)
        with self._lock:
            return [Event(*r) for r in self._db.execute(query, args).fetchall()]

    def last_event_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)

    def subscribe(self) -> threading.Condition:
        condition = threading.Condition()
        with self._lock:
            self._listeners.append(condition)
        return condition

    def unsubscribe(self, condition: threading.Condition) -> None:
        with self._lock:
            self._listeners.remove(condition)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for condition in listeners:
            with condition:
                condition.notify_all()
