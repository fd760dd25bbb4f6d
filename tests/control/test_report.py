"""`nanogate report compliance`: contents, charts, audit verdicts, empty and bad input."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("matplotlib")

from nanogate.control import report
from nanogate.control import store as store_module
from nanogate.control.archive import Archive, PositionSnapshot
from nanogate.control.archive_read import parts
from nanogate.control.store import NewEvent, Store
from nanogate.gateway.trading import (
    CancelOrder,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    RejectSource,
    Side,
)

DATE = "2026-03-02"
T0 = int(datetime(2026, 3, 2, 14, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
MINUTE = 60 * 1_000_000_000
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database and archive with one day of trading: 30 orders, 6 risk rejects, 2 venue
    rejects, 20 fills, a limit change, a halt and a resume. Returns the database."""
    clock = iter(f"{DATE}T15:0{i}:00.000000Z" for i in range(10))
    monkeypatch.setattr(store_module, "now", lambda: next(clock))
    db = tmp_path / "control.db"
    store = Store(db, synchronous="OFF")
    store.change("alice", "set_instrument_limits", "instrument/7",
                 {"instrument/7": {"max_qty": 100, "collar_bps": 50}})
    store.change("alice", "set_instrument_limits", "instrument/7",
                 {"instrument/7": {"max_qty": 500, "collar_bps": 50}})
    store.change("bob", "halt", "halt/account/3", {"halt/account/3": {"reason": "fat finger"}},
                 [NewEvent("halt", "account 3 halted: fat finger", {})])
    store.change("bob", "resume", "halt/account/3", {"halt/account/3": None},
                 [NewEvent("resume", "account 3 resumed: checked with desk", {})])
    with Archive.beside(db, store=store) as a:
        for i in range(30):
            ts = T0 + i * MINUTE // 3
            a.record_intent(NewOrder(i, 3, 7, "AAPL", Side.BUY if i % 2 else Side.SELL,
                                     10, 1_000_000, "mm", timestamp_ns=ts))
            risk_reject = i < 6
            a.record_decision(i, 3, 0b101 if risk_reject else 0, ts)
            if risk_reject:
                a.record_outcome(OrderRejected(i, 3, RejectSource.RISK,
                                               "max_qty,price_collar", ts + 1))
            elif i < 8:
                a.record_outcome(OrderRejected(i, 3, RejectSource.VENUE, "Q", ts + 1))
            else:
                a.record_outcome(OrderAccepted(i, 3, 1000 + i, ts + 1))
                if i < 28:
                    a.record_outcome(OrderFilled(i, 3, 7, "AAPL", Side.BUY if i % 2 else
                                                 Side.SELL, 10, 1_000_000, i,
                                                 Liquidity.ADDED, 0, ts + 2))
                else:
                    a.record_intent(CancelOrder(i, 3), timestamp_ns=ts + 3)
            a.record_position(PositionSnapshot(3, "AAPL", i * 10, 1_000_000, i * 1.0, -0.5,
                                               ts + 4, fees=0.25, locate=7))
    store.close()
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = report.main(["report", "compliance", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def count(markdown: str, what: str) -> int:
    match = re.search(rf"^\| {re.escape(what)} \| (\d+) \|$", markdown, re.M)
    assert match, f"no row {what!r}"
    return int(match[1])


def test_the_report_counts_what_was_recorded(day: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--date", DATE, "--db", str(day), "-o", str(tmp_path / "r"))
    assert code == 0
    md_path = Path(out.strip())
    assert md_path == tmp_path / "r" / f"compliance-{DATE}.md"
    md = md_path.read_text()
    assert [count(md, w) for w in ("orders sent (new)", "cancels sent",
                                   "risk decisions: accepted", "risk decisions: rejected",
                                   "venue accepted", "rejected (all sources)", "fills")] == \
        [30, 2, 24, 6, 22, 8, 20]
    assert "| risk | max_qty | 6 |" in md and "| risk | price_collar | 6 |" in md
    assert "| venue | Q | 2 |" in md
    assert re.search(r"\| \S+15:02:00\S* \| halt \| halt/account/3 \| bob \| fat finger \|", md)
    assert "| resume | halt/account/3 | bob | account 3 resumed: checked with desk |" in md
    assert "instrument/7: max_qty: 100 → 500" in md
    assert "| 3 | AAPL | 20 | 100 | 100 | 20,000.00 |" in md  # 10 buys and 10 sells of 10
    assert "| 3 | AAPL | 290 | 100.0000 | 29.00 | -0.50 | 0.25 | 28.25 |" in md  # the last
    assert "**PASSED**: 4 audit rows" in md
    for chart in ("activity", "rejects", "pnl"):
        name = f"compliance-{DATE}-{chart}.png"
        assert f"]({name})" in md
        assert (tmp_path / "r" / name).read_bytes()[:8] == PNG


def test_a_tampered_audit_row_fails_the_report(day: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "_charts", lambda *_: {})  # not about charts: keep it fast
    with sqlite3.connect(day) as db:
        db.execute("UPDATE audit SET actor='mallory' WHERE id=3")
    code, out, err = run(capsys, "--date", DATE, "--db", str(day), "-o", str(tmp_path))
    assert code == 1
    md = Path(out.strip()).read_text()
    assert "**FAILED**: row 3: content does not match its hash" in md
    assert "archived row 3 differs from the database's row 3" in md
    assert "audit chain FAILED" in err


def test_without_the_database_the_chain_is_not_verified(
        day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "_charts", lambda *_: {})
    archive = day.parent / "archive"
    code, out, _ = run(capsys, "--date", DATE, "--db", str(tmp_path / "gone.db"),
                       "--archive", str(archive), "-o", str(tmp_path))
    assert code == 0
    md = Path(out.strip()).read_text()
    assert "**NOT VERIFIED**: no database at" in md
    assert "| resume | halt/account/3 |" in md  # control rows from the archive alone
    assert not (tmp_path / "gone.db").exists()


def test_an_empty_day_exits_1(day: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--date", "2026-03-05", "--db", str(day), "-o", str(tmp_path))
    assert code == 1
    assert out == ""
    assert "no records for 2026-03-05" in err and DATE in err
    assert not list(tmp_path.glob("compliance-*"))


def test_a_corrupt_archive_file_is_named(day: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    [(_, path)] = parts(day.parent / "archive" / DATE, "fills")
    path.write_bytes(b"not parquet at all")
    code, _, err = run(capsys, "--date", DATE, "--db", str(day), "-o", str(tmp_path))
    assert code == 2
    assert f"{path}: not a readable Parquet file" in err


def test_a_database_that_is_not_one_is_named(day: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"x" * 4096)
    code, _, err = run(capsys, "--date", DATE, "--db", str(bad),
                       "--archive", str(day.parent / "archive"), "-o", str(tmp_path))
    assert code == 2
    assert f"{bad}: cannot open the control database" in err


def test_a_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        report.main(["report", "compliance", "--date", "2026-13-01"])
    assert exit_.value.code == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        report.main(["report", "compliance", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--date" in text and "exit status" in text and "nanogate report compliance" in text


def test_an_output_folder_that_cannot_be_made_is_named(day: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) \
        -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "--date", DATE, "--db", str(day), "-o", str(blocker / "r"))
    assert code == 2
    assert f"{blocker / 'r'}: cannot create the output folder" in err
