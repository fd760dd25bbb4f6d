"""The dead-letter store: orders the venue refused or whose fate a disconnect hid.

One SQLite table in WAL mode (readers, such as a report, do not block the router's
writes). A row is an intent that did not become a live order as asked, with who
sent it, what it was and why: ``source`` is ``venue`` (its reject code and text in
``reason``) or ``disconnect``. Written from the sessions' threads, hence the lock.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    timestamp_ns INTEGER NOT NULL,
    account INTEGER NOT NULL,
    client_order_id INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    kind TEXT NOT NULL,           -- new | replace | cancel
    symbol TEXT NOT NULL,
    side INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    price INTEGER NOT NULL,
    source TEXT NOT NULL,         -- venue | disconnect
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_source ON dead_letters (source);
"""
_COLUMNS = ("id", "timestamp_ns", "account", "client_order_id", "strategy", "kind", "symbol",
            "side", "quantity", "price", "source", "reason")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    timestamp_ns: int
    account: int
    client_order_id: int
    strategy: str
    kind: str
    symbol: str
    side: int
    quantity: int
    price: int
    source: str
    reason: str
    id: int = 0


class DeadLetterStore:
    """``path``: a database file, or ``":memory:"`` (tests)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints
        self._db.executescript(_SCHEMA)

    def add(self, letter: DeadLetter) -> int:
        with self._lock:
            cursor = self._db.execute(
                f"INSERT INTO dead_letters ({', '.join(_COLUMNS[1:])}) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) - 1))})",
                (letter.timestamp_ns, letter.account, letter.client_order_id, letter.strategy,
                 letter.kind, letter.symbol, letter.side, letter.quantity, letter.price,
                 letter.source, letter.reason))
            return int(cursor.lastrowid or 0)

    def list(self, source: str | None = None, account: int | None = None,
             limit: int | None = None) -> builtins.list[DeadLetter]:
        """Oldest first, optionally only one source or account."""
        where, args = self._filter(source, account)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM dead_letters{where} ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [DeadLetter(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    def count(self, source: str | None = None, account: int | None = None) -> int:
        where, args = self._filter(source, account)
        with self._lock:
            (n,) = self._db.execute(f"SELECT COUNT(*) FROM dead_letters{where}", args).fetchone()
        return int(n)

    def counts_by_reason(self) -> dict[str, int]:
        """``source:reason`` -> rows."""
        with self._lock:
            rows = self._db.execute("SELECT source, reason, COUNT(*) FROM dead_letters "
                                    "GROUP BY source, reason ORDER BY source, reason").fetchall()
        return {f"{source}:{reason}": int(n) for source, reason, n in rows}

    @staticmethod
    def _filter(source: str | None, account: int | None) -> tuple[str, builtins.list[object]]:
        clauses: builtins.list[str] = []
        args: builtins.list[object] = []
        if source is not None:
            clauses.append("source = ?")
            args.append(source)
        if account is not None:
            clauses.append("account = ?")
            args.append(account)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def close(self) -> None:
        with self._lock:
            self._db.close()
