from __future__ import annotations

import sqlite3
from pathlib import Path

from nanogate.gateway.orders.deadletter import DeadLetter, DeadLetterStore


def letter(account: int, source: str, reason: str, coid: int = 1) -> DeadLetter:
    return DeadLetter(123, account, coid, "mm", "new", "ABC", 0, 100, 1_000_000, source, reason)


def test_add_list_count(tmp_path: Path) -> None:
    path = tmp_path / "dead.sqlite"
    store = DeadLetterStore(path)
    store.add(letter(7, "venue", "unknown_symbol:1"))
    store.add(letter(7, "disconnect", "disconnect", 2))
    store.add(letter(8, "venue", "unknown_symbol:1", 3))
    assert store.count() == 3
    assert store.count(source="venue") == 2 and store.count(account=7) == 2
    assert [d.client_order_id for d in store.list(account=7)] == [1, 2]
    assert store.list(limit=1)[0].id == 1
    assert store.counts_by_reason() == {"disconnect:disconnect": 1,
                                        "venue:unknown_symbol:1": 2}
    store.close()
    with sqlite3.connect(path) as db:  # WAL, and the rows survive a reopen
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert DeadLetterStore(path).count() == 3


def test_in_memory_store_is_empty_at_first() -> None:
    store = DeadLetterStore()
    assert store.count() == 0 and store.list() == [] and store.counts_by_reason() == {}
