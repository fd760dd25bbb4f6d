"""The daily Parquet archive: round trips, day split, reopen, crash safety, bad input."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from nanogate.control import archive_read as reader  # noqa: E402
from nanogate.control import archive_schema as schema  # noqa: E402
from nanogate.control import store as store_module  # noqa: E402
from nanogate.control.archive import Archive, PositionSnapshot  # noqa: E402
from nanogate.control.archive_schema import ArchiveError  # noqa: E402
from nanogate.control.store import NewEvent, Store  # noqa: E402
from nanogate.gateway.trading import (  # noqa: E402
    CancelOrder,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    RejectSource,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from nanogate.proto.risk import Reason  # noqa: E402

DAY = date(2026, 3, 2)
T0 = int(datetime(2026, 3, 2, 14, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
MIDNIGHT = int(datetime(2026, 3, 3, tzinfo=UTC).timestamp()) * 1_000_000_000


def rows(directory: Path, day: date, name: str) -> list[dict[str, object]]:
    return list(reader.iter_rows(reader.read_table(directory, day, name)))


def test_every_record_kind_round_trips(tmp_path: Path) -> None:
    with Archive(tmp_path) as a:
        a.record_intent(NewOrder(1, 3, 7, "AAPL", Side.SELL_SHORT, 100, 1_234_500, "mm",
                                 TimeInForce.IOC, T0))
        a.record_intent(ReplaceOrder(1, 2, 3, 50, 1_234_600, "mm", T0 + 1))
        a.record_intent(CancelOrder(2, 3, "mm", remaining=10), timestamp_ns=T0 + 2)
        a.record_decision(1, 3, int(Reason.MAX_QTY | Reason.CREDIT), T0 + 3, cycle=99,
                          strategy="mm")
        a.record_decision(2, 3, 0, T0 + 4)
        a.record_outcome(OrderAccepted(1, 3, 555, T0 + 5, "mm"))
        a.record_outcome(OrderRejected(4, 3, RejectSource.VENUE, "Q: bad qty", T0 + 6))
        a.record_outcome(OrderCanceled(2, 3, 40, "ioc", T0 + 7))
        a.record_outcome(OrderReplaced(1, 2, 3, 50, 1_234_600, 556, T0 + 8))
        a.record_outcome(OrderFilled(2, 3, 7, "AAPL", Side.BUY, 10, 1_234_600, 2**63 + 5,
                                     Liquidity.REMOVED, 40, T0 + 9, "mm"))
        a.record_position(PositionSnapshot(3, "AAPL", -90, 1_234_550.5, -10.25, 2.5, T0 + 10,
                                           fees=0.75, locate=7))
        a.record_position(PositionSnapshot(3, "MSFT", 0, None, 1.0, 0.0, T0 + 11))

    orders = rows(tmp_path, DAY, "orders")
    assert orders[0] == {"timestamp_ns": T0, "kind": "new", "client_order_id": 1,
                         "new_client_order_id": None, "account": 3, "strategy": "mm",
                         "locate": 7, "symbol": "AAPL", "side": "sell_short",
                         "quantity": 100, "price": 1_234_500, "time_in_force": "ioc"}
    assert [(o["kind"], o["new_client_order_id"], o["quantity"], o["timestamp_ns"])
            for o in orders[1:]] == [("replace", 2, 50, T0 + 1), ("cancel", None, 10, T0 + 2)]
    decisions = rows(tmp_path, DAY, "decisions")
    assert [(d["accepted"], d["reasons"], d["reason_mask"], d["cycle"], d["strategy"])
            for d in decisions] == [(False, "max_qty,credit", 9, 99, "mm"), (True, "", 0, 0, "")]
    outcomes = rows(tmp_path, DAY, "outcomes")
    assert [(o["kind"], o["venue_order_id"], o["source"], o["reason"], o["quantity"])
            for o in outcomes] == [("accepted", 555, None, None, None),
                                   ("rejected", None, "venue", "Q: bad qty", None),
                                   ("canceled", None, None, "ioc", 40),
                                   ("replaced", 556, None, None, 50)]
    [fill] = rows(tmp_path, DAY, "fills")
    assert (fill["match_number"], fill["liquidity"], fill["leaves"], fill["side"]) == \
        (2**63 + 5, "removed", 40, "buy")
    assert rows(tmp_path, DAY, "positions") == [
        {"timestamp_ns": T0 + 10, "account": 3, "symbol": "AAPL", "locate": 7, "position": -90,
         "avg_cost": 1_234_550.5, "realized": -10.25, "unrealized": 2.5, "fees": 0.75},
        {"timestamp_ns": T0 + 11, "account": 3, "symbol": "MSFT", "locate": None,
         "position": 0, "avg_cost": None, "realized": 1.0, "unrealized": 0.0, "fees": 0.0}]


def test_control_changes_come_from_the_audit_log_once(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "now", lambda: "2026-03-02T15:00:00.000001Z")
    store = Store(tmp_path / "c.db", synchronous="OFF")
    store.change("risk1", "halt", "halt/global", {"halt/global": {"reason": "news"}})
    store.change("risk1", "resume", "halt/global", {"halt/global": None},
                 [NewEvent("resume", "global resumed: all clear", {})])
    with Archive.beside(tmp_path / "c.db", store=store) as a:
        for later in (1, 2, 3):  # days without control changes after the one with them
            a.record_decision(later, 0, 0, T0 + later * schema.NS_PER_DAY)
    store.change("risk2", "set_account_limits", "account/1", {"account/1": {"burst": 5}})
    with Archive.beside(tmp_path / "c.db", store=store):  # reopened: copies row 3 only
        pass
    control = rows(tmp_path / "archive", DAY, "control")
    assert [(r["id"], r["action"], r["actor"], r["note"]) for r in control] == [
        (1, "halt", "risk1", ""), (2, "resume", "risk1", "global resumed: all clear"),
        (3, "set_account_limits", "risk2", "")]
    assert [r["hash"] for r in control] == [r.hash for r in store.audit()]
    store.close()


def test_the_day_splits_at_utc_midnight(tmp_path: Path) -> None:
    with Archive(tmp_path) as a:
        for ts in (MIDNIGHT - 1, MIDNIGHT, MIDNIGHT + 1):
            a.record_decision(ts, 0, 0, ts)
    assert reader.days(tmp_path) == [DAY, date(2026, 3, 3)]
    assert [r["client_order_id"] for r in rows(tmp_path, DAY, "decisions")] == [MIDNIGHT - 1]
    assert [r["client_order_id"] for r in rows(tmp_path, date(2026, 3, 3), "decisions")] == \
        [MIDNIGHT, MIDNIGHT + 1]


@pytest.mark.parametrize("compact", [False, True])
def test_reopening_a_day_appends(tmp_path: Path, compact: bool) -> None:
    for session in range(3):
        with Archive(tmp_path, rows_per_file=4, compact_on_close=compact) as a:
            for i in range(10):
                a.record_decision(session * 100 + i, 0, 0, T0 + session * 100 + i)
    ids = [r["client_order_id"] for r in rows(tmp_path, DAY, "decisions")]
    assert ids == [s * 100 + i for s in range(3) for i in range(10)]
    files = reader.parts(tmp_path / DAY.isoformat(), "decisions")
    assert len(files) == (1 if compact else 9)  # 4 + 4 + 2 rows per session


def test_a_crash_loses_only_the_buffer(tmp_path: Path) -> None:
    a = Archive(tmp_path, compact_on_close=False)
    a.record_decision(1, 0, 0, T0)
    a.flush()
    a.record_decision(2, 0, 0, T0 + 1)  # never flushed: the process "dies" here
    assert [r["client_order_id"] for r in rows(tmp_path, DAY, "decisions")] == [1]
    a.close()


def test_rows_are_written_without_a_flush_after_the_interval(tmp_path: Path) -> None:
    with Archive(tmp_path, flush_interval_s=0.05) as a:
        a.record_decision(1, 0, 0, T0)
        deadline = time.monotonic() + 5
        while not reader.parts(tmp_path / DAY.isoformat(), "decisions"):
            assert time.monotonic() < deadline, "the writer never flushed"
            time.sleep(0.02)


def test_a_compaction_cut_short_counts_no_row_twice(tmp_path: Path) -> None:
    for i in range(2):
        with Archive(tmp_path, compact_on_close=False) as a:
            a.record_decision(i, 0, 0, T0 + i)
    folder = tmp_path / DAY.isoformat()
    merged = reader.read_table(tmp_path, DAY, "decisions")
    # what compact() writes before it removes the parts: a crash leaves all three
    assert reader.write_part(pa, folder, "decisions", 3, merged,
                             {reader.REPLACES_KEY: b"1,2"}) == 3
    assert [r["client_order_id"] for r in rows(tmp_path, DAY, "decisions")] == [0, 1]


def test_a_part_number_taken_meanwhile_is_never_overwritten(tmp_path: Path) -> None:
    a = Archive(tmp_path, compact_on_close=False)
    a.record_decision(1, 0, 0, T0)
    a.flush()
    with Archive(tmp_path, compact_on_close=False) as b:  # a second writer, same day
        b.record_decision(2, 0, 0, T0 + 1)
    a.record_decision(3, 0, 0, T0 + 2)  # a believes part 2 is free: b took it
    a.close()
    assert [r["client_order_id"] for r in rows(tmp_path, DAY, "decisions")] == [1, 2, 3]
    assert not list((tmp_path / DAY.isoformat()).glob("*.tmp"))


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    with Archive(tmp_path) as a:
        a.record_decision(1, 0, 0, T0)
    [(_, path)] = reader.parts(tmp_path / DAY.isoformat(), "decisions")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ArchiveError, match=r"decisions-000001\.parquet: not a readable"):
        reader.read_day(tmp_path, DAY)


def test_a_file_with_other_columns_is_named(tmp_path: Path) -> None:
    folder = tmp_path / DAY.isoformat()
    folder.mkdir()
    pq.write_table(pa.table({"x": [1]}), folder / "fills-000001.parquet")
    with pytest.raises(ArchiveError, match=r"fills-000001\.parquet: its columns"):
        reader.read_table(tmp_path, DAY, "fills")


def test_bad_records_are_refused_or_counted(tmp_path: Path) -> None:
    with Archive(tmp_path) as a:
        with pytest.raises(ArchiveError, match="not an outcome"):
            a.record_outcome(object())  # type: ignore[arg-type]
        with pytest.raises(ArchiveError, match="not an intent"):
            a.record_intent("buy 100")  # type: ignore[arg-type]
        with pytest.raises(ArchiveError, match="timestamp_ns must be an integer"):
            a.record_decision(1, 0, 0, "noon")  # type: ignore[arg-type]
        with pytest.raises(ArchiveError, match="must not be negative"):
            a.record_decision(1, 0, 0, -5)
        with pytest.raises(ArchiveError, match="not a positions snapshot"):
            a.record_position(object())  # type: ignore[arg-type]
        a.record_decision(-1, 0, 0, T0)  # no uint64: counted, the others still written
        a.record_decision(7, 0, 0, T0 + 1)
        a.flush()
        assert a.stats.bad_rows == 1
        assert "decisions" in a.stats.last_error
    assert [r["client_order_id"] for r in rows(tmp_path, DAY, "decisions")] == [7]
    with pytest.raises(ArchiveError, match="closed"):
        a.record_decision(8, 0, 0, T0)
    with pytest.raises(ArchiveError, match="unknown table"):
        reader.read_table(tmp_path, DAY, "trades")


def test_an_empty_day_reads_as_empty_tables(tmp_path: Path) -> None:
    tables = reader.read_day(tmp_path, DAY)
    assert set(tables) == set(schema.TABLE_NAMES)
    assert all(t.num_rows == 0 for t in tables.values())


def test_the_docs_hold_the_schemas_of_the_one_definition() -> None:
    text = schema.render_markdown()
    for table in schema.TABLES:
        assert f"### `{table.name}`" in text
        assert all(f"| `{c.name}` |" in text for c in table.columns)
        assert schema.arrow_schema(table).names == [c.name for c in table.columns]
    docs = Path(__file__).resolve().parents[2] / "docs" / "records.md"
    assert text in docs.read_text()
    assert schema.render_doc() == docs.read_text(), "docs/records.md is stale: run render_doc()"


def test_a_failed_write_is_raised_and_the_writer_goes_on(tmp_path: Path) -> None:
    a = Archive(tmp_path / "arc", compact_on_close=False)
    (tmp_path / "arc" / DAY.isoformat()).write_text("a file where the day folder goes")
    a.record_decision(1, 0, 0, T0)
    a.record_decision(2, 0, 0, T0 + schema.NS_PER_DAY)  # the next day is writable
    with pytest.raises(ArchiveError, match=r"1 decisions rows of 2026-03-02 lost"):
        a.flush()
    a.close()
    assert [r["client_order_id"] for r in rows(tmp_path / "arc", date(2026, 3, 3),
                                               "decisions")] == [2]
